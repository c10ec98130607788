"""Money is integer fen (分) everywhere; these helpers convert at the edges."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_STRIP = ("元", "¥", "￥", "RMB", "CNY", ",", "，", " ", "\u3000")


class MoneyError(ValueError):
    """An amount that cannot be read as yuan."""


def yuan_to_fen(value: str | int | float | Decimal | None, *, allow_negative: bool = False) -> int:
    """Parse an amount in yuan ("12.5", "12.50元", "¥1,234.00") into integer fen."""
    if value is None:
        raise MoneyError("amount is empty")
    if isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, float):
        dec = Decimal(repr(value))
    elif isinstance(value, Decimal):
        dec = value
    else:
        text = value.strip()
        for token in _STRIP:
            text = text.replace(token, "")
        if not text:
            raise MoneyError("amount is empty")
        try:
            dec = Decimal(text)
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {value!r}") from exc
    if not dec.is_finite():
        raise MoneyError(f"not an amount: {value!r}")
    fen = int((dec * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if fen < 0 and not allow_negative:
        raise MoneyError(f"negative amount: {value!r}")
    return fen


def fen_to_yuan(fen: int) -> Decimal:
    """Integer fen as a Decimal yuan with two places."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def format_fen(fen: int) -> str:
    """Human display: ``¥1,234.50``."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen_to_yuan(fen)):,.2f}"
