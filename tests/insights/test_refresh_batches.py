"""The maintained aggregates do not depend on how the archive is batched (issue 17).

A seeded world with the edge cases the incremental refresh must get right: replies that
land in a later batch than their conversation's start, messages that arrive after newer
ones were aggregated (late, older archive rows), recalls (of rows stored earlier too),
gaps right at the silence and reply horizons, closing words, group @-mentions answered in
the group or 1:1, moments likes and comments. Refreshed as the rows arrive in many small
batches, it must equal ``siyu insights refresh --rebuild`` and a single batch over all rows
(which derives every conversation from scratch: the definition).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.insights import aggregates
from siyu.kit.db import session_scope
from siyu.kit.events import record_event
from siyu.kit.pii import get_vault
from siyu.models import (
    Conversation,
    Customer,
    Group,
    InsightPosition,
    InteractionDay,
    Message,
    Staff,
    StaffMetricDay,
)
from tests.conftest import CliRun
from tests.insights.world import at

WORDS = ("在吗", "谢谢", "好的", "OK", "怎么用", "发货了吗", None)
# gaps (minutes) around the 30-minute silence, the 10-minute target and the 72-hour horizon
GAPS = (1, 9, 11, 29, 30, 31, 45, 240, 72 * 60 - 1, 72 * 60, 72 * 60 + 1, 80 * 60)


SMD = ["staff_id", "day", "conversations", "exempt", "replied", "replied_10m", "unanswered",
       "reply_work_s_sum", "reply_hist"]  # fmt: skip


def _snapshot(s: Session, ws: int) -> dict[str, list[tuple[Any, ...]]]:
    def rows(model: Any, cols: list[str]) -> list[tuple[Any, ...]]:
        got = s.execute(select(*[getattr(model, c) for c in cols]).where(model.workspace_id == ws)).all()
        return sorted((tuple(r) for r in got), key=repr)

    return {
        "conversations": rows(
            Conversation,
            [
                "staff_id",
                "customer_id",
                "group_id",
                "started_at",
                "day",
                "first_reply_at",
                "reply_work_s",
                "exempt",
            ],
        ),
        "staff_metric_days": [(*r[:-1], tuple(r[-1])) for r in rows(StaffMetricDay, SMD)],
        "interaction_days": rows(
            InteractionDay, ["staff_id", "customer_id", "day", "msgs_in", "msgs_out", "moments"]
        ),
    }


def _same(got: dict[str, list[tuple[Any, ...]]], want: dict[str, list[tuple[Any, ...]]]) -> None:
    for table, rows in want.items():
        extra = sorted(set(got[table]) - set(rows), key=repr)
        missing = sorted(set(rows) - set(got[table]), key=repr)
        assert (table, extra, missing) == (table, [], []), "rows differ"
        assert got[table] == rows


def _world(s: Session, ws: int, rnd: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Staff, customers and groups; returns the month's message rows and moments events, unsaved."""
    staff = []
    for i in range(3):
        st = Staff(workspace_id=ws, userid=f"s{i}", name=f"s{i}", department="d")
        s.add(st)
        s.flush()
        staff.append(st.id)
    customers = []
    for i in range(9):
        cu = Customer(workspace_id=ws, name=f"c{i}", first_seen_at=at(9, 1, 10, 0))
        s.add(cu)
        s.flush()
        customers.append(cu.id)
    groups = []
    for i in range(2):
        g = Group(workspace_id=ws, chat_id=f"wr{i}", name=f"g{i}", owner_staff_id=staff[i])
        s.add(g)
        s.flush()
        groups.append(g.id)
    msgs: list[dict[str, Any]] = []

    def add(**kw: Any) -> None:
        msgs.append({"msgid": f"m{len(msgs)}", **kw})

    t0 = at(11, 2, 8, 0)
    for cust in customers:
        # each customer talks with one or two staff accounts 1:1
        for sid in rnd.sample(staff, rnd.choice((1, 1, 2))):
            t = t0 + timedelta(minutes=rnd.randint(0, 600))
            for _ in range(rnd.randint(6, 14)):
                t += timedelta(minutes=rnd.choice(GAPS))
                direction = rnd.choice(("in", "in", "out"))
                add(staff_id=sid, customer_id=cust, group_id=None, direction=direction, sent_at=t,
                    text=rnd.choice(WORDS) if direction == "in" else "回复", mentions=None)  # fmt: skip
                if rnd.random() < 0.15:  # two rows in the same instant
                    add(staff_id=sid, customer_id=cust, group_id=None, direction="out", sent_at=t,
                        text="同时", mentions=None)  # fmt: skip
    for gid in groups:
        t = t0 + timedelta(minutes=rnd.randint(0, 300))
        for _ in range(30):
            t += timedelta(minutes=rnd.choice(GAPS[:9]))
            r = rnd.random()
            sid = rnd.choice(staff)
            cust = rnd.choice(customers)
            if r < 0.45:  # a customer @-mentions one or two accounts
                said = "@导购 " + (rnd.choice(WORDS) or "")
                add(staff_id=None, customer_id=cust, group_id=gid, direction="in", sent_at=t, text=said,
                    mentions=rnd.sample(staff, rnd.choice((1, 2))))  # fmt: skip
            elif r < 0.6:  # group chatter without a mention
                add(staff_id=None, customer_id=cust, group_id=gid, direction="in", sent_at=t, text="大家好",
                    mentions=None)  # fmt: skip
            elif r < 0.85:  # an account posts in the group
                add(staff_id=sid, customer_id=None, group_id=gid, direction="out", sent_at=t, text="欢迎",
                    mentions=None)  # fmt: skip
            else:  # or answers the customer 1:1
                add(staff_id=sid, customer_id=cust, group_id=None, direction="out", sent_at=t, text="私聊",
                    mentions=None)  # fmt: skip
    events = [
        {"kind": rnd.choice(aggregates.MOMENT_KINDS), "staff_id": rnd.choice(staff), "customer_id": cust,
         "occurred_at": t0 + timedelta(minutes=rnd.randint(0, 8 * 1440))}
        for cust in customers for _ in range(rnd.randint(0, 3))
    ]  # fmt: skip
    return msgs, events


