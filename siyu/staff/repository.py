"""Queries on staff accounts and their follows (friend counts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select

from siyu.customers.visibility import Viewer
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
    viewer: Viewer, *, status: str | None
) -> tuple[Select[Staff, int, int], ColumnElement[float]]:
    """``(Staff, active friends, pending friends)`` rows the viewer may see (a staff user:
    their own account), and the usage ratio to sort by."""
    workspace_id = viewer.workspace_id
    friends = friend_counts(workspace_id, "active")
    pending = friend_counts(workspace_id, "pending")
    active_n = func.coalesce(friends.c.n, 0)
    stmt = (
        select(Staff, active_n, func.coalesce(pending.c.n, 0))
        .outerjoin(friends, friends.c.staff_id == Staff.id)
        .outerjoin(pending, pending.c.staff_id == Staff.id)
        .where(Staff.workspace_id == workspace_id)
    )
    if not viewer.sees_all_customers:
        stmt = stmt.where(Staff.id == viewer.staff_id) if viewer.staff_id is not None else stmt.where(false())
    if status:
        stmt = stmt.where(Staff.status == status)
    usage: ColumnElement[float] = func.coalesce(active_n * 1.0 / func.nullif(Staff.customer_limit, 0), 0)
    return stmt, usage
