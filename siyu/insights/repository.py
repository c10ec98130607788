"""The metrics summary's queries: all-time figures from ``customer_stats``, windows from orders.

Every function is scoped to one workspace and, when ``staff_id`` is given, to the
customers that staff account follows as an active friend.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, func, select, true
from sqlalchemy.orm import Session

from siyu.kit.timeutil import utcnow, zone
from siyu.models import Customer, CustomerScore, CustomerStats, Follow, Order, Staff, Workspace

# Orders that count: paid, not pending, not refunded in full.
_NOT_EFFECTIVE = ("pending", "closed")


def workspace_timezone(session: Session, workspace_id: int) -> str:
    ws = session.get(Workspace, workspace_id)
    return ws.timezone if ws is not None else "Asia/Shanghai"


def local_date(session: Session, col: Any, tz: str) -> Any:
    """SQL for the business day of a UTC timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, col))
    # SQLite keeps naive UTC text; shift by the zone's current offset (exact for zones
    # without daylight saving time, such as Asia/Shanghai).
    offset = utcnow().astimezone(zone(tz)).utcoffset() or timedelta(0)
    return func.date(col, f"{int(offset.total_seconds() // 60):+d} minutes")


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _followed(workspace_id: int, staff_id: int) -> Any:
    return select(Follow.customer_id).where(
        Follow.workspace_id == workspace_id, Follow.staff_id == staff_id, Follow.state == "active"
    )


def follow_scope(staff_id: int | None) -> ColumnElement[bool]:
    return true() if staff_id is None else Follow.staff_id == staff_id


def live_customers(workspace_id: int, staff_id: int | None) -> ColumnElement[bool]:
    """Live (not merged, not anonymised) customers in scope."""
    in_scope: ColumnElement[bool] = (
        true() if staff_id is None else Customer.id.in_(_followed(workspace_id, staff_id))
    )
    return and_(
        Customer.workspace_id == workspace_id,
        Customer.merged_into_id.is_(None),
        Customer.anonymised_at.is_(None),
        in_scope,
    )


def order_scope(workspace_id: int, staff_id: int | None) -> ColumnElement[bool]:
    if staff_id is None:
        return true()
    return Order.customer_id.in_(_followed(workspace_id, staff_id))


def customer_counts(session: Session, live: ColumnElement[bool]) -> tuple[int, int]:
    """(customers, opted out)."""
    customers, opted_out = session.execute(
        select(func.count(), func.coalesce(func.sum(func.cast(Customer.opt_out, Integer)), 0)).where(live)
    ).one()
    return int(customers), int(opted_out or 0)


def new_customers(session: Session, live: ColumnElement[bool], since: datetime, until: datetime) -> int:
    """Live customers first seen in [since, until)."""
    stmt = select(func.count()).where(live, Customer.first_seen_at >= since, Customer.first_seen_at < until)
    return int(session.scalar(stmt) or 0)


