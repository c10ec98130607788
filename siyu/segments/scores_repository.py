"""Queries of the recompute and CLV fit: chunked column reads and bulk score writes.

Reads return plain columns (timestamps as epoch seconds computed by the database) so
that a million customers become numpy arrays without building an ORM object each.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from siyu.kit import changes
from siyu.models import Customer, CustomerScore

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


def _raw_epoch(dialect: str, column: str) -> str:
    """The SQL text of ``_epoch`` for the raw-cursor queries below."""
    if dialect == "sqlite":
        # julianday is 2x faster than strftime('%s'); rounding to the millisecond first
        # keeps it exact, then integer division floors to the second like strftime does.
        millis = f"CAST(round((julianday({column}) - 2440587.5) * 86400000) AS INTEGER)"
        return f"COALESCE({millis} / 1000, {MISSING})"
    return f"COALESCE(CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT), {MISSING})"


def _cursor(session: Session) -> tuple[Any, str, str]:
    """A DBAPI cursor on the session's connection (same transaction), dialect, placeholder.

    The hot loops read and write a million rows; going straight to the driver skips
    SQLAlchemy's per-row processing, which costs more than the database work itself.
    """
    conn = session.connection()
    dialect = conn.dialect.name
    return conn.connection.cursor(), dialect, ("?" if dialect == "sqlite" else "%s")


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
    categories: list[Any]  # dicts (PostgreSQL) or JSON text (SQLite) or None


def iter_customers(session: Session, workspace_id: int, chunk: int = CHUNK) -> Iterator[CustomerChunk]:
    """Every live customer of a workspace with its stats (zeros without a stats row)."""
    cur, dialect, ph = _cursor(session)
    sql = (
        "SELECT c.id, COALESCE(s.effective_orders_count, 0), COALESCE(s.net_fen, 0), "  # noqa: S608
        "COALESCE(s.purchase_days, 0), "
        f"{_raw_epoch(dialect, 's.first_paid_at')}, {_raw_epoch(dialect, 's.last_paid_at')}, "
        f"{_raw_epoch(dialect, 's.last_interaction_at')}, s.categories "
        "FROM customers c LEFT JOIN customer_stats s ON s.customer_id = c.id "
        f"WHERE c.workspace_id = {ph} AND c.merged_into_id IS NULL AND c.id > {ph} "
        f"ORDER BY c.id LIMIT {int(chunk)}"
    )
    after = 0
    try:
        while True:
            cur.execute(sql, (workspace_id, after))
            rows = cur.fetchall()
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
    finally:
        cur.close()


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


def _ids(session: Session, sql: str, workspace_id: int) -> IntArray:
    cur, _, ph = _cursor(session)
    try:
        cur.execute(sql.replace("?", ph), (workspace_id,))
        return np.array([r[0] for r in cur.fetchall()], dtype=np.int64)
    finally:
        cur.close()


def active_follow_customer_ids(session: Session, workspace_id: int) -> IntArray:
    """Customers with at least one active follow (a current WeCom friendship)."""
    return _ids(
        session,
        "SELECT DISTINCT customer_id FROM follows WHERE workspace_id = ? AND state = 'active'",
        workspace_id,
    )


def referrer_ids(session: Session, workspace_id: int) -> IntArray:
    """Customers who referred at least one live customer."""
    return _ids(
        session,
        "SELECT DISTINCT referred_by_id FROM customers WHERE workspace_id = ? "
        "AND referred_by_id IS NOT NULL AND merged_into_id IS NULL",
        workspace_id,
    )


def existing_scores(session: Session, workspace_id: int, lo: int, hi: int) -> dict[int, tuple[Any, ...]]:
    """Stored score columns of customers with lo <= id <= hi, for change detection."""
    cur, _, ph = _cursor(session)
    try:
        cur.execute(
            f"SELECT customer_id, {', '.join(SCORE_COLUMNS)} FROM customer_scores "  # noqa: S608
            f"WHERE workspace_id = {ph} AND customer_id >= {ph} AND customer_id <= {ph}",
            (workspace_id, lo, hi),
        )
        return {int(r[0]): tuple(r[1:]) for r in cur.fetchall()}
    finally:
        cur.close()


def upsert_scores(
    session: Session,
    workspace_id: int,
    rows: Sequence[tuple[Any, ...]],
    at: datetime,
    *,
    replace: bool = True,
) -> None:
    """Insert or replace score rows: each is (customer_id, *SCORE_COLUMNS).

    ``replace=False`` is for rows known to be absent (plain inserts, cheaper).
    """
    if not rows:
        return
    # A bare driver cursor: no SQLAlchemy hook sees it, so tell the audience journal.
    changes.note(session, workspace_id, [r[0] for r in rows] if len(rows) <= changes.MAX_IDS else None)
    cur, dialect, ph = _cursor(session)
    names = ("workspace_id", "computed_at", "customer_id", *SCORE_COLUMNS)
    staged = names[2:]
    # Column names come from SCORE_COLUMNS above, never from input. The same ON CONFLICT
    # syntax works on SQLite (>= 3.24) and PostgreSQL.
    conflict = "ON CONFLICT (customer_id) DO UPDATE SET " + ", ".join(
        f"{n} = excluded.{n}" for n in names if n != "customer_id"
    )
    if not replace:
        conflict = ""
    # what UTCDateTime would bind: naive UTC text on SQLite, an aware value on PostgreSQL
    stamp: Any = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else at
    try:
        if dialect != "sqlite":
            cur.executemany(
                f"INSERT INTO customer_scores ({', '.join(names)}) "  # noqa: S608
                f"VALUES ({', '.join([ph] * len(names))}) {conflict}",
                [(workspace_id, stamp, *r) for r in rows],
            )
            return
        # SQLite: bind the rows into an index-free temporary table (about half the cost
        # of binding into the indexed table), then insert / upsert them in one statement.
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS siyu_score_stage ({', '.join(staged)})")
        cur.execute("DELETE FROM siyu_score_stage")
        stage_sql = f"INSERT INTO siyu_score_stage VALUES ({', '.join([ph] * len(staged))})"  # noqa: S608
        cur.executemany(stage_sql, rows)
        # "WHERE true" lets SQLite parse ON CONFLICT after a SELECT (documented quirk)
        cur.execute(
            f"INSERT INTO customer_scores ({', '.join(names)}) "  # noqa: S608
            f"SELECT {ph}, {ph}, {', '.join(staged)} FROM siyu_score_stage WHERE true {conflict}",
            (workspace_id, stamp),
        )
        cur.execute("DELETE FROM siyu_score_stage")
    finally:
        cur.close()


def insert_scores(session: Session, workspace_id: int, rows: Sequence[tuple[Any, ...]], at: datetime) -> None:
    """Insert score rows of customers that have none (after ``delete_scores``)."""
    upsert_scores(session, workspace_id, rows, at, replace=False)


def delete_scores(session: Session, workspace_id: int) -> None:
    """Drop every score row of a workspace (a full rewrite follows in the same transaction)."""
    session.execute(delete(CustomerScore).where(CustomerScore.workspace_id == workspace_id))


@contextmanager
def bulk_cache(session: Session, mib: int = 256) -> Iterator[None]:
    """A larger SQLite page cache while a recompute runs (restored afterwards).

    The default 2 MiB cache makes the index updates of a million-row write thrash;
    PostgreSQL sizes its own buffers, so nothing changes there.
    """
    cur, dialect, _ = _cursor(session)
    if dialect != "sqlite":
        cur.close()
        yield
        return
    cur.execute("PRAGMA cache_size")
    before = int(cur.fetchone()[0])
    try:
        cur.execute(f"PRAGMA cache_size = {-int(mib) * 1024}")
        # the staging table lives in the temp database, which has a cache of its own
        cur.execute("PRAGMA temp.cache_size = -65536")
        yield
    finally:
        try:
            cur.execute(f"PRAGMA cache_size = {before}")
            cur.execute(f"PRAGMA temp.cache_size = {before}")
        finally:
            cur.close()


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


def iter_effective_orders_by_customer(
    session: Session, workspace_id: int, until: datetime, chunk: int = 500_000
) -> Iterator[IntArray]:
    """(customer_id, paid epoch seconds, net fen) of effective orders paid before ``until``.

    Effective as ``customer_stats`` counts them: paid, not pending, closed or refunded,
    and not refunded in full. Chunks hold whole customers.

    Read in customer order along ``ix_orders_customer_id_paid_at`` (no sort), so a
    customer's orders never straddle two chunks and the caller can reduce each chunk and
    drop it: memory stays near one chunk whatever the number of orders.
    """
    cur, dialect, ph = _cursor(session)
    stamp: Any = until.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else until
    where = (
        f"workspace_id = {ph} AND paid_at IS NOT NULL AND paid_at < {ph} "
        "AND status NOT IN ('pending', 'closed', 'refunded') AND refunded_fen < paid_fen"
    )
    cols = f"customer_id, {_raw_epoch(dialect, 'paid_at')}, paid_fen - refunded_fen"
    page = (
        f"SELECT {cols} FROM orders WHERE {where} AND customer_id > {ph} "  # noqa: S608
        f"ORDER BY customer_id LIMIT {int(chunk)}"
    )
    one = f"SELECT {cols} FROM orders WHERE {where} AND customer_id = {ph}"  # noqa: S608
    after = 0
    try:
        while True:
            cur.execute(page, (workspace_id, stamp, after))
            rows = cur.fetchall()
            if not rows:
                return
            arr = np.array(rows, dtype=np.int64)
            if len(rows) < chunk:
                yield arr
                return
            last = int(arr[-1, 0])
            whole = arr[arr[:, 0] < last]
            if whole.size == 0:  # one customer fills the page: read all of theirs
                cur.execute(one, (workspace_id, stamp, last))
                whole = np.array(cur.fetchall(), dtype=np.int64)
                after = last
            else:
                after = int(whole[-1, 0])
            yield whole
    finally:
        cur.close()
