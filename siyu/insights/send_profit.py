"""P&L of sends and campaigns: what the targeted customers bought after a send, what the
send cost, and the profit it caused beyond what its holdout shows would have come anyway.

For each planned send and each window of 1, 7 and 30 days after ``planned_at``:

- **targeted**: customers planned to receive it (arm ``target``; intention to treat, as
  in the send's lift report), **buyers** among them (an effective order paid in the
  window and not refunded in full) and **conversion** = buyers / targeted (the holdout's
  share beside it, and the difference with its 95 % interval);
- their effective orders paid in the window: **net revenue** and **gross profit** per
  order as in the monthly P&L (price-list cost of goods, platform fees, brand-borne
  discounts: ``siyu.insights.profit.order_profits``);
- **cost** = rewards linked to the send (``rewards.send_id``) paid before the window's
  end + the workspace's fixed cost per send (``insights.send_cost_yuan``, default 0);
- **profit** = gross profit − cost;
- **incremental gross profit** = (mean gross profit per targeted customer − the same per
  holdout customer) × targeted, with its 95 % interval, computed by the send engine's own
  comparison (``siyu.automation.sends.lift.compare_arms``); **incremental profit** =
  incremental gross profit − cost. ``None`` when the send has no holdout.

A **campaign** is a recurring send: the runs sharing one ``parent_id`` (the first run is
the parent). Its line sums its runs' lines (a customer targeted by two runs counts twice).

Set-based: the recipients of all the sends, their orders (between the first send and the
last one's longest window, of the customers the sends planned for, selected by the
database) and the sends' rewards are each read in one statement, whatever the number of
sends; each send then takes its customers' orders in its own windows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from siyu.automation.sends.lift import WINDOWS, compare_arms
from siyu.insights.aggregates import knobs_for
from siyu.insights.knobs import InsightKnobs
from siyu.insights.profit import OrderProfit, order_profits
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import Reward, Send, SendRecipient

MAX_DAYS = 366
MAX_SENDS = 500
_SUMMED = (
    "targeted", "buyers", "orders", "net_fen", "gross_profit_fen", "rewards_fen", "send_cost_fen",
    "cost_fen", "profit_fen",
)  # fmt: skip
_EMPTY_INC: dict[str, int | None] = {"incremental_gross_profit_fen": None, "incremental_profit_fen": None}


def _recipients(send_ids: list[int], staff_id: int | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [
        SendRecipient.send_id.in_(send_ids),
        SendRecipient.arm.in_(("target", "holdout")),
        SendRecipient.customer_id.is_not(None),
    ]
    if staff_id is not None:
        conds.append(SendRecipient.staff_id == staff_id)
    return conds


def _all_arms(session: Session, send_ids: list[int], staff_id: int | None) -> dict[int, dict[str, list[int]]]:
    """Each send's target and holdout customers (one statement for all the sends)."""
    out: dict[int, dict[str, list[int]]] = {sid: {"target": [], "holdout": []} for sid in send_ids}
    if not send_ids:
        return out
    stmt = (
        select(SendRecipient.send_id, SendRecipient.arm, SendRecipient.customer_id)
        .where(*_recipients(send_ids, staff_id))
        .order_by(SendRecipient.send_id, SendRecipient.id)
    )
    for sid, arm, cid in session.execute(stmt):
        if cid is not None:
            out[int(sid)][str(arm)].append(int(cid))
    return out


def _profits_by_customer(
    session: Session,
    workspace_id: int,
    sends: list[Send],
    knobs: InsightKnobs,
    staff_id: int | None,
    days: int,
) -> dict[int, list[OrderProfit]]:
    """The orders of every customer the sends planned for, paid from the first send to the
    end of the last one's ``days``-day window, per customer (two statements, the database
    choosing the customers)."""
    starts = [s.planned_at for s in sends if s.planned_at is not None]
    if not starts:
        return {}
    who = select(SendRecipient.customer_id).where(*_recipients([s.id for s in sends], staff_id))
    out: dict[int, list[OrderProfit]] = defaultdict(list)
    for p in order_profits(
        session, workspace_id, min(starts), max(starts) + timedelta(days=days), knobs=knobs, customers_in=who
    ):
        if p.customer_id is not None:
            out[p.customer_id].append(p)
    return out


def _of_send(
    by_customer: dict[int, list[OrderProfit]], customers: list[int], start: datetime, end: datetime
) -> list[OrderProfit]:
    """The orders of some customers paid in ``[start, end)`` (a customer counted once)."""
    return [
        p for cid in dict.fromkeys(customers) for p in by_customer.get(cid, ()) if start <= p.paid_at < end
    ]