def stats_totals(session: Session, live: ColumnElement[bool]) -> tuple[int, int, int, int, int, int]:
    """(buyers, repeat buyers, orders, paid, refunded, net) over all time, from the aggregates."""
    row = session.execute(
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
    b, r, o, p, f, n = (int(v or 0) for v in row)
    return b, r, o, p, f, n


def friend_counts(session: Session, workspace_id: int, staff_id: int | None) -> tuple[int, int]:
    """(customers who are a friend now, active friendships)."""
    friends, follows = session.execute(
        select(func.count(func.distinct(Follow.customer_id)), func.count()).where(
            Follow.workspace_id == workspace_id, Follow.state == "active", follow_scope(staff_id)
        )
    ).one()
    return int(friends), int(follows)


def friends_net_fen(
    session: Session, live: ColumnElement[bool], workspace_id: int, staff_id: int | None
) -> int:
    value = session.scalar(
        select(func.coalesce(func.sum(CustomerStats.net_fen), 0))
        .join(Customer, Customer.id == CustomerStats.customer_id)
        .where(
            live,
            Customer.id.in_(
                select(Follow.customer_id).where(
                    Follow.workspace_id == workspace_id, Follow.state == "active", follow_scope(staff_id)
                )
            ),
        )
    )
    return int(value or 0)


def staff_accounts(session: Session, workspace_id: int, staff_id: int | None) -> int:
    stmt = select(func.count()).select_from(Staff).where(Staff.workspace_id == workspace_id)
    stmt = stmt.where(Staff.status == "active") if staff_id is None else stmt.where(Staff.id == staff_id)
    return int(session.scalar(stmt) or 0)


def friends_per_day(
    session: Session, workspace_id: int, staff_id: int | None, tz: str, since: datetime, until: datetime
) -> dict[date, int]:
    fday = local_date(session, Follow.added_at, tz)
    rows = session.execute(
        select(fday, func.count())
        .where(
            Follow.workspace_id == workspace_id,
            Follow.added_at >= since,
            Follow.added_at < until,
            follow_scope(staff_id),
        )
        .group_by(fday)
    )
    return {as_date(d): int(n) for d, n in rows}


def _window_orders(workspace_id: int, staff_id: int | None, since: datetime, until: datetime) -> list[Any]:
    return [
        Order.workspace_id == workspace_id,
        Order.paid_at >= since,
        Order.paid_at < until,
        Order.status != "pending",
        order_scope(workspace_id, staff_id),
    ]


def orders_per_day(
    session: Session, workspace_id: int, staff_id: int | None, tz: str, since: datetime, until: datetime
) -> dict[date, tuple[int, int, int]]:
    """Business day → (orders, paid, refunded) for orders paid in the window."""
    oday = local_date(session, Order.paid_at, tz)
    rows = session.execute(
        select(
            oday,
            # Fully refunded orders bring no revenue: they are not counted as orders.
            func.count().filter(Order.paid_fen > Order.refunded_fen),
            func.coalesce(func.sum(Order.paid_fen), 0),
            func.coalesce(func.sum(Order.refunded_fen), 0),
        )
        .where(*_window_orders(workspace_id, staff_id, since, until))
        .group_by(oday)
    )
    return {as_date(d): (int(n), int(p), int(r)) for d, n, p, r in rows}


def window_buyers(
    session: Session, workspace_id: int, staff_id: int | None, since: datetime, until: datetime
) -> tuple[int, int]:
    """(customers with ≥ 1, customers with ≥ 2) effective orders paid in the window."""
    per_customer = (
        select(Order.customer_id, func.count().label("n"))
        .where(
            *_window_orders(workspace_id, staff_id, since, until),
            Order.customer_id.is_not(None),
            Order.status.not_in(_NOT_EFFECTIVE),
            Order.paid_fen > Order.refunded_fen,
        )
        .group_by(Order.customer_id)
        .subquery()
    )
    buyers, repeat = session.execute(
        select(func.count(), func.count().filter(per_customer.c.n > 1)).select_from(per_customer)
    ).one()
    return int(buyers or 0), int(repeat or 0)


def window_unmatched(
    session: Session, workspace_id: int, since: datetime, until: datetime
) -> tuple[int, int]:
    """(orders, net fen) paid in the window that no customer could be matched to."""
    n, net = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.paid_fen - Order.refunded_fen), 0)).where(
            *_window_orders(workspace_id, None, since, until),
            Order.customer_id.is_(None),
            Order.status.not_in(_NOT_EFFECTIVE),
            Order.paid_fen > Order.refunded_fen,
        )
    ).one()
    return int(n or 0), int(net or 0)


# Score columns the summary's distributions read.
SCORE_DIMENSIONS = {
    "tier": CustomerScore.layer_tier,
    "value": CustomerScore.layer_value,
    "age": CustomerScore.layer_age,
    "lifecycle": CustomerScore.lifecycle,
    "rfm": CustomerScore.rfm_segment,
    "rfm8": CustomerScore.rfm8,
}


def score_distributions(session: Session, live: ColumnElement[bool]) -> dict[str, dict[str, int]]:
    """One scan of the scores for all six distributions (a few thousand groups at most)."""
    dims = SCORE_DIMENSIONS
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
    return {name: dict(sorted(counts.items())) for name, counts in dist.items()}
