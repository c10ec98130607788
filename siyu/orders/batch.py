"""Apply one batch of parsed rows: merge rows per order, OneID, bulk writes.

A batch costs a fixed handful of queries whatever its size: existing orders and items
by ``IN (...)``, identities by hash, bulk inserts/updates. The customers whose orders
changed are returned in ``BatchCounts.touched``: the import recomputes their stats once
per file (``siyu.orders.service``), not once per batch. Every order a batch writes
(created or changed) carries the batch's ``import_id``, so the customers an interrupted
import touched can be found again. Nothing here commits; the import loop commits once
per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.customers.schemas import GLOBAL_KINDS, IdentityInput
from siyu.customers.service import anonymised_customers, refresh_stats, resolve_batch
from siyu.kit.money import fen_to_yuan
from siyu.kit.pii import mask_phone
from siyu.kit.timeutil import utcnow
from siyu.models import ORDER_PERSONAL_FIELDS
from siyu.orders import repository as repo
from siyu.orders.importers.base import STATUS_RANK, ItemRecord, OrderRecord, buyer_key

AWAITING = "awaiting_order_file"
_PAID_STATUSES = ("paid", "shipped", "completed", "refunded")
_ORDER_COLUMN_SET = frozenset(repo.ORDER_COLUMNS)


@dataclass(slots=True)
class Conflict:
    """A row whose order id was read before (or is stored) with another buyer or amount.

    The first is kept; this row is left out and reported, and no customers are merged
    on it (merging on it would join two buyers into one customer).
    """

    record: OrderRecord
    field: str
    value: str | None
    message: str


@dataclass
class BatchCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    without_customer: int = 0
    # new orders of anonymised customers (PIPL erasure), stored without personal data
    of_erased: int = 0
    awaiting: int = 0
    items_written: int = 0
    customers_created: int = 0
    customers_merged: int = 0
    # customers whose orders this batch created or changed: their stats are due
    touched: set[int] = field(default_factory=set)
    # rows left out because their order disagrees with an earlier row or the stored order
    conflicts: list[Conflict] = field(default_factory=list)


@dataclass
class _Draft:
    """All rows of one order within the batch."""

    platform: str
    external_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    items: dict[str, ItemRecord] = field(default_factory=dict)
    identities: list[IdentityInput] = field(default_factory=list)
    # identities the parser process keyed already (the others are in ``identities``)
    keys: list[tuple[str, str, str, str]] = field(default_factory=list)
    discounts: dict[str, dict[str, int]] = field(default_factory=dict)
    money_from_items: bool = False
    items_only: bool = True
    # the rows merged into this draft (to report them if the order conflicts)
    rows: list[OrderRecord] = field(default_factory=list)
    # (kind, platform) → value of the buyer keys its rows named; built on a second row
    who: dict[tuple[str, str], str] | None = None


def _who(rec: OrderRecord) -> dict[tuple[str, str], str]:
    """The buyer keys a row names, (kind, platform) → value, as OneID would key them."""
    out: dict[tuple[str, str], str] = {}
    for kind, platform, _digest, value in rec.keys or ():
        out[(kind, platform)] = value
    for ident in rec.identities:
        value = (ident.value or "").strip()[:200]
        if value:
            platform = "" if ident.kind in GLOBAL_KINDS else (ident.platform or "").strip().lower()
            out[(ident.kind, platform)] = value
    return out


def _shown(kind: str, value: str) -> str:
    """A key as it may appear in an error message (never a phone in clear)."""
    return mask_phone(value) if kind == "phone" else value[:100]


def _disagreement(d: _Draft, rec: OrderRecord) -> Conflict | None:
    """Why ``rec`` cannot be another row of the order ``d`` holds, or None."""
    first = d.rows[0].line if d.rows else rec.line
    where = f"order {rec.external_id} was read on line {first}"
    if d.who is None:
        d.who = {}
        for earlier in d.rows:
            if not earlier.items_only:
                d.who.update(_who(earlier))
    mine = _who(rec)
    for key, value in mine.items():
        before = d.who.get(key)
        if before is not None and before != value:
            kind = key[0]
            return Conflict(
                rec,
                kind,
                _shown(kind, value),
                f"{where} with another buyer ({kind} {_shown(kind, before)}, here {_shown(kind, value)}); "
                "the first row is kept and no customers are merged on this one",
            )
    if rec.money_from_items:
        for item in rec.items:
            kept = d.items.get(item.line_key)
            if kept is not None and kept.amount_fen != item.amount_fen:
                return Conflict(
                    rec,
                    "amount",
                    f"{fen_to_yuan(item.amount_fen)}",
                    f"{where} with another amount for line {item.line_key} ({fen_to_yuan(kept.amount_fen)} "
                    f"yuan, here {fen_to_yuan(item.amount_fen)}); the first row is kept",
                )
    elif not d.money_from_items:
        paid, before_paid = rec.fields.get("paid_fen") or 0, d.fields.get("paid_fen") or 0
        if paid and before_paid and paid != before_paid:
            return Conflict(
                rec,
                "amount",
                f"{fen_to_yuan(paid)}",
                f"{where} with another paid amount ({fen_to_yuan(before_paid)} yuan, here "
                f"{fen_to_yuan(paid)}); the first row is kept",
            )
    d.who.update(mine)
    return None


def _stored_disagreement(d: _Draft, old: dict[str, Any]) -> tuple[str, str | None, str] | None:
    """(field, value, why) when the rows of ``d`` contradict the stored order, else None."""
    new_buyer, old_buyer = buyer_key(d.fields.get("buyer_id")), buyer_key(old["buyer_id"])
    if new_buyer and old_buyer and new_buyer != old_buyer:
        return (
            "buyer_id",
            new_buyer,
            f"order {d.external_id} is already stored with another buyer ({old_buyer}, here "
            f"{new_buyer}); the stored order is kept and no customers are merged on this row",
        )
    paid, old_paid = d.fields.get("paid_fen") or 0, old["paid_fen"] or 0
    if not d.money_from_items and paid and old_paid and paid != old_paid:
        return (
            "amount",
            f"{fen_to_yuan(paid)}",
            f"order {d.external_id} is already stored with another paid amount ({fen_to_yuan(old_paid)} "
            f"yuan, here {fen_to_yuan(paid)}); the stored order is kept",
        )
    return None


def _group(records: list[OrderRecord], conflicts: list[Conflict]) -> dict[tuple[str, str], _Draft]:
    drafts: dict[tuple[str, str], _Draft] = {}
    for rec in records:
        key = (rec.platform, rec.external_id)
        d = drafts.get(key)
        if d is None:
            d = drafts[key] = _Draft(rec.platform, rec.external_id)
        elif not rec.items_only and not d.items_only:
            # Another row of an order read before: another line item of it, a later
            # state of it, or a different order under the same id.
            problem = _disagreement(d, rec)
            if problem is not None:
                conflicts.append(problem)
                continue
        d.rows.append(rec)
        if not rec.items_only:
            d.items_only = False
            discounts = rec.fields.pop("_item_discounts", None)
            if discounts:
                d.discounts.update(discounts)
            if d.fields:
                # Later rows of the same order win, but never blank out a value.
                d.fields.update({k: v for k, v in rec.fields.items() if v is not None or k not in d.fields})
            else:
                d.fields.update(rec.fields)
        d.money_from_items = d.money_from_items or rec.money_from_items
        for ident in rec.identities:
            if ident not in d.identities:
                d.identities.append(ident)
        if rec.keys:
            d.keys.extend(rec.keys)
        for item in rec.items:
            line_key = item.line_key
            n = 1
            while line_key in d.items and rec.items_only:
                # Identical lines in a detail file are separate lines of the order.
                n += 1
                line_key = f"{item.line_key}#{n}"
            item.line_key = line_key
            d.items[line_key] = item
    return drafts


def _unseen_sub_orders(d: _Draft, stored: dict[str, dict[str, Any]]) -> dict[str, ItemRecord]:
    """The line items of an order assembled from its items that are not stored yet."""
    if not d.money_from_items:
        return {}
    return {k: item for k, item in d.items.items() if k not in stored}


def _item_values(item: ItemRecord) -> dict[str, Any]:
    return {c: getattr(item, c) for c in repo.ITEM_COLUMNS}


def _changed(new: dict[str, Any], old: dict[str, Any], columns: tuple[str, ...]) -> bool:
    return any(new.get(c) != old.get(c) for c in columns)


def apply_batch(
    session: Session,
    *,
    workspace_id: int,
    import_id: int,
    records: list[OrderRecord],
    source: str,
    actor: str,
) -> BatchCounts:
    """Write one batch of rows; returns what changed."""
    counts = BatchCounts()
    drafts = _group(records, counts.conflicts)
    if not drafts:
        return counts
    now = utcnow()

    existing: dict[tuple[str, str], dict[str, Any]] = {}
    by_platform: dict[str, list[str]] = {}
    for platform, ext in drafts:
        by_platform.setdefault(platform, []).append(ext)
    for platform, exts in by_platform.items():
        for ext, row in repo.existing_orders(
            session, workspace_id=workspace_id, platform=platform, external_ids=exts
        ).items():
            existing[(platform, ext)] = row
    need_items = [
        existing[k]["id"] for k, d in drafts.items() if k in existing and (d.items or d.money_from_items)
    ]
    old_items = repo.existing_items(session, need_items)

    # Stale rows (an older export than what is stored) change nothing, and neither do
    # rows of anonymised customers: a re-import must not bring erased data back.
    frozen = anonymised_customers(session, [row["customer_id"] for row in existing.values()])
    live: dict[tuple[str, str], _Draft] = {}
    for key, d in drafts.items():
        old = existing.get(key)
        if old is not None and old["customer_id"] in frozen:
            counts.stale += 1
            continue
        if old is not None and not d.items_only and not old["extra"].get(AWAITING):
            problem = _stored_disagreement(d, old)
            if problem is not None:
                counts.conflicts.extend(Conflict(rec, *problem) for rec in d.rows if not rec.items_only)
                continue
            new_rank = STATUS_RANK.get(d.fields.get("status", "pending"), 0)
            old_rank = STATUS_RANK.get(old["status"], 0)
            # Refunds only grow: a smaller refund at the same stage is an older export.
            older_refund = (
                not d.money_from_items
                and new_rank == old_rank
                and d.fields.get("refunded_fen", 0) < old["refunded_fen"]
            )
            if new_rank < old_rank or older_refund:
                unseen = _unseen_sub_orders(d, old_items.get(old["id"], {}))
                if not unseen:
                    counts.stale += 1
                    continue
                # One row per sub-order (Douyin): rows of the same order at an earlier
                # stage in a later batch are its other sub-orders, not an older export.
                # The order keeps what is stored; the sub-orders not seen yet are added.
                d.items, d.fields = unseen, {}
                d.discounts = {k: v for k, v in d.discounts.items() if k in unseen}
        live[key] = d

    # OneID for every order that names a buyer; an order already linked keeps linking.
    keys = [k for k, d in live.items() if not d.items_only]
    resolution = resolve_batch(
        session,
        workspace_id=workspace_id,
        groups=[live[k].identities for k in keys],
        source=source,
        actor=actor,
        names=[live[k].fields.get("buyer_name") for k in keys],
        seen_at=[live[k].fields.get("paid_at") or live[k].fields.get("ordered_at") for k in keys],
        known_customer_ids=[existing[k]["customer_id"] if k in existing else None for k in keys],
        prepared=[live[k].keys for k in keys],
    )
    customer_of = dict(zip(keys, resolution.customer_ids, strict=True))
    if resolution.erased:
        # The person asked to be erased: their orders still count in the books, on the
        # anonymised profile, but nothing about the person is written.
        for key in keys:
            if customer_of[key] in resolution.erased:
                d = live[key]
                d.fields = {**d.fields, **dict.fromkeys(ORDER_PERSONAL_FIELDS), "extra": {}}
                counts.of_erased += 1
    counts.customers_created = resolution.created
    counts.customers_merged = len(resolution.merged)
    touched = counts.touched
    if resolution.merged:
        # A merge moved orders that this import may never write again: the survivors'
        # stats are brought up to date now, in the same transaction as the merge.
        refresh_stats(
            session, workspace_id=workspace_id, customer_ids=sorted({s for s, _ in resolution.merged})
        )
        # Merges moved orders between customers: re-read the owners we compare against.
        merged_into = {m: s for s, m in resolution.merged}
        for row in existing.values():
            if row["customer_id"] in merged_into:
                row["customer_id"] = merged_into[row["customer_id"]]

    inserts: list[dict[str, Any]] = []
    insert_keys: list[tuple[str, str]] = []
    updates: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    for key, d in live.items():
        old = existing.get(key)
        old_item_map = old_items.get(old["id"], {}) if old else {}
        values = _order_values(d, old, old_item_map, customer_of.get(key))
        if values.get("customer_id") is None and not d.items_only:
            counts.without_customer += 1
        if values["extra"].get(AWAITING):
            counts.awaiting += 1
        if old is None:
            values.update(workspace_id=workspace_id, platform=d.platform, external_id=d.external_id)
            values.update(import_id=import_id, created_at=now, updated_at=now)
            inserts.append(values)
            insert_keys.append(key)
            counts.created += 1
            continue
        if _changed(values, old, repo.ORDER_COLUMNS):
            updates.append({"id": old["id"], **values, "import_id": import_id, "updated_at": now})
            if old["import_id"] != import_id:
                counts.updated += 1
            for cid in (old["customer_id"], values["customer_id"]):
                if cid is not None:
                    touched.add(cid)
        else:
            items_change = any(
                lk not in old_item_map or _changed(_item_values(it), old_item_map[lk], repo.ITEM_COLUMNS)
                for lk, it in d.items.items()
            )
            if items_change:
                marks.append({"id": old["id"], "import_id": import_id})
                if old["import_id"] != import_id:
                    counts.updated += 1
                if old["customer_id"] is not None:
                    touched.add(old["customer_id"])
            elif old["import_id"] != import_id:
                counts.unchanged += 1

    new_ids = repo.insert_orders(session, inserts)
    repo.update_orders(session, updates)
    repo.update_orders(session, marks)
    order_id: dict[tuple[str, str], int] = {k: v["id"] for k, v in existing.items()}
    order_id.update(zip(insert_keys, new_ids, strict=True))
    for values in inserts:
        if values["customer_id"] is not None:
            touched.add(values["customer_id"])

    counts.items_written = _write_items(session, workspace_id, live, order_id, old_items, existing)
    _record_events(session, workspace_id, live, existing, order_id, inserts, insert_keys, updates)
    return counts


def _order_values(
    d: _Draft, old: dict[str, Any] | None, old_items: dict[str, dict[str, Any]], customer_id: int | None
) -> dict[str, Any]:
    """The order's columns after this batch: the row's values over what is stored."""
    base: dict[str, Any]
    if old is not None:
        base = {c: old[c] for c in repo.ORDER_COLUMNS}
        base["extra"] = dict(old["extra"] or {})
    else:
        base = dict.fromkeys(repo.ORDER_COLUMNS)
        base.update(
            status="pending",
            paid_fen=0,
            goods_fen=0,
            shipping_fen=0,
            refunded_fen=0,
            discount_fen=0,
            platform_discount_fen=0,
            item_count=0,
            extra={},
        )
    if d.items_only:
        if old is None:
            # Items for an order not imported yet: keep them on a placeholder that the
            # order file completes later; it has no buyer and no money until then.
            base["extra"][AWAITING] = True
            base["status"] = next((i.status for i in d.items.values() if i.status), "pending")
            base["raw_status"] = None
    else:
        fields = d.fields
        extra = fields.get("extra") or {}
        kept_extra = base["extra"]
        if fields.keys() <= _ORDER_COLUMN_SET:
            base.update(fields)  # the common case: every field is an order column
        else:
            base.update({k: v for k, v in fields.items() if k in _ORDER_COLUMN_SET})
        base["extra"] = kept_extra
        base["extra"].pop(AWAITING, None)
        base["extra"].update(extra)
        base["customer_id"] = customer_id
    all_items: dict[str, dict[str, Any]] = {k: dict(v) for k, v in old_items.items()}
    for lk, it in d.items.items():
        all_items[lk] = _item_values(it)
    if d.money_from_items:
        discounts = dict(base["extra"].get("item_discounts") or {})
        discounts.update(d.discounts)
        if discounts:
            base["extra"]["item_discounts"] = dict(sorted(discounts.items()))
        base["discount_fen"] = sum(v["discount_fen"] for v in discounts.values())
        base["platform_discount_fen"] = sum(v["platform_discount_fen"] for v in discounts.values())
        total = sum(v["amount_fen"] for v in all_items.values())
        refunded = sum(v["refunded_fen"] for v in all_items.values())
        base["goods_fen"] = total
        if base["status"] in _PAID_STATUSES or (base["status"] == "closed" and base["paid_at"] is not None):
            base["paid_fen"] = total
            base["refunded_fen"] = min(refunded, total)
            if base["status"] == "closed" or (total > 0 and refunded >= total):
                base["status"], base["refunded_fen"] = "refunded", total
        else:
            base["paid_fen"] = base["refunded_fen"] = 0
    if all_items:
        base["item_count"] = sum(v["quantity"] for v in all_items.values())
        if not base["title"]:
            base["title"] = ", ".join(v["title"] for v in all_items.values() if v["title"])[:500] or None
    return base


def _write_items(
    session: Session,
    workspace_id: int,
    drafts: dict[tuple[str, str], _Draft],
    order_id: dict[tuple[str, str], int],
    old_items: dict[int, dict[str, dict[str, Any]]],
    existing: dict[tuple[str, str], dict[str, Any]],
) -> int:
    inserts, updates = [], []
    for key, d in drafts.items():
        oid = order_id[key]
        stored = old_items.get(oid, {}) if key in existing else {}
        for lk, it in d.items.items():
            values = _item_values(it)
            old = stored.get(lk)
            if old is None:
                inserts.append({"workspace_id": workspace_id, "order_id": oid, "line_key": lk, **values})
            elif _changed(values, old, repo.ITEM_COLUMNS):
                updates.append({"id": old["id"], **values})
    repo.insert_items(session, inserts)
    repo.update_items(session, updates)
    return len(inserts) + len(updates)


def _record_events(
    session: Session,
    workspace_id: int,
    drafts: dict[tuple[str, str], _Draft],
    existing: dict[tuple[str, str], dict[str, Any]],
    order_id: dict[tuple[str, str], int],
    inserts: list[dict[str, Any]],
    insert_keys: list[tuple[str, str]],
    updates: list[dict[str, Any]],
) -> None:
    """order.paid / order.refunded events, once per order (dedup keys make re-runs no-ops)."""
    wanted: dict[str, dict[str, Any]] = {}
    by_id = {order_id[k]: k for k in drafts}
    changed = [(k, v) for k, v in zip(insert_keys, inserts, strict=True)]
    changed += [(by_id[u["id"]], u) for u in updates]
    for key, v in changed:
        platform, ext = key
        common = {
            "workspace_id": workspace_id,
            "customer_id": v["customer_id"],
            "order_id": order_id[key],
            "source": "import",
        }
        if v["paid_at"] is not None and v["status"] != "pending":
            k = f"order.paid:{platform}:{ext}"[:128]
            wanted[k] = {
                **common,
                "kind": "order.paid",
                "occurred_at": v["paid_at"],
                "dedup_key": k,
                "payload": {"platform": platform, "external_id": ext, "paid_fen": v["paid_fen"]},
            }
        if v["refunded_fen"] > 0:
            when: datetime = v["completed_at"] or v["paid_at"] or utcnow()
            k = f"order.refunded:{platform}:{ext}"[:128]
            wanted[k] = {
                **common,
                "kind": "order.refunded",
                "occurred_at": max(when, v["paid_at"] or when),
                "dedup_key": k,
                "payload": {"platform": platform, "external_id": ext, "refunded_fen": v["refunded_fen"]},
            }
    # Events already recorded (a re-import, a resumed run) are skipped by their dedup key.
    repo.insert_events(session, list(wanted.values()))
