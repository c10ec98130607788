"""Corp tags: mirror WeCom's tag library into tag groups and tags.

Matched by WeCom id first (so a rename upstream renames ours), then by name (so a tag
made in siyu before it was pushed gets linked). Tags gone upstream are soft-deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.tags import ensure_tag
from siyu.kit.timeutil import utcnow
from siyu.models import Tag, TagGroup
from siyu.wecom.schemas import CorpTagGroup


@dataclass
class TagSyncResult:
    """WeCom tag id -> siyu tag id, plus what changed."""

    by_wecom_id: dict[str, int] = field(default_factory=dict)
    created: int = 0
    renamed: int = 0
    deleted: int = 0


def tag_map(session: Session, workspace_id: int) -> dict[str, int]:
    """WeCom tag id -> live siyu tag id, as stored."""
    rows = session.execute(
        select(Tag.wecom_tag_id, Tag.id).where(
            Tag.workspace_id == workspace_id, Tag.wecom_tag_id.is_not(None), Tag.deleted_at.is_(None)
        )
    ).all()
    return {str(wid): tid for wid, tid in rows}


def sync_corp_tags(session: Session, *, workspace_id: int, groups: list[CorpTagGroup]) -> TagSyncResult:
    """Make siyu's WeCom-linked tags match ``get_corp_tag_list``."""
    result = TagSyncResult()
    by_wecom = {
        t.wecom_tag_id: t
        for t in session.scalars(
            select(Tag).where(Tag.workspace_id == workspace_id, Tag.wecom_tag_id.is_not(None))
        )
    }
    groups_by_wecom = {
        g.wecom_group_id: g
        for g in session.scalars(
            select(TagGroup).where(
                TagGroup.workspace_id == workspace_id, TagGroup.wecom_group_id.is_not(None)
            )
        )
    }
    seen_tags: set[str] = set()
    seen_groups: set[str] = set()
    for group in groups:
        if group.deleted:
            continue
        seen_groups.add(group.group_id)
        local_group = groups_by_wecom.get(group.group_id)
        if local_group is None:
            # Known by name only (made in siyu, or re-created upstream): link it.
            local_group = session.scalar(
                select(TagGroup).where(
                    TagGroup.workspace_id == workspace_id, TagGroup.name == group.group_name
                )
            )
            if local_group is not None:
                local_group.wecom_group_id = group.group_id
                local_group.deleted_at = None
        elif local_group.name != group.group_name:
            clash = session.scalar(
                select(TagGroup.id).where(
                    TagGroup.workspace_id == workspace_id, TagGroup.name == group.group_name
                )
            )
            if clash is None:
                local_group.name = group.group_name
                result.renamed += 1
        for tag in group.tag:
            if tag.deleted:
                continue
            seen_tags.add(tag.id)
            local = by_wecom.get(tag.id)
            if local is not None and local.deleted_at is None:
                if local.name != tag.name:
                    local.name = tag.name
                    result.renamed += 1
                if local.sort_order != tag.order:
                    local.sort_order = tag.order
                result.by_wecom_id[tag.id] = local.id
                continue
            revived = local is not None
            made = ensure_tag(
                session,
                workspace_id=workspace_id,
                name=tag.name,
                group_name=group.group_name,
                wecom_tag_id=tag.id,
                wecom_group_id=group.group_id,
            )
            made.sort_order = tag.order
            result.by_wecom_id[tag.id] = made.id
            result.created += 0 if revived and made is local else 1
    now = utcnow()
    # Compare the id the row holds now: a tag re-created upstream under the same name
    # was relinked above to its new id and must not be deleted under its old one.
    for local in by_wecom.values():
        if local.wecom_tag_id not in seen_tags and local.deleted_at is None:
            local.deleted_at = now
            result.deleted += 1
    for local_group in groups_by_wecom.values():
        if local_group.wecom_group_id not in seen_groups and local_group.deleted_at is None:
            local_group.deleted_at = now
    session.flush()
    return result
