"""Property tests of the signed session values, CSRF tokens and token lookup."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.config import Settings
from siyu.web.auth.csrf import csrf_token_for_session
from siyu.web.auth.passwords import hash_password, verify_password
from siyu.web.auth.sessions import sign, unsign

SETTINGS = Settings(secret_key="k" * 32, env="test")
OTHER = Settings(secret_key="q" * 32, env="test")
payloads = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.integers(), st.text(max_size=20), st.booleans(), st.none()),
    max_size=6,
)


@given(payloads)
def test_signed_values_round_trip(payload: dict[str, Any]) -> None:
    assert unsign(sign(payload, SETTINGS), SETTINGS) == payload


@given(payloads)
def test_another_key_never_verifies(payload: dict[str, Any]) -> None:
    assert unsign(sign(payload, SETTINGS), OTHER) is None


@given(payloads, st.data())
def test_any_single_character_change_is_refused(payload: dict[str, Any], data: st.DataObject) -> None:
    value = sign(payload, SETTINGS)
    i = data.draw(st.integers(0, len(value) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    ch = data.draw(st.sampled_from([c for c in alphabet if c != value[i]]))
    tampered = value[:i] + ch + value[i + 1 :]
    result = unsign(tampered, SETTINGS)
    # Base64 padding bits can make two spellings decode to the same bytes; then the
    # payload is unchanged. Anything else must be refused.
    assert result is None or result == payload


@given(st.text(max_size=300))
def test_garbage_never_verifies_or_crashes(value: str) -> None:
    assert unsign(value, SETTINGS) is None


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_csrf_tokens_are_per_session(a: str, b: str) -> None:
    ta, tb = csrf_token_for_session(a, SETTINGS), csrf_token_for_session(b, SETTINGS)
    assert (ta == tb) == (a == b)
    assert csrf_token_for_session(a, OTHER) != ta


@pytest.mark.usefixtures("env")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=8, max_size=64), st.text(min_size=1, max_size=64))
def test_passwords_verify_only_themselves(password: str, other: str) -> None:
    stored = hash_password(password)
    assert password not in stored
    assert verify_password(stored, password)
    assert verify_password(stored, other) == (other == password)
    assert not verify_password(None, password)
    assert not verify_password("not-a-hash", password)
