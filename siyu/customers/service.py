"""OneID: find or create the customer behind a set of identities, merge profiles, keep stats.

Identity keys (see docs/imports.md, "Who is who"): a normalised phone, a WeChat
unionid and a WeCom external_userid mean the same person everywhere; a platform
buyer id (Taobao 买家会员名, JD 下单帐号) only within its platform. Masked phones and
nicknames are never keys. When one set of identities hits two customers, the younger
profile is merged into the older one and the merge is audited.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers import repository as repo
from siyu.customers.schemas import GLOBAL_KINDS, IDENTITY_KINDS, IdentityInput
from siyu.customers.stats import refresh_stats
from siyu.customers.tags import record_tag_change
from siyu.customers.views import customer_detail, list_customers
from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.pii import PIIError, PIIVault, get_vault, mask_phone, normalise_phone, phone_last4
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, CustomerTag, Follow

__all__ = [
    "BatchResolution",
    "IdentityInput",
    "anonymised_customers",
    "customer_detail",
    "list_customers",
    "merge_customers",
    "prepare_identities",
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
    # Anonymised customers that groups went to through an erased key (PIPL erasure):
    # whatever is written for those groups must carry no personal data.
    erased: set[int] = field(default_factory=set)


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


PreparedKey = tuple[str, str, str, str]  # (kind, platform, value_hash, normalised value)


def prepare_identities(group: Sequence[IdentityInput], vault: PIIVault) -> list[PreparedKey]:
    """The usable identities of one group, keyed: (kind, platform, hash, value) each.

    Plain tuples, so that a parser process can key a file's identities and hand them
    over cheaply (``resolve_batch(prepared=...)``). Raises like :func:`resolve_batch`.
    """
    out: list[PreparedKey] = []
    for ident in group:
        p = _prepare(ident, vault)
        if p is not None:
            out.append((p.kind, p.platform, p.key[2], p.value))
    return out


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        parent = self.parent
        up = parent.get(x)
        if up is None:
            parent[x] = x
            return x
        if up == x:
            return x
        root = up
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
    prepared: Sequence[Sequence[PreparedKey] | None] | None = None,
) -> BatchResolution:
    """Find or create the customer of each identity group, in a handful of queries.

    Groups sharing a key are the same person; so are the identities of one group.
    ``known_customer_ids`` ties a group to a customer it already belongs to (an order
    imported before), so a new key on that order links to the same person.
    ``prepared`` holds, per group, identities already keyed by :func:`prepare_identities`
    (a parser process did it); they count with the group's own ``groups`` entries.
    """
    vault = get_vault()
    keyed: list[list[_Prepared]] = []
    for i, group in enumerate(groups):
        seen: dict[_Key, _Prepared] = {}
        ready = (prepared[i] or ()) if prepared is not None else ()
        for kind, platform, digest, value in ready:
            key = (kind, platform, digest)
            if key not in seen:
                seen[key] = _Prepared(key, kind, platform, value)
        for ident in group:
            p = _prepare(ident, vault)
            if p is not None:
                seen.setdefault(p.key, p)
        keyed.append(list(seen.values()))

    by_scope: dict[tuple[str, str], set[str]] = {}
    for plist in keyed:
        for p in plist:
            by_scope.setdefault((p.kind, p.platform), set()).add(p.key[2])
    owners: dict[_Key, int] = {}
    for (kind, platform), hashes in by_scope.items():
        found = repo.identity_owners(
            session, workspace_id=workspace_id, kind=kind, platform=platform, hashes=sorted(hashes)
        )
        for digest, cid in found.items():
            owners[(kind, platform, digest)] = cid
    erased: dict[_Key, int] = {}
    if by_scope and repo.has_erased_identities(session, workspace_id=workspace_id):
        for (kind, platform), hashes in by_scope.items():
            found = repo.erased_owners(
                session, workspace_id=workspace_id, kind=kind, platform=platform, hashes=sorted(hashes)
            )
            for digest, cid in found.items():
                erased[(kind, platform, digest)] = cid

    def known_of(i: int) -> int | None:
        return known_customer_ids[i] if known_customer_ids else None

    # Most groups of an import batch stand alone: none of their keys is named by another
    # group of the batch or leads to an erased profile, and they reach at most one
    # customer. Such a group is its customer (or a new one) without the union-find below;
    # only the others are joined into components. The outcome is the same as joining
    # every group: a lone group's component is the group, its keys and its one customer.
    uses: dict[_Key, int] = {}
    for plist in keyed:
        for p in plist:
            k = p.key
            uses[k] = uses.get(k, 0) + 1
    lone_customer: dict[int, int | None] = {}
    joined: list[int] = []
    for i, plist in enumerate(keyed):
        mine: int | None = known_of(i)
        alone = True
        for p in plist:
            k = p.key
            if uses[k] > 1 or k in erased:
                alone = False
                break
            owner = owners.get(k)
            if owner is not None:
                if mine is None:
                    mine = owner
                elif mine != owner:
                    alone = False
                    break
        if alone:
            lone_customer[i] = mine
        else:
            joined.append(i)

    # Nodes: a group is its index (int), a key its tuple, a customer ("c", id), an
    # anonymised customer reached through an erased key ("e", id).
    uf = _UnionFind()
    for i in joined:
        plist = keyed[i]
        node: Any = i
        uf.find(node)
        for p in plist:
            uf.union(node, p.key)
            if p.key in owners:
                uf.union(node, ("c", owners[p.key]))
            elif p.key in erased:
                uf.union(node, ("e", erased[p.key]))
        known = known_of(i)
        if known is not None:
            uf.union(node, ("c", known))

    # Each component: the customers it already touches, the erased ones, its groups.
    comp_customers: dict[Any, set[int]] = {}
    comp_erased: dict[Any, set[int]] = {}
    comp_groups: dict[Any, list[int]] = {}
    for i in joined:
        plist = keyed[i]
        root = uf.find(i)
        comp_groups.setdefault(root, []).append(i)
        cset = comp_customers.setdefault(root, set())
        for p in plist:
            if p.key in owners:
                cset.add(owners[p.key])
            elif p.key in erased:
                comp_erased.setdefault(root, set()).add(erased[p.key])
        known = known_of(i)
        if known is not None:
            cset.add(known)

    result = BatchResolution(customer_ids=[None] * len(keyed))
    comp_customer: dict[Any, int] = {}
    group_owner: dict[int, int] = {}
    # (first group, component root or None for a lone group): what gets a new customer
    new_roots: list[tuple[int, Any]] = [
        (i, None) for i, cid in lone_customer.items() if cid is None and keyed[i]
    ]
    now = utcnow()
    for root, gids in comp_groups.items():
        cset = comp_customers[root]
        if root in comp_erased:
            # Erasure wins over linking: a group holding a key of an erased person goes
            # to that anonymised profile, and nothing in the component is merged (a merge
            # would tie the erased person to a live profile again). A group that is
            # already a live customer's (an order imported before, or a live key and no
            # erased one) stays with that customer.
            target = min(comp_erased[root])
            for g in gids:
                owned = sorted({owners[p.key] for p in keyed[g] if p.key in owners})
                known = known_of(g)
                if known is not None:
                    group_owner[g] = known
                elif owned and not any(p.key in erased for p in keyed[g]):
                    group_owner[g] = owned[0]
                else:
                    group_owner[g] = target
                    result.erased.add(target)
            continue
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
        elif any(keyed[g] for g in gids):
            new_roots.append((gids[0], root))
    # New customers are numbered in the order of their first group, as before.
    new_roots.sort(key=lambda x: x[0])

    rows = []
    for first, root in new_roots:
        gids = comp_groups[root] if root is not None else [first]
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
    for (first, root), cid in zip(new_roots, repo.insert_customers(session, rows), strict=True):
        if root is None:
            lone_customer[first] = cid
        else:
            comp_customer[root] = cid
    result.created = len(rows)

    # A lone group's customer may have been merged into another by a joined component.
    merged_into = {m: s for s, m in result.merged}
    for i in range(len(keyed)):
        if i in lone_customer:
            lone = lone_customer[i]
            result.customer_ids[i] = merged_into.get(lone, lone) if lone is not None else None
        else:
            result.customer_ids[i] = group_owner.get(i, comp_customer.get(uf.find(i)))
    # New keys of a group that went to an erased profile become erased keys too (only
    # their hash), so that they also lead back to it; they never become identities.
    new_erased: dict[_Key, dict[str, Any]] = {}
    for i, plist in enumerate(keyed):
        owner = result.customer_ids[i]
        if owner is None or group_owner.get(i) not in result.erased:
            continue
        for p in plist:
            if p.key in owners or p.key in erased or p.key in new_erased:
                continue
            new_erased[p.key] = {
                "workspace_id": workspace_id,
                "customer_id": owner,
                "kind": p.kind,
                "platform": p.platform,
                "value_hash": p.key[2],
                "erased_at": now,
            }
    repo.insert_erased_identities(session, list(new_erased.values()))

    new_identities: dict[_Key, dict[str, Any]] = {}
    for i, plist in enumerate(keyed):
        owner = result.customer_ids[i]
        if owner is None or (i in group_owner and group_owner[i] in result.erased):
            continue
        for p in plist:
            if p.key in owners or p.key in erased or p.key in new_erased or p.key in new_identities:
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
                "phone_last4": phone_last4(p.value) if phone else None,
                "source": source[:64],
            }
    repo.insert_identities(session, list(new_identities.values()))
    return result


def anonymised_customers(session: Session, customer_ids: Sequence[int]) -> set[int]:
    """Which of these customers were anonymised: imports must not bring their data back."""
    ids = sorted({c for c in customer_ids if c is not None})
    return repo.anonymised_ids(session, ids) if ids else set()


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
    if name and not customer.name and customer.anonymised_at is None:
        customer.name = name[:100]
    return customer


@dataclass(frozen=True, slots=True)
class ProfileInput:
    """What a channel (WeCom's contact API) says of a customer's profile."""

    name: str | None = None
    gender: int = 0  # 0 unknown, 1 male, 2 female (WeCom's codes)
    avatar: str | None = None


def fill_profiles(session: Session, *, workspace_id: int, profiles: dict[int, ProfileInput]) -> int:
    """Bring customers' name, gender and avatar up to what the channel reports; returns rows changed.

    A name is only filled in when missing (staff and imports name customers better than
    a WeChat nickname); gender and avatar follow the channel when it knows them. An
    anonymised customer is never given data again.
    """
    ids = sorted(profiles)
    if not ids:
        return 0
    frozen = anonymised_customers(session, ids)
    changed = 0
    for start in range(0, len(ids), 500):
        part = [c for c in ids[start : start + 500] if c not in frozen]
        for customer in session.scalars(
            select(Customer).where(Customer.workspace_id == workspace_id, Customer.id.in_(part))
        ):
            p = profiles[customer.id]
            before = (customer.name, customer.gender, customer.avatar)
            if p.name and not customer.name:
                customer.name = p.name[:100]
            if p.gender in (1, 2):
                customer.gender = p.gender
            if p.avatar:
                customer.avatar = p.avatar[:500]
            changed += before != (customer.name, customer.gender, customer.avatar)
    session.flush()
    return changed


def _tag_ids(session: Session, customer_id: int) -> set[int]:
    return set(session.scalars(select(CustomerTag.tag_id).where(CustomerTag.customer_id == customer_id)))


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
    if survivor.anonymised_at is not None or merged.anonymised_at is not None:
        erased_id = survivor_id if survivor.anonymised_at is not None else merged_id
        raise Conflict(
            f"customer {erased_id} was anonymised (PIPL erasure) and cannot be merged", field="customer_id"
        )
    session.flush()
    tags_before = _tag_ids(session, survivor_id)
    merged_follows = list(session.scalars(select(Follow.id).where(Follow.customer_id == merged_id)))
    moved = repo.move_customer_rows(
        session, workspace_id=workspace_id, survivor_id=survivor_id, merged_id=merged_id
    )
    # Tags the survivor now holds that it did not: a tag.changed event, so that the
    # acquisition domain pushes them to every WeCom relation the survivor has (mark_tag).
    record_tag_change(
        session,
        workspace_id=workspace_id,
        customer_ids=[survivor_id],
        added=_tag_ids(session, survivor_id) - tags_before,
        source="merge",
        source_ref=f"customer:{merged_id}",
    )
    # The tags the survivor already had did not change in siyu (no tag.changed: it would
    # enroll the survivor in SOP tag plans again), but the WeCom relations that came over
    # from the merged profile do not carry them yet: push them onto those relations.
    came_over = (
        list(
            session.scalars(
                select(Follow.id).where(Follow.id.in_(merged_follows), Follow.customer_id == survivor_id)
            )
        )
        if merged_follows and tags_before
        else []
    )
    if came_over:
        tagsync = importlib.import_module("siyu.acquisition.tagsync")  # acquisition builds on customers
        tagsync.push_customer_tags(
            session,
            workspace_id,
            [survivor_id],
            sorted(tags_before),
            follow_ids=came_over,
            dedup_key=f"merge.tags:{merged_id}:{survivor_id}",
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
