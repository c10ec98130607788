"""Maintained per-customer aggregates (``customer_stats``), recomputed from orders in SQL.

Recomputing the touched customers from their orders (rather than adding deltas) keeps
the numbers exact after late refunds, re-imports and merges (ADR 0003). The recompute
is set-based: one ``INSERT … SELECT … GROUP BY`` upsert for the stats rows and one
``UPDATE … FROM`` for the profiles' place and first-seen time, whatever the number of
customers, so the database does the per-order work instead of Python.

Definitions (docs/imports.md): paid orders were paid at some point (a payment time and
a status past pending); effective orders are paid and not closed or fully refunded;
first/last purchase, purchase days, items, cost, product/category/platform/shop
counters count effective orders only. Purchase days are local days in the workspace's
time zone. The profile's place follows the most recent order that has one (latest
payment or order time, then the latest order); ``first_seen_at`` never moves later.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from siyu.kit import changes
from siyu.kit.db import begin_write
from siyu.kit.timeutil import utcnow, zone
from siyu.kit.types import UTCDateTime
from siyu.models import Workspace

_STAT_FIELDS = (
    "orders_count",
    "paid_orders_count",
    "effective_orders_count",
    "paid_fen",
    "refunded_fen",
    "net_fen",
    "cost_fen",
    "items_count",
    "first_paid_at",
    "last_paid_at",
    "first_order_id",
    "last_order_id",
    "purchase_days",
    "categories",
    "products",
    "platforms",
    "shops",
    "province",
    "city",
)

_PAID = "o.paid_at IS NOT NULL AND o.status <> 'pending'"
_EFFECTIVE = f"{_PAID} AND o.status NOT IN ('closed', 'refunded') AND o.refunded_fen < o.paid_fen"
# The upsert's target columns, in the order both dialects' SELECT lists produce them.
_INSERT_STATS = """INSERT INTO customer_stats (
  customer_id, workspace_id, orders_count, paid_orders_count, effective_orders_count, paid_fen,
  refunded_fen, net_fen, cost_fen, items_count, first_paid_at, last_paid_at, first_order_id,
  last_order_id, purchase_days, categories, products, platforms, shops, province, city, updated_at
)"""
_PLACED = "o.province IS NOT NULL AND o.province <> '' AND coalesce(o.paid_at, o.ordered_at) IS NOT NULL"
# A line item counts unless it was refunded in full.
_ITEM_KEPT = "NOT (i.amount_fen > 0 AND i.refunded_fen >= i.amount_fen)"


def _counters_cte(dialect: str) -> str:
    """CTEs ``eo`` (effective orders of the touched customers) and ``j`` (their JSON counters).

    One pass: every counted thing becomes a (customer, counter, key, n) row, summed per
    key, then folded into one JSON object per counter and customer.
    """
    if dialect == "postgresql":
        obj, greatest = "jsonb_object_agg", "GREATEST"
    else:
        obj, greatest = "json_group_object", "max"
    kept = f"{_ITEM_KEPT} AND i.order_id = eo.id"
    return f"""
