"""Lift of a send: targeted vs holdout after 1, 7 and 30 days, with a 95 % confidence interval.

Intention to treat: the targeted arm is everyone planned to receive the send (also
those whose staff never confirmed), the holdout arm everyone drawn to be kept out;
both drawn at random from the same eligible audience, so the difference in means is
what the send caused. Per customer: orders paid, net revenue (paid − refunded) and
gross profit (net − cost) in the window; replies (customers who wrote, where message
data exists); opt-outs and friend deletions.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.timeutil import utcnow
from siyu.models import Customer, Follow, Message, Order, Send, SendRecipient

WINDOWS = (1, 7, 30)
Z95 = 1.96


def _arm_sizes(session: Session, send_id: int) -> dict[str, int]:
    rows = session.execute(
        select(SendRecipient.arm, func.count())
        .where(SendRecipient.send_id == send_id, SendRecipient.arm.in_(("target", "holdout")))
        .group_by(SendRecipient.arm)
    )
    return {str(a): int(n) for a, n in rows}


def _compare(sums: dict[str, tuple[float, float]], n: dict[str, int]) -> dict[str, Any]:
    """Means per arm, their difference and its 95 % interval (Welch, normal approximation)."""
    out: dict[str, Any] = {}
    var: dict[str, float] = {}
    for arm in ("target", "holdout"):
        k = n.get(arm, 0)
        s, ss = sums.get(arm, (0.0, 0.0))
        mean = s / k if k else 0.0
        var[arm] = (ss - k * mean * mean) / (k - 1) if k > 1 else 0.0
        out[f"{arm}_mean"] = round(mean, 4)
        out[f"{arm}_total"] = round(s, 2)
    diff = out["target_mean"] - out["holdout_mean"]
    nt, nh = n.get("target", 0), n.get("holdout", 0)
    se = math.sqrt(var["target"] / nt + var["holdout"] / nh) if nt and nh else float("nan")
    out["diff"] = round(diff, 4)
    out["ci_low"] = round(diff - Z95 * se, 4) if not math.isnan(se) else None
    out["ci_high"] = round(diff + Z95 * se, 4) if not math.isnan(se) else None
    out["incremental_total"] = round(diff * nt, 2)
    return out


def compare_arms(sums: dict[str, tuple[float, float]], n: dict[str, int]) -> dict[str, Any]:
    """The comparison of a send's report for any per-customer figure: ``sums[arm]`` is
    (sum, sum of squares) over the arm's customers, ``n[arm]`` the arm's size."""
    return _compare(sums, n)


def _orders(
    session: Session, send: Send, start: datetime, end: datetime
) -> dict[str, dict[str, tuple[float, float]]]:
    net = Order.paid_fen - Order.refunded_fen
    gross = net - func.coalesce(Order.cost_fen, 0)
    per_customer = (
        select(
            Order.customer_id.label("cid"),
            func.count().label("orders"),
            func.sum(net).label("net"),
            func.sum(gross).label("gross"),
        )
        .where(
            Order.workspace_id == send.workspace_id,
            Order.paid_at >= start,
            Order.paid_at < end,
            Order.customer_id.in_(
                select(SendRecipient.customer_id).where(
                    SendRecipient.send_id == send.id, SendRecipient.arm.in_(("target", "holdout"))
                )
            ),
        )
        .group_by(Order.customer_id)
        .subquery()
    )
    rows = session.execute(
        select(
            SendRecipient.arm,
            func.sum(per_customer.c.orders),
            func.sum(per_customer.c.orders * per_customer.c.orders),
            func.sum(per_customer.c.net),
            func.sum(per_customer.c.net * per_customer.c.net),
            func.sum(per_customer.c.gross),
            func.sum(per_customer.c.gross * per_customer.c.gross),
        )
        .join(per_customer, per_customer.c.cid == SendRecipient.customer_id)
        .where(SendRecipient.send_id == send.id, SendRecipient.arm.in_(("target", "holdout")))
        .group_by(SendRecipient.arm)
    )
    out: dict[str, dict[str, tuple[float, float]]] = {"orders": {}, "net_fen": {}, "gross_profit_fen": {}}
    for arm, o, oo, nn, nnn, g, gg in rows:
        out["orders"][arm] = (float(o or 0), float(oo or 0))
        out["net_fen"][arm] = (float(nn or 0), float(nnn or 0))
        out["gross_profit_fen"][arm] = (float(g or 0), float(gg or 0))
    return out


def _rate(session: Session, send: Send, cond: Any, n: dict[str, int]) -> dict[str, Any]:
    """Share of each arm's customers for whom ``cond`` (a customer-id subquery) holds."""
    rows = session.execute(
        select(SendRecipient.arm, func.count())
        .where(
            SendRecipient.send_id == send.id,
            SendRecipient.arm.in_(("target", "holdout")),
            SendRecipient.customer_id.in_(cond),
        )
        .group_by(SendRecipient.arm)
    )
    got = {str(a): int(k) for a, k in rows}
    sums = {arm: (float(got.get(arm, 0)), float(got.get(arm, 0))) for arm in ("target", "holdout")}
    res = _compare(sums, n)
    res["target_count"], res["holdout_count"] = got.get("target", 0), got.get("holdout", 0)
    return res


def lift_report(session: Session, send: Send, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    n = _arm_sizes(session, send.id)
    base = {"send_id": send.id, "title": send.title, "holdout_pct": send.holdout_pct, "arms": n}
    if send.planned_at is None or not n.get("holdout"):
        return base | {"windows": [], "note": "no holdout: nothing to compare"}
    windows = []
    for days in WINDOWS:
        start, end = send.planned_at, send.planned_at + timedelta(days=days)
        metrics = _orders(session, send, start, end)
        w: dict[str, Any] = {"days": days, "complete": now >= end}
        for name, sums in metrics.items():
            w[name] = _compare(sums, n)
        ws = send.workspace_id
        w["opt_outs"] = _rate(
            session,
            send,
            select(Customer.id).where(
                Customer.workspace_id == ws, Customer.opt_out_at >= start, Customer.opt_out_at < end
            ),
            n,
        )
        w["friend_deletions"] = _rate(
            session,
            send,
            select(Follow.customer_id).where(
                Follow.workspace_id == ws,
                Follow.deleted_by == "customer",
                Follow.deleted_at >= start,
                Follow.deleted_at < end,
            ),
            n,
        )
        w["replies"] = _rate(
            session,
            send,
            select(Message.customer_id).where(
                Message.workspace_id == ws,
                Message.direction == "in",
                Message.sent_at >= start,
                Message.sent_at < end,
            ),
            n,
        )
        windows.append(w)
    return base | {"windows": windows}
