"""``/api/v1/groups``: WeCom customer groups and their members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, func, select, true

from siyu.kit.errors import NotFound
from siyu.models import Group, GroupMember, Staff
from siyu.web.api.common import ERRORS, Id, Page, Paging, count_of
from siyu.web.auth import CurrentUser, DbSession, Principal

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


def _visible(user: Principal) -> ColumnElement[bool]:
    # Staff users see the groups their own account owns.
    if user.sees_all_customers:
        return true()
    return Group.owner_staff_id == (user.staff_id or 0)


def _group_stmt(user: Principal) -> Select[Group, str | None, Any]:
    customers = (
        select(GroupMember.group_id, func.count().label("n"))
        .where(
            GroupMember.workspace_id == user.workspace_id,
            GroupMember.member_type == 2,
            GroupMember.state == "active",
        )
        .group_by(GroupMember.group_id)
        .subquery()
    )
    return (
        select(Group, Staff.name, func.coalesce(customers.c.n, 0))
        .outerjoin(Staff, Staff.id == Group.owner_staff_id)
        .outerjoin(customers, customers.c.group_id == Group.id)
        .where(Group.workspace_id == user.workspace_id, _visible(user))
    )


def _out(g: Group, owner: str | None, customers: int) -> GroupOut:
    return GroupOut(
        id=g.id,
        chat_id=g.chat_id,
        name=g.name,
        status=g.status,
        group_type=g.group_type,
        owner_staff_id=g.owner_staff_id,
        owner_name=owner,
        member_count=g.member_count,
        customers=int(customers),
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
    stmt = _group_stmt(user)
    if status:
        stmt = stmt.where(Group.status == status)
    if search and search.strip():
        text = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Group.name.like(f"%{text}%", escape="\\"))
    if owner_staff_id is not None:
        stmt = stmt.where(Group.owner_staff_id == owner_staff_id)
    total = count_of(db, stmt)
    rows = db.execute(
        stmt.order_by(Group.member_count.desc(), Group.id).limit(paging.page_size).offset(paging.offset)
    )
    return Page[GroupOut](
        items=[_out(g, o, c) for g, o, c in rows], total=total, page=paging.page, page_size=paging.page_size
    )


def _group(db: DbSession, user: Principal, group_id: int) -> tuple[Group, str | None, int]:
    row = db.execute(_group_stmt(user).where(Group.id == group_id)).first()
    if row is None:
        raise NotFound(f"group {group_id} does not exist", field="group_id")
    g, owner, customers = row
    return g, owner, customers


@router.get("/{group_id}", response_model=GroupOut, summary="One group")
def get_group(group_id: Id, user: CurrentUser, db: DbSession) -> GroupOut:
    """A group with its owner and counts."""
    return _out(*_group(db, user, group_id))


@router.get("/{group_id}/members", response_model=Page[MemberOut], summary="Members of a group")
def group_members(
    group_id: Id,
    user: CurrentUser,
    db: DbSession,
    paging: Paging,
    state: Literal["active", "left"] | None = None,
) -> Page[MemberOut]:
    """Members (staff and customers), earliest joiners first; those who left carry quit data."""
    g, _, _ = _group(db, user, group_id)
    stmt = select(GroupMember).where(
        GroupMember.group_id == g.id, GroupMember.workspace_id == user.workspace_id
    )
    if state:
        stmt = stmt.where(GroupMember.state == state)
    total = count_of(db, stmt)
    rows = db.scalars(
        stmt.order_by(GroupMember.join_time.asc().nulls_last(), GroupMember.id)
        .limit(paging.page_size)
        .offset(paging.offset)
    )
    return Page[MemberOut](
        items=[
            MemberOut(
                id=m.id,
                member_type="staff" if m.member_type == 1 else "customer",
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
