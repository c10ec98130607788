"""Freeze a send's audience: remove, choose the sending account, hold out, split into calls.

One transaction: the recipients (every audience member, with the arm it fell in and
why), the batches (one ``add_msg_template`` call each) and the send's counts commit
together, so a crash mid-planning leaves nothing and a retry plans from scratch. The
opt-out flags are read inside that transaction: whoever opted out before it commits
is removed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session

from siyu.automation.sends.knobs import OutboundKnobs, quota_window
from siyu.kit.errors import Invalid
from siyu.models import (
    Customer,
    Follow,
    Group,
    MassReceipt,
    Message,
    Send,
    SendBatch,
    SendRecipient,
    Staff,
)
from siyu.segments.audience import customer_ids_query, parse

MAX_PER_CALL = 10_000
MAX_GROUPS_PER_CALL = 2_000
REASONS = ("opt_out", "no_friend", "freq_cap", "wecom_quota")
# Recipient statuses that count against the quota and the cap (sent, or may still be).
COUNTED = ("pending", "sent")
INSERT_CHUNK = 5_000


@dataclass
class PlanReport:
    audience: int = 0
    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    holdout: int = 0
    targeted: int = 0
    staff: int = 0
    calls: int = 0
    min_calls: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "removed": dict(self.removed),
            "holdout": self.holdout,
            "targeted": self.targeted,
            "staff": self.staff,
            "calls": self.calls,
            "min_calls": self.min_calls,
        }


def audience_query(session: Session, send: Send, now: datetime) -> Any:
    """``SELECT customers.id`` of the send's audience (expression or saved segment)."""
    from siyu.segments.audience.saved import segment_by_id, stored_expression

    if send.segment_id is not None:
        seg = segment_by_id(session, workspace_id=send.workspace_id, segment_id=send.segment_id)
        expr = stored_expression(seg)
    elif send.audience:
        expr = parse(send.audience)
    else:
        raise Invalid("a send needs an audience expression or a segment", field="audience")
    return customer_ids_query(session, workspace_id=send.workspace_id, expr=expr, now=now)


def _counted(session: Session, workspace_id: int, since: datetime, until: datetime) -> Any:
    """Per customer: mass messages received (or pending) in [since, until)."""
    ours = select(SendRecipient.customer_id.label("cid")).where(
        SendRecipient.workspace_id == workspace_id,
        SendRecipient.arm == "target",
        SendRecipient.status.in_(COUNTED),
        SendRecipient.customer_id.is_not(None),
        SendRecipient.created_at >= since,
        SendRecipient.created_at < until,
    )
    theirs = select(MassReceipt.customer_id.label("cid")).where(
        MassReceipt.workspace_id == workspace_id,
        MassReceipt.customer_id.is_not(None),
        MassReceipt.sent_at >= since,
        MassReceipt.sent_at < until,
    )
    both = ours.union_all(theirs).subquery()
    return select(both.c.cid, func.count().label("n")).group_by(both.c.cid).subquery()


def _rows(session: Session, send: Send, knobs: OutboundKnobs, now: datetime) -> Iterator[Any]:
    ws = send.workspace_id
    aud = audience_query(session, send, now).subquery()
    aud_id = next(iter(aud.c))
    cap = _counted(session, ws, now - timedelta(days=7), now + timedelta(days=1))
    q_start, q_end, _ = quota_window(knobs.wecom_quota, now)
    quota = _counted(session, ws, q_start, q_end)
    last_chat = (
        select(Message.customer_id, Message.staff_id, func.max(Message.sent_at).label("last_at"))
        .where(
            Message.workspace_id == ws,
            Message.customer_id.in_(select(aud_id)),
            Message.staff_id.is_not(None),
        )
        .group_by(Message.customer_id, Message.staff_id)
        .subquery()
    )
    live_follow = and_(
        Follow.customer_id == aud_id,
        Follow.workspace_id == ws,
        Follow.state == "active",
        Follow.external_userid.is_not(None),
        Follow.staff_id.in_(select(Staff.id).where(Staff.workspace_id == ws, Staff.status == "active")),
    )
    q = (
        select(
            aud_id,
            or_(Customer.opt_out, Customer.anonymised_at.is_not(None)).label("out"),
            Follow.staff_id,
            Follow.external_userid,
            Follow.added_at,
            last_chat.c.last_at,
            func.coalesce(cap.c.n, 0),
            func.coalesce(quota.c.n, 0),
        )
        .select_from(aud)
        .join(Customer, Customer.id == aud_id)
        .outerjoin(Follow, live_follow)
        .outerjoin(
            last_chat, and_(last_chat.c.customer_id == aud_id, last_chat.c.staff_id == Follow.staff_id)
        )
        .outerjoin(cap, cap.c.cid == aud_id)
        .outerjoin(quota, quota.c.cid == aud_id)
        .order_by(aud_id)
    )
    yield from session.execute(q.execution_options(yield_per=10_000))


