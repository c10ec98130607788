"""All queries of the orders domain: batch lookups and bulk writes for imports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.bulk import bulk_insert, bulk_update
from siyu.customers.repository import chunks, sqlite_in_rows
from siyu.models import Event, ImportRowError, ImportRun, Order, OrderItem

# Order columns an import writes and compares to decide created / updated / unchanged.
ORDER_COLUMNS = (
    "customer_id",
    "shop",
    "status",
    "raw_status",
    "ordered_at",
    "paid_at",
    "completed_at",
    "paid_fen",
    "goods_fen",
    "shipping_fen",
    "refunded_fen",
    "discount_fen",
    "platform_discount_fen",
    "cost_fen",
    "item_count",
    "title",
    "buyer_id",
    "buyer_name",
    "phone_masked",
    "province",
    "city",
    "district",
    "guide",
    "buyer_note",
    "extra",
)
ITEM_COLUMNS = (
    "sku",
    "product_id",
    "title",
    "spec",
    "category",
    "quantity",
    "unit_price_fen",
    "amount_fen",
    "refunded_fen",
    "cost_fen",
    "status",
)


def existing_orders(
    session: Session, *, workspace_id: int, platform: str, external_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """external id → current column values for the orders of this platform that exist."""
    cols = [getattr(Order, c) for c in ("id", "external_id", "import_id", *ORDER_COLUMNS)]
    out: dict[str, dict[str, Any]] = {}
    for part in chunks(external_ids):
        for row in session.execute(
            select(*cols).where(
                Order.workspace_id == workspace_id,
                Order.platform == platform,
                Order.external_id.in_(part),
            )
        ).mappings():
            out[row["external_id"]] = dict(row)
    return out


def existing_items(session: Session, order_ids: Sequence[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """order id → line key → current item values."""
    cols = [getattr(OrderItem, c) for c in ("id", "order_id", "line_key", *ITEM_COLUMNS)]
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for part in chunks(order_ids):
        for row in session.execute(select(*cols).where(OrderItem.order_id.in_(part))).mappings():
            out.setdefault(row["order_id"], {})[row["line_key"]] = dict(row)
    return out


def insert_orders(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert; the new ids in the order given."""
    return bulk_insert(session, Order, rows, with_ids=True)


def update_orders(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_update(session, Order, rows)


def insert_items(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, OrderItem, rows)


def update_items(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_update(session, OrderItem, rows)


def known_event_keys(session: Session, *, workspace_id: int, keys: Sequence[str]) -> set[str]:
    fast = sqlite_in_rows(
        session, "SELECT dedup_key FROM events", "dedup_key", keys, "workspace_id = ?", (workspace_id,)
    )
    if fast is not None:
        return {r[0] for r in fast}
    found: set[str] = set()
    for part in chunks(keys):
        found.update(
            k
            for k in session.scalars(
                select(Event.dedup_key).where(Event.workspace_id == workspace_id, Event.dedup_key.in_(part))
            )
            if k is not None
        )
    return found


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, Event, rows)


def insert_row_errors(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, ImportRowError, rows)


def interrupted_run(session: Session, *, workspace_id: int, sha256: str, fmt: str) -> ImportRun | None:
    """The latest run of this same file that never finished (killed mid-way)."""
    return session.scalar(
        select(ImportRun)
        .where(
            ImportRun.workspace_id == workspace_id,
            ImportRun.file_sha256 == sha256,
            ImportRun.format == fmt,
            ImportRun.status == "running",
        )
        .order_by(ImportRun.id.desc())
        .limit(1)
    )
