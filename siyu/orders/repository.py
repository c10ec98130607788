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
    stored = sqlite_in_rows(
        session,
        "SELECT external_id FROM orders",
        "external_id",
        external_ids,
        "workspace_id = ? AND platform = ?",
        (workspace_id, platform),
    )
    if stored is not None:
        # SQLite: which orders exist, straight from the driver (nearly none on a first
        # import: SQLAlchemy's rendering of the long IN lists cost more than the query);
        # their full rows, typed, through the query below.
        external_ids = [r[0] for r in stored]
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


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert events; those whose (workspace, dedup key) is already recorded are skipped."""
    bulk_insert(session, Event, rows, skip_conflicts_on=("workspace_id", "dedup_key"))


def customers_of_runs(session: Session, *, workspace_id: int, import_ids: Sequence[int]) -> set[int]:
    """The customers owning orders that these import runs created or changed."""
    if not import_ids:
        return set()
    return {
        c
        for c in session.scalars(
            select(Order.customer_id)
            .distinct()
            .where(
                Order.workspace_id == workspace_id,
                Order.import_id.in_(list(import_ids)),
                Order.customer_id.is_not(None),
            )
        )
        if c is not None
    }


def insert_row_errors(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, ImportRowError, rows)


def interrupted_runs(session: Session, *, workspace_id: int, sha256: str, fmt: str) -> list[ImportRun]:
    """The runs of this same file that never finished (killed mid-way), latest first."""
    return list(
        session.scalars(
            select(ImportRun)
            .where(
                ImportRun.workspace_id == workspace_id,
                ImportRun.file_sha256 == sha256,
                ImportRun.format == fmt,
                ImportRun.status == "running",
            )
            .order_by(ImportRun.id.desc())
        )
    )
