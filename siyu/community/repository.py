"""Queries on customer groups and their members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, func, select

from siyu.community.groups import MEMBER_EXTERNAL
from siyu.customers.visibility import Viewer
from siyu.models import Group, GroupMember, Staff


def groups_query(viewer: Viewer) -> Select[Group, str | None, int]:
    """``(Group, owner name, customers in it now)`` rows the viewer may see: a staff
    user sees the groups their own account owns."""
    workspace_id = viewer.workspace_id
    customers: Any = (
        select(GroupMember.group_id, func.count().label("n"))
        .where(
            GroupMember.workspace_id == workspace_id,
            GroupMember.member_type == MEMBER_EXTERNAL,
            GroupMember.state == "active",
        )
        .group_by(GroupMember.group_id)
        .subquery()
    )
    stmt = (
        select(Group, Staff.name, func.coalesce(customers.c.n, 0))
        .outerjoin(Staff, Staff.id == Group.owner_staff_id)
        .outerjoin(customers, customers.c.group_id == Group.id)
        .where(Group.workspace_id == workspace_id)
    )
    if not viewer.sees_all_customers:
        own = Group.owner_staff_id == viewer.staff_id if viewer.staff_id is not None else false()
        stmt = stmt.where(own)
    return stmt


def members_query(*, workspace_id: int, group_id: int, state: str | None) -> Select[GroupMember]:
    """The members of one group, earliest joiners first (unknown join times last)."""
    stmt = select(GroupMember).where(
        GroupMember.group_id == group_id, GroupMember.workspace_id == workspace_id
    )
    if state:
        stmt = stmt.where(GroupMember.state == state)
    return stmt.order_by(GroupMember.join_time.asc().nulls_last(), GroupMember.id)
