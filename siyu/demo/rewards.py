"""Demo step: the brand's reward ledger (red packets, coupons, gifts), so the P&L shows them.

Written as a rewards CSV and imported through ``siyu.insights.rewards.import_rewards``,
the path a brand's own ledger takes:

- **red packets** (红包) to about a fifth of the customers each past send targeted, a few
  hours after it (linked to the send: its P&L counts them as its cost);
- **coupons** (优惠券) the brand bears, to about a third of the friends each paid channel
  brought, the day after the add (the live room's 福利券, the parcel card's 复购礼 ...),
  linked to the channel and the account that added them;
- **gifts** (礼品, at their cost) for referrals: a friend who brought a later friend of
  the same account gets a gift, with the referred customer named.

Everything is drawn from the demo seed over rows the demo made; each reward has a ``ref``
derived from what it is for, so a re-run imports nothing twice (every row a duplicate).
Only rewards paid by the end of the demo's day are written.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.insights.rewards import import_rewards
from siyu.kit.db import session_scope
from siyu.kit.timeutil import zone
from siyu.models import Channel, Customer, Follow, Send, SendRecipient, Staff, Workspace

if TYPE_CHECKING:
    from siyu.demo.service import DemoContext

ACTOR = "demo"
RED_PACKET_SHARE = 0.2
RED_PACKETS_FEN = (300, 500, 666, 888)
COUPON_SHARE = 0.35
# The coupon each paid channel's welcome promises, in fen (others give none).
COUPONS_FEN = {
    "douyin_live": (500, 1000),
    "xhs_note": (500,),
    "package_card": (300, 500),
    "tmall_shop": (500,),
    "moments_ad": (990,),
    "sms_recall": (1000,),
    "channels_live": (500, 800),
    "kol_collab": (1000, 1500),
    "douyin_ads": (800,),
}
REFERRAL_SHARE = 0.04
GIFTS_FEN = (1500, 2000, 3000)


def _rows(session: Session, workspace_id: int, seed: int, until: datetime) -> list[dict[str, Any]]:
    rng = random.Random(f"rewards-{seed}")
    staff: dict[int | None, str] = dict(
        session.execute(select(Staff.id, Staff.userid).where(Staff.workspace_id == workspace_id)).all()
    )
    rows: list[dict[str, Any]] = []
    sends = session.execute(
        select(Send.id, Send.planned_at)
        .where(Send.workspace_id == workspace_id, Send.created_by == ACTOR, Send.planned_at.is_not(None))
        .order_by(Send.id)
    ).all()
    for send_id, planned_at in sends:
        assert planned_at is not None
        for cid, sid in session.execute(
            select(SendRecipient.customer_id, SendRecipient.staff_id)
            .where(
                SendRecipient.send_id == send_id,
                SendRecipient.arm == "target",
                SendRecipient.customer_id.is_not(None),
            )
            .order_by(SendRecipient.id)
        ):
            if rng.random() >= RED_PACKET_SHARE:
                continue
            at = planned_at + timedelta(hours=rng.randint(1, 8))
            rows.append({"customer_id": cid, "amount_fen": rng.choice(RED_PACKETS_FEN), "kind": "red_packet",
                         "paid_at": at, "send_id": send_id, "staff": staff.get(sid, ""),
                         "ref": f"demo-rp-{send_id}-{cid}", "note": "群发红包"})  # fmt: skip
    states = {
        str(state): amounts
        for state, amounts in (
            (st, COUPONS_FEN.get(st))
            for st in session.scalars(select(Channel.state).where(Channel.workspace_id == workspace_id))
        )
        if amounts
    }
    follows = session.execute(
        select(Follow.id, Follow.customer_id, Follow.staff_id, Follow.added_at, Follow.live_code_state)
        .where(Follow.workspace_id == workspace_id, Follow.added_at.is_not(None))
        .order_by(Follow.added_at, Follow.id)
    ).all()
    last_of_staff: dict[int, int] = {}
    for fid, cid, sid, added_at, state in follows:
        assert added_at is not None
        if state in states and rng.random() < COUPON_SHARE:
            rows.append({"customer_id": cid, "amount_fen": rng.choice(states[state]), "kind": "coupon",
                         "paid_at": added_at + timedelta(days=1, hours=rng.randint(0, 6)), "channel": state,
                         "staff": staff.get(sid, ""), "ref": f"demo-cp-{fid}",
                         "note": "渠道福利券"})  # fmt: skip
        referrer = last_of_staff.get(sid)
        if referrer is not None and referrer != cid and rng.random() < REFERRAL_SHARE:
            rows.append({"customer_id": referrer, "amount_fen": rng.choice(GIFTS_FEN), "kind": "gift",
                         "paid_at": added_at + timedelta(days=rng.randint(1, 3)), "staff": staff.get(sid, ""),
                         "referred_customer_id": cid, "ref": f"demo-gf-{fid}",
                         "note": "老带新礼品"})  # fmt: skip
        last_of_staff[sid] = cid
    rows = [r for r in rows if r["paid_at"] < until]
    named = sorted({r["customer_id"] for r in rows} | {r.get("referred_customer_id") or 0 for r in rows})
    live: set[int] = set()
    for i in range(0, len(named), 500):
        live.update(
            session.scalars(
                select(Customer.id).where(
                    Customer.workspace_id == workspace_id,
                    Customer.id.in_(named[i : i + 500]),
                    Customer.merged_into_id.is_(None),
                )
            )
        )
    return [
        r
        for r in rows
        if r["customer_id"] in live
        and (r.get("referred_customer_id") is None or r["referred_customer_id"] in live)
    ]


def _csv(rows: list[dict[str, Any]], tz: str) -> str:
    out = io.StringIO()
    cols = ["customer_id", "amount", "kind", "paid_at", "send_id", "channel", "staff", "referred_customer_id",
            "ref", "note"]  # fmt: skip
    w = csv.DictWriter(out, fieldnames=cols)
    w.writeheader()
    for r in rows:
        w.writerow(
            {
                **{k: r.get(k, "") for k in cols},
                "amount": f"{r['amount_fen'] / 100:.2f}",
                "paid_at": r["paid_at"].astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    return out.getvalue()


def apply(session: Session, *, workspace_id: int, seed: int, until: datetime) -> dict[str, int]:
    """Import the demo's reward ledger (a re-run finds every row stored and writes nothing)."""
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    rows = _rows(session, workspace_id, seed, until)
    if not rows:
        return {"rows": 0, "written": 0, "duplicates": 0, "fen": 0}
    result = import_rewards(
        session, workspace_id=workspace_id, text=_csv(rows, ws.timezone), actor=ACTOR, source="demo"
    )
    if result.errors:  # the demo's own ledger must import cleanly
        raise RuntimeError(f"demo rewards refused: {result.errors[:3]}")
    return {
        "rows": result.rows,
        "written": result.written,
        "duplicates": result.duplicates,
        "fen": sum(r["amount_fen"] for r in rows),
    }


def seed(ctx: DemoContext) -> None:
    """The demo step (after the sends): red packets, channel coupons and referral gifts."""
    assert ctx.workspace_id is not None
    assert ctx.as_of is not None
    with session_scope() as session:
        ws = session.get(Workspace, ctx.workspace_id)
        assert ws is not None
        until = datetime.combine(ctx.as_of + timedelta(days=1), time(0, 0), tzinfo=zone(ws.timezone))
        got = apply(session, workspace_id=ctx.workspace_id, seed=ctx.seed, until=until)
    ctx.notes.append(
        f"Rewards: {got['written']:,} red packets, coupons and gifts recorded "
        f"({got['duplicates']:,} already), ¥{got['fen'] / 100:,.2f} in all; see 利润表"
    )
