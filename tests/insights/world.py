"""A small hand-computed world for the metric tests (times in Asia/Shanghai, hours 09:00–18:00).

alice (team 华东) in November 2026:
- 1:1 customer-initiated conversations on Mon 2 Nov: c1 at 10:00 answered 10:09 (9 min);
  c1 again 10:15 (same conversation: < 30 min of silence); c2 at 11:00 answered 11:11
  (11 min); c3 at 14:00 never answered; c4 at 17:55 answered Tue 09:04 (5 + 4 = 9 working
  minutes); c5 at 20:00 (closed) answered Tue 09:08 (8 working minutes); c1 "谢谢" at 10:50
  (after 41 min of silence: a conversation of closing words only, exempt).
  → 5 counted, 3 within 10 min (60 %), 1 never answered, 1 exempt.
- friends at the end of November: c1–c6 (c7 deleted her in October); touched: c1, c2, c4,
  c5 (two-way), c6 (liked her moment); c3 wrote but got no answer → 5 / 6.
- her group: c8 joined 3 Nov and became her friend; c9 joined 4 Nov, never did → 1 / 2.
- adds in November: c8 through a code that skips verification (accepted at once), c10 on
  5 Nov 10:30 after a recorded request at 10:00 (30 working minutes) → both within 30 min.
- conversion: c8 bought on 20 Nov (within 30 days), c10 on 20 Dec (too late) → 1 / 2.
- WeCom's figures (staff_daily_stats, 2 Nov): 4 applies, 3 contacts, 10 chats, 80 % replied.
bob (team 华南): no archived messages; WeCom says 50 % replied (his figure falls back to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from siyu.kit.events import record_event
from siyu.kit.pii import get_vault
from siyu.kit.timeutil import local_to_utc
from siyu.models import (
    Channel,
    Customer,
    Follow,
    Group,
    GroupMember,
    Message,
    Order,
    OrderItem,
    Staff,
    StaffDailyStats,
)

TZ = "Asia/Shanghai"


def at(month: int, day: int, hh: int, mm: int, year: int = 2026) -> datetime:
    return local_to_utc(datetime(year, month, day, hh, mm), TZ)


@dataclass
class W:
    ws: int
    staff: dict[str, int] = field(default_factory=dict)
    c: dict[str, int] = field(default_factory=dict)
    group_id: int = 0
    msg_n: int = 0


def msg(
    s: Session, w: W, staff: str, cust: str, direction: str, when: datetime, text: str | None = None
) -> None:
    w.msg_n += 1
    s.add(
        Message(
            workspace_id=w.ws,
            source="archive",
            msgid=f"m{w.msg_n}",
            direction=direction,
            staff_id=w.staff[staff],
            customer_id=w.c[cust],
            msgtype="text",
            sent_at=when,
            text_enc=get_vault().encrypt(text) if text else None,
        )
    )


def order(s: Session, w: W, cust: str, ext: str, when: datetime, paid: int, sku: str = "SKU-A", qty: int = 1,
          platform: str = "taobao", refunded: int = 0, cost: int | None = None) -> int:  # fmt: skip
    o = Order(
        workspace_id=w.ws,
        customer_id=w.c[cust] if cust else None,
        platform=platform,
        external_id=ext,
        status="completed" if not refunded else "refunded",
        ordered_at=when,
        paid_at=when,
        paid_fen=paid,
        goods_fen=paid,
        refunded_fen=refunded,
        item_count=qty,
    )
    s.add(o)
    s.flush()
    s.add(
        OrderItem(
            workspace_id=w.ws,
            order_id=o.id,
            line_key="1",
            sku=sku,
            title=sku,
            quantity=qty,
            unit_price_fen=paid // qty,
            amount_fen=paid,
            refunded_fen=refunded,
            cost_fen=cost,
        )
    )
    s.flush()
    return o.id


def build(s: Session, ws: int) -> W:
    w = W(ws=ws)
    for userid, dept in (("alice", "华东"), ("bob", "华南")):
        st = Staff(workspace_id=ws, userid=userid, name=userid.title(), department=dept)
        s.add(st)
        s.flush()
        w.staff[userid] = st.id
    for i in range(1, 12):
        cu = Customer(workspace_id=ws, name=f"c{i}", first_seen_at=at(9, 1, 10, 0))
        s.add(cu)
        s.flush()
        w.c[f"c{i}"] = cu.id
    s.add(
        Channel(workspace_id=ws, name="包裹卡", state="code1", slug="code1", skip_verify=True, cost_fen=200)
    )
    for i in range(1, 7):
        s.add(Follow(workspace_id=ws, staff_id=w.staff["alice"], customer_id=w.c[f"c{i}"], state="active",
                     added_at=at(10, 1, 10, 0)))  # fmt: skip
    s.add(Follow(workspace_id=ws, staff_id=w.staff["alice"], customer_id=w.c["c7"], state="deleted",
                 added_at=at(10, 1, 10, 0), deleted_at=at(10, 20, 10, 0)))  # fmt: skip
    s.add(Follow(workspace_id=ws, staff_id=w.staff["alice"], customer_id=w.c["c8"], state="active",
                 added_at=at(11, 3, 12, 0), live_code_state="code1"))  # fmt: skip
    s.add(Follow(workspace_id=ws, staff_id=w.staff["alice"], customer_id=w.c["c10"], state="active",
                 added_at=at(11, 5, 10, 30)))  # fmt: skip
    s.add(Follow(workspace_id=ws, staff_id=w.staff["bob"], customer_id=w.c["c11"], state="active",
                 added_at=at(10, 1, 10, 0)))  # fmt: skip
    g = Group(workspace_id=ws, chat_id="wr1", name="面霜群", owner_staff_id=w.staff["alice"])
    s.add(g)
    s.flush()
    w.group_id = g.id
    for cust, d in (("c8", 3), ("c9", 4)):
        s.add(GroupMember(workspace_id=ws, group_id=g.id, userid=f"wm_{cust}", member_type=2,
                          customer_id=w.c[cust], join_time=at(11, d, 11, 0)))  # fmt: skip
    s.flush()
    record_event(s, workspace_id=ws, kind="friend.request", occurred_at=at(11, 5, 10, 0), source="staff",
                 customer_id=w.c["c10"], staff_id=w.staff["alice"])  # fmt: skip
    record_event(s, workspace_id=ws, kind="moment.like", occurred_at=at(11, 10, 21, 0), source="wecom",
                 customer_id=w.c["c6"], staff_id=w.staff["alice"])  # fmt: skip
    # Conversations of Mon 2 Nov.
    msg(s, w, "alice", "c1", "in", at(11, 2, 10, 0), "在吗")
    msg(s, w, "alice", "c1", "out", at(11, 2, 10, 9), "在的")
    msg(s, w, "alice", "c1", "in", at(11, 2, 10, 15), "面霜还有货吗")
    msg(s, w, "alice", "c1", "in", at(11, 2, 10, 50), "谢谢")
    msg(s, w, "alice", "c2", "in", at(11, 2, 11, 0), "发货了吗")
    msg(s, w, "alice", "c2", "out", at(11, 2, 11, 11), "发了")
    msg(s, w, "alice", "c3", "in", at(11, 2, 14, 0), "怎么用")
    msg(s, w, "alice", "c4", "in", at(11, 2, 17, 55), "能退吗")
    msg(s, w, "alice", "c4", "out", at(11, 3, 9, 4), "可以")
    msg(s, w, "alice", "c5", "in", at(11, 2, 20, 0), "晚上好")
    msg(s, w, "alice", "c5", "out", at(11, 3, 9, 8), "早上好")
    s.add(StaffDailyStats(workspace_id=ws, staff_id=w.staff["alice"], day=date(2026, 11, 2), chat_cnt=10,
                          message_cnt=30, reply_percentage=80.0, avg_reply_time=5, new_apply_cnt=4,
                          new_contact_cnt=3))  # fmt: skip
    s.add(StaffDailyStats(workspace_id=ws, staff_id=w.staff["bob"], day=date(2026, 11, 2), chat_cnt=4,
                          message_cnt=8, reply_percentage=50.0, avg_reply_time=30, new_apply_cnt=0,
                          new_contact_cnt=0))  # fmt: skip
    order(s, w, "c8", "o-c8", at(11, 20, 12, 0), 10000)
    order(s, w, "c10", "o-c10", at(12, 20, 12, 0), 10000)
    s.flush()
    return w
