"""Enterprise tags: groups, tags and tags on customers (with where they came from)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from siyu.kit.errors import Invalid
from siyu.models import Customer, CustomerTag, Tag, TagGroup

TAG_SOURCES = ("manual", "rule", "keyword", "channel", "sync", "import")
MAX_TAG_NAME = 30  # WeCom's limit for tag and group names


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
) -> int:
    """Tag customers; existing tags are kept as they are. Returns rows added."""
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
        for cid in chunk:
            for tid in tids:
                if (cid, tid) in existing:
                    continue
                session.add(
                    CustomerTag(
                        workspace_id=workspace_id,
                        customer_id=cid,
                        tag_id=tid,
                        source=source,
                        source_ref=source_ref,
                        staff_id=staff_id,
                    )
                )
                added += 1
    session.flush()
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
) -> int:
    """Untag customers (only tags from ``source`` when given). Returns rows removed."""
    cids = sorted(set(customer_ids))
    tids = sorted(set(tag_ids))
    if not cids or not tids:
        return 0
    removed = 0
    for chunk_start in range(0, len(cids), 500):
        chunk = cids[chunk_start : chunk_start + 500]
        stmt = delete(CustomerTag).where(
            CustomerTag.workspace_id == workspace_id,
            CustomerTag.customer_id.in_(chunk),
            CustomerTag.tag_id.in_(tids),
        )
        if source is not None:
            stmt = stmt.where(CustomerTag.source == source)
        removed += session.execute(stmt).rowcount or 0  # type: ignore[attr-defined]
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