def _window(
    profits: list[OrderProfit],
    arms: dict[str, list[int]],
    rewards: list[tuple[int, int, datetime]],
    send_cost: int,
    end: datetime,
) -> dict[str, Any]:
    arm_of = {cid: arm for arm, ids in arms.items() for cid in ids}
    gross: dict[str, dict[int, int]] = {"target": defaultdict(int), "holdout": defaultdict(int)}
    bought: dict[str, set[int]] = {"target": set(), "holdout": set()}
    t_orders = t_net = t_gross = 0
    for p in profits:
        if p.paid_at >= end or p.customer_id is None or p.customer_id not in arm_of:
            continue
        arm = arm_of[p.customer_id]
        gross[arm][p.customer_id] += p.gross_fen
        if p.net_fen > 0:
            bought[arm].add(p.customer_id)
        if arm == "target":
            t_orders += 1
            t_net += p.net_fen
            t_gross += p.gross_fen
    targets = set(arms["target"])
    reward_fen = sum(amount for cid, amount, at in rewards if at < end and cid in targets)
    cost = reward_fen + send_cost
    n = {arm: len(ids) for arm, ids in arms.items()}
    buyers = {arm: len(ids) for arm, ids in bought.items()}
    out: dict[str, Any] = {
        "targeted": n["target"],
        "buyers": buyers["target"],
        "conversion": round(buyers["target"] / n["target"], 4) if n["target"] else None,
        "holdout": n["holdout"],
        "holdout_buyers": buyers["holdout"],
        "holdout_conversion": round(buyers["holdout"] / n["holdout"], 4) if n["holdout"] else None,
        "orders": t_orders,
        "net_fen": t_net,
        "gross_profit_fen": t_gross,
        "rewards_fen": reward_fen,
        "send_cost_fen": send_cost,
        "cost_fen": cost,
        "profit_fen": t_gross - cost,
        "incremental_gross_profit_fen": None,
        "incremental_gross_ci_fen": None,
        "incremental_profit_fen": None,
        "conversion_lift": None,
    }
    if n["target"] and n["holdout"]:
        sums = {
            arm: (float(sum(g.values())), float(sum(v * v for v in g.values()))) for arm, g in gross.items()
        }
        cmp = compare_arms(sums, n)
        inc = round(cmp["incremental_total"])
        out["incremental_gross_profit_fen"] = inc
        if cmp["ci_low"] is not None and cmp["ci_high"] is not None:
            out["incremental_gross_ci_fen"] = [
                round(cmp["ci_low"] * n["target"]),
                round(cmp["ci_high"] * n["target"]),
            ]
        out["incremental_profit_fen"] = inc - cost
        conv = compare_arms({arm: (float(buyers[arm]), float(buyers[arm])) for arm in gross}, n)
        out["conversion_lift"] = {k: conv[k] for k in ("diff", "ci_low", "ci_high")}
    return out


def _send_line(
    send: Send,
    arms: dict[str, list[int]],
    by_customer: dict[int, list[OrderProfit]],
    rewards: list[tuple[int, int, datetime]],
    knobs: InsightKnobs,
    total_targeted: int | None,
    now: datetime,
) -> dict[str, Any]:
    """One send's line (``total_targeted``: all accounts' targeted, for a staff view)."""
    assert send.planned_at is not None
    start = send.planned_at
    last = start + timedelta(days=max(WINDOWS))
    profits = _of_send(by_customer, arms["target"] + arms["holdout"], start, last)
    send_cost = knobs.send_cost_fen
    if total_targeted is not None:  # one account's share of the fixed cost, by its targeted customers
        send_cost = round(send_cost * len(arms["target"]) / total_targeted) if total_targeted else 0
    windows = []
    for days in WINDOWS:
        end = start + timedelta(days=days)
        windows.append(
            {"days": days, "complete": now >= end} | _window(profits, arms, rewards, send_cost, end)
        )
    return {
        "send_id": send.id,
        "title": send.title,
        "kind": send.kind,
        "status": send.status,
        "planned_at": start,
        "campaign_id": _campaign_of(send),
        "holdout_pct": send.holdout_pct,
        "windows": windows,
    }


def _campaign_of(send: Send) -> int | None:
    if send.parent_id is not None:
        return send.parent_id
    return send.id if send.recurrence else None


