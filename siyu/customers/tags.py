"""Enterprise tags: groups, tags and tags on customers (with where they came from).

Every call of :func:`add_tags` / :func:`remove_tags` that changes something records one
``tag.changed`` event (:func:`record_tag_change`): the customers whose tags changed, the
tag ids added and removed (only those that changed on at least one of them) and the
source (``manual``, ``rule``, ``keyword``, ``channel``, ``import``, or ``sync`` for a
change that came from WeCom). One event per call, however many customers, so a bulk
tag of a whole selection stays a handful of rows. Writers that change ``customer_tags``
with their own SQL (auto-tag rules) call :func:`record_tag_change` themselves.
Acquisition turns these events into ``mark_tag`` pushes (``acquisition.tag_push``),
skipping the ones that came from WeCom.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from siyu.kit.errors import Invalid, NotFound
from siyu.kit.events import record_event
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, CustomerTag, Tag, TagGroup

_LINKS = cast(Table, CustomerTag.__table__)
TAG_SOURCES = ("manual", "rule", "keyword", "channel", "sync", "import")
MAX_TAG_NAME = 30  # WeCom's limit for tag and group names
TAG_CHANGED = "tag.changed"
FROM_WECOM = frozenset({"sync"})  # tag sources that mean "WeCom said so" (never pushed back)
EVENT_CUSTOMERS = 10_000  # customer ids per tag.changed event (a rule over a whole workspace)


@dataclass
class TagChanges:
    """Changes gathered over several calls, recorded as one event by the caller (a sync)."""

    customers: set[int] = field(default_factory=set)
    added: set[int] = field(default_factory=set)
    removed: set[int] = field(default_factory=set)


def record_tag_change(
    session: Session,
    *,
    workspace_id: int,
    customer_ids: Iterable[int],
    added: Iterable[int] = (),
    removed: Iterable[int] = (),
    source: str,
    source_ref: str | None = None,
) -> int:
    """Record the ``tag.changed`` event of one change; how many events (0 when nothing changed).

    ``added`` / ``removed`` are the tag ids that changed on at least one of the customers.
    Above ``EVENT_CUSTOMERS`` customers the change is split into several events.
    """
    cids = sorted(set(customer_ids))
    add, remove = sorted(set(added)), sorted(set(removed))
    if not cids or not (add or remove):
        return 0
    now = utcnow()
    n = 0
    for start in range(0, len(cids), EVENT_CUSTOMERS):
        part = cids[start : start + EVENT_CUSTOMERS]
        record_event(
            session,
            workspace_id=workspace_id,
            kind=TAG_CHANGED,
            occurred_at=now,
            source=source,
            payload={
                "customer_ids": part,
                "added": add,
                "removed": remove,
                "source": source,
                "source_ref": source_ref,
            },
        )
        n += 1
    return n


def _check_name(name: str, field: str) -> str:
    name = name.strip()
    if not name:
        raise Invalid(f"{field} is empty", field=field)
    if len(name) > MAX_TAG_NAME:
        raise Invalid(f"{field} {name!r} is longer than {MAX_TAG_NAME} characters", field=field)
    return name


def ensure_tag_group(
    session: Session, *, workspace_id: int, name: str, wecom_group_id: str | None = None
) -> TagGroup:
    """The tag group with this name, created (or revived) if missing."""
    name = _check_name(name, "tag group name")
    group = session.scalar(
        select(TagGroup).where(TagGroup.workspace_id == workspace_id, TagGroup.name == name)
    )
    if group is None:
        group = TagGroup(workspace_id=workspace_id, name=name, wecom_group_id=wecom_group_id)
        session.add(group)
        session.flush()
    else:
        group.deleted_at = None
        if wecom_group_id:
            group.wecom_group_id = wecom_group_id
    return group


def ensure_tag(
    session: Session,
    *,
    workspace_id: int,
    name: str,
    group_name: str = "默认",
    wecom_tag_id: str | None = None,
    wecom_group_id: str | None = None,
) -> Tag:
    """The tag ``name`` in group ``group_name``, both created (or revived) if missing."""
    name = _check_name(name, "tag name")
    group = ensure_tag_group(
        session, workspace_id=workspace_id, name=group_name, wecom_group_id=wecom_group_id
    )
    tag = session.scalar(
        select(Tag).where(Tag.workspace_id == workspace_id, Tag.group_id == group.id, Tag.name == name)
    )
    if tag is None:
        tag = Tag(workspace_id=workspace_id, group_id=group.id, name=name, wecom_tag_id=wecom_tag_id)
        session.add(tag)
        session.flush()
    else:
        tag.deleted_at = None
        if wecom_tag_id:
            tag.wecom_tag_id = wecom_tag_id
    return tag


def find_tag(session: Session, *, workspace_id: int, name: str, group_name: str | None = None) -> Tag | None:
    """A live tag by name (first by group order when the name is in several groups)."""
    stmt = select(Tag).where(Tag.workspace_id == workspace_id, Tag.name == name, Tag.deleted_at.is_(None))
    if group_name is not None:
        stmt = stmt.join(TagGroup, TagGroup.id == Tag.group_id).where(TagGroup.name == group_name)
    return session.scalars(stmt.order_by(Tag.group_id, Tag.id)).first()


def add_tags(
    session: Session,
    *,
    workspace_id: int,
    customer_ids: Iterable[int],
    tag_ids: Iterable[int],
    source: str,
    source_ref: str | None = None,
    staff_id: int | None = None,
    gather: TagChanges | None = None,
) -> int:
    """Tag customers; existing tags are kept as they are. Returns rows added.

    Records one ``tag.changed`` event, or adds the changes to ``gather`` when given.
    """
    if source not in TAG_SOURCES:
        raise Invalid(f"unknown tag source {source!r}; one of {', '.join(TAG_SOURCES)}", field="source")
    cids = sorted(set(customer_ids))
    tids = sorted(set(tag_ids))
    if not cids or not tids:
        return 0
    # Ids come from callers and requests: never let a row cross workspaces.
    live = set(
        session.scalars(
            select(Tag.id).where(Tag.workspace_id == workspace_id, Tag.id.in_(tids), Tag.deleted_at.is_(None))
        )
    )
    if len(live) != len(tids):
        bad = [t for t in tids if t not in live]
        raise Invalid(f"tag id {bad[0]} is not a live tag of this workspace", field="tag_ids")
    added = 0
    changed_customers: set[int] = set()
    changed_tags: set[int] = set()
    for chunk_start in range(0, len(cids), 500):
        chunk = cids[chunk_start : chunk_start + 500]
        _check_customers(session, workspace_id, chunk)
        existing: set[tuple[int, int]] = {
            (row[0], row[1])
            for row in session.execute(
                select(CustomerTag.customer_id, CustomerTag.tag_id).where(
                    CustomerTag.customer_id.in_(chunk), CustomerTag.tag_id.in_(tids)
                )
            )
        }
        now = utcnow()
        new = [(cid, tid) for cid in chunk for tid in tids if (cid, tid) not in existing]
        rows = [
            {
                "workspace_id": workspace_id,
                "customer_id": cid,
                "tag_id": tid,
                "source": source,
                "source_ref": source_ref,
                "staff_id": staff_id,
                "created_at": now,
            }
            for cid, tid in new
        ]
        if rows:
            # One executemany per chunk (Core: no ORM object per row); the change
            # journal reads the customer ids off the inserted rows.
            session.execute(insert(_LINKS), rows)
            added += len(rows)
            changed_customers.update(cid for cid, _ in new)
            changed_tags.update(tid for _, tid in new)
    if gather is not None:
        gather.customers |= changed_customers
        gather.added |= changed_tags
        return added
    record_tag_change(
        session,
        workspace_id=workspace_id,
        customer_ids=changed_customers,
        added=changed_tags,
        source=source,
        source_ref=source_ref,
    )
    return added


def _check_customers(session: Session, workspace_id: int, chunk: list[int]) -> None:
    found = set(
        session.scalars(
            select(Customer.id).where(Customer.workspace_id == workspace_id, Customer.id.in_(chunk))
        )
    )
    if len(found) != len(chunk):
        bad = [c for c in chunk if c not in found]
        raise Invalid(f"customer id {bad[0]} is not a customer of this workspace", field="customer_ids")


def remove_tags(
    session: Session,
    *,
    workspace_id: int,
    customer_ids: Iterable[int],
    tag_ids: Iterable[int],
    source: str | None = None,
    by: str | None = None,
    source_ref: str | None = None,
    gather: TagChanges | None = None,
) -> int:
    """Untag customers (only tags from ``source`` when given). Returns rows removed.

    ``by`` is who removed them, for the ``tag.changed`` event (a tag source: ``manual``,
    ``rule``, ``keyword``, ``sync``...); it defaults to ``source``, else ``manual``.
    """
    origin = by or source or "manual"
    if origin not in TAG_SOURCES:
        raise Invalid(f"unknown tag source {origin!r}; one of {', '.join(TAG_SOURCES)}", field="source")
    cids = sorted(set(customer_ids))
    tids = sorted(set(tag_ids))
    if not cids or not tids:
        return 0
    removed = 0
    changed_customers: set[int] = set()
    changed_tags: set[int] = set()
    for chunk_start in range(0, len(cids), 500):
        chunk = cids[chunk_start : chunk_start + 500]
        stmt = delete(CustomerTag).where(
            CustomerTag.workspace_id == workspace_id,
            CustomerTag.customer_id.in_(chunk),
            CustomerTag.tag_id.in_(tids),
        )
        if source is not None:
            stmt = stmt.where(CustomerTag.source == source)
        gone = session.execute(stmt.returning(CustomerTag.customer_id, CustomerTag.tag_id)).all()
        removed += len(gone)
        changed_customers.update(int(r[0]) for r in gone)
        changed_tags.update(int(r[1]) for r in gone)
    if gather is not None:
        gather.customers |= changed_customers
        gather.removed |= changed_tags
        return removed
    record_tag_change(
        session,
        workspace_id=workspace_id,
        customer_ids=changed_customers,
        removed=changed_tags,
        source=origin,
        source_ref=source_ref,
    )
    return removed


def customer_tags(
    session: Session, *, workspace_id: int, customer_id: int
) -> list[tuple[Tag, TagGroup, CustomerTag]]:
    """The live tags on one customer, with their group and source."""
    rows = session.execute(
        select(Tag, TagGroup, CustomerTag)
        .join(CustomerTag, CustomerTag.tag_id == Tag.id)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(
            CustomerTag.workspace_id == workspace_id,
            CustomerTag.customer_id == customer_id,
            Tag.deleted_at.is_(None),
        )
        .order_by(TagGroup.sort_order, TagGroup.id, Tag.sort_order, Tag.id)
    )
    return [(tag, group, link) for tag, group, link in rows]


# -- the tag library as WeCom keeps it (sync and callbacks) ------------------------------


def wecom_tags(session: Session, *, workspace_id: int) -> dict[str, Tag]:
    """Every tag linked to a WeCom tag id (deleted ones too), by that id."""
    rows = session.scalars(select(Tag).where(Tag.workspace_id == workspace_id, Tag.wecom_tag_id.is_not(None)))
    return {str(t.wecom_tag_id): t for t in rows}


def wecom_tag_groups(session: Session, *, workspace_id: int) -> dict[str, TagGroup]:
    """Every tag group linked to a WeCom group id (deleted ones too), by that id."""
    rows = session.scalars(
        select(TagGroup).where(TagGroup.workspace_id == workspace_id, TagGroup.wecom_group_id.is_not(None))
    )
    return {str(g.wecom_group_id): g for g in rows}


def link_tag_group(session: Session, *, workspace_id: int, name: str, wecom_group_id: str) -> TagGroup | None:
    """The group named ``name`` (made in siyu, or re-created upstream), linked to WeCom's id and live."""
    group = session.scalar(
        select(TagGroup).where(TagGroup.workspace_id == workspace_id, TagGroup.name == name)
    )
    if group is not None:
        group.wecom_group_id = wecom_group_id
        group.deleted_at = None
    return group


