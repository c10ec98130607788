"""Customer groups (客户群) and their members, as WeCom reports them.

Used by the WeCom callback processor and by sync. Like follows, every change carries
the WeCom time it happened, so a late join never re-adds a member who has since left,
and a late ``create`` never revives a dismissed group.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.errors import Invalid
from siyu.models import Group, GroupMember

MEMBER_STAFF = 1
MEMBER_EXTERNAL = 2
# The member id of a person erased on request (PIPL) starts with this.
ERASED_PREFIX = "anonymised-"


@dataclass(slots=True)
class MemberChange:
    """What a member upsert did."""

    member: GroupMember
    created: bool
    applied: bool
    previous_state: str | None


@dataclass(slots=True)
class MemberInput:
    """One member as listed by groupchat/get (for sync snapshots)."""

    userid: str
    member_type: int = MEMBER_EXTERNAL
    join_time: datetime | None = None
    join_scene: int | None = None
    invitor_userid: str | None = None
    name: str | None = None
    customer_id: int | None = None
    staff_id: int | None = None


def _aware(at: datetime | None, field: str) -> None:
    if at is not None and at.tzinfo is None:
        raise Invalid(f"{field} must be timezone-aware", field=field)


def find_group(session: Session, *, workspace_id: int, chat_id: str) -> Group | None:
    """The group with this WeCom chat id, if known."""
    return session.scalar(select(Group).where(Group.workspace_id == workspace_id, Group.chat_id == chat_id))


def ensure_group(
    session: Session,
    *,
    workspace_id: int,
    chat_id: str,
    name: str | None = None,
    owner_staff_id: int | None = None,
    notice: str | None = None,
    created_at: datetime | None = None,
) -> Group:
    """The group for a chat id, created if missing; given fields are updated."""
    chat_id = chat_id.strip()
    if not chat_id:
        raise Invalid("group chat id is empty", field="chat_id")
    if len(chat_id) > 128:
        raise Invalid("group chat id is longer than 128 characters", field="chat_id")
    _aware(created_at, "created_at")
    group = find_group(session, workspace_id=workspace_id, chat_id=chat_id)
    if group is None:
        group = Group(workspace_id=workspace_id, chat_id=chat_id, name=name or "", status="active")
        session.add(group)
        session.flush()
    if name is not None:
        group.name = name[:200]
    if owner_staff_id is not None:
        group.owner_staff_id = owner_staff_id
    if notice is not None:
        group.notice = notice
    if created_at is not None and (group.wecom_created_at is None or created_at < group.wecom_created_at):
        group.wecom_created_at = created_at
    return group


def group_created(session: Session, *, workspace_id: int, chat_id: str, at: datetime) -> Group:
    """A group was created at WeCom time ``at`` (a late create never revives a dismissed group)."""
    _aware(at, "at")
    group = ensure_group(session, workspace_id=workspace_id, chat_id=chat_id, created_at=at)
    if group.status == "dismissed" and group.dismissed_at is not None and at > group.dismissed_at:
        # The same chat id cannot come back after a dismiss, but trust the newer event.
        group.status = "active"
        group.dismissed_at = None
    return group


def group_dismissed(session: Session, *, workspace_id: int, chat_id: str, at: datetime) -> Group:
    """A group was dismissed at WeCom time ``at``."""
    _aware(at, "at")
    group = ensure_group(session, workspace_id=workspace_id, chat_id=chat_id)
    if group.wecom_created_at is not None and at < group.wecom_created_at:
        return group  # older than the create we know of: cannot be this group's dismiss
    group.status = "dismissed"
    group.dismissed_at = at if group.dismissed_at is None else min(group.dismissed_at, at)
    return group


def erased_member_userid(session: Session, *, group: Group, customer_id: int) -> str:
    """The stand-in member id of a customer erased on request (PIPL) in this group.

    The erasure replaced the person's WeCom id on their member rows by an
    ``anonymised-…`` token; callbacks and syncs about them afterwards use the same row
    (or a new token), never the WeCom id again.
    """
    existing = session.scalar(
        select(GroupMember.userid)
        .where(
            GroupMember.group_id == group.id,
            GroupMember.customer_id == customer_id,
            GroupMember.userid.startswith(ERASED_PREFIX),
        )
        .order_by(GroupMember.id)
        .limit(1)
    )
    return existing or f"{ERASED_PREFIX}c{customer_id}"


def find_member(session: Session, *, group_id: int, userid: str) -> GroupMember | None:
    """A (current or former) member of a group."""
    return session.scalar(
        select(GroupMember).where(GroupMember.group_id == group_id, GroupMember.userid == userid)
    )


def _last_change(member: GroupMember) -> datetime | None:
    times = [t for t in (member.join_time, member.quit_time) if t is not None]
    return max(times) if times else None


def _member_for(
    session: Session, *, group: Group, userid: str, at: datetime, member_type: int, state: str
) -> tuple[GroupMember, bool, str | None]:
    """The member row (created in ``state`` if new), whether it is new, its previous state."""
    _aware(at, "at")
    if not userid:
        raise Invalid("group member userid is empty", field="userid")
    member = find_member(session, group_id=group.id, userid=userid)
    if member is not None:
        return member, False, member.state
    member = GroupMember(
        workspace_id=group.workspace_id,
        group_id=group.id,
        userid=userid,
        member_type=member_type,
        state=state,
    )
    session.add(member)
    return member, True, None


def _link(member: GroupMember, customer_id: int | None, staff_id: int | None) -> None:
    if customer_id is not None:
        member.customer_id = customer_id
    if staff_id is not None:
        member.staff_id = staff_id


def member_joined(
    session: Session,
    *,
    group: Group,
    userid: str,
    at: datetime,
    member_type: int = MEMBER_EXTERNAL,
    join_scene: int | None = None,
    invitor_userid: str | None = None,
    customer_id: int | None = None,
    staff_id: int | None = None,
    name: str | None = None,
) -> MemberChange:
    """A member joined at WeCom time ``at``; ignored (applied=False) if they left later."""
    member, created, previous = _member_for(
        session, group=group, userid=userid, at=at, member_type=member_type, state="active"
    )
    last = None if created else _last_change(member)
    # Equal seconds: a quit recorded at the same time wins (cannot order them).
    applied = last is None or at > last or (at == last and member.quit_time != at)
    if applied:
        member.state = "active"
        member.join_time = at
        # A re-join after an older quit: the member is in the group again.
        member.quit_time = None
        member.quit_scene = None
        if join_scene is not None:
            member.join_scene = join_scene
        if invitor_userid is not None:
            member.invitor_userid = invitor_userid
    elif member.join_time is None:
        member.join_time = at
        if join_scene is not None and member.join_scene is None:
            member.join_scene = join_scene
    member.member_type = member_type
    _link(member, customer_id, staff_id)
    if name is not None:
        member.name = name[:100]
    session.flush()
    return MemberChange(member=member, created=created, applied=applied, previous_state=previous)


def member_quit(
    session: Session,
    *,
    group: Group,
    userid: str,
    at: datetime,
    quit_scene: int | None = None,
    member_type: int = MEMBER_EXTERNAL,
    customer_id: int | None = None,
    staff_id: int | None = None,
) -> MemberChange:
    """A member left at WeCom time ``at``; ignored (applied=False) if they re-joined later."""
    member, created, previous = _member_for(
        session, group=group, userid=userid, at=at, member_type=member_type, state="left"
    )
    last = None if created else _last_change(member)
    applied = last is None or at >= last
    if applied:
        member.state = "left"
        member.quit_time = at
        if quit_scene is not None:
            member.quit_scene = quit_scene
    _link(member, customer_id, staff_id)
    session.flush()
    return MemberChange(member=member, created=created, applied=applied, previous_state=previous)


def recount_members(session: Session, group: Group) -> int:
    """Store and return the number of active members of a group."""
    session.flush()
    n = session.scalar(
        select(func.count())
        .select_from(GroupMember)
        .where(GroupMember.group_id == group.id, GroupMember.state == "active")
    )
    group.member_count = int(n or 0)
    return group.member_count


def sync_members(
    session: Session, *, group: Group, members: Iterable[MemberInput], observed_at: datetime
) -> tuple[int, int]:
    """Make the member list match a groupchat/get snapshot taken at ``observed_at``.

    Members not in the snapshot are marked left (at ``observed_at``) unless a newer
    join is stored. Returns (joined_or_updated, marked_left).
    """
    _aware(observed_at, "observed_at")
    seen: set[str] = set()
    joined = 0
    for m in members:
        seen.add(m.userid)
        change = member_joined(
            session,
            group=group,
            userid=m.userid,
            at=m.join_time or observed_at,
            member_type=m.member_type,
            join_scene=m.join_scene,
            invitor_userid=m.invitor_userid,
            customer_id=m.customer_id,
            staff_id=m.staff_id,
            name=m.name,
        )
        if not change.applied and change.member.state != "active":
            # The snapshot is newer than the stored quit: they are in the group now.
            existing_quit = change.member.quit_time
            if existing_quit is None or existing_quit <= observed_at:
                change.member.state = "active"
                change.member.quit_time = None
        joined += 1
    left = 0
    current = session.scalars(
        select(GroupMember).where(GroupMember.group_id == group.id, GroupMember.state == "active")
    )
    for member in list(current):
        if member.userid in seen:
            continue
        if member.join_time is not None and member.join_time > observed_at:
            continue
        member.state = "left"
        member.quit_time = observed_at
        left += 1
    recount_members(session, group)
    return joined, left