eo AS MATERIALIZED (
  SELECT o.customer_id AS cid, o.id, o.platform, o.shop, o.title, o.item_count
  FROM touched t JOIN orders o ON o.customer_id = t.cid WHERE {_EFFECTIVE}
),
kv AS (
  SELECT cid, 1 AS kind, platform AS k, 1 AS n FROM eo
  UNION ALL SELECT cid, 2, shop, 1 FROM eo WHERE shop IS NOT NULL AND shop <> ''
  UNION ALL SELECT eo.cid, 3, CASE WHEN i.title IS NULL OR i.title = '' THEN '?' ELSE i.title END, i.quantity
    FROM eo JOIN order_items i ON {kept}
  UNION ALL SELECT cid, 3, substr(title, 1, 100), {greatest}(item_count, 1) FROM eo
    WHERE title IS NOT NULL AND title <> ''
      AND NOT EXISTS (SELECT 1 FROM order_items x WHERE x.order_id = eo.id)
  UNION ALL SELECT eo.cid, 4, i.category, i.quantity FROM eo JOIN order_items i ON {kept}
    WHERE i.category IS NOT NULL AND i.category <> ''
),
g AS (SELECT cid, kind, k, sum(n) AS n FROM kv GROUP BY cid, kind, k),
j AS (
  SELECT cid,
    {obj}(k, n) FILTER (WHERE kind = 1) AS platforms,
    {obj}(k, n) FILTER (WHERE kind = 2) AS shops,
    {obj}(k, n) FILTER (WHERE kind = 3) AS products,
    {obj}(k, n) FILTER (WHERE kind = 4) AS categories
  FROM g GROUP BY cid
)"""  # noqa: S608


def _json_columns(empty: str) -> str:
    return ", ".join(f"coalesce(j.{c}, {empty})" for c in ("categories", "products", "platforms", "shops"))


def _sqlite_sql(local_day: str) -> str:
    # Datetimes are stored as fixed-width UTC text (26 characters), so "earliest by
    # (paid_at, id)" is the minimum of paid_at followed by the zero-padded id.
    key = "o.paid_at || printf('%020d', o.id)"
    place = "coalesce(o.paid_at, o.ordered_at) || printf('%020d', o.id)"
    return f"""
WITH touched(cid) AS (
  SELECT c.id FROM customers c
  WHERE c.id IN (SELECT value FROM json_each(:ids)) AND c.merged_into_id IS NULL
),{_counters_cte("sqlite")},
a AS (
  SELECT t.cid AS cid,
    count(o.id) AS orders_count,
    coalesce(sum(CASE WHEN {_PAID} THEN 1 ELSE 0 END), 0) AS paid_orders_count,
    coalesce(sum(CASE WHEN {_EFFECTIVE} THEN 1 ELSE 0 END), 0) AS effective_orders_count,
    coalesce(sum(CASE WHEN {_PAID} THEN o.paid_fen ELSE 0 END), 0) AS paid_fen,
    coalesce(sum(CASE WHEN {_PAID} THEN o.refunded_fen ELSE 0 END), 0) AS refunded_fen,
    coalesce(sum(CASE WHEN {_EFFECTIVE} THEN coalesce(o.cost_fen, 0) ELSE 0 END), 0) AS cost_fen,
    coalesce(sum(CASE WHEN {_EFFECTIVE} THEN o.item_count ELSE 0 END), 0) AS items_count,
    min(CASE WHEN {_EFFECTIVE} THEN {key} END) AS first_key,
    max(CASE WHEN {_EFFECTIVE} THEN {key} END) AS last_key,
    count(DISTINCT CASE WHEN {_EFFECTIVE} THEN date(o.paid_at, {local_day}) END) AS purchase_days,
    max(CASE WHEN {_PLACED} THEN {place} END) AS place_key
  FROM touched t LEFT JOIN orders o ON o.customer_id = t.cid
  GROUP BY t.cid
)
{_INSERT_STATS}
SELECT a.cid, :ws, a.orders_count, a.paid_orders_count, a.effective_orders_count, a.paid_fen,
  a.refunded_fen, a.paid_fen - a.refunded_fen, a.cost_fen, a.items_count,
  substr(a.first_key, 1, 26), substr(a.last_key, 1, 26),
  CAST(substr(a.first_key, 27) AS INTEGER), CAST(substr(a.last_key, 27) AS INTEGER),
  a.purchase_days, {_json_columns("'{}'")},
  (SELECT p.province FROM orders p WHERE p.id = CAST(substr(a.place_key, 27) AS INTEGER)),
  (SELECT p.city FROM orders p WHERE p.id = CAST(substr(a.place_key, 27) AS INTEGER)),
  :now
