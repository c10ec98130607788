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

from siyu.models import (
    AuditLog,
    Customer,
    Follow,
    Order,
    Staff,
    SyncRun,
    WeComApp,
    WeComCallback,
)
from siyu.staff import service as staff_service
from siyu.web.auth import Principal, customer_scope

# Display names for the stored layer / RFM codes (METRICS.md).
LAYER_LABELS = {
    "high_value": "高价值",
    "potential": "潜力",
    "silent": "沉默",
    "svip": "SVIP",
    "vip": "VIP",
    "regular": "普通",
    "new": "新客",
    "old": "老客",
    "lead": "线索",
    "friend": "好友",
    "first_purchase": "首购",
    "repeat": "复购",
    "advocate": "推荐官",
}
RFM_LABELS = {
    "champions": "冠军客户",
    "loyal": "忠诚客户",
    "potential_loyalists": "潜在忠诚",
    "new": "新客户",
    "promising": "有希望",
    "need_attention": "需关注",
    "about_to_sleep": "即将沉睡",
    "at_risk": "有流失风险",
    "cant_lose": "不能失去",
    "hibernating": "沉睡客户",
}
# Share of the friend limit at which a staff account is flagged as nearly full.
CAPACITY_WARNING = staff_service.NEAR_FULL_SHARE


def scoped_customer_ids(user: Principal) -> Any:
    """Subquery of the ids of live (not merged) customers ``user`` may see."""
    return select(Customer.id).where(customer_scope(user), Customer.merged_into_id.is_(None))


def _count(db: Session, stmt: Any) -> int:
    return int(db.scalar(stmt) or 0)


@dataclass
class Dashboard:
    """What the dashboard shows; money in fen, days in the workspace zone."""

    customers: int = 0
    friends: int = 0
    orders: int = 0
    net_fen: int = 0
    repurchase_rate: float | None = None
    # Paid orders no customer could be matched to (e.g. Douyin's encrypted phones).
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


def dashboard(db: Session, user: Principal, *, days: int = 30) -> Dashboard:
    """The metrics summary (``siyu.execution.metrics``, as the API serves it) for the page.

    A staff user gets the summary of their own staff account's customers.
    """
    from siyu.execution.metrics import summary

    staff_id: int | None = None
    if not user.sees_all_customers:
        # A staff user without a linked account sees nobody (-1 matches no account).
        staff_id = user.staff_id if user.staff_id is not None else -1
    m = summary(db, workspace_id=user.workspace_id, days=days, staff_id=staff_id)
    out = Dashboard(
        customers=m.totals.customers,
        friends=m.totals.friends,
        orders=m.totals.orders,
        net_fen=m.totals.net_fen,
        repurchase_rate=m.totals.repurchase_rate,
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
    if user.sees_all_customers:
        # Not in the totals above (they add up customers' aggregates), but the brand's
        # revenue all the same: say how much, so nobody reads the totals as complete.
        # The (customer_id, paid_at) index serves ``customer_id IS NULL``.
        n, net = db.execute(
            select(func.count(), func.coalesce(func.sum(Order.paid_fen - Order.refunded_fen), 0)).where(
                Order.workspace_id == user.workspace_id,
                Order.customer_id.is_(None),
                Order.paid_at.is_not(None),
                Order.status.not_in(("pending", "closed", "refunded")),
            )
        ).one()
        out.unmatched_orders, out.unmatched_net_fen = int(n or 0), int(net or 0)
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
