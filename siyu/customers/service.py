"""OneID: find or create the customer behind a set of identities, merge profiles, keep stats.

Identity keys (see docs/imports.md, "Who is who"): a normalised phone, a WeChat
unionid and a WeCom external_userid mean the same person everywhere; a platform
buyer id (Taobao 买家会员名, JD 下单帐号) only within its platform. Masked phones and
nicknames are never keys. When one set of identities hits two customers, the younger
profile is merged into the older one and the merge is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.customers import repository as repo
from siyu.customers.schemas import (
    GLOBAL_KINDS,
    IDENTITY_KINDS,
    CustomerDetail,
    CustomerSummary,
    IdentityInput,
    IdentityOut,
    OrderOut,
    StatsOut,
    TagOut,
)
from siyu.customers.tags import customer_tags
from siyu.kit import audit
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.pii import PIIError, PIIVault, get_vault, mask_phone, normalise_phone
from siyu.kit.timeutil import utcnow, zone
from siyu.models import Customer, Workspace

__all__ = [
    "BatchResolution",
    "IdentityInput",
    "customer_detail",
    "list_customers",
    "merge_customers",
    "refresh_stats",
    "resolve_batch",
    "resolve_customer",
]

_Key = tuple[str, str, str]  # (kind, platform, value_hash)


@dataclass
class BatchResolution:
    """Result of :func:`resolve_batch`: one customer id (or None) per input group."""

    customer_ids: list[int | None]
    created: int = 0
    merged: list[tuple[int, int]] = field(default_factory=list)  # (survivor, merged)


@dataclass(slots=True)
class _Prepared:
    key: _Key
    kind: str
    platform: str
    value: str  # normalised (E.164 for phones)


def _prepare(ident: IdentityInput, vault: PIIVault) -> _Prepared | None:
    """Normalise one identity; None when it cannot be a key (empty or masked phone)."""
    kind = ident.kind
    if kind not in IDENTITY_KINDS:
        raise Invalid(f"unknown identity kind {kind!r}; one of {', '.join(IDENTITY_KINDS)}", field="kind")
    value = (ident.value or "").strip()
    if kind == "phone" and not (value.startswith("+") and value[1:].isdigit()):
        try:
            normalised = normalise_phone(value)
        except PIIError as exc:
            raise Invalid(str(exc), field="phone") from exc
        if normalised is None:
            return None
        value = normalised
    if not value:
        return None
    platform = "" if kind in GLOBAL_KINDS else (ident.platform or "").strip().lower()
    if kind in ("buyer_id", "openid") and not platform:
        raise Invalid(f"a {kind} needs the platform it belongs to", field="platform")
    digest = vault.identity_hash(kind, value, platform)
    return _Prepared((kind, platform, digest), kind, platform, value[:200])


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def resolve_batch(
    session: Session,
    *,
    workspace_id: int,
    groups: Sequence[Sequence[IdentityInput]],
    source: str,
    actor: str = "system",
    names: Sequence[str | None] | None = None,
    seen_at: Sequence[datetime | None] | None = None,
    known_customer_ids: Sequence[int | None] | None = None,
) -> BatchResolution:
    """Find or create the customer of each identity group, in a handful of queries.

    Groups sharing a key are the same person; so are the identities of one group.
    ``known_customer_ids`` ties a group to a customer it already belongs to (an order
    imported before), so a new key on that order links to the same person.
    """
    vault = get_vault()
    prepared: list[list[_Prepared]] = []
    for group in groups:
        seen: dict[_Key, _Prepared] = {}
        for ident in group:
            p = _prepare(ident, vault)
            if p is not None:
                seen.setdefault(p.key, p)
        prepared.append(list(seen.values()))

    by_scope: dict[tuple[str, str], set[str]] = {}
    for plist in prepared:
        for p in plist:
            by_scope.setdefault((p.kind, p.platform), set()).add(p.key[2])
    owners: dict[_Key, int] = {}
    for (kind, platform), hashes in by_scope.items():
        found = repo.identity_owners(
            session, workspace_id=workspace_id, kind=kind, platform=platform, hashes=sorted(hashes)
        )
        for digest, cid in found.items():
            owners[(kind, platform, digest)] = cid

    uf = _UnionFind()
    for i, plist in enumerate(prepared):
        node: Any = ("g", i)
        uf.find(node)
        for p in plist:
            uf.union(node, p.key)
            if p.key in owners:
                uf.union(node, ("c", owners[p.key]))
        known = known_customer_ids[i] if known_customer_ids else None
        if known is not None:
            uf.union(node, ("c", known))

    # Each component: the customers it already touches, its groups.
    comp_customers: dict[Any, set[int]] = {}
    comp_groups: dict[Any, list[int]] = {}
    for i, plist in enumerate(prepared):
        root = uf.find(("g", i))
        comp_groups.setdefault(root, []).append(i)
        cset = comp_customers.setdefault(root, set())
        for p in plist:
            if p.key in owners:
                cset.add(owners[p.key])
        known = known_customer_ids[i] if known_customer_ids else None
        if known is not None:
            cset.add(known)

    result = BatchResolution(customer_ids=[None] * len(prepared))
    comp_customer: dict[Any, int] = {}
    new_roots: list[Any] = []
    now = utcnow()
    for root, gids in comp_groups.items():
        cset = comp_customers[root]
        if len(cset) >= 2:
            survivor, *others = sorted(cset)
            for other in others:
                merge_customers(
                    session,
                    workspace_id=workspace_id,
                    survivor_id=survivor,
                    merged_id=other,
                    actor=actor,
                    reason=f"shared identity seen in {source}",
                    refresh=False,
                )
                result.merged.append((survivor, other))
            comp_customer[root] = survivor
        elif cset:
            comp_customer[root] = next(iter(cset))
        elif any(prepared[g] for g in gids):
            new_roots.append(root)

    rows = []
    for root in new_roots:
        gids = comp_groups[root]
        name = next((names[g] for g in gids if names and names[g]), None)
        times = [t for g in gids if seen_at and (t := seen_at[g]) is not None]
        rows.append(
            {
                "workspace_id": workspace_id,
                "name": name[:100] if name else None,
                "first_seen_at": min(times) if times else now,
                "gender": 0,
                "opt_out": False,
            }
        )
    for root, cid in zip(new_roots, repo.insert_customers(session, rows), strict=True):
        comp_customer[root] = cid
    result.created = len(rows)

    new_identities: dict[_Key, dict[str, Any]] = {}
    for i, plist in enumerate(prepared):
        owner = comp_customer.get(uf.find(("g", i)))
        result.customer_ids[i] = owner
        if owner is None:
            continue
        for p in plist:
            if p.key in owners or p.key in new_identities:
                continue
            phone = p.kind == "phone"
            new_identities[p.key] = {
                "workspace_id": workspace_id,
                "customer_id": owner,
                "kind": p.kind,
                "platform": p.platform,
                "value_hash": p.key[2],
                "value": None if phone else p.value,
                "value_enc": vault.encrypt(p.value) if phone else None,
                "value_masked": mask_phone(p.value) if phone else None,
                "source": source[:64],
            }
    repo.insert_identities(session, list(new_identities.values()))
    return result


def resolve_customer(
    session: Session,
    *,
    workspace_id: int,
    identities: Sequence[IdentityInput],
    source: str,
    actor: str = "system",
    name: str | None = None,
) -> Customer:
    """The customer these identities belong to: found, created, or merged from several."""
    res = resolve_batch(
        session,
        workspace_id=workspace_id,
        groups=[identities],
        source=source,
        actor=actor,
        names=[name],
    )
    if res.merged:
        refresh_stats(session, workspace_id=workspace_id, customer_ids=[s for s, _ in res.merged])
    cid = res.customer_ids[0]
    if cid is None:
        raise Invalid("no usable identity (a masked phone is not an identity)", field="identities")
    customer = session.get(Customer, cid)
    assert customer is not None
    if name and not customer.name:
        customer.name = name[:100]
    return customer


def merge_customers(
    session: Session,
    *,
    workspace_id: int,
    survivor_id: int,
    merged_id: int,
    actor: str = "system",
    reason: str = "",
    refresh: bool = True,
) -> Customer:
    """Merge ``merged_id`` into ``survivor_id``: move everything, tombstone, audit."""
    if survivor_id == merged_id:
        raise Invalid("cannot merge a customer into itself", field="customer_id")
    survivor = repo.get_customer(session, workspace_id=workspace_id, customer_id=survivor_id)
    merged = repo.get_customer(session, workspace_id=workspace_id, customer_id=merged_id)
    if survivor is None or merged is None:
        missing = survivor_id if survivor is None else merged_id
        raise NotFound(f"customer {missing} does not exist in this workspace", field="customer_id")
    if survivor.merged_into_id is not None or merged.merged_into_id is not None:
        raise Invalid("customer was already merged into another one", field="customer_id")
    session.flush()
    moved = repo.move_customer_rows(
        session, workspace_id=workspace_id, survivor_id=survivor_id, merged_id=merged_id
    )
    # Fill the survivor's blanks from the merged profile; an opt-out on either one wins
    # (PIPL: when in doubt, do not market to the person).
    for attr in ("name", "avatar", "province", "city", "birthday", "referred_by_id"):
        if getattr(survivor, attr) is None and getattr(merged, attr) is not None:
            setattr(survivor, attr, getattr(merged, attr))
    if not survivor.gender and merged.gender:
        survivor.gender = merged.gender
    if merged.opt_out and not survivor.opt_out:
        survivor.opt_out, survivor.opt_out_at = True, merged.opt_out_at
    if merged.first_seen_at and (
        survivor.first_seen_at is None or merged.first_seen_at < survivor.first_seen_at
    ):
        survivor.first_seen_at = merged.first_seen_at
    if survivor.referred_by_id == merged_id:
        survivor.referred_by_id = None
    merged.merged_into_id = survivor_id
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="customer.merge",
        target_type="customer",
        target_id=survivor_id,
        detail={"merged_id": merged_id, "reason": reason, "moved": moved},
    )
    session.flush()
    if refresh:
        refresh_stats(session, workspace_id=workspace_id, customer_ids=[survivor_id])
    return survivor


# -- maintained stats ------------------------------------------------------------------

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


def _empty_stats(workspace_id: int, customer_id: int) -> dict[str, Any]:
    s: dict[str, Any] = dict.fromkeys(_STAT_FIELDS, 0)
    s.update(
        customer_id=customer_id,
        workspace_id=workspace_id,
        first_paid_at=None,
        last_paid_at=None,
        first_order_id=None,
        last_order_id=None,
        province=None,
        city=None,
        categories={},
        products={},
        platforms={},
        shops={},
    )
    return s


# -- profile views -----------------------------------------------------------------------


def list_customers(
    session: Session, *, workspace_id: int, limit: int = 50, offset: int = 0
) -> list[CustomerSummary]:
    """Live customers (merged tombstones left out), newest first, with their stats."""
    if limit < 1 or offset < 0:
        raise Invalid("limit must be at least 1 and offset at least 0", field="limit")
    rows = repo.list_customers(session, workspace_id=workspace_id, limit=limit, offset=offset)
    phones = repo.masked_phones(session, [c.id for c, _ in rows])
    out = []
    for c, st in rows:
        out.append(
            CustomerSummary(
                id=c.id,
                name=c.name,
                phone_masked=phones.get(c.id),
                province=c.province,
                city=c.city,
                orders_count=st.orders_count if st else 0,
                effective_orders_count=st.effective_orders_count if st else 0,
                net_fen=st.net_fen if st else 0,
                last_paid_at=st.last_paid_at if st else None,
                platforms=sorted(st.platforms) if st else [],
                created_at=c.created_at,
            )
        )
    return out


def customer_detail(
    session: Session, *, workspace_id: int, customer_id: int, orders_limit: int = 50
) -> CustomerDetail:
    """Everything about one customer; a merged id shows the profile it was merged into."""
    live = repo.live_customer_id(session, workspace_id=workspace_id, customer_id=customer_id)
    customer = (
        None if live is None else repo.get_customer(session, workspace_id=workspace_id, customer_id=live)
    )
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist in this workspace", field="customer_id")
    idents = repo.identities_of(session, customer.id)
    st = repo.stats_of(session, customer.id)
    orders, total = repo.orders_of(session, customer.id, orders_limit)
    phone = next((i.value_masked for i in idents if i.kind == "phone" and i.value_masked), None)
    return CustomerDetail(
        id=customer.id,
        name=customer.name,
        gender=customer.gender,
        province=customer.province,
        city=customer.city,
        opt_out=customer.opt_out,
        first_seen_at=customer.first_seen_at,
        created_at=customer.created_at,
        merged_ids=repo.merged_ids_of(session, workspace_id=workspace_id, customer_id=customer.id),
        phone_masked=phone,
        identities=[
            IdentityOut(
                kind=i.kind,
                platform=i.platform,
                value=i.value_masked if i.kind == "phone" else i.value,
                source=i.source,
                created_at=i.created_at,
            )
            for i in idents
        ],
        tags=[
            TagOut(group=g.name, name=t.name, source=ct.source)
            for t, g, ct in customer_tags(session, workspace_id=workspace_id, customer_id=customer.id)
        ],
        stats=StatsOut.model_validate(st, from_attributes=True) if st else StatsOut(),
        orders=[
            OrderOut(
                id=o.id,
                platform=o.platform,
                external_id=o.external_id,
                shop=o.shop,
                status=o.status,
                raw_status=o.raw_status,
                ordered_at=o.ordered_at,
                paid_at=o.paid_at,
                paid_fen=o.paid_fen,
                refunded_fen=o.refunded_fen,
                net_fen=o.net_fen,
                item_count=o.item_count,
                title=o.title,
            )
            for o in orders
        ],
        orders_total=total,
    )
