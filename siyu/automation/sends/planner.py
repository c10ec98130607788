"""Freeze a send's audience: remove, choose the sending account, hold out, split into calls.

One transaction: the recipients (every audience member, with the arm it fell in and
why), the batches (one ``add_msg_template`` call each) and the send's counts commit
together, so a crash mid-planning leaves nothing and a retry plans from scratch. The
opt-out flags are read inside that transaction: whoever opted out before it commits
is removed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, Table, func, insert, or_, select
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


TMP = Table(
    "tmp_send_audience", MetaData(), Column("id", BigInteger, primary_key=True), prefixes=["TEMPORARY"]
)


def _counted(session: Session, workspace_id: int, since: datetime, until: datetime) -> dict[int, int]:
    """Per audience customer: mass messages received (or pending) in [since, until)."""
    ours = select(SendRecipient.customer_id.label("cid")).where(
        SendRecipient.workspace_id == workspace_id,
        SendRecipient.arm == "target",
        SendRecipient.status.in_(COUNTED),
        SendRecipient.customer_id.in_(select(TMP.c.id)),
        SendRecipient.created_at >= since,
        SendRecipient.created_at < until,
    )
    theirs = select(MassReceipt.customer_id.label("cid")).where(
        MassReceipt.workspace_id == workspace_id,
        MassReceipt.customer_id.in_(select(TMP.c.id)),
        MassReceipt.sent_at >= since,
        MassReceipt.sent_at < until,
    )
    both = ours.union_all(theirs).subquery()
    rows = session.execute(select(both.c.cid, func.count()).group_by(both.c.cid))
    return {int(c): int(n) for c, n in rows if c is not None}


def _rows(
    session: Session, send: Send, knobs: OutboundKnobs, now: datetime, audience: Any = None
) -> Iterator[Any]:
    """(customer, opted out, staff, external_userid, added, last chat, cap count, quota count) rows.

    The audience goes into a temporary table first; each fact is then one indexed join
    against it, merged here in customer order (no per-row subqueries).
    """
    ws = send.workspace_id
    conn = session.connection()
    TMP.drop(conn, checkfirst=True)
    TMP.create(conn)
    try:
        if audience is None:
            audience = audience_query(session, send, now)
        session.execute(insert(TMP).from_select(["id"], audience))
        cap = _counted(session, ws, now - timedelta(days=7), now + timedelta(days=1))
        q_start, q_end, _ = quota_window(knobs.wecom_quota, now)
        quota = _counted(session, ws, q_start, q_end)
        out = {
            int(c)
            for c in session.scalars(
                select(Customer.id)
                .join(TMP, TMP.c.id == Customer.id)
                .where(or_(Customer.opt_out.is_(True), Customer.anonymised_at.is_not(None)))
            )
        }
        last_chat = {
            (c, st): at
            for c, st, at in session.execute(
                select(Message.customer_id, Message.staff_id, func.max(Message.sent_at))
                .join(TMP, TMP.c.id == Message.customer_id)
                .where(Message.workspace_id == ws, Message.staff_id.is_not(None))
                .group_by(Message.customer_id, Message.staff_id)
            )
        }
        active_staff = select(Staff.id).where(Staff.workspace_id == ws, Staff.status == "active")
        follows = _raw_rows(
            conn,
            select(Follow.customer_id, Follow.staff_id, Follow.external_userid, Follow.id)
            .join(TMP, TMP.c.id == Follow.customer_id)
            .where(
                Follow.workspace_id == ws,
                Follow.state == "active",
                Follow.external_userid.is_not(None),
                Follow.staff_id.in_(active_staff),
                or_(Follow.added_at.is_(None), Follow.added_at <= now),
            )
            .order_by(Follow.customer_id),
        )
        ids = (row[0] for row in _raw_rows(conn, select(TMP.c.id).order_by(TMP.c.id)))
        pending = next(follows, None)
        for cid in ids:
            n_cap, n_quota, opted = cap.get(cid, 0), quota.get(cid, 0), cid in out
            found = False
            while pending is not None and pending[0] <= cid:
                if pending[0] == cid:
                    found = True
                    st = pending[1]
                    yield cid, opted, st, pending[2], pending[3], last_chat.get((cid, st)), n_cap, n_quota
                pending = next(follows, None)
            if not found:
                yield cid, opted, None, None, None, None, n_cap, n_quota
    finally:
        TMP.drop(session.connection(), checkfirst=True)


def _raw_rows(conn: Any, stmt: Any, chunk: int = 20_000) -> Iterator[tuple[Any, ...]]:
    """The statement's rows, streamed; on SQLite as the driver gives them (ints, strings).

    SQLAlchemy's row objects cost more than the planning itself at a million rows, so
    SQLite's cursor is read directly (its results are not prefetched: nothing is lost).
    PostgreSQL streams through a server-side cursor in ``chunk``-row partitions.
    """
    if conn.dialect.name != "sqlite":
        yield from conn.execute(stmt.execution_options(yield_per=chunk))
        return
    result = conn.execute(stmt)
    cursor = result.cursor
    try:
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            yield from rows
    finally:
        result.close()


def _pick(follows: list[Any], sender: int | None) -> Any:
    """The account that sends: the named sender, else who last chatted, else the first friend.

    ``follows``: (staff id, external_userid, follow row id, last chat); the lowest
    follow id is the relationship siyu recorded first.
    """
    for f in follows:
        if f[0] == sender:
            return f
    chatted = [f for f in follows if f[3] is not None]
    if chatted:
        return max(chatted, key=lambda f: (f[3], -f[0]))
    return min(follows, key=lambda f: f[2])


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


RECIPIENT_COLUMNS = (
    "workspace_id",
    "send_id",
    "customer_id",
    "staff_id",
    "target",
    "arm",
    "reason",
    "batch_seq",
    "status",
    "created_at",
)


def _raw_inserter(session: Session, now: datetime) -> tuple[Any, Any]:
    """(insert(rows), created_at value): a plain DB-API executemany of recipient tuples.

    A million recipients through the ORM's per-row type processing cost more than the
    planning itself; the rows here are plain ints and strings, and ``created_at`` is
    given in the form the dialect stores (naive UTC text on SQLite).
    """
    conn = session.connection()
    dialect = conn.dialect
    marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in RECIPIENT_COLUMNS)
    sql = f"INSERT INTO send_recipients ({', '.join(RECIPIENT_COLUMNS)}) VALUES ({marks})"  # noqa: S608
    stamp: Any = now
    if dialect.name == "sqlite":
        stamp = now.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def insert_rows(rows: list[tuple[Any, ...]]) -> None:
        conn.exec_driver_sql(sql, rows)

    return insert_rows, stamp


def plan_customers(
    session: Session,
    send: Send,
    knobs: OutboundKnobs,
    now: datetime,
    *,
    audience: Any = None,
    senders: Mapping[int, int] | None = None,
) -> PlanReport:
    """Freeze the audience of a customer send into recipients and batches (no commit).

    ``audience`` (a ``SELECT customers.id``) replaces the send's expression or segment
    and ``senders`` names the account each customer gets it from where that account is
    still their friend: how a SOP step sends to the customers who reached it, each from
    the staff member who owns them.
    """
    report = PlanReport()
    removed = report.removed
    _, _, allowed = quota_window(knobs.wecom_quota, now)
    cap_limit = knobs.freq_cap_per_7d
    rng = random.Random(send.holdout_seed)
    draw = rng.random
    pct = send.holdout_pct
    sender = send.sender_staff_id
    ws, send_id = send.workspace_id, send.id
    per_staff: dict[int, int] = {}
    batch_of: dict[tuple[int, int], int] = {}
    sizes: dict[int, int] = {}
    batch_staff: dict[int, int] = {}
    buf: list[tuple[Any, ...]] = []
    insert_rows, stamp = _raw_inserter(session, now)
    rows = _grouped(_rows(session, send, knobs, now, audience))
    holdout = targeted = size = 0
    for cid, opted, follows, n_cap, n_quota in rows:
        size += 1
        reason: str | None = None
        staff_id = target = None
        if opted:
            reason = "opt_out"
        elif not follows:
            reason = "no_friend"
        else:
            staff_id, target = _pick(follows, senders.get(cid, sender) if senders else sender)[:2]
            if n_cap >= cap_limit:
                reason = "freq_cap"
            elif n_quota >= allowed:
                reason = "wecom_quota"
        if reason is not None:
            removed[reason] += 1
            buf.append((ws, send_id, cid, staff_id, target, "removed", reason, None, None, stamp))
        elif pct and draw() * 100 < pct:
            holdout += 1
            buf.append((ws, send_id, cid, staff_id, target, "holdout", None, None, None, stamp))
        else:
            assert staff_id is not None
            k = per_staff.get(staff_id, 0)
            per_staff[staff_id] = k + 1
            key = (staff_id, k // MAX_PER_CALL)
            seq = batch_of.get(key)
            if seq is None:
                seq = batch_of[key] = len(batch_of) + 1
                batch_staff[seq] = staff_id
            sizes[seq] = sizes.get(seq, 0) + 1
            targeted += 1
            buf.append((ws, send_id, cid, staff_id, target, "target", None, seq, "pending", stamp))
        if len(buf) >= INSERT_CHUNK:
            insert_rows(buf)
            buf = []
    if buf:
        insert_rows(buf)
    _store_batches(session, send, batch_staff, sizes, now)
    report.audience, report.holdout, report.targeted = size, holdout, targeted
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
    if flt.get("group_type"):
        q = q.where(Group.group_type == str(flt["group_type"]))
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