def rename_tag_group(session: Session, *, group: TagGroup, name: str) -> bool:
    """Rename a group; False (nothing changed) when another group of the workspace has the name."""
    name = _check_name(name, "tag group name")
    if name == group.name:
        return False
    clash = session.scalar(
        select(TagGroup).where(TagGroup.workspace_id == group.workspace_id, TagGroup.name == name)
    )
    if clash is not None and clash.id != group.id:
        if clash.deleted_at is None:
            return False
        clash.name = _freed(clash.name, clash.id)
        session.flush()
    group.name = name
    session.flush()
    return True


def rename_tag(session: Session, *, tag: Tag, name: str, group_id: int | None = None) -> bool:
    """Rename (and regroup) a tag; False when a live tag of the target group has the name.

    A deleted tag holding the name gives it up (the unique key is per group and name).
    """
    name = _check_name(name, "tag name")
    target = tag.group_id if group_id is None else group_id
    if (name, target) == (tag.name, tag.group_id):
        return False
    clash = session.scalar(
        select(Tag).where(Tag.workspace_id == tag.workspace_id, Tag.group_id == target, Tag.name == name)
    )
    if clash is not None and clash.id != tag.id:
        if clash.deleted_at is None:
            return False
        clash.name = _freed(clash.name, clash.id)
        session.flush()
    tag.name, tag.group_id = name, target
    session.flush()
    return True


