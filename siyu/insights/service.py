"""The metrics summary: the dashboard's first screen, per workspace (or per staff account).

All-time money comes from the maintained ``customer_stats`` aggregates (the hot path
never scans every order); the window's figures and per-day series read orders and
follows inside the window through their (workspace, time) indexes. Days are business
days in the workspace time zone. The API (``/api/v1/metrics/summary``) and the console
dashboard both call :func:`summary`, so they always agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from siyu.insights import repository as repo
from siyu.insights.schemas import DayCount, DayOrders, MetricsSummary, Totals, WindowTotals
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import day_start_utc, local_day, utcnow

MAX_DAYS = 366

__all__ = ["MAX_DAYS", "MetricsSummary", "summary"]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def summary(
    session: Session,
    *,
    workspace_id: int,
    days: int = 30,
    staff_id: int | None = None,
    now: datetime | None = None,
) -> MetricsSummary:
    """Customers, friends, orders, net revenue, layers, RFM, the window's figures and per-day series.

    The window is the ``days`` business days ending today (in the workspace zone).
    ``staff_id`` limits every figure to the customers that staff account follows.
    """
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"days must be between 1 and {MAX_DAYS}", field="days")
    tz = repo.workspace_timezone(session, workspace_id)
    end = local_day(now or utcnow(), tz)
    start = end - timedelta(days=days - 1)
    since = day_start_utc(start, tz)
    until = day_start_utc(end + timedelta(days=1), tz)

    live = repo.live_customers(workspace_id, staff_id)
    customers, opted_out = repo.customer_counts(session, live)
    buyers, repeat, orders_all, paid_all, refunded_all, net_all = repo.stats_totals(session, live)
    friends, follows = repo.friend_counts(session, workspace_id, staff_id)
    friends_net = repo.friends_net_fen(session, live, workspace_id, staff_id)

    friends_by_day = repo.friends_per_day(session, workspace_id, staff_id, tz, since, until)
    orders_by_day = repo.orders_per_day(session, workspace_id, staff_id, tz, since, until)
    series_days = [start + timedelta(days=i) for i in range(days)]
    per_day_orders = []
    for d in series_days:
        n, p, r = orders_by_day.get(d, (0, 0, 0))
        per_day_orders.append(DayOrders(day=d, orders=n, paid_fen=p, refunded_fen=r, net_fen=p - r))
    w_buyers, w_repeat = repo.window_buyers(session, workspace_id, staff_id, since, until)
    unmatched, unmatched_net = (
        (0, 0) if staff_id is not None else repo.window_unmatched(session, workspace_id, since, until)
    )
    dist = repo.score_distributions(session, live)

    return MetricsSummary(
        timezone=tz,
        start=start,
        end=end,
        days=days,
        staff_id=staff_id,
        totals=Totals(
            customers=customers,
            buyers=buyers,
            repeat_buyers=repeat,
            repurchase_rate=_share(repeat, buyers),
            opted_out=opted_out,
            friends=friends,
            friend_share=_share(friends, customers),
            friends_net_fen=friends_net,
            friends_revenue_share=_share(friends_net, net_all),
            follows=follows,
            staff_accounts=repo.staff_accounts(session, workspace_id, staff_id),
            orders=orders_all,
            paid_fen=paid_all,
            refunded_fen=refunded_all,
            net_fen=net_all,
        ),
        window=WindowTotals(
            new_friends=sum(friends_by_day.values()),
            new_customers=repo.new_customers(session, live, since, until),
            orders=sum(o.orders for o in per_day_orders),
            paid_fen=sum(o.paid_fen for o in per_day_orders),
            refunded_fen=sum(o.refunded_fen for o in per_day_orders),
            net_fen=sum(o.net_fen for o in per_day_orders),
            buyers=w_buyers,
            repeat_buyers=w_repeat,
            repurchase_rate=_share(w_repeat, w_buyers),
            unmatched_orders=unmatched,
            unmatched_net_fen=unmatched_net,
        ),
        layers={key: dist[key] for key in ("tier", "value", "age", "lifecycle")},
        rfm=dist["rfm"],
        rfm8=dist["rfm8"],
        new_friends_per_day=[DayCount(day=d, count=friends_by_day.get(d, 0)) for d in series_days],
        orders_per_day=per_day_orders,
    )