FROM a LEFT JOIN j ON j.cid = a.cid WHERE true
ON CONFLICT (customer_id) DO UPDATE SET
{_set_excluded()}
"""  # noqa: S608


def _postgresql_sql() -> str:
    eff = f"FILTER (WHERE {_EFFECTIVE})"
    placed = f"FILTER (WHERE {_PLACED})"
    place_order = "ORDER BY coalesce(o.paid_at, o.ordered_at) DESC, o.id DESC"
    return f"""
WITH touched(cid) AS (
  SELECT c.id FROM customers c
  WHERE c.id = ANY(CAST(:ids AS bigint[])) AND c.merged_into_id IS NULL
),{_counters_cte("postgresql")},
a AS (
  SELECT t.cid AS cid,
    count(o.id) AS orders_count,
    count(o.id) FILTER (WHERE {_PAID}) AS paid_orders_count,
    count(o.id) {eff} AS effective_orders_count,
    coalesce(sum(o.paid_fen) FILTER (WHERE {_PAID}), 0) AS paid_fen,
    coalesce(sum(o.refunded_fen) FILTER (WHERE {_PAID}), 0) AS refunded_fen,
    coalesce(sum(coalesce(o.cost_fen, 0)) {eff}, 0) AS cost_fen,
    coalesce(sum(o.item_count) {eff}, 0) AS items_count,
    min(o.paid_at) {eff} AS first_paid_at,
    max(o.paid_at) {eff} AS last_paid_at,
    (array_agg(o.id ORDER BY o.paid_at, o.id) {eff})[1] AS first_order_id,
    (array_agg(o.id ORDER BY o.paid_at DESC, o.id DESC) {eff})[1] AS last_order_id,
    count(DISTINCT CAST(o.paid_at AT TIME ZONE :tz AS date)) {eff} AS purchase_days,
    (array_agg(o.province {place_order}) {placed})[1] AS province,
    (array_agg(o.city {place_order}) {placed})[1] AS city
  FROM touched t LEFT JOIN orders o ON o.customer_id = t.cid
  GROUP BY t.cid
)
{_INSERT_STATS}
SELECT a.cid, :ws, a.orders_count, a.paid_orders_count, a.effective_orders_count, a.paid_fen,
  a.refunded_fen, a.paid_fen - a.refunded_fen, a.cost_fen, a.items_count,
  a.first_paid_at, a.last_paid_at, a.first_order_id, a.last_order_id,
  a.purchase_days, {_json_columns("CAST('{}' AS jsonb)")},
  a.province, a.city, :now
FROM a LEFT JOIN j ON j.cid = a.cid
ON CONFLICT (customer_id) DO UPDATE SET
{_set_excluded()}
"""  # noqa: S608


def _set_excluded() -> str:
    return ",\n".join(f"  {name} = excluded.{name}" for name in (*_STAT_FIELDS, "updated_at"))


def _places_sql(dialect: str) -> str:
    """The profiles' place follows their stats; ``first_seen_at`` only moves earlier."""
    differs = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    touched = (
        "SELECT unnest(CAST(:ids AS bigint[]))"
        if dialect == "postgresql"
        else "SELECT value FROM json_each(:ids)"
    )
    has_place = "s.province IS NOT NULL AND s.province <> ''"
    earlier = (
        "s.first_paid_at IS NOT NULL AND "
        "(customers.first_seen_at IS NULL OR s.first_paid_at < customers.first_seen_at)"
    )
    # Written as WITH … UPDATE: the touched ids are a CTE (the audience change journal
    # is told exactly which customers changed, see refresh_stats).
    return f"""
WITH touched(cid) AS ({touched})
UPDATE customers SET
  province = CASE WHEN {has_place} THEN s.province ELSE customers.province END,
  city = CASE WHEN {has_place} THEN s.city ELSE customers.city END,
  first_seen_at = CASE WHEN {earlier} THEN s.first_paid_at ELSE customers.first_seen_at END,
  updated_at = :now
FROM customer_stats s
WHERE s.customer_id = customers.id AND customers.id IN (SELECT cid FROM touched)
  AND (({has_place} AND (customers.province {differs} s.province OR customers.city {differs} s.city))
       OR ({earlier}))
"""  # noqa: S608


