"""``/api/v1/groups``: WeCom customer groups and their members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from siyu.community import service
from siyu.community.groups import MEMBER_STAFF
from siyu.community.service import GroupSummary
from siyu.web.api.common import ERRORS, Id, Page, Paging
from siyu.web.auth import CurrentUser, DbSession

router = APIRouter(prefix="/api/v1/groups", tags=["groups"], responses=ERRORS)


class GroupOut(BaseModel):
    id: int
    chat_id: str
    name: str
    status: str
    group_type: str | None
    owner_staff_id: int | None
    owner_name: str | None
    member_count: int
    customers: int
    wecom_created_at: datetime | None
    dismissed_at: datetime | None


class MemberOut(BaseModel):
    id: int
    member_type: str
    name: str | None
    customer_id: int | None
    staff_id: int | None
    state: str
    join_time: datetime | None
    join_scene: int | None
    quit_time: datetime | None


def _out(s: GroupSummary) -> GroupOut:
    g = s.group
    return GroupOut(
        id=g.id,
        chat_id=g.chat_id,
        name=g.name,
        status=g.status,
        group_type=g.group_type,
        owner_staff_id=g.owner_staff_id,
        owner_name=s.owner_name,
        member_count=g.member_count,
        customers=s.customers,
        wecom_created_at=g.wecom_created_at,
        dismissed_at=g.dismissed_at,
    )


@router.get("", response_model=Page[GroupOut], summary="Customer groups")
def list_groups(
    user: CurrentUser,
    db: DbSession,
    paging: Paging,
    status: Literal["active", "dismissed"] | None = None,
    search: Annotated[str | None, Query(max_length=100, description="Group name contains.")] = None,
    owner_staff_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Page[GroupOut]:
    """Groups with owner, member count and customers in them, largest first."""
    rows, total = service.list_groups(
        db,
        user,
        status=status,
        search=search,
        owner_staff_id=owner_staff_id,
        limit=paging.page_size,
        offset=paging.offset,
    )
    return Page[GroupOut](
        items=[_out(s) for s in rows], total=total, page=paging.page, page_size=paging.page_size
    )


@router.get("/{group_id}", response_model=GroupOut, summary="One group")
def get_group(group_id: Id, user: CurrentUser, db: DbSession) -> GroupOut:
    """A group with its owner and counts."""
    return _out(service.get_group(db, user, group_id=group_id))


@router.get("/{group_id}/members", response_model=Page[MemberOut], summary="Members of a group")
def group_members(
    group_id: Id,
    user: CurrentUser,
    db: DbSession,
    paging: Paging,
    state: Literal["active", "left"] | None = None,
) -> Page[MemberOut]:
    """Members (staff and customers), earliest joiners first; those who left carry quit data."""
    rows, total = service.group_members(
        db,
        user,
        group_id=group_id,
        state=state,
        limit=paging.page_size,
        offset=paging.offset,
    )
    return Page[MemberOut](
        items=[
            MemberOut(
                id=m.id,
                member_type="staff" if m.member_type == MEMBER_STAFF else "customer",
                name=m.name,
                customer_id=m.customer_id,
                staff_id=m.staff_id,
                state=m.state,
                join_time=m.join_time,
                join_scene=m.join_scene,
                quit_time=m.quit_time,
            )
            for m in rows
        ],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )
