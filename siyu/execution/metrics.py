"""The metrics summary: the dashboard's first screen, per workspace (or per staff account).

All-time money comes from the maintained ``customer_stats`` aggregates (the hot path
never scans every order); the per-day series read orders and follows inside the window
through their (workspace, time) indexes. Days are business days in the workspace time
zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Integer, and_, func, select, true
from sqlalchemy.orm import Session

from siyu.kit.errors import Invalid
from siyu.kit.timeutil import day_start_utc, local_day, utcnow, zone
from siyu.models import Customer, CustomerScore, CustomerStats, Follow, Order, Staff, Workspace

MAX_DAYS = 366


class DayCount(BaseModel):
    day: date
    count: int


class DayOrders(BaseModel):
    day: date
    orders: int
    paid_fen: int
    refunded_fen: int
    net_fen: int


class Totals(BaseModel):
    customers: int = Field(description="Live customers (merged and anonymised profiles excluded).")
    buyers: int = Field(description="Customers with at least one paid, not fully refunded order.")
    repeat_buyers: int = Field(description="Customers with two or more such orders.")
    repurchase_rate: float | None = Field(description="repeat_buyers ÷ buyers")
    opted_out: int
    friends: int = Field(description="Customers who are a current friend of at least one staff account.")
    friend_share: float | None = Field(description="friends ÷ customers: the private domain's reach.")
    friends_net_fen: int = Field(description="All-time net revenue of the customers who are friends now.")
    friends_revenue_share: float | None = Field(description="friends_net_fen ÷ net_fen")
    follows: int = Field(description="Active staff × customer friendships.")
    staff_accounts: int
    orders: int = Field(description="Paid, not fully refunded orders (all time).")
    paid_fen: int
    refunded_fen: int
    net_fen: int = Field(description="Net revenue = paid − refunds (all time).")


class WindowTotals(BaseModel):
    new_friends: int
    orders: int
    paid_fen: int
    refunded_fen: int
    net_fen: int


class MetricsSummary(BaseModel):
    timezone: str
    start: date
    end: date
    days: int
    staff_id: int | None = Field(description="Set when the figures are one staff account's customers.")
    totals: Totals
    window: WindowTotals
    layers: dict[str, dict[str, int]] = Field(description="tier, value, age, lifecycle → layer → customers")
    rfm: dict[str, int] = Field(description="R×F segment → customers")
    rfm8: dict[str, int] = Field(description="Chinese 8-class RFM → customers")
    new_friends_per_day: list[DayCount]
    orders_per_day: list[DayOrders]


def _local_date(session: Session, col: Any, tz: str) -> Any:
    """SQL for the business day of a UTC timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, col))
    # SQLite keeps naive UTC text; shift by the zone's current offset (exact for zones
    # without daylight saving time, such as Asia/Shanghai).
    offset = utcnow().astimezone(zone(tz)).utcoffset() or timedelta(0)
    return func.date(col, f"{int(offset.total_seconds() // 60):+d} minutes")


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def summary(
    session: Session,
    *,
    workspace_id: int,
    days: int = 30,
    staff_id: int | None = None,
    now: datetime | None = None,
) -> MetricsSummary:
    """Customers, friends, orders, net revenue, layers, RFM and per-day series."""
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"days must be between 1 and {MAX_DAYS}", field="days")
    ws = session.get(Workspace, workspace_id)
    tz = ws.timezone if ws is not None else "Asia/Shanghai"
    end = local_day(now or utcnow(), tz)
    start = end - timedelta(days=days - 1)
    since = day_start_utc(start, tz)
    until = day_start_utc(end + timedelta(days=1), tz)

    follow_scope: ColumnElement[bool] = true() if staff_id is None else Follow.staff_id == staff_id
    in_scope: ColumnElement[bool] = true()
    if staff_id is not None:
        in_scope = Customer.id.in_(
            select(Follow.customer_id).where(
                Follow.workspace_id == workspace_id, Follow.staff_id == staff_id, Follow.state == "active"
            )
        )
    live = and_(
        Customer.workspace_id == workspace_id,
        Customer.merged_into_id.is_(None),
        Customer.anonymised_at.is_(None),
        in_scope,
    )
    customers, opted_out = session.execute(
        select(func.count(), func.coalesce(func.sum(func.cast(Customer.opt_out, Integer)), 0)).where(live)
    ).one()
    stats = session.execute(
        select(
            func.count(CustomerStats.customer_id).filter(CustomerStats.effective_orders_count > 0),
            func.count(CustomerStats.customer_id).filter(CustomerStats.effective_orders_count > 1),
            func.coalesce(func.sum(CustomerStats.effective_orders_count), 0),
            func.coalesce(func.sum(CustomerStats.paid_fen), 0),
            func.coalesce(func.sum(CustomerStats.refunded_fen), 0),
            func.coalesce(func.sum(CustomerStats.net_fen), 0),
        )
        .join(Customer, Customer.id == CustomerStats.customer_id)
        .where(live)
    ).one()
    buyers, repeat, orders_all, paid_all, refunded_all, net_all = (int(v or 0) for v in stats)
    friends, follows = session.execute(
        select(func.count(func.distinct(Follow.customer_id)), func.count()).where(
            Follow.workspace_id == workspace_id, Follow.state == "active", follow_scope
        )
    ).one()
    friends_net = session.scalar(
        select(func.coalesce(func.sum(CustomerStats.net_fen), 0))
        .join(Customer, Customer.id == CustomerStats.customer_id)
        .where(
            live,
            Customer.id.in_(
                select(Follow.customer_id).where(
                    Follow.workspace_id == workspace_id, Follow.state == "active", follow_scope
                )
            ),
        )
    )
    friends_net = int(friends_net or 0)
    staff_q = select(func.count()).select_from(Staff).where(Staff.workspace_id == workspace_id)
    staff_q = (
        staff_q.where(Staff.status == "active") if staff_id is None else staff_q.where(Staff.id == staff_id)
    )
    staff_accounts = session.scalar(staff_q) or 0

    # Per-day series inside the window.
    fday = _local_date(session, Follow.added_at, tz)
    friend_rows = session.execute(
        select(fday, func.count())
        .where(
            Follow.workspace_id == workspace_id,
            Follow.added_at >= since,
            Follow.added_at < until,
            follow_scope,
        )
        .group_by(fday)
    )
    friends_by_day = {_as_date(d): int(n) for d, n in friend_rows}
    oday = _local_date(session, Order.paid_at, tz)
    order_scope: ColumnElement[bool] = true()
    if staff_id is not None:
        order_scope = Order.customer_id.in_(
            select(Follow.customer_id).where(
                Follow.workspace_id == workspace_id, Follow.staff_id == staff_id, Follow.state == "active"
            )
        )
    order_rows = session.execute(
        select(
            oday,
            # Fully refunded orders bring no revenue: they are not counted as orders.
            func.count().filter(Order.paid_fen > Order.refunded_fen),
            func.coalesce(func.sum(Order.paid_fen), 0),
            func.coalesce(func.sum(Order.refunded_fen), 0),
        )
        .where(
            Order.workspace_id == workspace_id,
            Order.paid_at >= since,
            Order.paid_at < until,
            Order.status != "pending",
            order_scope,
        )
        .group_by(oday)
    )
    orders_by_day = {_as_date(d): (int(n), int(p), int(r)) for d, n, p, r in order_rows}

    series_days = [start + timedelta(days=i) for i in range(days)]
    per_day_orders = []
    for d in series_days:
        n, p, r = orders_by_day.get(d, (0, 0, 0))
        per_day_orders.append(DayOrders(day=d, orders=n, paid_fen=p, refunded_fen=r, net_fen=p - r))

    # One scan of the scores for all six distributions (a few thousand groups at most).
    dims = {
        "tier": CustomerScore.layer_tier,
        "value": CustomerScore.layer_value,
        "age": CustomerScore.layer_age,
        "lifecycle": CustomerScore.lifecycle,
        "rfm": CustomerScore.rfm_segment,
        "rfm8": CustomerScore.rfm8,
    }
    dist: dict[str, dict[str, int]] = {name: {} for name in dims}
    for *values, n in session.execute(
        select(*dims.values(), func.count())
        .join(Customer, Customer.id == CustomerScore.customer_id)
        .where(live)
        .group_by(*dims.values())
    ):
        for name, value in zip(dims, values, strict=True):
            if value is not None:
                dist[name][str(value)] = dist[name].get(str(value), 0) + int(n)
    dist = {name: dict(sorted(counts.items())) for name, counts in dist.items()}

    return MetricsSummary(
        timezone=tz,
        start=start,
        end=end,
        days=days,
        staff_id=staff_id,
        totals=Totals(
            customers=int(customers),
            buyers=buyers,
            repeat_buyers=repeat,
            repurchase_rate=round(repeat / buyers, 4) if buyers else None,
            opted_out=int(opted_out),
            friends=int(friends),
            friend_share=round(int(friends) / int(customers), 4) if customers else None,
            friends_net_fen=friends_net,
            friends_revenue_share=round(friends_net / net_all, 4) if net_all > 0 else None,
            follows=int(follows),
            staff_accounts=int(staff_accounts),
            orders=orders_all,
            paid_fen=paid_all,
            refunded_fen=refunded_all,
            net_fen=net_all,
        ),
        window=WindowTotals(
            new_friends=sum(friends_by_day.values()),
            orders=sum(o.orders for o in per_day_orders),
            paid_fen=sum(o.paid_fen for o in per_day_orders),
            refunded_fen=sum(o.refunded_fen for o in per_day_orders),
            net_fen=sum(o.net_fen for o in per_day_orders),
        ),
        layers={
            "tier": dist["tier"],
            "value": dist["value"],
            "age": dist["age"],
            "lifecycle": dist["lifecycle"],
        },
        rfm=dist["rfm"],
        rfm8=dist["rfm8"],
        new_friends_per_day=[DayCount(day=d, count=friends_by_day.get(d, 0)) for d in series_days],
        orders_per_day=per_day_orders,
    )
