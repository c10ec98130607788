"""Maintained aggregates behind the four metrics: conversations, staff days, interaction days.

:func:`refresh` reads ``messages`` and the ``moment.like`` / ``moment.comment`` events past
its stored position (by id) and brings three derived tables up to date:

- ``conversations``: for every (staff, customer) pair touched by a new 1:1 message, the
  customer-initiated conversations from ``REPLY_HORIZON`` before the earliest new message on
  are re-derived from the pair's messages (late and out-of-order archive rows are fine);
- ``staff_metric_days``: the reply figures of every (staff, business day) whose
  conversations changed, rebuilt from ``conversations``;
- ``interaction_days``: per (staff, customer, day) counts of messages in, out, and moments
  interactions, incremented once per source row (the position makes it exact).

Everything is derived, so :func:`rebuild` may drop and recompute a workspace at any time.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from siyu.insights.knobs import InsightKnobs, knobs_from_settings
from siyu.kit.pii import get_vault
from siyu.kit.timeutil import local_day
from siyu.models import (
    Conversation,
    Event,
    InsightPosition,
    InteractionDay,
    Message,
    StaffMetricDay,
    Workspace,
)

# A staff message counts as the reply to a conversation only within this horizon.
REPLY_HORIZON = timedelta(hours=72)
# Upper bounds (working seconds) of the reply-time histogram buckets; the last is open.
BUCKETS = (60, 120, 180, 300, 420, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400, 28800, 86400)
MOMENT_KINDS = ("moment.like", "moment.comment")
BATCH = 20_000
_CHUNK = 500


def knobs_for(session: Session, workspace_id: int) -> InsightKnobs:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        return InsightKnobs()
    return knobs_from_settings(ws.settings, ws.timezone)


def bucket_of(seconds: int) -> int:
    return bisect.bisect_left(BUCKETS, seconds)


def hist_quantile(hist: list[int], q: float) -> int | None:
    """The upper bound (seconds) of the bucket holding the q-quantile; None when empty."""
    total = sum(hist)
    if total == 0:
        return None
    need = q * total
    run = 0
    for i, n in enumerate(hist):
        run += n
        if run >= need and n > 0:
            return BUCKETS[i] if i < len(BUCKETS) else BUCKETS[-1] * 2
    return BUCKETS[-1] * 2


@dataclass(frozen=True)
class _Msg:
    at: datetime
    inbound: bool
    text: str | None


@dataclass(frozen=True)
class _Conv:
    started_at: datetime
    first_reply_at: datetime | None
    exempt: bool


def _text(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return get_vault().decrypt(token)
    except Exception:
        return None


def derive_conversations(msgs: list[_Msg], knobs: InsightKnobs, since: datetime | None = None) -> list[_Conv]:
    """Customer-initiated conversations from a pair's messages (sorted by time).

    A conversation starts with a customer message sent ≥ ``silence_minutes`` after the
    pair's previous message (or with the pair's first message); its first reply is the
    first staff message before the next conversation starts and within ``REPLY_HORIZON``.
    Only conversations starting at or after ``since`` are returned (earlier messages
    serve as context).
    """
    silence = timedelta(minutes=knobs.silence_minutes)
    starts: list[int] = []
    prev: datetime | None = None
    for i, m in enumerate(msgs):
        if m.inbound and (prev is None or m.at - prev >= silence):
            starts.append(i)
        prev = m.at
    out: list[_Conv] = []
    for k, i in enumerate(starts):
        start = msgs[i].at
        if since is not None and start < since:
            continue
        end = starts[k + 1] if k + 1 < len(starts) else len(msgs)
        reply: datetime | None = None
        only_closing = True
        for m in msgs[i:end]:
            if not m.inbound:
                if m.at - start <= REPLY_HORIZON:
                    reply = m.at
                break
            if only_closing and (m.text is None or m.text.strip().lower() not in knobs.exempt_words):
                only_closing = False
        out.append(_Conv(start, reply, only_closing))
    return out


def _position(session: Session, workspace_id: int, source: str) -> InsightPosition:
    pos = session.scalar(
        select(InsightPosition).where(
            InsightPosition.workspace_id == workspace_id, InsightPosition.source == source
        )
    )
    if pos is None:
        pos = InsightPosition(workspace_id=workspace_id, source=source, last_id=0, extra={})
        session.add(pos)
        session.flush()
    return pos


def _chunks(items: list[Any], n: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _bump_interactions(
    session: Session, workspace_id: int, counts: dict[tuple[int, int, date], list[int]]
) -> None:
    keys = list(counts)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for chunk in _chunks(keys):
        existing = {
            (s, c, d): (rid, n_in, n_out, n_mom)
            for rid, s, c, d, n_in, n_out, n_mom in session.execute(
                select(
                    InteractionDay.id,
                    InteractionDay.staff_id,
                    InteractionDay.customer_id,
                    InteractionDay.day,
                    InteractionDay.msgs_in,
                    InteractionDay.msgs_out,
                    InteractionDay.moments,
                ).where(
                    InteractionDay.workspace_id == workspace_id,
                    tuple_(InteractionDay.staff_id, InteractionDay.customer_id, InteractionDay.day).in_(
                        chunk
                    ),
                )
            )
        }
        for key in chunk:
            n_in, n_out, n_mom = counts[key]
            row = existing.get(key)
            if row is None:
                inserts.append(
                    {
                        "workspace_id": workspace_id,
                        "staff_id": key[0],
                        "customer_id": key[1],
                        "day": key[2],
                        "msgs_in": n_in,
                        "msgs_out": n_out,
                        "moments": n_mom,
                    }
                )
            else:
                rid, o_in, o_out, o_mom = row
                updates.append(
                    {"rid": rid, "n_in": o_in + n_in, "n_out": o_out + n_out, "n_mom": o_mom + n_mom}
                )
    if inserts:
        for part in _chunks(inserts, 2000):
            session.execute(insert(InteractionDay), part)
    if updates:
        table = cast(Table, InteractionDay.__table__)
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(msgs_in=bindparam("n_in"), msgs_out=bindparam("n_out"), moments=bindparam("n_mom")),
            updates,
        )
    session.flush()


def _pair_messages(
    session: Session, workspace_id: int, pairs: dict[tuple[int, int], datetime], silence: timedelta
) -> dict[tuple[int, int], list[_Msg]]:
    """Messages of each pair from (its floor − horizon − silence) on, sorted by time."""
    floor = min(pairs.values()) - REPLY_HORIZON - silence
    by_pair: dict[tuple[int, int], list[_Msg]] = defaultdict(list)
    keys = list(pairs)
    for chunk in _chunks(keys):
        rows = session.execute(
            select(
                Message.staff_id, Message.customer_id, Message.sent_at, Message.direction, Message.text_enc
            )
            .where(
                Message.workspace_id == workspace_id,
                tuple_(Message.staff_id, Message.customer_id).in_(chunk),
                Message.group_id.is_(None),
                Message.direction.in_(("in", "out")),
                Message.revoked_at.is_(None),
                Message.sent_at >= floor,
            )
            .order_by(Message.sent_at, Message.id)
        )
        for staff_id, customer_id, at, direction, text_enc in rows:
            inbound = direction == "in"
            by_pair[(int(staff_id or 0), int(customer_id or 0))].append(
                _Msg(at, inbound, _text(text_enc) if inbound else None)
            )
    return by_pair


def _rederive(
    session: Session, workspace_id: int, pairs: dict[tuple[int, int], datetime], knobs: InsightKnobs
) -> set[tuple[int, date]]:
    """Re-derive the pairs' conversations from the batch's floor; the (staff, day)s touched.

    One floor for the batch (the earliest new message − the reply horizon): every
    conversation of the pairs from there on is deleted and derived again.
    """
    tz = knobs.hours.tz
    touched: set[tuple[int, date]] = set()
    silence = timedelta(minutes=knobs.silence_minutes)
    since = min(pairs.values()) - REPLY_HORIZON
    msgs = _pair_messages(session, workspace_id, pairs, silence)
    keys = list(pairs)
    for chunk in _chunks(keys):
        cond = (
            Conversation.workspace_id == workspace_id,
            tuple_(Conversation.staff_id, Conversation.customer_id).in_(chunk),
            Conversation.started_at >= since,
        )
        touched.update(
            (s, d) for s, d in session.execute(select(Conversation.staff_id, Conversation.day).where(*cond))
        )
        session.execute(delete(Conversation).where(*cond))
    rows = []
    for staff_id, customer_id in keys:
        for conv in derive_conversations(msgs.get((staff_id, customer_id), []), knobs, since=since):
            day = local_day(conv.started_at, tz)
            work = (
                knobs.hours.seconds_between(conv.started_at, conv.first_reply_at)
                if conv.first_reply_at is not None
                else None
            )
            rows.append(
                {
                    "workspace_id": workspace_id,
                    "staff_id": staff_id,
                    "customer_id": customer_id,
                    "started_at": conv.started_at,
                    "day": day,
                    "first_reply_at": conv.first_reply_at,
                    "reply_work_s": work,
                    "exempt": conv.exempt,
                }
            )
            touched.add((staff_id, day))
    for part in _chunks(rows, 2000):
        session.execute(insert(Conversation), part)
    session.flush()
    return touched


def rebuild_staff_days(
    session: Session, workspace_id: int, staff_days: set[tuple[int, date]], knobs: InsightKnobs
) -> None:
    """Recompute ``staff_metric_days`` rows of the given (staff, day)s from conversations."""
    target = knobs.reply_minutes * 60
    keys = sorted(staff_days)
    for chunk in _chunks(keys):
        cond = tuple_(StaffMetricDay.staff_id, StaffMetricDay.day).in_(chunk)
        session.execute(delete(StaffMetricDay).where(StaffMetricDay.workspace_id == workspace_id, cond))
        agg: dict[tuple[int, date], dict[str, Any]] = {}
        for staff_id, day, exempt, work in session.execute(
            select(
                Conversation.staff_id, Conversation.day, Conversation.exempt, Conversation.reply_work_s
            ).where(
                Conversation.workspace_id == workspace_id,
                tuple_(Conversation.staff_id, Conversation.day).in_(chunk),
            )
        ):
            a = agg.setdefault(
                (staff_id, day),
                {
                    "workspace_id": workspace_id,
                    "staff_id": staff_id,
                    "day": day,
                    "conversations": 0,
                    "exempt": 0,
                    "replied": 0,
                    "replied_10m": 0,
                    "unanswered": 0,
                    "reply_work_s_sum": 0,
                    "reply_hist": [0] * (len(BUCKETS) + 1),
                },
            )
            if exempt:
                a["exempt"] += 1
                continue
            a["conversations"] += 1
            if work is None:
                a["unanswered"] += 1
                continue
            a["replied"] += 1
            a["reply_work_s_sum"] += work
            a["replied_10m"] += 1 if work <= target else 0
            a["reply_hist"][bucket_of(work)] += 1
        if agg:
            session.execute(insert(StaffMetricDay), list(agg.values()))
    session.flush()


def refresh(session: Session, workspace_id: int, *, batch: int = BATCH) -> dict[str, int]:
    """Bring the aggregates up to date with new messages and moments events (one batch each).

    Returns counts; call again while ``messages`` or ``events`` equals ``batch``.
    """
    knobs = knobs_for(session, workspace_id)
    tz = knobs.hours.tz
    counts: dict[tuple[int, int, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    pairs: dict[tuple[int, int], datetime] = {}

    mpos = _position(session, workspace_id, "messages")
    rows = session.execute(
        select(
            Message.id,
            Message.staff_id,
            Message.customer_id,
            Message.sent_at,
            Message.direction,
            Message.group_id,
        )
        .where(
            Message.workspace_id == workspace_id,
            Message.id > mpos.last_id,
        )
        .order_by(Message.id)
        .limit(batch)
    ).all()
    for mid, staff_id, customer_id, at, direction, group_id in rows:
        mpos.last_id = max(mpos.last_id, mid)
        # 1:1 only: group messages are neither conversations nor 1:1 touches.
        if group_id is not None or staff_id is None or customer_id is None or direction not in ("in", "out"):
            continue
        counts[(staff_id, customer_id, local_day(at, tz))][0 if direction == "in" else 1] += 1
        key = (staff_id, customer_id)
        pairs[key] = min(pairs.get(key, at), at)
    epos = _position(session, workspace_id, "events")
    events = session.execute(
        select(Event.id, Event.staff_id, Event.customer_id, Event.occurred_at)
        .where(Event.workspace_id == workspace_id, Event.kind.in_(MOMENT_KINDS), Event.id > epos.last_id)
        .order_by(Event.id)
        .limit(batch)
    ).all()
    for eid, staff_id, customer_id, at in events:
        epos.last_id = max(epos.last_id, eid)
        if staff_id is not None and customer_id is not None:
            counts[(staff_id, customer_id, local_day(at, tz))][2] += 1

    if counts:
        _bump_interactions(session, workspace_id, counts)
    touched = _rederive(session, workspace_id, pairs, knobs) if pairs else set()
    if touched:
        rebuild_staff_days(session, workspace_id, touched, knobs)
    session.flush()
    return {"messages": len(rows), "events": len(events), "pairs": len(pairs), "staff_days": len(touched)}


def refresh_all(session: Session, workspace_id: int, *, batch: int = BATCH) -> dict[str, int]:
    """Refresh until caught up (for the CLI and tests; the worker runs one batch a tick)."""
    total = {"messages": 0, "events": 0, "pairs": 0, "staff_days": 0}
    while True:
        got = refresh(session, workspace_id, batch=batch)
        for k, v in got.items():
            total[k] += v
        if got["messages"] < batch and got["events"] < batch:
            return total


def rebuild(session: Session, workspace_id: int) -> dict[str, int]:
    """Drop every derived row of a workspace and recompute from the start."""
    for model in (Conversation, StaffMetricDay, InteractionDay, InsightPosition):
        session.execute(delete(model).where(model.workspace_id == workspace_id))
    session.flush()
    return refresh_all(session, workspace_id)
