"""``/api/v1/staff``: staff accounts with their friend count against the WeCom limit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.staff import service
from siyu.staff.service import NEAR_FULL_SHARE, Capacity
from siyu.web.api.common import ERRORS, Id, Page, Paging
from siyu.web.auth import CurrentUser, DbSession

router = APIRouter(prefix="/api/v1/staff", tags=["staff"], responses=ERRORS)


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


def _out(c: Capacity) -> StaffOut:
    s = c.staff
    return StaffOut(
        id=s.id,
        userid=s.userid,
        name=s.name,
        department=s.department,
        status=s.status,
        customer_limit=c.limit,
        friends=c.friends,
        pending=c.pending,
        usage=c.usage,
        near_full=c.near_full,
        created_at=s.created_at,
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
    rows, total = service.list_capacity(
        db,
        user,
        status=status,
        sort=sort,
        limit=paging.page_size,
        offset=paging.offset,
    )
    return Page[StaffOut](
        items=[_out(c) for c in rows], total=total, page=paging.page, page_size=paging.page_size
    )


@router.get("/{staff_id}", response_model=StaffOut, summary="One staff account")
def get_staff(staff_id: Id, user: CurrentUser, db: DbSession) -> StaffOut:
    """A staff account and its capacity (staff users: their own only)."""
    return _out(service.get_capacity(db, user, staff_id=staff_id))