def _freed(name: str, row_id: int) -> str:
    return f"{name[:20]}~{row_id}"


def delete_tags(session: Session, *, workspace_id: int, tag_ids: Iterable[int]) -> int:
    """Delete tags: off every customer, then soft-deleted. Returns customer tags removed.

    What WeCom does when a corp tag is deleted, and what the console's delete does.
    """
    ids = sorted(set(tag_ids))
    if not ids:
        return 0
    live = list(
        session.scalars(
            select(Tag).where(Tag.workspace_id == workspace_id, Tag.id.in_(ids), Tag.deleted_at.is_(None))
        )
    )
    if not live:
        return 0
    removed = session.execute(
        delete(CustomerTag).where(
            CustomerTag.workspace_id == workspace_id, CustomerTag.tag_id.in_([t.id for t in live])
        )
    ).rowcount  # type: ignore[attr-defined]
    now = utcnow()
    for tag in live:
        tag.deleted_at = now
    session.flush()
    return int(removed or 0)


def delete_tag_groups(session: Session, *, workspace_id: int, group_ids: Iterable[int]) -> int:
    """Delete groups with all their tags (as WeCom does). Returns customer tags removed."""
    ids = sorted(set(group_ids))
    if not ids:
        return 0
    tags = session.scalars(select(Tag.id).where(Tag.workspace_id == workspace_id, Tag.group_id.in_(ids)))
    removed = delete_tags(session, workspace_id=workspace_id, tag_ids=list(tags))
    now = utcnow()
    for group in session.scalars(
        select(TagGroup).where(
            TagGroup.workspace_id == workspace_id, TagGroup.id.in_(ids), TagGroup.deleted_at.is_(None)
        )
    ):
        group.deleted_at = now
    session.flush()
    return removed


def live_tag_ids(session: Session, *, workspace_id: int, group_id: int) -> list[int]:
    """The ids of a group's live tags."""
    return list(
        session.scalars(
            select(Tag.id).where(
                Tag.workspace_id == workspace_id, Tag.group_id == group_id, Tag.deleted_at.is_(None)
            )
        )
    )


def live_tags(
    session: Session, *, workspace_id: int, tag_ids: Iterable[int], field: str = "tag_ids"
) -> list[Tag]:
    """These tags of the workspace, by id; NotFound naming the first that is missing or deleted."""
    wanted = list(dict.fromkeys(tag_ids))
    found = {
        t.id: t
        for t in session.scalars(
            select(Tag).where(Tag.workspace_id == workspace_id, Tag.id.in_(wanted), Tag.deleted_at.is_(None))
        )
    }
    for tid in wanted:
        if tid not in found:
            raise NotFound(f"tag {tid} does not exist", field=field)
    return [found[tid] for tid in wanted]