def send_pnl(
    session: Session,
    *,
    workspace_id: int,
    send_id: int | None = None,
    days: int = 90,
    staff_id: int | None = None,
    now: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """P&L of the sends planned in the last ``days`` days (or in ``[since, until)``, or of
    one send), newest first, and of the campaigns (recurring sends) among them.
    ``staff_id`` keeps one account's recipients (a staff user's view)."""
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"days must be between 1 and {MAX_DAYS}", field="days")
    now = now or utcnow()
    knobs = knobs_for(session, workspace_id)
    stmt = select(Send).where(Send.workspace_id == workspace_id, Send.planned_at.is_not(None))
    if send_id is not None:
        stmt = stmt.where(Send.id == send_id)
    elif since is not None and until is not None:
        stmt = stmt.where(Send.planned_at >= since, Send.planned_at < until)
    else:
        stmt = stmt.where(Send.planned_at >= now - timedelta(days=days), Send.planned_at <= now)
    sends = list(session.scalars(stmt.order_by(Send.planned_at.desc(), Send.id.desc()).limit(MAX_SENDS)))
    if send_id is not None and not sends:
        exists = select(Send.id).where(Send.workspace_id == workspace_id, Send.id == send_id)
        if session.scalar(exists) is None:
            raise NotFound(f"send {send_id} not found", field="send_id")
    ids = [s.id for s in sends]
    arms = _all_arms(session, ids, staff_id)
    by_customer = _profits_by_customer(session, workspace_id, sends, knobs, staff_id, max(WINDOWS))
    rewards: dict[int, list[tuple[int, int, datetime]]] = defaultdict(list)
    if ids:
        for sid, c, a, at in session.execute(
            select(Reward.send_id, Reward.customer_id, Reward.amount_fen, Reward.paid_at).where(
                Reward.workspace_id == workspace_id, Reward.send_id.in_(ids)
            )
        ):
            if sid is not None:
                rewards[int(sid)].append((int(c), int(a), at))
    targeted: dict[int, int] = {}
    if staff_id is not None and ids:  # every account's targeted, for the share of the fixed cost
        targeted = {
            int(sid): int(n)
            for sid, n in session.execute(
                select(SendRecipient.send_id, func.count())
                .where(
                    SendRecipient.send_id.in_(ids),
                    SendRecipient.arm == "target",
                    SendRecipient.customer_id.is_not(None),
                )
                .group_by(SendRecipient.send_id)
            )
        }
    lines = [
        _send_line(
            s,
            arms[s.id],
            by_customer,
            rewards.get(s.id, []),
            knobs,
            targeted.get(s.id, 0) if staff_id is not None else None,
            now,
        )
        for s in sends
    ]
    campaigns: dict[int, dict[str, Any]] = {}
    titles = {s.id: s.title for s in sends}
    for line in lines:
        cid = line["campaign_id"]
        if cid is None:
            continue
        camp = campaigns.setdefault(
            cid,
            {
                "campaign_id": cid,
                "title": titles.get(cid) or line["title"],
                "runs": 0,
                "first_planned_at": line["planned_at"],
                "last_planned_at": line["planned_at"],
                "windows": [
                    {"days": d, "complete": True} | _EMPTY_INC | dict.fromkeys(_SUMMED, 0) for d in WINDOWS
                ],
            },
        )
        camp["runs"] += 1
        camp["first_planned_at"] = min(camp["first_planned_at"], line["planned_at"])
        camp["last_planned_at"] = max(camp["last_planned_at"], line["planned_at"])
        for acc, w in zip(camp["windows"], line["windows"], strict=True):
            for key in _SUMMED:
                acc[key] += w[key]
            acc["complete"] = acc["complete"] and w["complete"]
            for key in ("incremental_gross_profit_fen", "incremental_profit_fen"):
                if w[key] is not None:
                    acc[key] = (acc[key] or 0) + w[key]
    for camp in campaigns.values():
        for w in camp["windows"]:
            w["conversion"] = round(w["buyers"] / w["targeted"], 4) if w["targeted"] else None
    return {
        "days": days,
        "windows": list(WINDOWS),
        "staff_id": staff_id,
        "send_cost_fen": knobs.send_cost_fen,
        "sends": lines,
        "campaigns": sorted(campaigns.values(), key=lambda c: c["last_planned_at"], reverse=True),
    }


def send_conversion(
    session: Session, *, workspace_id: int, since: datetime, until: datetime, staff_id: int | None = None
) -> dict[str, Any]:
    """Buyers among those targeted by the sends planned in ``[since, until)``, within 30 days
    of each send (the metrics page's conversion section); the holdout's share beside it."""
    knobs = knobs_for(session, workspace_id)
    sends = list(
        session.scalars(
            select(Send)
            .where(Send.workspace_id == workspace_id, Send.planned_at >= since, Send.planned_at < until)
            .order_by(Send.planned_at, Send.id)
            .limit(MAX_SENDS)
        )
    )
    days = max(WINDOWS)
    out: dict[str, Any] = dict.fromkeys(("sends", "targeted", "buyers", "holdout", "holdout_buyers"), 0)
    out["window_days"] = days
    all_arms = _all_arms(session, [s.id for s in sends], staff_id)
    by_customer = _profits_by_customer(session, workspace_id, sends, knobs, staff_id, days)
    for send in sends:
        assert send.planned_at is not None
        arms = all_arms[send.id]
        if not arms["target"]:
            continue
        everyone = arms["target"] + arms["holdout"]
        end = send.planned_at + timedelta(days=days)
        profits = _of_send(by_customer, everyone, send.planned_at, end)
        bought = {p.customer_id for p in profits if p.net_fen > 0}
        out["sends"] += 1
        out["targeted"] += len(arms["target"])
        out["buyers"] += len(bought & set(arms["target"]))
        out["holdout"] += len(arms["holdout"])
        out["holdout_buyers"] += len(bought & set(arms["holdout"]))
    out["rate"] = round(out["buyers"] / out["targeted"], 4) if out["targeted"] else None
    out["holdout_rate"] = round(out["holdout_buyers"] / out["holdout"], 4) if out["holdout"] else None
    return out
