"""Corp tags: mirror WeCom's tag library into tag groups and tags.

Matched by WeCom id first (so a rename upstream renames ours), then by name (so a tag
made in siyu before it was pushed gets linked). Tags gone upstream are soft-deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers import tags as tag_service
from siyu.models import Tag
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
    """Make siyu's WeCom-linked tags match ``get_corp_tag_list`` (through the tag service)."""
    result = TagSyncResult()
    by_wecom = tag_service.wecom_tags(session, workspace_id=workspace_id)
    groups_by_wecom = tag_service.wecom_tag_groups(session, workspace_id=workspace_id)
    seen_tags: set[str] = set()
    seen_groups: set[str] = set()
    for group in groups:
        if group.deleted:
            continue
        seen_groups.add(group.group_id)
        local_group = groups_by_wecom.get(group.group_id)
        if local_group is None:
            # Known by name only (made in siyu, or re-created upstream): link it.
            tag_service.link_tag_group(
                session, workspace_id=workspace_id, name=group.group_name, wecom_group_id=group.group_id
            )
        elif tag_service.rename_tag_group(session, group=local_group, name=group.group_name):
            result.renamed += 1
        for tag in group.tag:
            if tag.deleted:
                continue
            seen_tags.add(tag.id)
            local = by_wecom.get(tag.id)
            if local is not None and local.deleted_at is None:
                if tag_service.rename_tag(session, tag=local, name=tag.name):
                    result.renamed += 1
                if local.sort_order != tag.order:
                    local.sort_order = tag.order
                result.by_wecom_id[tag.id] = local.id
                continue
            revived = local is not None
            made = tag_service.ensure_tag(
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
    # Compare the id the row holds now: a tag re-created upstream under the same name
    # was relinked above to its new id and must not be deleted under its old one.
    gone = [t for t in by_wecom.values() if t.wecom_tag_id not in seen_tags and t.deleted_at is None]
    tag_service.delete_tags(session, workspace_id=workspace_id, tag_ids=[t.id for t in gone])
    result.deleted += len(gone)
    tag_service.delete_tag_groups(
        session,
        workspace_id=workspace_id,
        group_ids=[
            g.id
            for g in groups_by_wecom.values()
            if g.wecom_group_id not in seen_groups and g.deleted_at is None
        ],
    )
    session.flush()
    return result


def apply_tag_callback(
    session: Session, *, workspace_id: int, wecom_id: str, tag_type: str, change_type: str
) -> int:
    """A change_external_tag delete, applied at once; returns the siyu tags deleted.

    Creates, edits and reorders carry ids only (their names come from the library
    re-fetch the caller queues); a delete says all there is to know. A delete for a
    tag siyu does not know yet changes nothing here (the re-fetch settles it).
    """
    if change_type != "delete" or not wecom_id:
        return 0
    if tag_type == "tag_group":
        group = tag_service.wecom_tag_groups(session, workspace_id=workspace_id).get(wecom_id)
        if group is None or group.deleted_at is not None:
            return 0
        live = tag_service.live_tag_ids(session, workspace_id=workspace_id, group_id=group.id)
        tag_service.delete_tag_groups(session, workspace_id=workspace_id, group_ids=[group.id])
        return len(live)
    tag = tag_service.wecom_tags(session, workspace_id=workspace_id).get(wecom_id)
    if tag is None or tag.deleted_at is not None:
        return 0
    tag_service.delete_tags(session, workspace_id=workspace_id, tag_ids=[tag.id])
    return 1
