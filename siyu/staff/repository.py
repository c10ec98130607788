"""Queries on staff accounts and their follows (friend counts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from siyu.models import Follow, Staff


def friend_counts(workspace_id: int, state: str) -> Any:
    """Per staff account, how many follows of the workspace are in ``state`` (a subquery)."""
    return (
        select(Follow.staff_id, func.count().label("n"))
        .where(Follow.workspace_id == workspace_id, Follow.state == state)
        .group_by(Follow.staff_id)
        .subquery()
    )


def capacity_query(
    *, workspace_id: int, only_staff_id: int | None, status: str | None
) -> tuple[Select[Staff, int, int], ColumnElement[float]]:
    """``(Staff, active friends, pending friends)`` rows, and the usage ratio to sort by."""
    friends = friend_counts(workspace_id, "active")
    pending = friend_counts(workspace_id, "pending")
    active_n = func.coalesce(friends.c.n, 0)
    stmt = (
        select(Staff, active_n, func.coalesce(pending.c.n, 0))
        .outerjoin(friends, friends.c.staff_id == Staff.id)
        .outerjoin(pending, pending.c.staff_id == Staff.id)
        .where(Staff.workspace_id == workspace_id)
    )
    if only_staff_id is not None:
        stmt = stmt.where(Staff.id == only_staff_id)
    if status:
        stmt = stmt.where(Staff.status == status)
    usage: ColumnElement[float] = func.coalesce(active_n * 1.0 / func.nullif(Staff.customer_limit, 0), 0)
    return stmt, usage
