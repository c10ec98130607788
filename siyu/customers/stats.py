"""Maintained per-customer aggregates (``customer_stats``), recomputed from orders.

Recomputing the touched customers from their orders (rather than adding deltas) keeps
the numbers exact after late refunds, re-imports and merges (ADR 0003).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.customers import repository as repo
from siyu.kit.timeutil import utcnow, zone
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


def _is_paid(status: str, paid_at: datetime | None) -> bool:
    return paid_at is not None and status != "pending"


def _is_effective(status: str, paid_at: datetime | None, paid: int, refunded: int) -> bool:
    """A purchase that counts as revenue: paid and not (fully) refunded or closed."""
    return _is_paid(status, paid_at) and status not in ("closed", "refunded") and refunded < paid


def refresh_stats(session: Session, *, workspace_id: int, customer_ids: Sequence[int]) -> int:
    """Recompute ``customer_stats`` of these customers from their orders; returns rows written.

    Definitions (docs/imports.md): paid orders were paid at some point; effective orders
    are paid and not closed or fully refunded; first/last purchase, purchase days,
    items, cost, product/category/platform/shop counters count effective orders only.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    session.flush()
    ws = session.get(Workspace, workspace_id)
    zi = zone(ws.timezone if ws is not None else None)
    orders = repo.orders_for_stats(session, ids)
    stats: dict[int, dict[str, Any]] = {cid: _empty_stats(workspace_id, cid) for cid in ids}
    place_at: dict[int, datetime] = {}
    effective_ids: dict[int, int] = {}
    days: dict[int, set[Any]] = {cid: set() for cid in ids}
    untitled: list[tuple[int, int, str, int]] = []
    # Plain tuple unpacking: this loop runs once per order of every touched customer.
    for (
        oid,
        cid,
        status,
        ordered_at,
        paid_at,
        paid,
        refunded,
        cost,
        n_items,
        platform,
        shop,
        prov,
        city,
        title,
    ) in orders:
        s = stats[cid]
        s["orders_count"] += 1
        when = paid_at or ordered_at
        if prov and when is not None and (cid not in place_at or when >= place_at[cid]):
            place_at[cid] = when
            s["province"], s["city"] = prov, city
        if not _is_paid(status, paid_at):
            continue
        s["paid_orders_count"] += 1
        s["paid_fen"] += paid
        s["refunded_fen"] += refunded
        if not _is_effective(status, paid_at, paid, refunded):
            continue
        effective_ids[oid] = cid
        s["effective_orders_count"] += 1
        s["cost_fen"] += cost or 0
        s["items_count"] += n_items
        days[cid].add(paid_at.astimezone(zi).date())
        if s["first_paid_at"] is None or (paid_at, oid) < (s["first_paid_at"], s["first_order_id"]):
            s["first_paid_at"], s["first_order_id"] = paid_at, oid
        if s["last_paid_at"] is None or (paid_at, oid) > (s["last_paid_at"], s["last_order_id"]):
            s["last_paid_at"], s["last_order_id"] = paid_at, oid
        counter = s["platforms"]
        counter[platform] = counter.get(platform, 0) + 1
        if shop:
            counter = s["shops"]
            counter[shop] = counter.get(shop, 0) + 1
        if title:
            untitled.append((oid, cid, title, n_items))
    with_items: set[int] = set()
    for order_id, item_title, category, quantity, amount, item_refunded in repo.items_for_stats(
        session, sorted(effective_ids)
    ):
        with_items.add(order_id)
        if amount > 0 and item_refunded >= amount:
            continue
        s = stats[effective_ids[order_id]]
        counter = s["products"]
        key = item_title or "?"
        counter[key] = counter.get(key, 0) + quantity
        if category:
            counter = s["categories"]
            counter[category] = counter.get(category, 0) + quantity
    # Orders known only from a main file (no line items) still name what was bought.
    for oid, cid, title, n_items in untitled:
        if oid not in with_items:
            counter = stats[cid]["products"]
            key = title[:100]
            counter[key] = counter.get(key, 0) + max(n_items, 1)

    existing = repo.existing_stats_ids(session, ids)
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for cid, s in stats.items():
        s["net_fen"] = s["paid_fen"] - s["refunded_fen"]
        s["purchase_days"] = len(days[cid])
        for name in ("categories", "products", "platforms", "shops"):
            if len(s[name]) > 1:
                s[name] = dict(sorted(s[name].items()))
        s["updated_at"] = now
        (updates if cid in existing else inserts).append(s)
    repo.write_stats(session, inserts, updates)

    # The profile's place follows the most recent order; first_seen never moves later.
    changes = []
    for cid, (prov, city, seen) in repo.customers_places(session, ids).items():
        s = stats[cid]
        row: dict[str, Any] = {}
        if s["province"] and (prov, city) != (s["province"], s["city"]):
            row.update(province=s["province"], city=s["city"])
        if s["first_paid_at"] is not None and (seen is None or s["first_paid_at"] < seen):
            row["first_seen_at"] = s["first_paid_at"]
        if row:
            row["id"] = cid
            changes.append(row)
    repo.update_customers(session, changes)
    return len(stats)


_EMPTY_STATS: dict[str, Any] = dict.fromkeys(_STAT_FIELDS, 0)
_EMPTY_STATS.update(
    first_paid_at=None, last_paid_at=None, first_order_id=None, last_order_id=None, province=None, city=None
)


def _empty_stats(workspace_id: int, customer_id: int) -> dict[str, Any]:
    # A copy of a template (one C-level dict copy) plus fresh counters: this runs for
    # every customer every batch touches.
    s = _EMPTY_STATS.copy()
    s["customer_id"] = customer_id
    s["workspace_id"] = workspace_id
    s["categories"], s["products"], s["platforms"], s["shops"] = {}, {}, {}, {}
    return s