def refresh_stats(session: Session, *, workspace_id: int, customer_ids: Sequence[int]) -> int:
    """Recompute ``customer_stats`` of these customers from their orders; returns rows written.

    Two statements whatever the number of customers (see the module docstring for the
    definitions); customers without orders get a row of zeros. Customers merged into
    another one are skipped (their stats went with the merge).
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    session.flush()
    # The statements below start with WITH: on SQLite they must not run outside the
    # caller's transaction (and apart from the journal's note of them).
    begin_write(session)
    ws = session.get(Workspace, workspace_id)
    zi = zone(ws.timezone if ws is not None else None)
    dialect = session.get_bind().dialect.name
    params: dict[str, object] = {"ws": workspace_id, "now": utcnow()}
    if dialect == "postgresql":
        sql = _postgresql_sql()
        params.update(ids=ids, tz=str(zi))
    else:
        sql = _sqlite_sql(_sqlite_local_day(session, workspace_id, str(zi)))
        params["ids"] = json.dumps(ids)
    typed = [bindparam("now", type_=UTCDateTime)]
    session.execute(text(sql).bindparams(*typed), params)
    session.execute(text(_places_sql(dialect)).bindparams(*typed), params)
    # Set-based statements name no customer ids the journal's hooks could read: note the
    # ones whose stats and profile may have changed, exactly.
    changes.note(session, workspace_id, ids)
    return len(ids)


# -- local days on SQLite ---------------------------------------------------------------
# SQLite knows no time zones: the local day of a UTC timestamp is date(paid_at, '+N
# seconds') with the zone's offset at that instant. A zone's offsets change only at its
# transitions, so the modifier is a CASE over the transitions that fall within the
# workspace's orders (none at all for Asia/Shanghai since 1991).

_SCAN_FROM = datetime(1900, 1, 1, tzinfo=UTC)
_SCAN_TO = datetime(2100, 1, 1, tzinfo=UTC)


def _offset_s(zi: ZoneInfo, at: datetime) -> int:
    off = at.astimezone(zi).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


@lru_cache(maxsize=16)
def _transitions(name: str) -> tuple[tuple[datetime, ...], tuple[int, ...]]:
    """(instants where the offset changes, offset in seconds from each instant on).

    The first offset holds from the start of the scan (1900); offsets are sampled daily
    and every change is narrowed down to the second. No zone changes its offset twice
    within a day.
    """
    zi = ZoneInfo(name)
    instants: list[datetime] = [_SCAN_FROM]
    offsets: list[int] = [_offset_s(zi, _SCAN_FROM)]
    day = timedelta(days=1)
    at = _SCAN_FROM
    while at < _SCAN_TO:
        nxt = at + day
        off = _offset_s(zi, nxt)
        if off != offsets[-1]:
            lo, hi = at, nxt  # offset(lo) is the old one, offset(hi) the new one
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid <= lo:
                    break
                if _offset_s(zi, mid) == offsets[-1]:
                    lo = mid
                else:
                    hi = mid
            instants.append(hi)
            offsets.append(off)
        at = nxt
    return tuple(instants), tuple(offsets)


def _stored(at: datetime) -> str:
    """A UTC instant as SQLite stores it (SQLAlchemy's DATETIME text)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_local_day(session: Session, workspace_id: int, name: str) -> str:
    """The ``date()`` modifier turning stored UTC ``o.paid_at`` into the zone's local day."""
    instants, offsets = _transitions(name)
    lo, hi = 0, len(instants)
    if len(instants) > 16:
        # Many transitions (a zone with daylight saving): only those within the range of
        # this workspace's payment times matter.
        first, last = (
            session.execute(
                text(f"SELECT {agg}(paid_at) FROM orders WHERE workspace_id = :ws AND paid_at IS NOT NULL"),  # noqa: S608
                {"ws": workspace_id},
            ).scalar()
            for agg in ("min", "max")
        )
        if first is not None and last is not None:
            stored = [_stored(t) for t in instants]
            lo = max(bisect_right(stored, str(first)) - 1, 0)
            hi = bisect_right(stored, str(last))
    used = list(zip(instants[lo:hi], offsets[lo:hi], strict=True)) or [(instants[0], offsets[0])]
    if len(used) == 1:
        return f"'{used[0][1]:+d} seconds'"
    # Offsets are integers from the zone database: no quoting issue.
    branches = " ".join(
        f"WHEN o.paid_at < '{_stored(t)}' THEN '{prev:+d} seconds'"
        for (t, _), (_, prev) in zip(used[1:], used[:-1], strict=True)
    )
    return f"CASE {branches} ELSE '{used[-1][1]:+d} seconds' END"


_TOUCH_CHUNK = 4096  # customers per statement (2 parameters each; under PostgreSQL's 65,535)


@lru_cache(maxsize=64)
def _touch_statement(size: int, dialect: str) -> Any:
    """The upsert of ``size`` (customer, time) pairs; built once per size and dialect."""
    greatest = "greatest" if dialect == "postgresql" else "max"
    values = ", ".join(f"(CAST(:c{i} AS BIGINT), :a{i})" for i in range(size))
    binds = [bindparam("now", type_=UTCDateTime())]
    binds.extend(bindparam(f"a{i}", type_=UTCDateTime()) for i in range(size))
    return text(
        f"WITH v (cid, at) AS (VALUES {values})"  # noqa: S608 (placeholders only)
        " INSERT INTO customer_stats (customer_id, workspace_id, orders_count, paid_orders_count,"
        " effective_orders_count, paid_fen, refunded_fen, net_fen, cost_fen, items_count, purchase_days,"
        " categories, products, platforms, shops, last_interaction_at, updated_at)"
        " SELECT c.id, c.workspace_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, '{}', '{}', '{}', '{}', v.at, :now"
        " FROM customers c JOIN v ON c.id = v.cid WHERE c.workspace_id = :ws"
        " ON CONFLICT (customer_id) DO UPDATE SET last_interaction_at ="
        f" {greatest}(coalesce(customer_stats.last_interaction_at, excluded.last_interaction_at),"
        " excluded.last_interaction_at), updated_at = excluded.updated_at"
        " WHERE customer_stats.last_interaction_at IS NULL"
        " OR customer_stats.last_interaction_at < excluded.last_interaction_at"
        " RETURNING customer_id"
    ).bindparams(*binds)


def touch_interactions(session: Session, *, workspace_id: int, last_at: dict[int, datetime]) -> int:
    """Move customers' ``last_interaction_at`` forward (never back) to the given times.

    Called by whatever sees a two-way interaction: a message, a moments like or comment,
    a friend add. A customer with no stats row yet gets one (counters zero). One
    statement per up to 4,096 customers (an upsert from a ``VALUES`` list, returning the
    rows whose time moved; never an earlier time, never another workspace's customer).
    The change journal is told, so the audience index and the silent layer see it.
    Returns the number of customers whose time moved.
    """
    if not last_at:
        return 0
    dialect = session.get_bind().dialect.name
    now = utcnow()
    items = sorted(last_at.items())
    moved: list[int] = []
    for start in range(0, len(items), _TOUCH_CHUNK):
        chunk = items[start : start + _TOUCH_CHUNK]
        # Padded with (NULL, NULL) to a power of two: a dozen statement shapes, each
        # built and compiled once, rather than one per batch size.
        size = min(max(16, 1 << (len(chunk) - 1).bit_length()), _TOUCH_CHUNK)
        params: dict[str, Any] = {"ws": workspace_id, "now": now}
        for i in range(size):
            cid, at = chunk[i] if i < len(chunk) else (None, None)
            params[f"c{i}"] = cid
            params[f"a{i}"] = at
        moved.extend(int(c) for c in session.execute(_touch_statement(size, dialect), params).scalars())
    if moved:
        changes.note(session, workspace_id, sorted(moved))
    return len(moved)
