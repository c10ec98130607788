"""Read models for the console pages (dashboard, staff, WeCom status, audit).

Every query is scoped to the caller's workspace, and customer figures to the caller's
data scope (a staff user counts only the customers their account follows). Totals read
the maintained aggregates (``customer_stats``), never all orders; only the per-day
series reads orders, and only those of the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from siyu.insights.service import summary
from siyu.models import (
    AuditLog,
    Customer,
    Follow,
    Staff,
    SyncRun,
    User,
    WeComApp,
    WeComCallback,
)
from siyu.segments.labels import LAYER_NAMES, RFM_NAMES
from siyu.staff import service as staff_service
from siyu.web.auth import Principal, customer_scope

# Display names for the stored layer / RFM codes (METRICS.md).
LAYER_LABELS = LAYER_NAMES
RFM_LABELS = RFM_NAMES
# Share of the friend limit at which a staff account is flagged as nearly full.
CAPACITY_WARNING = staff_service.NEAR_FULL_SHARE


def scoped_customer_ids(user: Principal) -> Any:
    """Subquery of the ids of live (not merged) customers ``user`` may see."""
    return select(Customer.id).where(customer_scope(user), Customer.merged_into_id.is_(None))


def _count(db: Session, stmt: Any) -> int:
    return int(db.scalar(stmt) or 0)


@dataclass
class Dashboard:
    """What the dashboard shows; money in fen, days in the workspace zone.

    The headline figures are those of the chosen window (orders, net revenue,
    repurchase, new customers and friends) beside the current totals of customers and
    friends.
    """

    days_in_window: int = 30
    customers: int = 0
    friends: int = 0
    new_customers: int = 0
    new_friends_total: int = 0
    orders: int = 0
    net_fen: int = 0
    repurchase_rate: float | None = None
    all_time_orders: int = 0
    all_time_net_fen: int = 0
    all_time_repurchase_rate: float | None = None
    # Paid orders in the window no customer could be matched to (e.g. Douyin's
    # encrypted phones): in the orders and revenue, not in the customer figures.
    unmatched_orders: int = 0
    unmatched_net_fen: int = 0
    layers: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    rfm: list[tuple[str, int]] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    new_friends: list[int] = field(default_factory=list)
    orders_per_day: list[int] = field(default_factory=list)
    net_per_day_fen: list[int] = field(default_factory=list)
    scored: bool = False


# summary() layer keys → the order the page shows them in.
_LAYER_ORDER = {
    "value": ("high_value", "potential", "silent"),
    "tier": ("svip", "vip", "regular"),
    "age": ("new", "old"),
}


def summary_staff_id(user: Principal) -> int | None:
    """The staff account whose customers ``user``'s figures cover (None: the whole workspace)."""
    if user.sees_all_customers:
        return None
    # A staff user without a linked account sees nobody (-1 matches no account).
    return user.staff_id if user.staff_id is not None else -1


def dashboard(db: Session, user: Principal, *, days: int = 30) -> Dashboard:
    """The metrics summary (``siyu.insights.service``, as the API serves it) for the page.

    A staff user gets the summary of their own staff account's customers.
    """
    m = summary(db, workspace_id=user.workspace_id, days=days, staff_id=summary_staff_id(user))
    out = Dashboard(
        days_in_window=m.days,
        customers=m.totals.customers,
        friends=m.totals.friends,
        new_customers=m.window.new_customers,
        new_friends_total=m.window.new_friends,
        orders=m.window.orders,
        net_fen=m.window.net_fen,
        repurchase_rate=m.window.repurchase_rate,
        all_time_orders=m.totals.orders,
        all_time_net_fen=m.totals.net_fen,
        all_time_repurchase_rate=m.totals.repurchase_rate,
        unmatched_orders=m.window.unmatched_orders,
        unmatched_net_fen=m.window.unmatched_net_fen,
        days=[d.day.strftime("%m-%d") for d in m.orders_per_day],
        new_friends=[d.count for d in m.new_friends_per_day],
        orders_per_day=[d.orders for d in m.orders_per_day],
        net_per_day_fen=[d.net_fen for d in m.orders_per_day],
    )
    for key, order in _LAYER_ORDER.items():
        dist = m.layers.get(key, {})
        out.layers[key] = [(LAYER_LABELS.get(code, code), int(dist.get(code, 0))) for code in order]
    out.rfm = [(label, int(m.rfm.get(code, 0))) for code, label in RFM_LABELS.items()]
    out.scored = bool(m.rfm) or any(m.layers.values())
    return out


