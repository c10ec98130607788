"""``/api/v1/staff``: staff accounts with their friend count against the WeCom limit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, Subquery, func, select

from siyu.kit.errors import NotFound
from siyu.models import Follow, Staff
from siyu.web.api.common import ERRORS, Id, Page, Paging
from siyu.web.auth import CurrentUser, DbSession, Principal

router = APIRouter(prefix="/api/v1/staff", tags=["staff"], responses=ERRORS)

# WeCom warns well before an account is full; the practice is to expand before 5,000.
NEAR_FULL_SHARE = 0.9


class StaffOut(BaseModel):
    id: int
    userid: str
    name: str
    department: str | None
    status: str
    customer_limit: int
    friends: int = Field(description="Active follows (current WeCom friends).")
    pending: int = Field(description="Half-added friends (pending follows).")
    usage: float = Field(description="friends ÷ customer_limit")
    near_full: bool = Field(description=f"At or above {int(NEAR_FULL_SHARE * 100)} % of the limit.")
    created_at: datetime


def _query(user: Principal, status: str | None) -> tuple[Select[Staff, Any, Any], Subquery]:
    friends = (
        select(Follow.staff_id, func.count().label("n"))
        .where(Follow.workspace_id == user.workspace_id, Follow.state == "active")
        .group_by(Follow.staff_id)
        .subquery()
    )
    pending = (
        select(Follow.staff_id, func.count().label("n"))
        .where(Follow.workspace_id == user.workspace_id, Follow.state == "pending")
        .group_by(Follow.staff_id)
        .subquery()
    )
    stmt = (
        select(Staff, func.coalesce(friends.c.n, 0), func.coalesce(pending.c.n, 0))
        .outerjoin(friends, friends.c.staff_id == Staff.id)
        .outerjoin(pending, pending.c.staff_id == Staff.id)
        .where(Staff.workspace_id == user.workspace_id)
    )
    if not user.sees_all_customers:
        # A staff user sees their own account only.
        stmt = stmt.where(Staff.id == (user.staff_id or 0))
    if status:
        stmt = stmt.where(Staff.status == status)
    return stmt, friends


def _out(staff: Staff, friends: int, pending: int) -> StaffOut:
    limit = staff.customer_limit or 0
    usage = round(friends / limit, 4) if limit > 0 else 0.0
    return StaffOut(
        id=staff.id,
        userid=staff.userid,
        name=staff.name,
        department=staff.department,
        status=staff.status,
        customer_limit=limit,
        friends=int(friends),
        pending=int(pending),
        usage=usage,
        near_full=limit > 0 and friends >= limit * NEAR_FULL_SHARE,
        created_at=staff.created_at,
    )


@router.get("", response_model=Page[StaffOut], summary="Staff accounts and their capacity")
def list_staff(
    user: CurrentUser,
    db: DbSession,
    paging: Paging,
    status: Annotated[Literal["active", "resigned", "disabled"] | None, Query()] = None,
    sort: Literal["usage_desc", "name"] = "usage_desc",
) -> Page[StaffOut]:
    """Each staff account with active friends vs its limit (staff users: their own only)."""
    stmt, friends = _query(user, status)
    if sort == "usage_desc":
        ratio = func.coalesce(friends.c.n, 0) * 1.0 / func.nullif(Staff.customer_limit, 0)
        stmt = stmt.order_by(func.coalesce(ratio, 0).desc(), Staff.id)
    else:
        stmt = stmt.order_by(Staff.name, Staff.id)
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = db.execute(stmt.limit(paging.page_size).offset(paging.offset))
    return Page[StaffOut](
        items=[_out(s, f, p) for s, f, p in rows],
        total=int(total),
        page=paging.page,
        page_size=paging.page_size,
    )


@router.get("/{staff_id}", response_model=StaffOut, summary="One staff account")
def get_staff(staff_id: Id, user: CurrentUser, db: DbSession) -> StaffOut:
    """A staff account and its capacity (staff users: their own only)."""
    stmt, _ = _query(user, None)
    row = db.execute(stmt.where(Staff.id == staff_id)).first()
    if row is None:
        raise NotFound(f"staff account {staff_id} does not exist", field="staff_id")
    s, f, p = row
    return _out(s, f, p)
