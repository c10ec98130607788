"""What every format importer produces, and the machinery they share.

A format is a header alias table plus a ``parse_row`` that turns one data row into an
:class:`OrderRecord`. Columns are always looked up by header name, never position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from siyu.customers.schemas import IdentityInput
from siyu.kit.money import fen_to_yuan
from siyu.orders.importers.cells import CellError, clean, is_empty, parse_datetime, parse_fen
from siyu.orders.limits import DEFAULT_MAX_ORDER_FEN, SETTING_NAME

STATUS_RANK = {"pending": 0, "paid": 1, "shipped": 2, "completed": 3, "closed": 4, "refunded": 4}


def over_limit(fen: int, max_fen: int) -> str:
    """Why an amount above the workspace's limit per order is refused."""
    return (
        f"{fen_to_yuan(fen):,} yuan is above the limit of {fen_to_yuan(max_fen):,} yuan per order "
        f"(workspace setting {SETTING_NAME})"
    )


class RowProblem(ValueError):
    """A row that cannot go in: which field (header as written in the file), value, why."""

    def __init__(self, field: str | None, value: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.message = message


@dataclass(slots=True)
class ItemRecord:
    """One line item as read from a row."""

    line_key: str
    title: str
    quantity: int = 1
    unit_price_fen: int = 0
    amount_fen: int = 0
    refunded_fen: int = 0
    cost_fen: int | None = None
    sku: str | None = None
    product_id: str | None = None
    spec: str | None = None
    category: str | None = None
    status: str | None = None


@dataclass(slots=True)
class OrderRecord:
    """One data row: order-level column values it carries, its items and buyer identities.

    ``fields`` holds ``orders`` column values. ``money_from_items`` says the order's
    money is the sum of its line items (one row per item, e.g. Douyin), so items seen
    in other rows or earlier imports count too. ``items_only`` marks a detail-file row
    that knows nothing about the order itself. ``keys`` are the identities already keyed
    (``siyu.customers.service.prepare_identities``) when a parser process did it; then
    ``identities`` may be left empty.
    """

    line: int
    platform: str
    external_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    items: list[ItemRecord] = field(default_factory=list)
    identities: list[IdentityInput] = field(default_factory=list)
    money_from_items: bool = False
    items_only: bool = False
    keys: list[tuple[str, str, str, str]] | None = None
    # physical lines of the file the row covers (a quoted cell may hold line breaks)
    lines: int = 1


class Columns:
    """Header name → position for one file, resolved through a format's alias table.

    ``max_fen`` is the workspace's limit for any amount of one order (the import sets
    it); :meth:`fen` refuses a cell above it as a bad row naming the column.
    """

    def __init__(self, header: list[str], aliases: dict[str, tuple[str, ...]]) -> None:
        self.max_fen = DEFAULT_MAX_ORDER_FEN
        self.header = [h.strip().lstrip("\ufeff").strip() for h in header]
        self.index: dict[str, int] = {}
        self.label: dict[str, str] = {}
        folded = {h.lower(): i for i, h in reversed(list(enumerate(self.header))) if h}
        for name, names in aliases.items():
            for alias in names:
                i = folded.get(alias.lower())
                if i is not None:
                    self.index[name] = i
                    self.label[name] = self.header[i]
                    break

    def has(self, name: str) -> bool:
        return name in self.index

    def raw(self, row: list[str], name: str) -> str:
        """The raw cell (``""`` when the column is absent or the row is short)."""
        i = self.index.get(name)
        if i is None or i >= len(row):
            return ""
        return row[i]

    def text(self, row: list[str], name: str, limit: int = 500) -> str | None:
        """A cleaned text cell, or None when empty."""
        v = clean(self.raw(row, name))
        return v[:limit] if v else None

    def where(self, name: str) -> str:
        """The column as the file names it (for error messages)."""
        return self.label.get(name, name)

    def read(self, row: list[str], name: str, parser: Callable[[str], Any]) -> Any:
        """Parse one cell, turning a parse failure into a :class:`RowProblem` for this column."""
        raw = self.raw(row, name)
        try:
            return parser(raw)
        except CellError as exc:
            raise RowProblem(self.where(name), clean(raw)[:200], str(exc)) from exc

    def fen(self, row: list[str], name: str) -> int:
        fen = int(self.read(row, name, parse_fen))
        if fen > self.max_fen:
            raise RowProblem(
                self.where(name), clean(self.raw(row, name))[:200], over_limit(fen, self.max_fen)
            )
        return fen

    def fen_or_none(self, row: list[str], name: str) -> int | None:
        """Like :meth:`fen` but an empty cell is None (unknown, not zero)."""
        if is_empty(clean(self.raw(row, name))):
            return None
        return self.fen(row, name)

    def bounded(self, name: str, value: str, fen: int) -> int:
        """``fen`` (computed from ``value`` of column ``name``) unless it is above the limit."""
        if fen > self.max_fen:
            raise RowProblem(self.where(name), value[:200], over_limit(fen, self.max_fen))
        return fen

    def when(self, row: list[str], name: str, tz: str) -> datetime | None:
        return self.read(row, name, lambda v: parse_datetime(v, tz))  # type: ignore[no-any-return]

    def order_id(self, row: list[str], name: str = "order_id") -> str:
        """The order id: required, and short enough to be stored whole (never cut)."""
        value = self.required(row, name)
        if len(value) > 64:
            raise RowProblem(self.where(name), value[:200], "order id is longer than 64 characters")
        return value

    def required(self, row: list[str], name: str) -> str:
        v = clean(self.raw(row, name))
        if not v:
            raise RowProblem(self.where(name), "", f"{self.where(name)} is empty")
        return v


_KEYWORDS = (
    ("退款成功", "refunded"),
    ("已退款", "refunded"),
    ("全额退款", "refunded"),
    ("关闭", "closed"),
    ("取消", "closed"),
    ("成功", "completed"),
    ("完成", "completed"),
    ("已签收", "completed"),
    ("确认收货", "shipped"),
    ("发货", "shipped"),
    ("待收货", "shipped"),
    ("已付款", "paid"),
    ("已支付", "paid"),
    ("待发货", "paid"),
    ("付款", "pending"),
    ("支付", "pending"),
)


def map_status(raw: str | None, table: dict[str, str], paid_at: datetime | None) -> str:
    """The siyu status for a platform's status text (exact table first, then keywords)."""
    if raw:
        hit = table.get(raw) or table.get(raw.lower())
        if hit:
            return hit
        for word, status in _KEYWORDS:
            if word in raw:
                return status
    return "paid" if paid_at is not None else "pending"


def settle_money(fields: dict[str, Any], *, amount_fen: int, refund_fen: int) -> None:
    """Fill paid/refunded fen from the status: closed after payment is a full refund.

    A closed order that had been paid means the money went back (that is how Taobao,
    Youzan and JD close a paid order), so it is stored as ``refunded`` and is not revenue.
    """
    status = fields["status"]
    paid_at = fields.get("paid_at")
    if paid_at is None and status in ("paid", "shipped", "completed", "refunded"):
        # Paid per the status but no payment time (e.g. cash on delivery): the order
        # time is the best known purchase time, so the sale still counts.
        paid_at = fields["paid_at"] = fields.get("ordered_at")
    if status == "pending" or (status == "closed" and paid_at is None and refund_fen == 0):
        fields["paid_fen"] = 0
        fields["refunded_fen"] = 0
        return
    fields["paid_fen"] = amount_fen
    if status == "closed" or (status == "refunded" and refund_fen == 0):
        fields["status"] = "refunded"
        refund_fen = amount_fen
    fields["refunded_fen"] = min(refund_fen, amount_fen)
    if fields["refunded_fen"] >= amount_fen > 0:
        fields["status"] = "refunded"


class Format:
    """One export format: its aliases, the columns that identify it, and a row parser."""

    name = ""
    platform = ""
    # canonical name → header spellings seen in the wild (first match wins)
    aliases: ClassVar[dict[str, tuple[str, ...]]] = {}
    # all of these must be present for the format to be recognised
    signature: tuple[str, ...] = ()
    # needed for a row to make sense; their absence makes the file unusable
    required: tuple[str, ...] = ()
    # rows of one order may be spread over the file (one row per line item)
    grouped = False

    def score(self, cols: Columns) -> int:
        """How well a header fits: -1 if the signature is missing, else matched columns."""
        if not all(cols.has(c) for c in self.signature):
            return -1
        return len(cols.index)

    def parse_row(self, cols: Columns, row: list[str], line: int, tz: str) -> OrderRecord:
        raise NotImplementedError

    def row_parser(self, cols: Columns, tz: str) -> Callable[[list[str], int], OrderRecord]:
        """The row parser for one file, set up once from its header.

        Formats with large files override this with a parser that resolves columns and
        cleaners up front; it must give exactly what :meth:`parse_row` gives.
        """

        def parse(row: list[str], line: int) -> OrderRecord:
            return self.parse_row(cols, row, line, tz)

        return parse


def buyer_key(value: str | None) -> str | None:
    """A platform buyer id usable as a key, or None when the platform masked it (张**)."""
    if not value or "*" in value or "＊" in value:
        return None
    return value[:128]


def buyer_identities(phone: str | None, buyer: str | None, platform: str) -> list[IdentityInput]:
    """The OneID keys of a marketplace row: the phone, then the buyer id unless masked."""
    ids = [IdentityInput("phone", phone)] if phone else []
    key = buyer_key(buyer)
    if key:
        ids.append(IdentityInput("buyer_id", key, platform))
    return ids
