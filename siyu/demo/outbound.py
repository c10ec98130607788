"""Demo: a month of past mass sends, each with a random holdout and a visible lift.

Four weekly sends planned through the real planner (clock moved back to each send's
morning): the audience frozen, opted-out and over-cap customers removed, a holdout
drawn. Staff confirmations are replayed as WeCom would report them (most staff
confirm within hours, one never does; a few customers are no longer friends or out of
quota). The campaigns' orders (a few percent of the customers who received a send buy
within days) come in as wecom orders, so the lift report shows what the send caused
beside the holdout's baseline.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from siyu.kit.db import session_scope
from siyu.kit.timeutil import moved_clock, zone
from siyu.models import Order, Send, SendBatch, SendRecipient, Workspace

if TYPE_CHECKING:
    from siyu.demo.service import DemoContext

SENDS = (
    (
        28,
        "老客回购：秋冬新品预告",
        "orders>=1",
        "您好，我是{员工姓名}。秋冬新品上新，老客专享 9 折，回复 1 了解详情。",
        0.06,
    ),
    (21, "高价值客户：会员日礼包", "spent>=500", "{员工姓名}提醒您：本周六会员日，满 399 赠精华小样。", 0.09),
    (14, "复购两次以上：限量套装", "orders>=2", "您好，限量套装今晚 8 点开抢，老客可提前锁定。", 0.07),
    (7, "全体好友：双12 预热", "orders>=0", "双12 预热开始，{员工姓名}为您准备了专属券。", 0.04),
)


def seed(ctx: DemoContext) -> None:
    """The demo step: past sends with their results and the orders they caused."""
    from siyu.automation.sends.service import NewSend, create_send, plan
    from siyu.customers.stats import refresh_stats

    assert ctx.workspace_id is not None
    assert ctx.as_of is not None
    rng = random.Random(ctx.seed + 16)
    ws_id = ctx.workspace_id
    with session_scope() as s:
        ws = s.get(Workspace, ws_id)
        assert ws is not None
        tz = ws.timezone
        if s.scalar(select(Send.id).where(Send.workspace_id == ws_id, Send.created_by == "demo")):
            ctx.notes.append("sends: the demo's past sends exist already")
            return
    made = 0
    for days_ago, title, audience, text, buy_rate in SENDS:
        at = datetime.combine(ctx.as_of - timedelta(days=days_ago), time(10, 0), tzinfo=zone(tz))
        with moved_clock(at), session_scope() as s:
            send = create_send(
                s,
                workspace_id=ws_id,
                new=NewSend(title=title, text=text, audience=audience, holdout_pct=10),
                actor="demo",
            )
            send.approved_by, send.approved_at = "demo", at
            send.holdout_seed = ctx.seed * 1000 + days_ago  # the same demo every time
            send.status = "scheduled"
            report = plan(s, send, now=at)
            if report is None:
                continue
            _replay_results(s, send, at, rng)
            buyers = _campaign_orders(s, send, at, rng, buy_rate)
            refresh_stats(s, workspace_id=ws_id, customer_ids=buyers)
            made += 1
    ctx.notes.append(f"sends: {made} past sends with holdouts (see 群发)")


def _replay_results(s: object, send: Send, at: datetime, rng: random.Random) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    batches = list(s.scalars(select(SendBatch).where(SendBatch.send_id == send.id).order_by(SendBatch.seq)))
    never = batches[-1].staff_id if len(batches) > 2 else None
    for b in batches:
        b.msgid = f"demo{send.id}x{b.seq}"
        if b.staff_id == never:
            b.state = "created"
            continue
        confirmed = at + timedelta(minutes=rng.randint(20, 300))
        b.state, b.confirmed_at = "sent", confirmed
        s.execute(
            update(SendRecipient)
            .where(
                SendRecipient.send_id == send.id,
                SendRecipient.batch_seq == b.seq,
                SendRecipient.arm == "target",
            )
            .values(status="sent", sent_at=confirmed)
        )
    ids = list(
        s.scalars(
            select(SendRecipient.id).where(SendRecipient.send_id == send.id, SendRecipient.status == "sent")
        )
    )
    for rid in rng.sample(ids, k=len(ids) // 40):
        s.execute(
            update(SendRecipient)
            .where(SendRecipient.id == rid)
            .values(status=rng.choice(["quota", "not_friend"]), sent_at=None)
        )
    s.execute(
        update(SendRecipient)
        .where(SendRecipient.send_id == send.id, SendRecipient.status == "pending")
        .values(status="unconfirmed")
    )
    for b in batches:
        if b.state == "created":
            b.state = "sent"  # settled: the last staff never confirmed (their customers: unconfirmed)
    from siyu.automation.sends.results import result_counts

    send.delivered_at = at + timedelta(minutes=2)
    send.settled_at = at + timedelta(hours=72)
    send.status = "settled"
    send.counts = {**send.counts, "results": result_counts(s, send.id)}


def _campaign_orders(s: object, send: Send, at: datetime, rng: random.Random, rate: float) -> list[int]:
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    reached = list(
        s.scalars(
            select(SendRecipient.customer_id).where(
                SendRecipient.send_id == send.id, SendRecipient.status == "sent"
            )
        )
    )
    buyers = [c for c in reached if c is not None and rng.random() < rate]
    for n, cid in enumerate(buyers):
        paid = at + timedelta(hours=rng.uniform(1, 24 * 6))
        amount = rng.choice([12900, 19900, 29900, 39900, 59900])
        s.add(
            Order(
                workspace_id=send.workspace_id,
                customer_id=cid,
                platform="wecom",
                external_id=f"send{send.id}-{n}",
                status="paid",
                ordered_at=paid,
                paid_at=paid,
                paid_fen=amount,
                goods_fen=amount,
                cost_fen=int(amount * 0.45),
                item_count=1,
                title="群发活动订单",
            )
        )
    s.flush()
    return buyers
