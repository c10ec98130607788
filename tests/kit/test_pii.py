"""Phones: normalised, never matched when masked, encrypted and masked for display."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.kit.pii import PIIError, PIIVault, is_masked, mask_phone, normalise_phone


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+8613812345678",
        "8613812345678",
        "008613812345678",
        "+86 138-1234-5678",
        "'13812345678",
        "\t13812345678",
        " 138 1234 5678 ",
    ],
)
def test_variants_normalise_to_e164(raw: str) -> None:
    assert normalise_phone(raw) == "+8613812345678"


@pytest.mark.parametrize("raw", ["138****1234", "186******05", "##4a8b9c", "$$abc$$", "138xxxx5678"])
def test_masked_values_are_not_identities(raw: str) -> None:
    assert is_masked(raw)
    assert normalise_phone(raw) is None


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_empty_is_none(raw: str | None) -> None:
    assert normalise_phone(raw) is None


@pytest.mark.parametrize("raw", ["hello", "123", "1381234567890123"])
def test_garbage_is_an_error(raw: str) -> None:
    with pytest.raises(PIIError):
        normalise_phone(raw)


def test_mask() -> None:
    assert mask_phone("+8613812345678") == "138****5678"


@given(st.text(max_size=200))
def test_encrypt_roundtrip(plain: str) -> None:
    vault = PIIVault("k" * 32)
    token = vault.encrypt(plain)
    assert plain == vault.decrypt(token)
    assert len(plain) < 8 or plain not in token


def test_hash_is_keyed_and_kind_scoped() -> None:
    a, b = PIIVault("a" * 32), PIIVault("b" * 32)
    assert a.identity_hash("phone", "+8613812345678") != b.identity_hash("phone", "+8613812345678")
    assert a.identity_hash("phone", "x") != a.identity_hash("unionid", "x")
    assert a.identity_hash("buyer_id", "x", "taobao") != a.identity_hash("buyer_id", "x", "jd")
