"""Friend cohorts by week of add, and the private domain's lift on repurchase.

A customer joins the cohort of the ISO week (workspace zone) of their first friendship
(with the given staff account, or with any). For each week since the add: retention (the
share still a friend at the end of that week), bought (the share with an effective order
paid since the add, cumulative) and gross profit per cohort member (cumulative, fen): the
gross profit of their orders paid since the add minus the rewards paid to them since the
add (red packets, coupons, gifts of the reward ledger), as the monthly P&L subtracts them;
one account's cohorts leave out rewards stated for another account.

Lift: customers whose first effective order was paid in the same month on the same
platform are compared — those who are or were a friend against those who never were —
on repurchase (two or more effective orders, all time). The lift is the friends-weighted
mean of (friends' rate − others' rate) over the strata that hold both.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from siyu.insights.aggregates import knobs_for
from siyu.insights.profit import order_profits
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import Customer, CustomerStats, Follow, Order, Reward

MAX_WEEKS = 52
_CHUNK = 500


def friend_cohorts(
    session: Session,
    *,
    workspace_id: int,
    weeks: int = 12,
    staff_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Cohorts of the last ``weeks`` ISO weeks (this one included)."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise Invalid(f"weeks must be between 1 and {MAX_WEEKS}", field="weeks")
    knobs = knobs_for(session, workspace_id)
    tz = knobs.hours.tz
    now = now or utcnow()
    today = local_day(now, tz)
    this_week = today - timedelta(days=today.isoweekday() - 1)
    first_week = this_week - timedelta(weeks=weeks - 1)
    since = day_start_utc(first_week, tz)
    scope = [Follow.workspace_id == workspace_id, Follow.added_at.is_not(None)]
    if staff_id is not None:
        scope.append(Follow.staff_id == staff_id)
    first = (
        select(Follow.customer_id, func.min(Follow.added_at).label("first_at"))
        .where(*scope)
        .group_by(Follow.customer_id)
        .subquery()
    )
    members = {
        int(cid): at
        for cid, at in session.execute(
            select(first.c.customer_id, first.c.first_at).where(first.c.first_at >= since)
        )
    }
    ids = sorted(members)
    friendships: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for chunk in (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)):
        for cid, added, deleted in session.execute(
            select(Follow.customer_id, Follow.added_at, Follow.deleted_at).where(
                Follow.customer_id.in_(chunk),
                *([Follow.staff_id == staff_id] if staff_id is not None else []),
            )
        ):
            if added is not None:
                friendships[int(cid)].append((added, deleted))
    orders: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for p in order_profits(
        session, workspace_id, since, now + timedelta(seconds=1), knobs=knobs, customer_ids=ids
    ):
        if p.customer_id is not None and p.paid_at >= members[p.customer_id] and p.net_fen > 0:
            orders[p.customer_id].append((p.paid_at, p.gross_fen))
    # Rewards paid to members since their add, taken off their gross profit (P&L rule).
    rewards: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for chunk in (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)):
        for cid, amount, paid_at, r_staff in session.execute(
            select(Reward.customer_id, Reward.amount_fen, Reward.paid_at, Reward.staff_id).where(
                Reward.workspace_id == workspace_id,
                Reward.customer_id.in_(chunk),
                Reward.paid_at >= since,
                Reward.paid_at <= now,
            )
        ):
            if staff_id is not None and r_staff is not None and r_staff != staff_id:
                continue  # the P&L puts it on the stated account's line
            if paid_at >= members[int(cid)]:
                rewards[int(cid)].append((paid_at, int(amount)))
    by_week: dict[date, list[int]] = defaultdict(list)
    for cid, at in members.items():
        d = local_day(at, tz)
        by_week[d - timedelta(days=d.isoweekday() - 1)].append(cid)
    cohorts = []
    for i in range(weeks):
        start = first_week + timedelta(weeks=i)
        cids = by_week.get(start, [])
        n = len(cids)
        retention: list[float | None] = []
        bought: list[float | None] = []
        profit: list[int | None] = []
        for k in range(weeks - i):
            edge = min(day_start_utc(start + timedelta(weeks=k + 1), tz), now)
            if n == 0:
                retention.append(None)
                bought.append(None)
                profit.append(None)
                continue
            alive = sum(
                1
                for c in cids
                if any(a <= edge and (d is None or d > edge) for a, d in friendships.get(c, ()))
            )
            buyers = sum(1 for c in cids if any(t < edge for t, _g in orders.get(c, ())))
            gross = sum(g for c in cids for t, g in orders.get(c, ()) if t < edge) - sum(
                a for c in cids for t, a in rewards.get(c, ()) if t < edge
            )
            retention.append(round(alive / n, 4))
            bought.append(round(buyers / n, 4))
            profit.append(round(gross / n))
        cohorts.append(
            {
                "week": start,
                "size": n,
                "retention": retention,
                "bought": bought,
                "profit_per_friend_fen": profit,
            }
        )
    return {
        "weeks": weeks,
        "first_week": first_week,
        "staff_id": staff_id,
        "timezone": tz,
        "columns": [f"第{k}周" for k in range(weeks)],
        "cohorts": cohorts,
    }


def repurchase_lift(session: Session, *, workspace_id: int, months: int = 12) -> dict[str, Any]:
    """Repurchase of friends vs never-friends matched on first-order month and platform."""
    if not 1 <= months <= 60:
        raise Invalid("months must be between 1 and 60", field="months")
    knobs = knobs_for(session, workspace_id)
    tz = knobs.hours.tz
    today = local_day(utcnow(), tz)
    start = (today.replace(day=1) - timedelta(days=31 * (months - 1))).replace(day=1)
    since = day_start_utc(start, tz)
    friend = exists().where(
        Follow.workspace_id == workspace_id, Follow.customer_id == Customer.id, Follow.added_at.is_not(None)
    )
    rows = session.execute(
        select(Order.paid_at, Order.platform, CustomerStats.effective_orders_count, friend)
        .select_from(CustomerStats)
        .join(Customer, Customer.id == CustomerStats.customer_id)
        .join(Order, Order.id == CustomerStats.first_order_id)
        .where(
            Customer.workspace_id == workspace_id,
            Customer.merged_into_id.is_(None),
            CustomerStats.effective_orders_count > 0,
            Order.paid_at >= since,
        )
    )
    strata: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for paid_at, platform, n_orders, is_friend in rows:
        if paid_at is None:
            continue
        key = (local_day(paid_at, tz).strftime("%Y-%m"), platform)
        s = strata[key]
        base = 0 if is_friend else 2
        s[base] += 1
        s[base + 1] += 1 if n_orders >= 2 else 0
    out = []
    num = 0.0
    weight = 0
    f_tot = f_rep = 0
    matched_other = 0.0
    for (month, platform), (f, fr, o, orr) in sorted(strata.items()):
        f_rate = fr / f if f else None
        o_rate = orr / o if o else None
        out.append(
            {
                "month": month,
                "platform": platform,
                "friends": f,
                "friends_repeat": fr,
                "friend_rate": None if f_rate is None else round(f_rate, 4),
                "others": o,
                "others_repeat": orr,
                "other_rate": None if o_rate is None else round(o_rate, 4),
            }
        )
        if f_rate is not None and o_rate is not None:
            num += f * (f_rate - o_rate)
            weight += f
            f_tot += f
            f_rep += fr
            matched_other += f * o_rate
    return {
        "months": months,
        "since": start,
        "strata": out,
        "matched_friends": weight,
        "friend_rate": round(f_rep / f_tot, 4) if f_tot else None,
        "matched_other_rate": round(matched_other / weight, 4) if weight else None,
        "lift_points": round(100 * num / weight, 2) if weight else None,
    }
