"""Staff accounts (WeCom members) and their capacity.

WeCom callbacks and sync find or create accounts by userid (``ensure_staff``); the API,
the console and the CLI read each account's active friends against its customer
limit (``list_capacity``). WeCom refuses new friends once an account is full, so an
account at ``NEAR_FULL_SHARE`` of its limit is flagged for the operator to expand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.customers.visibility import Viewer
from siyu.kit.errors import Invalid, NotFound
from siyu.models import Staff
from siyu.staff import repository

STATUSES = ("active", "resigned", "disabled")
# WeCom warns well before an account is full; the practice is to expand before 5,000.
NEAR_FULL_SHARE = 0.9
CapacitySort = Literal["usage_desc", "name", "status"]


def find_staff(session: Session, *, workspace_id: int, userid: str) -> Staff | None:
    """The staff account with this WeCom userid, if known."""
    return session.scalar(select(Staff).where(Staff.workspace_id == workspace_id, Staff.userid == userid))


def ensure_staff(
    session: Session,
    *,
    workspace_id: int,
    userid: str,
    name: str | None = None,
    department: str | None = None,
    status: str | None = None,
    customer_limit: int | None = None,
) -> Staff:
    """The staff account for a WeCom userid, created if missing; given fields are updated."""
    userid = userid.strip()
    if not userid:
        raise Invalid("staff userid is empty", field="userid")
    if len(userid) > 64:
        raise Invalid(f"staff userid {userid[:20]!r}… is longer than 64 characters", field="userid")
    if status is not None and status not in STATUSES:
        raise Invalid(f"staff status {status!r} is not active, resigned or disabled", field="status")
    staff = find_staff(session, workspace_id=workspace_id, userid=userid)
    if staff is None:
        # Another unit of work may create the same userid at the same moment (a WeCom
        # sync beside a contact callback): the unique constraint decides, and the loser
        # takes the winner's row instead of failing.
        try:
            with session.begin_nested():
                staff = Staff(workspace_id=workspace_id, userid=userid, name=name or userid)
                session.add(staff)
                session.flush()
        except IntegrityError:
            staff = find_staff(session, workspace_id=workspace_id, userid=userid)
            if staff is None:
                raise
    if name:
        staff.name = name
    if department is not None:
        staff.department = department
    if status is not None:
        staff.status = status
    if customer_limit is not None:
        staff.customer_limit = customer_limit
    return staff


@dataclass(frozen=True)
class Capacity:
    """One account with its active and pending (half-added) friends."""

    staff: Staff
    friends: int
    pending: int

    @property
    def limit(self) -> int:
        return self.staff.customer_limit or 0

    @property
    def usage(self) -> float:
        """friends ÷ limit (0 when the account has no limit)."""
        return round(self.friends / self.limit, 4) if self.limit > 0 else 0.0

    @property
    def near_full(self) -> bool:
        return self.limit > 0 and self.friends >= self.limit * NEAR_FULL_SHARE


def list_capacity(
    session: Session,
    viewer: Viewer,
    *,
    status: str | None = None,
    sort: CapacitySort = "usage_desc",
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Capacity], int]:
    """The accounts the viewer may see (a staff user: their own) with their capacity, one
    page, and how many there are. ``sort``: fullest first, by name, or by status then name.
    """
    if status is not None and status not in STATUSES:
        raise Invalid(f"staff status {status!r} is not active, resigned or disabled", field="status")
    stmt, usage = repository.capacity_query(viewer, status=status)
    if sort == "usage_desc":
        stmt = stmt.order_by(usage.desc(), Staff.id)
    elif sort == "status":
        stmt = stmt.order_by(Staff.status, Staff.name, Staff.id)
    else:
        stmt = stmt.order_by(Staff.name, Staff.id)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.execute(stmt.limit(limit).offset(offset) if limit is not None else stmt)
    return [Capacity(s, int(f), int(p)) for s, f, p in rows], int(total)


def get_capacity(session: Session, viewer: Viewer, *, staff_id: int) -> Capacity:
    """One account's capacity; NotFound when it does not exist (or the viewer may not see it)."""
    stmt, _ = repository.capacity_query(viewer, status=None)
    row = session.execute(stmt.where(Staff.id == staff_id)).first()
    if row is None:
        raise NotFound(f"staff account {staff_id} does not exist", field="staff_id")
    s, f, p = row
    return Capacity(s, int(f), int(p))
