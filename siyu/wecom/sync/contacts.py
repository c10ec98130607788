"""Customers and follows from WeCom: OneID resolution, follow upserts, follow tags.

Works on batches of (customer, follow) pairs as ``batch/get_by_user`` or
``externalcontact/get`` return them. Every write goes through the OneID service
(``resolve_batch``), the follow service (``upsert_follow``) and the tag service, so a
sync and a callback change the same rows the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers import follows as follow_service
from siyu.customers.service import IdentityInput, ProfileInput, fill_profiles, resolve_batch
from siyu.customers.tags import TagChanges, add_tags, record_tag_change, remove_tags
from siyu.kit.events import record_event
from siyu.kit.pii import PIIError, normalise_phone
from siyu.kit.timeutil import utcnow
from siyu.models import CustomerTag, Follow, Tag
from siyu.wecom.schemas import BatchContactItem, ContactDetail, ExternalContact

SOURCE = "wecom"


@dataclass(slots=True)
class UpstreamFollow:
    """One staff × customer relation as WeCom reports it (either API shape)."""

    userid: str
    createtime: int
    remark: str
    description: str
    add_way: int
    state: str | None
    oper_userid: str | None
    tag_ids: list[str]
    remark_mobiles: list[str]


@dataclass
class ContactCounts:
    """What applying contacts changed (all zero on a repeat run)."""

    customers_created: int = 0
    customers_merged: int = 0
    follows_created: int = 0
    follows_updated: int = 0
    follows_ended: int = 0
    tags_added: int = 0
    tags_removed: int = 0

    def add(self, other: ContactCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class TagUnion:
    """Per customer: WeCom tag id -> the staff who put it there (over all their follows)."""

    by_customer: dict[int, dict[str, int]] = field(default_factory=dict)

    def add(self, customer_id: int, staff_id: int, tag_ids: Iterable[str]) -> None:
        tags = self.by_customer.setdefault(customer_id, {})
        for tag_id in tag_ids:
            tags.setdefault(tag_id, staff_id)


def from_batch(item: BatchContactItem) -> tuple[ExternalContact, UpstreamFollow]:
    f = item.follow_info
    return item.external_contact, UpstreamFollow(
        f.userid, f.createtime, f.remark, f.description, f.add_way, f.state, f.oper_userid,
        list(f.tag_id), list(f.remark_mobiles),
    )  # fmt: skip


def from_detail(detail: ContactDetail) -> list[tuple[ExternalContact, UpstreamFollow]]:
    out = []
    for f in detail.follow_user:
        # Only corp tags (type 1) have ids in the corp tag library.
        tag_ids = [t.tag_id for t in f.tags if t.tag_id and t.type == 1]
        out.append(
            (
                detail.external_contact,
                UpstreamFollow(
                    f.userid, f.createtime, f.remark, f.description, f.add_way, f.state, f.oper_userid,
                    tag_ids, list(f.remark_mobiles),
                ),
            )
        )  # fmt: skip
    return out


def _identities(contact: ExternalContact, mobiles: Iterable[str]) -> list[IdentityInput]:
    ids = [IdentityInput(kind="external_userid", value=contact.external_userid)]
    if contact.unionid:
        ids.append(IdentityInput(kind="unionid", value=contact.unionid))
    for mobile in mobiles:
        # Staff type phone numbers into the remark: a good key when valid, noise when not.
        try:
            phone = normalise_phone(mobile)
        except PIIError:
            continue
        if phone:
            ids.append(IdentityInput(kind="phone", value=phone))
    return ids


def _when(epoch: int) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch > 0 else None


def _snapshot(f: Follow) -> tuple[object, ...]:
    return (
        f.state, f.added_at, f.deleted_at, f.live_code_state, f.add_way, f.remark,
        f.description, f.oper_userid, f.external_userid,
    )  # fmt: skip


def _unchanged(f: Follow, external_userid: str, up: UpstreamFollow, at: datetime | None) -> bool:
    """True when upserting ``up`` would leave the stored follow exactly as it is."""
    return (
        f.state == "active"
        and at is not None
        and f.added_at == at
        and (f.deleted_at is None or f.deleted_at < at)
        and f.external_userid == external_userid
        and (not up.state or f.live_code_state == up.state[:64])
        and f.add_way == up.add_way
        and f.remark == up.remark[:100]
        and f.description == up.description[:300]
        and (up.oper_userid is None or f.oper_userid == up.oper_userid[:64])
    )


def apply_contacts(
    session: Session,
    *,
    workspace_id: int,
    staff_ids: dict[str, int],
    pairs: Sequence[tuple[ExternalContact, UpstreamFollow]],
    tags: TagUnion,
    seen: set[tuple[int, int]],
) -> ContactCounts:
    """Upsert customers and follows for a batch; fills ``tags`` and ``seen`` (staff, customer)."""
    counts = ContactCounts()
    if not pairs:
        return counts
    order: list[str] = []
    contacts: dict[str, ExternalContact] = {}
    mobiles: dict[str, list[str]] = {}
    for contact, follow in pairs:
        ext = contact.external_userid
        if ext not in contacts:
            order.append(ext)
            contacts[ext] = contact
        mobiles.setdefault(ext, []).extend(follow.remark_mobiles)
    resolved = resolve_batch(
        session,
        workspace_id=workspace_id,
        groups=[_identities(contacts[e], mobiles[e]) for e in order],
        source=SOURCE,
        names=[contacts[e].name or None for e in order],
    )
    counts.customers_created += resolved.created
    counts.customers_merged += len(resolved.merged)
    customer_of = {e: cid for e, cid in zip(order, resolved.customer_ids, strict=True) if cid is not None}
    # Callbacks carry ids only: name (when missing), gender and avatar come from here.
    fill_profiles(
        session,
        workspace_id=workspace_id,
        profiles={
            cid: ProfileInput(
                name=contacts[e].name or None, gender=contacts[e].gender, avatar=contacts[e].avatar
            )
            for e, cid in customer_of.items()
        },
    )
    rows = {
        (f.staff_id, f.customer_id): f
        for f in session.scalars(
            select(Follow).where(
                Follow.workspace_id == workspace_id, Follow.customer_id.in_(set(customer_of.values()))
            )
        )
    }
    before = {key: _snapshot(f) for key, f in rows.items()}
    for contact, up in pairs:
        customer_id = customer_of.get(contact.external_userid)
        staff_id = staff_ids.get(up.userid)
        if customer_id is None or staff_id is None:
            continue
        key = (staff_id, customer_id)
        at = _when(up.createtime)
        known = rows.get(key)
        if known is not None and _unchanged(known, contact.external_userid, up, at):
            # The common case of a repeat sync: nothing to write, skip the upsert's queries.
            seen.add(key)
            tags.add(customer_id, staff_id, up.tag_ids)
            continue
        if at is None:
            existing = follow_service.find_follow(
                session, workspace_id=workspace_id, staff_id=staff_id, customer_id=customer_id
            )
            at = existing.added_at if existing is not None and existing.added_at else utcnow()
        change = follow_service.upsert_follow(
            session,
            workspace_id=workspace_id,
            staff_id=staff_id,
            customer_id=customer_id,
            state="active",
            at=at,
            external_userid=contact.external_userid,
            live_code_state=up.state or None,
            add_way=up.add_way,
            remark=up.remark,
            description=up.description,
            oper_userid=up.oper_userid,
        )
        seen.add(key)
        if key not in before:
            counts.follows_created += 1
        elif _snapshot(change.follow) != before[key]:
            counts.follows_updated += 1
        before[key] = _snapshot(change.follow)
        tags.add(customer_id, staff_id, up.tag_ids)
    return counts


def end_missing_follows(
    session: Session,
    *,
    workspace_id: int,
    follows: Iterable[Follow],
    seen: set[tuple[int, int]],
    observed_at: datetime,
) -> int:
    """Follows WeCom no longer lists end here (a callback was lost); returns how many."""
    ended = 0
    for follow in list(follows):
        if follow.state != "active" or (follow.staff_id, follow.customer_id) in seen:
            continue
        # Who ended it is unknown; a customer deleting the staff is by far the usual case.
        change = follow_service.follow_ended(
            session,
            workspace_id=workspace_id,
            staff_id=follow.staff_id,
            customer_id=follow.customer_id,
            at=observed_at,
            deleted_by="customer",
        )
        if change.applied:
            ended += 1
            record_event(
                session,
                workspace_id=workspace_id,
                kind="friend.delete_by_customer",
                occurred_at=observed_at,
                source=SOURCE,
                customer_id=follow.customer_id,
                staff_id=follow.staff_id,
                dedup_key=f"wecom-sync-end:{follow.id}:{int(observed_at.timestamp())}",
                payload={"inferred_by": "sync", "external_userid": follow.external_userid},
            )
    return ended


def apply_tags(
    session: Session, *, workspace_id: int, tags: TagUnion, tag_ids: dict[str, int]
) -> tuple[int, int]:
    """Make each customer's WeCom-synced tags the union of their follows' tags."""
    added = removed = 0
    customers = sorted(tags.by_customer)
    for start in range(0, len(customers), 500):
        chunk = customers[start : start + 500]
        # One tag.changed event (source sync: never pushed back to WeCom) per chunk.
        changes = TagChanges()
        current: dict[int, set[int]] = {}
        for cid, tid in session.execute(
            select(CustomerTag.customer_id, CustomerTag.tag_id)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(
                CustomerTag.workspace_id == workspace_id,
                CustomerTag.customer_id.in_(chunk),
                CustomerTag.source == "sync",
                Tag.wecom_tag_id.is_not(None),
            )
        ):
            current.setdefault(cid, set()).add(tid)
        for cid in chunk:
            wanted: dict[int, int] = {}
            for wecom_id, staff_id in tags.by_customer[cid].items():
                local_tag = tag_ids.get(wecom_id)
                if local_tag is not None:
                    wanted.setdefault(local_tag, staff_id)
            by_staff: dict[int, list[int]] = {}
            for tid, staff_id in wanted.items():
                by_staff.setdefault(staff_id, []).append(tid)
            for staff_id, tids in by_staff.items():
                added += add_tags(
                    session, workspace_id=workspace_id, customer_ids=[cid], tag_ids=tids,
                    source="sync", staff_id=staff_id, gather=changes,
                )  # fmt: skip
            stale = current.get(cid, set()) - set(wanted)
            if stale:
                removed += remove_tags(
                    session, workspace_id=workspace_id, customer_ids=[cid], tag_ids=stale, source="sync",
                    gather=changes,
                )  # fmt: skip
        record_tag_change(
            session,
            workspace_id=workspace_id,
            customer_ids=changes.customers,
            added=changes.added,
            removed=changes.removed,
            source="sync",
        )
    return added, removed
