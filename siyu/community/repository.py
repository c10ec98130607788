"""Queries on customer groups and their members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select

from siyu.community.groups import MEMBER_EXTERNAL
from siyu.models import Group, GroupMember, Staff


def groups_query(*, workspace_id: int, owner_only: int | None) -> Select[Group, str | None, int]:
    """``(Group, owner name, customers in it now)`` rows of a workspace.

    ``owner_only``: just the groups that staff account owns.
    """
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
    if owner_only is not None:
        stmt = stmt.where(Group.owner_staff_id == owner_only)
    return stmt


def members_query(*, workspace_id: int, group_id: int, state: str | None) -> Select[GroupMember]:
    """The members of one group, earliest joiners first (unknown join times last)."""
    stmt = select(GroupMember).where(
        GroupMember.group_id == group_id, GroupMember.workspace_id == workspace_id
    )
    if state:
        stmt = stmt.where(GroupMember.state == state)
    return stmt.order_by(GroupMember.join_time.asc().nulls_last(), GroupMember.id)
