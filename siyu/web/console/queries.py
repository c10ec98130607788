"""Read models for the console pages (dashboard, staff, WeCom status, audit).

Every query is scoped to the caller's workspace, and customer figures to the caller's
data scope (a staff user counts only the customers their account follows). Totals read
the maintained aggregates (``customer_stats``), never all orders; only the per-day
series reads orders, and only those of the window.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import (
    AuditLog,
    Customer,
    CustomerScore,
    CustomerStats,
    Follow,
    Order,
    Staff,
    SyncRun,
    WeComApp,
    WeComCallback,
)
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
CAPACITY_WARNING = 0.9


def scoped_customer_ids(user: Principal) -> Any:
    """Subquery of the ids of live (not merged) customers ``user`` may see."""
    return select(Customer.id).where(customer_scope(user), Customer.merged_into_id.is_(None))


@dataclass
class Dashboard:
    """What the dashboard shows; money in fen, days in the workspace zone."""

    customers: int = 0
    friends: int = 0
    orders: int = 0
    orders_without_customer: int = 0
    net_fen: int = 0
    buyers: int = 0
    repeat_buyers: int = 0
    layers: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    rfm: list[tuple[str, int]] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    new_friends: list[int] = field(default_factory=list)
    orders_per_day: list[int] = field(default_factory=list)
    net_per_day_fen: list[int] = field(default_factory=list)
    scored: bool = False

    @property
    def repurchase_rate(self) -> float | None:
        """Customers with ≥ 2 paid orders ÷ customers with ≥ 1 (all time)."""
        return self.repeat_buyers / self.buyers if self.buyers else None


def _count(db: Session, stmt: Any) -> int:
    return int(db.scalar(stmt) or 0)


def dashboard(db: Session, user: Principal, *, tz: str | None, days: int = 30) -> Dashboard:
    """Headline figures, layer and RFM distribution, and per-day series over ``days``."""
    ws = user.workspace_id
    ids = scoped_customer_ids(user)
    out = Dashboard()
    out.customers = _count(db, select(func.count()).select_from(ids.subquery()))
    out.friends = _count(
        db,
        select(func.count(func.distinct(Follow.customer_id))).where(
            Follow.workspace_id == ws, Follow.state == "active", Follow.customer_id.in_(ids)
        ),
    )
    stats = db.execute(
        select(
            func.coalesce(func.sum(CustomerStats.paid_orders_count), 0),
            func.coalesce(func.sum(CustomerStats.net_fen), 0),
            func.count().filter(CustomerStats.paid_orders_count >= 1),
            func.count().filter(CustomerStats.paid_orders_count >= 2),
        ).where(CustomerStats.workspace_id == ws, CustomerStats.customer_id.in_(ids))
    ).one()
    out.orders, out.net_fen, out.buyers, out.repeat_buyers = (int(v or 0) for v in stats)
    if user.sees_all_customers:
        # Orders with no usable buyer identity (e.g. Douyin's encrypted phones) have no
        # customer and so no stats row, but they are the brand's revenue all the same.
        # The (customer_id, paid_at) index serves ``customer_id IS NULL``.
        n, net = db.execute(
            select(func.count(), func.coalesce(func.sum(Order.paid_fen - Order.refunded_fen), 0)).where(
                Order.workspace_id == ws,
                Order.customer_id.is_(None),
                Order.paid_at.is_not(None),
                Order.status != "pending",
            )
        ).one()
        out.orders_without_customer = int(n or 0)
        out.orders += out.orders_without_customer
        out.net_fen += int(net or 0)

    for column, order in (
        ("layer_value", ("high_value", "potential", "silent")),
        ("layer_tier", ("svip", "vip", "regular")),
        ("layer_age", ("new", "old")),
    ):
        out.layers[column] = _distribution(db, ws, ids, getattr(CustomerScore, column), order, LAYER_LABELS)
    out.rfm = _distribution(db, ws, ids, CustomerScore.rfm_segment, tuple(RFM_LABELS), RFM_LABELS)
    out.scored = any(n for _, n in out.rfm) or any(n for dist in out.layers.values() for _, n in dist)
    _series(db, user, ids, tz=tz, days=days, out=out)
    return out


def _distribution(
    db: Session,
    ws: int,
    ids: Any,
    column: Any,
    order: tuple[str, ...],
    labels: dict[str, str],
) -> list[tuple[str, int]]:
    rows: dict[str, int] = dict(
        db.execute(
            select(column, func.count())
            .where(CustomerScore.workspace_id == ws, CustomerScore.customer_id.in_(ids), column.is_not(None))
            .group_by(column)
        ).all()
    )
    return [(labels.get(code, code), int(rows.get(code, 0))) for code in order]


def _series(db: Session, user: Principal, ids: Any, *, tz: str | None, days: int, out: Dashboard) -> None:
    today = local_day(utcnow(), tz)
    first = today - timedelta(days=days - 1)
    since = day_start_utc(first, tz)
    day_list = [first + timedelta(days=i) for i in range(days)]
    out.days = [d.strftime("%m-%d") for d in day_list]

    friends: Counter[date] = Counter()
    for (added_at,) in db.execute(
        select(Follow.added_at).where(
            Follow.workspace_id == user.workspace_id,
            Follow.added_at >= since,
            Follow.customer_id.in_(ids),
        )
    ):
        if added_at is not None:
            friends[local_day(added_at, tz)] += 1
    orders: Counter[date] = Counter()
    net: Counter[date] = Counter()
    order_filter: list[ColumnElement[bool]] = [
        Order.workspace_id == user.workspace_id,
        Order.paid_at >= since,
    ]
    if not user.sees_all_customers:
        order_filter.append(Order.customer_id.in_(ids))
    for paid_at, paid_fen, refunded_fen in db.execute(
        select(Order.paid_at, Order.paid_fen, Order.refunded_fen).where(*order_filter)
    ):
        if paid_at is None:
            continue
        day = local_day(paid_at, tz)
        orders[day] += 1
        net[day] += int(paid_fen) - int(refunded_fen)
    out.new_friends = [friends[d] for d in day_list]
    out.orders_per_day = [orders[d] for d in day_list]
    out.net_per_day_fen = [net[d] for d in day_list]


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
    friends = (
        select(Follow.staff_id, func.count().label("n"))
        .where(Follow.workspace_id == user.workspace_id, Follow.state == "active")
        .group_by(Follow.staff_id)
        .subquery()
    )
    stmt = (
        select(Staff, func.coalesce(friends.c.n, 0))
        .outerjoin(friends, friends.c.staff_id == Staff.id)
        .where(Staff.workspace_id == user.workspace_id)
        .order_by(Staff.status, Staff.name, Staff.id)
    )
    if not user.sees_all_customers:
        stmt = stmt.where(Staff.id == (user.staff_id or -1))
    return [
        StaffRow(s.id, s.userid, s.name or s.userid, s.department, s.status, int(n), s.customer_limit)
        for s, n in db.execute(stmt).all()
    ]


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