@dataclass
class StaffRow:
    """One staff account with its friends against the WeCom friend limit."""

    id: int
    userid: str
    name: str
    department: str | None
    status: str
    friends: int
    limit: int

    @property
    def usage(self) -> float:
        return self.friends / self.limit if self.limit else 0.0

    @property
    def near_capacity(self) -> bool:
        return self.usage >= CAPACITY_WARNING


def staff_rows(db: Session, user: Principal) -> list[StaffRow]:
    """Staff accounts (a staff user sees only their own) with active friend counts."""
    rows, _ = staff_service.list_capacity(db, user, sort="status")
    return [
        StaffRow(c.staff.id, c.staff.userid, c.staff.name or c.staff.userid, c.staff.department,
                 c.staff.status, c.friends, c.staff.customer_limit)
        for c in rows
    ]  # fmt: skip


@dataclass
class WeComStatus:
    """The WeCom connection and what syncing and callbacks have done."""

    apps: list[WeComApp]
    runs: list[SyncRun]
    callbacks: dict[str, int]
    last_callback_at: datetime | None
    staff: int
    friends: int


def wecom_status(db: Session, workspace_id: int) -> WeComStatus:
    """Read-only connection status: apps (no secrets), recent syncs, callback inbox counts."""
    apps = list(db.scalars(select(WeComApp).where(WeComApp.workspace_id == workspace_id)))
    runs = list(
        db.scalars(
            select(SyncRun)
            .where(SyncRun.workspace_id == workspace_id)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(10)
        )
    )
    callbacks = {
        str(status): int(n)
        for status, n in db.execute(
            select(WeComCallback.status, func.count())
            .where(WeComCallback.workspace_id == workspace_id)
            .group_by(WeComCallback.status)
        ).all()
    }
    last = db.scalar(
        select(func.max(WeComCallback.received_at)).where(WeComCallback.workspace_id == workspace_id)
    )
    if isinstance(last, datetime) and last.tzinfo is None:
        # An aggregate bypasses the column type on SQLite, which stores naive UTC.
        from datetime import UTC

        last = last.replace(tzinfo=UTC)
    staff = _count(db, select(func.count()).where(Staff.workspace_id == workspace_id))
    friends = _count(
        db, select(func.count()).where(Follow.workspace_id == workspace_id, Follow.state == "active")
    )
    return WeComStatus(apps, runs, callbacks, last, staff, friends)


def audit_page(
    db: Session, workspace_id: int, *, action: str | None, page: int, page_size: int = 50
) -> tuple[list[AuditLog], int]:
    """One page of the audit log, newest first, optionally for one action."""
    where: list[ColumnElement[bool]] = [AuditLog.workspace_id == workspace_id]
    if action:
        where.append(AuditLog.action == action)
    total = _count(db, select(func.count()).select_from(AuditLog).where(*where))
    rows = list(
        db.scalars(
            select(AuditLog)
            .where(*where)
            .order_by(AuditLog.at.desc(), AuditLog.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    return rows, total


def audit_actions(db: Session, workspace_id: int) -> list[str]:
    """The actions present in the audit log (for the filter)."""
    return sorted(db.scalars(select(AuditLog.action).where(AuditLog.workspace_id == workspace_id).distinct()))


def user_names(db: Session, workspace_id: int) -> dict[int, str]:
    """User id → the name the console shows (display name, else login name)."""
    rows = db.execute(
        select(User.id, User.display_name, User.name).where(User.workspace_id == workspace_id)
    ).all()
    return {int(uid): display or name for uid, display, name in rows}
