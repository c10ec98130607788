"""Reading customer groups: the list with owners and customer counts, one group, its members.

Writes (creates, joins, quits, dismissals) come from WeCom and go through
``siyu.community.groups``. A staff user sees the groups their own account owns
(the viewer, ``siyu.customers.visibility``); everyone else sees the workspace's groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from siyu.community import repository
from siyu.customers.visibility import Viewer
from siyu.kit.errors import Invalid, NotFound
from siyu.models import Group, GroupMember

MAX_SEARCH = 100


@dataclass(frozen=True)
class GroupSummary:
    """A group with its owner's name and how many customers are in it now."""

    group: Group
    owner_name: str | None
    customers: int


def _count(session: Session, stmt: Select[*tuple[Any, ...]]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def list_groups(
    session: Session,
    viewer: Viewer,
    *,
    status: Literal["active", "dismissed"] | None = None,
    search: str | None = None,
    owner_staff_id: int | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[GroupSummary], int]:
    """One page of groups (largest first) and how many match; ``search``: name contains."""
    stmt = repository.groups_query(viewer)
    if status:
        stmt = stmt.where(Group.status == status)
    if search and search.strip():
        if len(search) > MAX_SEARCH:
            raise Invalid(f"search is longer than {MAX_SEARCH} characters", field="search")
        text = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Group.name.like(f"%{text}%", escape="\\"))
    if owner_staff_id is not None:
        stmt = stmt.where(Group.owner_staff_id == owner_staff_id)
    total = _count(session, stmt)
    rows = session.execute(stmt.order_by(Group.member_count.desc(), Group.id).limit(limit).offset(offset))
    return [GroupSummary(g, owner, int(n)) for g, owner, n in rows], total


def get_group(session: Session, viewer: Viewer, *, group_id: int) -> GroupSummary:
    """One group; NotFound when it does not exist (or the viewer may not see it)."""
    stmt = repository.groups_query(viewer)
    row = session.execute(stmt.where(Group.id == group_id)).first()
    if row is None:
        raise NotFound(f"group {group_id} does not exist", field="group_id")
    g, owner, n = row
    return GroupSummary(g, owner, int(n))


def group_members(
    session: Session,
    viewer: Viewer,
    *,
    group_id: int,
    state: Literal["active", "left"] | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[GroupMember], int]:
    """One page of a group's members (staff and customers), earliest joiners first."""
    group = get_group(session, viewer, group_id=group_id).group
    stmt = repository.members_query(workspace_id=viewer.workspace_id, group_id=group.id, state=state)
    total = _count(session, stmt)
    return list(session.scalars(stmt.limit(limit).offset(offset))), total
