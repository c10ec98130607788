"""Queries of the recompute and CLV fit: chunked column reads and bulk score writes.

Reads return plain columns (timestamps as epoch seconds computed by the database) so
that a million customers become numpy arrays without building an ORM object each.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    extract,
    func,
    literal,
    not_,
    select,
    text,
)
from sqlalchemy.orm import Session

from siyu.kit.types import UTCDateTime
from siyu.models import Customer, CustomerScore, CustomerStats, Follow, Order

IntArray = npt.NDArray[np.int64]
MISSING = -(2**62)
CHUNK = 50_000

SCORE_COLUMNS = (
    "recency_days",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "rfm8",
    "layer_age",
    "layer_tier",
    "layer_value",
    "lifecycle",
    "preferred_category",
    "expected_purchases_90d",
    "p_alive",
    "expected_value_fen",
)


def _epoch(session: Session, column: Any) -> ColumnElement[int]:
    """Seconds since 1970 (UTC) of a timestamp column, MISSING when NULL."""
    if session.get_bind().dialect.name == "sqlite":
        expr: ColumnElement[Any] = cast(func.strftime("%s", column), Integer)
    else:
        expr = cast(func.floor(extract("epoch", column)), BigInteger)
    return func.coalesce(expr, literal(MISSING, BigInteger))


@dataclass
class CustomerChunk:
    """Columns of one chunk of live (not merged) customers, in id order."""

    ids: IntArray
    effective_orders: IntArray
    net_fen: IntArray
    purchase_days: IntArray
    first_paid_s: IntArray
    last_paid_s: IntArray
    last_interaction_s: IntArray
    categories: list[dict[str, Any] | None]


def iter_customers(session: Session, workspace_id: int, chunk: int = CHUNK) -> Iterator[CustomerChunk]:
    """Every live customer of a workspace with its stats (zeros without a stats row)."""
    s = CustomerStats
    stmt = (
        select(
            Customer.id,
            func.coalesce(s.effective_orders_count, 0),
            func.coalesce(s.net_fen, 0),
            func.coalesce(s.purchase_days, 0),
            _epoch(session, s.first_paid_at),
            _epoch(session, s.last_paid_at),
            _epoch(session, s.last_interaction_at),
            s.categories,
        )
        .outerjoin(s, s.customer_id == Customer.id)
        .where(Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None))
        .where(Customer.id > bindparam("after"))
        .order_by(Customer.id)
        .limit(chunk)
    )
    after = 0
    while True:
        rows = session.execute(stmt, {"after": after}).all()
        if not rows:
            return
        numeric = np.array([r[:7] for r in rows], dtype=np.int64)
        yield CustomerChunk(
            ids=numeric[:, 0].copy(),
            effective_orders=numeric[:, 1].copy(),
            net_fen=numeric[:, 2].copy(),
            purchase_days=numeric[:, 3].copy(),
            first_paid_s=numeric[:, 4].copy(),
            last_paid_s=numeric[:, 5].copy(),
            last_interaction_s=numeric[:, 6].copy(),
            categories=[r[7] for r in rows],
        )
        after = int(numeric[-1, 0])
        if len(rows) < chunk:
            return


def count_customers(session: Session, workspace_id: int) -> int:
    """Live customers of a workspace (for the progress bar)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None))
        )
        or 0
    )


def active_follow_customer_ids(session: Session, workspace_id: int) -> IntArray:
    """Customers with at least one active follow (a current WeCom friendship)."""
    rows = session.scalars(
        select(Follow.customer_id)
        .where(Follow.workspace_id == workspace_id, Follow.state == "active")
        .distinct()
    ).all()
    return np.array(rows, dtype=np.int64)


def referrer_ids(session: Session, workspace_id: int) -> IntArray:
    """Customers who referred at least one live customer."""
    rows = session.scalars(
        select(Customer.referred_by_id)
        .where(
            Customer.workspace_id == workspace_id,
            Customer.referred_by_id.is_not(None),
            Customer.merged_into_id.is_(None),
        )
        .distinct()
    ).all()
    return np.array(rows, dtype=np.int64)