def _pick(follows: list[Any], sender: int | None) -> Any:
    """The account that sends: the named sender, else who last chatted, else the oldest friend."""
    for f in follows:
        if f[0] == sender:
            return f
    chatted = [f for f in follows if f[3] is not None]
    if chatted:
        return max(chatted, key=lambda f: (f[3], -f[0]))
    return min(follows, key=lambda f: (f[2] is None, f[2].timestamp() if f[2] else 0.0, f[0]))


def _grouped(rows: Iterator[Any]) -> Iterator[tuple[int, bool, list[Any], int, int]]:
    current: int | None = None
    out = False
    follows: list[Any] = []
    cap_n = quota_n = 0
    for cid, opted, staff_id, ext, added, last_at, n_cap, n_quota in rows:
        if cid != current:
            if current is not None:
                yield current, out, follows, cap_n, quota_n
            current, out, follows, cap_n, quota_n = cid, bool(opted), [], int(n_cap), int(n_quota)
        if staff_id is not None and all(f[0] != staff_id for f in follows):
            follows.append((staff_id, ext, added, last_at))
    if current is not None:
        yield current, out, follows, cap_n, quota_n


def plan_customers(session: Session, send: Send, knobs: OutboundKnobs, now: datetime) -> PlanReport:
    """Freeze the audience of a customer send into recipients and batches (no commit)."""
    report = PlanReport()
    _, _, allowed = quota_window(knobs.wecom_quota, now)
    rng = random.Random(send.holdout_seed)
    per_staff: dict[int, int] = {}
    batch_of: dict[tuple[int, int], int] = {}
    sizes: dict[int, int] = {}
    batch_staff: dict[int, int] = {}
    buf: list[dict[str, Any]] = []
    base = {"workspace_id": send.workspace_id, "send_id": send.id, "created_at": now}

    def flush() -> None:
        if buf:
            session.execute(insert(SendRecipient), buf)
            buf.clear()

    for cid, opted, follows, n_cap, n_quota in _grouped(_rows(session, send, knobs, now)):
        report.audience += 1
        reason: str | None = None
        chosen = None
        if opted:
            reason = "opt_out"
        elif not follows:
            reason = "no_friend"
        else:
            chosen = _pick(follows, send.sender_staff_id)
            if n_cap >= knobs.freq_cap_per_7d:
                reason = "freq_cap"
            elif n_quota >= allowed:
                reason = "wecom_quota"
        row = {**base, "customer_id": cid, "staff_id": chosen[0] if chosen else None}
        row["target"] = chosen[1] if chosen else None
        if reason is not None:
            report.removed[reason] += 1
            buf.append({**row, "arm": "removed", "reason": reason, "batch_seq": None, "status": None})
        elif send.holdout_pct and rng.random() * 100 < send.holdout_pct:
            report.holdout += 1
            buf.append({**row, "arm": "holdout", "reason": None, "batch_seq": None, "status": None})
        else:
            assert chosen is not None
            staff_id = chosen[0]
            k = per_staff.get(staff_id, 0)
            per_staff[staff_id] = k + 1
            key = (staff_id, k // MAX_PER_CALL)
            seq = batch_of.get(key)
            if seq is None:
                seq = batch_of[key] = len(batch_of) + 1
                batch_staff[seq] = staff_id
            sizes[seq] = sizes.get(seq, 0) + 1
            report.targeted += 1
            buf.append({**row, "arm": "target", "reason": None, "batch_seq": seq, "status": "pending"})
        if len(buf) >= INSERT_CHUNK:
            flush()
    flush()
    _store_batches(session, send, batch_staff, sizes, now)
    report.staff = len(per_staff)
    report.calls = len(batch_of)
    report.min_calls = sum(-(-n // MAX_PER_CALL) for n in per_staff.values())
    return report


def _store_batches(
    session: Session, send: Send, batch_staff: dict[int, int], sizes: dict[int, int], now: datetime
) -> None:
    rows = [
        {
            "workspace_id": send.workspace_id,
            "send_id": send.id,
            "seq": seq,
            "staff_id": staff_id,
            "size": sizes[seq],
            "state": "planned",
            "reminds": [],
            "attempts": 0,
            "fail_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        for seq, staff_id in sorted(batch_staff.items())
    ]
    if rows:
        session.execute(insert(SendBatch), rows)


def plan_groups(session: Session, send: Send, knobs: OutboundKnobs, now: datetime) -> PlanReport:
    """Freeze a group send: the chosen groups (or by owner / name), split per owner, ≤ 2,000 a call.

    WeCom's per-customer quota applies to groups too: a group that got as many mass
    messages in the quota period as allowed is removed (``wecom_quota``).
    """
    report = PlanReport()
    flt = send.group_filter or {}
    q = select(Group.id, Group.chat_id, Group.owner_staff_id).where(
        Group.workspace_id == send.workspace_id, Group.dismissed_at.is_(None)
    )
    if flt.get("chat_ids"):
        q = q.where(Group.chat_id.in_(list(flt["chat_ids"])))
    if flt.get("owners"):
        owners = select(Staff.id).where(
            Staff.workspace_id == send.workspace_id, Staff.userid.in_(flt["owners"])
        )
        q = q.where(Group.owner_staff_id.in_(owners))
    if flt.get("name_contains"):
        q = q.where(Group.name.contains(str(flt["name_contains"])))
    q_start, q_end, allowed = quota_window(knobs.wecom_quota, now)
    used = dict(
        session.execute(
            select(SendRecipient.group_id, func.count())
            .where(
                SendRecipient.workspace_id == send.workspace_id,
                SendRecipient.group_id.is_not(None),
                SendRecipient.arm == "target",
                SendRecipient.status.in_(COUNTED),
                SendRecipient.created_at >= q_start,
                SendRecipient.created_at < q_end,
            )
            .group_by(SendRecipient.group_id)
        ).all()
    )
    per_staff: dict[int, int] = {}
    batch_of: dict[tuple[int, int], int] = {}
    sizes: dict[int, int] = {}
    batch_staff: dict[int, int] = {}
    rows: list[dict[str, Any]] = []
    base = {"workspace_id": send.workspace_id, "send_id": send.id, "created_at": now}
    for gid, chat_id, owner in session.execute(q.order_by(Group.id)):
        report.audience += 1
        row = {**base, "group_id": gid, "target": chat_id, "staff_id": owner, "customer_id": None}
        if owner is None:
            report.removed["no_friend"] += 1
            rows.append({**row, "arm": "removed", "reason": "no_friend", "batch_seq": None, "status": None})
            continue
        if used.get(gid, 0) >= allowed:
            report.removed["wecom_quota"] += 1
            rows.append({**row, "arm": "removed", "reason": "wecom_quota", "batch_seq": None, "status": None})
            continue
        k = per_staff.get(owner, 0)
        per_staff[owner] = k + 1
        key = (owner, k // MAX_GROUPS_PER_CALL)
        seq = batch_of.get(key)
        if seq is None:
            seq = batch_of[key] = len(batch_of) + 1
            batch_staff[seq] = owner
        sizes[seq] = sizes.get(seq, 0) + 1
        report.targeted += 1
        rows.append({**row, "arm": "target", "reason": None, "batch_seq": seq, "status": "pending"})
    if rows:
        session.execute(insert(SendRecipient), rows)
    _store_batches(session, send, batch_staff, sizes, now)
    report.staff = len(per_staff)
    report.calls = len(batch_of)
    report.min_calls = sum(-(-n // MAX_GROUPS_PER_CALL) for n in per_staff.values())
    return report


def live_count(session: Session, send: Send, now: datetime) -> int:
    """The audience's size now (before removals): what the form shows while typing."""
    aud = audience_query(session, send, now).subquery()
    return int(session.scalar(select(func.count()).select_from(aud)) or 0)
