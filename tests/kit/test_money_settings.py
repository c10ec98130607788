"""Money is parsed to the fen; the default secret is refused outside development."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from siyu.config import DEFAULT_SECRET_KEY, Settings
from siyu.kit.money import MoneyError, fen_to_yuan, format_fen, yuan_to_fen


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("12.5", 1250),
        ("12.50元", 1250),
        ("¥1,234.00", 123400),
        ("0.01", 1),
        ("0.005", 1),
        ("  88 ", 8800),
        ("199元", 19900),
    ],
)
def test_yuan_to_fen(raw: str, fen: int) -> None:
    assert yuan_to_fen(raw) == fen


@pytest.mark.parametrize("raw", ["", "abc", "1.2.3", "-5", "NaN"])
def test_bad_amounts(raw: str) -> None:
    with pytest.raises(MoneyError):
        yuan_to_fen(raw)


@given(st.integers(min_value=0, max_value=10**12))
def test_roundtrip(fen: int) -> None:
    assert yuan_to_fen(str(fen_to_yuan(fen))) == fen


def test_format() -> None:
    assert format_fen(123456) == "¥1,234.56"
    assert fen_to_yuan(5) == Decimal("0.05")


def test_default_secret_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIYU_ENV", "production")
    monkeypatch.setenv("SIYU_SECRET_KEY", DEFAULT_SECRET_KEY)
    with pytest.raises(ValidationError, match="SIYU_SECRET_KEY"):
        Settings()
