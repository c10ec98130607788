"""Customer groups from WeCom: group details and member lists, through the group service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.community import groups as group_service
from siyu.customers.service import IdentityInput, resolve_batch
from siyu.models import Group, GroupMember
from siyu.staff import service as staff_service
from siyu.wecom.schemas import GroupChat


@dataclass
class GroupCounts:
    groups_created: int = 0
    groups_updated: int = 0
    groups_dismissed: int = 0
    members_joined: int = 0
    members_left: int = 0

    def add(self, other: GroupCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _group_snapshot(g: Group) -> tuple[object, ...]:
    return (g.name, g.owner_staff_id, g.notice, g.status, g.wecom_created_at, g.member_count)


def _member_states(session: Session, group_id: int) -> dict[str, str]:
    # Not dict(result): a Result has .keys() and would be taken for a mapping.
    rows = session.execute(
        select(GroupMember.userid, GroupMember.state).where(GroupMember.group_id == group_id)
    )
    return {str(userid): str(state) for userid, state in rows.all()}


def apply_groupchat(
    session: Session, *, workspace_id: int, chat: GroupChat, observed_at: datetime
) -> GroupCounts:
    """Make one group and its members match a ``groupchat/get`` snapshot."""
    counts = GroupCounts()
    existing = group_service.find_group(session, workspace_id=workspace_id, chat_id=chat.chat_id)
    before = _group_snapshot(existing) if existing is not None else None
    members_before: dict[str, str] = {}
    if existing is not None:
        members_before = _member_states(session, existing.id)
    owner_id = None
    if chat.owner:
        owner_id = staff_service.ensure_staff(session, workspace_id=workspace_id, userid=chat.owner).id
    created_at = datetime.fromtimestamp(chat.create_time, UTC) if chat.create_time else None
    group = group_service.ensure_group(
        session,
        workspace_id=workspace_id,
        chat_id=chat.chat_id,
        name=chat.name,
        owner_staff_id=owner_id,
        notice=chat.notice or None,
        created_at=created_at,
    )
    if group.status == "dismissed" and created_at is not None:
        group_service.group_created(session, workspace_id=workspace_id, chat_id=chat.chat_id, at=observed_at)
    externals = [m for m in chat.member_list if m.type == 2]
    resolved = resolve_batch(
        session,
        workspace_id=workspace_id,
        groups=[
            [IdentityInput(kind="external_userid", value=m.userid)]
            + ([IdentityInput(kind="unionid", value=m.unionid)] if m.unionid else [])
            for m in externals
        ],
        source="wecom",
        names=[m.name for m in externals],
    )
    customer_of = dict(zip((m.userid for m in externals), resolved.customer_ids, strict=True))
    inputs = []
    for m in chat.member_list:
        staff_id = customer_id = None
        if m.type == 1:
            staff_id = staff_service.ensure_staff(session, workspace_id=workspace_id, userid=m.userid).id
        else:
            customer_id = customer_of.get(m.userid)
        # A member erased on request (PIPL) stays a member, without name or inviter.
        erased = customer_id is not None and customer_id in resolved.erased
        userid = m.userid
        if erased and customer_id is not None:  # nor their WeCom id
            userid = group_service.erased_member_userid(session, group=group, customer_id=customer_id)
        inputs.append(
            group_service.MemberInput(
                userid=userid,
                member_type=m.type,
                join_time=datetime.fromtimestamp(m.join_time, UTC) if m.join_time else None,
                join_scene=m.join_scene,
                invitor_userid=m.invitor.userid if m.invitor and not erased else None,
                name=None if erased else (m.name or m.group_nickname or None),
                customer_id=customer_id,
                staff_id=staff_id,
            )
        )
    group_service.sync_members(session, group=group, members=inputs, observed_at=observed_at)
    members_after = _member_states(session, group.id)
    for userid, state in members_after.items():
        if members_before.get(userid) == state:
            continue
        if state == "active":
            counts.members_joined += 1
        else:
            counts.members_left += 1
    if before is None:
        counts.groups_created += 1
    elif _group_snapshot(group) != before:
        counts.groups_updated += 1
    return counts


def dismiss_missing(
    session: Session, *, workspace_id: int, seen_chat_ids: set[str], observed_at: datetime
) -> int:
    """Groups WeCom no longer lists were dismissed (the callback was lost)."""
    n = 0
    for group in session.scalars(
        select(Group).where(Group.workspace_id == workspace_id, Group.status == "active")
    ).all():
        if group.chat_id not in seen_chat_ids:
            group_service.group_dismissed(
                session, workspace_id=workspace_id, chat_id=group.chat_id, at=observed_at
            )
            n += 1
    return n