def _save(s: Session, ws: int, rows: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    vault = get_vault()
    for r in rows:
        s.add(
            Message(
                workspace_id=ws,
                source="archive",
                msgid=r["msgid"],
                direction=r["direction"],
                staff_id=r["staff_id"],
                customer_id=r["customer_id"],
                group_id=r["group_id"],
                msgtype=r.get("msgtype", "text"),
                sent_at=r["sent_at"],
                revoked_at=r.get("revoked_at"),
                text_enc=vault.encrypt(r["text"]) if r["text"] else None,
                mentions=r["mentions"],
            )
        )
    for e in events:
        record_event(s, workspace_id=ws, source="wecom", **e)
    s.flush()


def _recall(s: Session, ws: int, rnd: random.Random, rows: list[dict[str, Any]], n: int) -> None:
    """Recall ``n`` stored messages as the archive does: a ``revoke`` row from the same
    sender two minutes later, and the original's ``revoked_at`` set (text dropped)."""
    stored = s.execute(
        select(Message.msgid, Message.staff_id, Message.customer_id, Message.group_id, Message.direction,
               Message.sent_at).where(Message.workspace_id == ws, Message.revoked_at.is_(None),
                                      Message.msgtype == "text")
    ).all()  # fmt: skip
    for msgid, sid, cid, gid, direction, sent in rnd.sample(stored, min(n, len(stored))):
        when = sent + timedelta(minutes=2)
        s.execute(
            update(Message)
            .where(Message.workspace_id == ws, Message.msgid == msgid)
            .values(revoked_at=when, text_enc=None)
        )
        rows.append({"msgid": f"r-{msgid}", "staff_id": sid, "customer_id": cid, "group_id": gid,
                     "direction": direction, "sent_at": when, "text": None, "mentions": None,
                     "msgtype": "revoke"})  # fmt: skip


def test_small_batches_one_batch_and_rebuild_agree(env: Settings, workspace_id: int, cli: CliRun) -> None:
    ws = workspace_id
    rnd = random.Random(17)
    with session_scope() as s:
        msgs, events = _world(s, ws, rnd)
    assert len(msgs) > 150
    # The archive brings the rows in waves, each wave shuffled: later waves carry older rows
    # (late archive rows) and replies to conversations aggregated in earlier batches.
    rnd.shuffle(msgs)
    waves = [msgs[i : i + 40] for i in range(0, len(msgs), 40)]
    ev_waves = [events[i::3] for i in range(3)]
    small: list[int] = []
    for i, wave in enumerate(waves):
        with session_scope() as s:
            _save(s, ws, sorted(wave, key=lambda r: rnd.random()), ev_waves[i] if i < 3 else [])
            if i in (2, len(waves) - 1):
                recalls: list[dict[str, Any]] = []
                _recall(s, ws, rnd, recalls, 6)
                _save(s, ws, recalls, [])
        with session_scope() as s:
            while True:  # the worker's loop, in batches of 3 and 7
                got = aggregates.refresh(s, ws, batch=3 if i % 2 else 7)
                small.append(got["messages"])
                if got["messages"] < (3 if i % 2 else 7) and got["events"] < (3 if i % 2 else 7):
                    break
    with session_scope() as s:
        assert s.scalar(select(Message.id).where(Message.revoked_at.is_not(None)).limit(1)) is not None
        batched = _snapshot(s, ws)
    assert sum(small) == len(msgs) + 12
    assert len(batched["conversations"]) > 60
    assert any(r[2] is not None for r in batched["conversations"])  # group @-threads
    assert any(r[7] for r in batched["conversations"])  # exempt
    assert any(r[6] is None for r in batched["conversations"])  # unanswered
    assert any(r[5] > 0 for r in batched["interaction_days"])  # moments

    cli("insights", "refresh", "--rebuild")
    with session_scope() as s:
        _same(_snapshot(s, ws), batched)

    with session_scope() as s:  # one batch over every row: all derived from scratch
        for model in (Conversation, StaffMetricDay, InteractionDay, InsightPosition):
            s.execute(delete(model).where(model.workspace_id == ws))
        got = aggregates.refresh(s, ws, batch=1_000_000)
        assert got["messages"] == len(msgs) + 12
    with session_scope() as s:
        _same(_snapshot(s, ws), batched)


def test_refresh_one_message_at_a_time_agrees(env: Settings, workspace_id: int) -> None:
    """Batches of one row: every reply, mention and late row in a batch of its own."""
    ws = workspace_id
    rnd = random.Random(1717)
    with session_scope() as s:
        msgs, events = _world(s, ws, rnd)
        rnd.shuffle(msgs)
        _save(s, ws, msgs[: len(msgs) // 2], events)
    with session_scope() as s:
        aggregates.refresh_all(s, ws, batch=1)
    with session_scope() as s:
        _save(s, ws, msgs[len(msgs) // 2 :], [])
    with session_scope() as s:
        aggregates.refresh_all(s, ws, batch=1)
    with session_scope() as s:
        one = _snapshot(s, ws)
        aggregates.rebuild(s, ws)
    with session_scope() as s:
        _same(_snapshot(s, ws), one)