def existing_scores(session: Session, workspace_id: int, lo: int, hi: int) -> dict[int, tuple[Any, ...]]:
    """Stored score columns of customers with lo <= id <= hi, for change detection."""
    c = CustomerScore
    cols = [getattr(c, name) for name in SCORE_COLUMNS]
    rows = session.execute(
        select(c.customer_id, *cols).where(
            c.workspace_id == workspace_id, c.customer_id >= lo, c.customer_id <= hi
        )
    ).all()
    return {int(r[0]): tuple(r[1:]) for r in rows}


def upsert_scores(session: Session, workspace_id: int, rows: Sequence[tuple[Any, ...]], at: datetime) -> None:
    """Insert or replace score rows: each is (customer_id, *SCORE_COLUMNS)."""
    if not rows:
        return
    names = ("customer_id", *SCORE_COLUMNS)
    # The same ON CONFLICT syntax works on SQLite (>= 3.24) and PostgreSQL.
    # Column names come from SCORE_COLUMNS above, never from input.
    sql = text(
        f"INSERT INTO customer_scores (workspace_id, computed_at, {', '.join(names)}) "  # noqa: S608
        f"VALUES (:workspace_id, :computed_at, {', '.join(':' + n for n in names)}) "
        "ON CONFLICT (customer_id) DO UPDATE SET workspace_id = excluded.workspace_id, "
        "computed_at = excluded.computed_at, " + ", ".join(f"{n} = excluded.{n}" for n in SCORE_COLUMNS)
    ).bindparams(bindparam("computed_at", type_=UTCDateTime()))
    params = [
        {"workspace_id": workspace_id, "computed_at": at, **dict(zip(names, r, strict=True))} for r in rows
    ]
    session.execute(sql, params)


def delete_orphan_scores(session: Session, workspace_id: int) -> int:
    """Drop scores of customers merged into another profile; returns rows deleted."""
    merged = select(Customer.id).where(
        Customer.workspace_id == workspace_id, Customer.merged_into_id.is_not(None)
    )
    result = session.execute(
        delete(CustomerScore).where(
            CustomerScore.workspace_id == workspace_id, CustomerScore.customer_id.in_(merged)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def effective_order_filter() -> ColumnElement[bool]:
    """Effective orders, as ``customer_stats`` counts them: paid, not closed or refunded."""
    return and_(
        Order.paid_at.is_not(None),
        Order.customer_id.is_not(None),
        not_(Order.status.in_(("pending", "closed", "refunded"))),
        Order.refunded_fen < Order.paid_fen,
    )


def iter_effective_orders(
    session: Session, workspace_id: int, until: datetime, chunk: int = 500_000
) -> Iterator[IntArray]:
    """(customer_id, paid epoch seconds, net fen) of effective orders paid before ``until``."""
    stmt = (
        select(
            Order.id,
            Order.customer_id,
            _epoch(session, Order.paid_at),
            Order.paid_fen - Order.refunded_fen,
        )
        .where(Order.workspace_id == workspace_id, effective_order_filter(), Order.paid_at < until)
        .where(Order.id > bindparam("after"))
        .order_by(Order.id)
        .limit(chunk)
    )
    after = 0
    while True:
        rows = session.execute(stmt, {"after": after}).all()
        if not rows:
            return
        arr = np.array(rows, dtype=np.int64)
        yield arr[:, 1:]
        after = int(arr[-1, 0])
        if len(rows) < chunk:
            return


def has_customers_with_orders(session: Session, workspace_id: int) -> bool:
    """Whether any order of the workspace is tied to a customer."""
    return bool(
        session.scalar(
            select(exists().where(Order.workspace_id == workspace_id, Order.customer_id.is_not(None)))
        )
    )
