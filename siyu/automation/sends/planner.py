"""Freeze a send's audience: remove, choose the sending account, hold out, split into calls.

One transaction: the recipients (every audience member, with the arm it fell in and
why), the batches (one ``add_msg_template`` call each) and the send's counts commit
together, so a crash mid-planning leaves nothing and a retry plans from scratch. The
opt-out flags are read inside that transaction: whoever opted out before it commits
is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from siyu.automation.sends.knobs import OutboundKnobs, quota_window
from siyu.kit.db import tune_for_bulk_writes
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
    "tmp_send_audience",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    # the account this customer should get it from, where it is still their friend (SOP steps)
    Column("sender", BigInteger),
    prefixes=["TEMPORARY"],
)


P31 = 2_147_483_647  # the prime 2**31 - 1: every product below stays inside 63 bits


def holdout_hash(customer_id: Any, seed: int) -> Any:
    """A customer's draw for the holdout, 0..9999, from the send's stored seed.

    Integer arithmetic only (products stay below 2**62), so SQLite and PostgreSQL
    compute the same value in SQL, and Python too (``holdout_hash(cid, seed)`` on ints):
    an affine step, a squaring, another affine step and a squaring modulo 2**31 - 1.
    Reproducible (the seed is stored with the send), independent between sends (each
    send draws its own seed), and uniform enough that ``hash < pct * 100`` holds out
    ``pct`` percent of any range of customer ids.
    """
    s1, s2 = seed % P31, (seed // P31) % P31
    x1 = (customer_id * 48271 + s1) % P31
    x2 = (x1 * x1) % P31
    x3 = (x2 * 16807 + s2) % P31
    return ((x3 * x3) % P31) % 10_000


def _counts(session: Session, workspace_id: int, windows: list[tuple[datetime, datetime]]) -> Any:
    """Per audience customer: mass messages received (or pending) in each window.

    siyu's own sends (target arm, still counting) and those staff made themselves
    (``mass_receipts``), in one pass over the union: columns ``cid``, ``n0``, ``n1`` ...
    """
    since, until = min(w[0] for w in windows), max(w[1] for w in windows)
    ours = select(SendRecipient.customer_id.label("cid"), SendRecipient.created_at.label("at")).where(
        SendRecipient.workspace_id == workspace_id,
        SendRecipient.arm == "target",
        SendRecipient.status.in_(COUNTED),
        SendRecipient.customer_id.in_(select(TMP.c.id)),
        SendRecipient.created_at >= since,
        SendRecipient.created_at < until,
    )
    theirs = select(MassReceipt.customer_id.label("cid"), MassReceipt.sent_at.label("at")).where(
        MassReceipt.workspace_id == workspace_id,
        MassReceipt.customer_id.in_(select(TMP.c.id)),
        MassReceipt.sent_at >= since,
        MassReceipt.sent_at < until,
    )
    both = ours.union_all(theirs).subquery("events")
    cols = [
        func.sum(case((and_(both.c.at >= lo, both.c.at < hi), 1), else_=0)).label(f"n{i}")
        for i, (lo, hi) in enumerate(windows)
    ]
    return select(both.c.cid, *cols).where(both.c.cid.is_not(None)).group_by(both.c.cid).subquery("counts")


def _classified(session: Session, send: Send, knobs: OutboundKnobs, now: datetime) -> Any:
    """``SELECT`` (cid, staff_id, target, arm, reason) of every audience member in ``TMP``.

    Per customer: removed (opted out or anonymised; no friend among active accounts; over
    the brand's cap; over WeCom's quota), else held out by ``holdout_hash``, else
    targeted. The sending account is the best-ranked friendship: the named sender, else
    the account that chatted last (the lower staff id on a tie), else the friendship
    siyu recorded first.
    """
    ws = send.workspace_id
    q_start, q_end, allowed = quota_window(knobs.wecom_quota, now)
    counts = _counts(session, ws, [(now - timedelta(days=7), now + timedelta(days=1)), (q_start, q_end)])
    last_chat = (
        select(Message.customer_id, Message.staff_id, func.max(Message.sent_at).label("at"))
        .join(TMP, TMP.c.id == Message.customer_id)
        .where(Message.workspace_id == ws, Message.staff_id.is_not(None))
        .group_by(Message.customer_id, Message.staff_id)
        .subquery("last_chat")
    )
    active_staff = select(Staff.id).where(Staff.workspace_id == ws, Staff.status == "active")
    sender = send.sender_staff_id
    chatted = last_chat.c.at.is_not(None)
    wanted = func.coalesce(TMP.c.sender, sender) if sender is not None else TMP.c.sender
    named = [case((Follow.staff_id == wanted, 0), else_=1)]
    rank = func.row_number().over(
        partition_by=Follow.customer_id,
        order_by=[
            *named,
            case((chatted, 0), else_=1),
            last_chat.c.at.desc(),
            case((chatted, Follow.staff_id), else_=None),
            Follow.id,
        ],
    )
    friends = (
        select(Follow.customer_id, Follow.staff_id, Follow.external_userid, rank.label("rank"))
        .join(TMP, TMP.c.id == Follow.customer_id)
        .outerjoin(
            last_chat,
            and_(last_chat.c.customer_id == Follow.customer_id, last_chat.c.staff_id == Follow.staff_id),
        )
        .where(
            Follow.workspace_id == ws,
            Follow.state == "active",
            Follow.external_userid.is_not(None),
            Follow.staff_id.in_(active_staff),
            or_(Follow.added_at.is_(None), Follow.added_at <= now),
        )
        .subquery("friends")
    )
    opted = or_(Customer.opt_out.is_(True), Customer.anonymised_at.is_not(None))
    reason = case(
        (opted, "opt_out"),
        (friends.c.staff_id.is_(None), "no_friend"),
        (func.coalesce(counts.c.n0, 0) >= knobs.freq_cap_per_7d, "freq_cap"),
        (func.coalesce(counts.c.n1, 0) >= allowed, "wecom_quota"),
        else_=None,
    )
    pct = int(send.holdout_pct or 0)
    whens: list[Any] = [(reason.is_not(None), "removed")]
    if pct:
        whens.append((holdout_hash(TMP.c.id, int(send.holdout_seed)) < pct * 100, "holdout"))
    arm = case(*whens, else_="target")
    return (
        select(
            TMP.c.id.label("cid"),
            case((opted, None), else_=friends.c.staff_id).label("staff_id"),
            case((opted, None), else_=friends.c.external_userid).label("target"),
            arm.label("arm"),
            reason.label("reason"),
        )
        .select_from(TMP)
        .join(Customer, Customer.id == TMP.c.id)
        .outerjoin(friends, and_(friends.c.customer_id == TMP.c.id, friends.c.rank == 1))
        .outerjoin(counts, counts.c.cid == TMP.c.id)
    )


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


PLAN = Table(
    "tmp_send_plan",
    MetaData(),
    Column("cid", BigInteger),
    Column("staff_id", BigInteger),
    Column("target", String(128)),
    Column("arm", String(8)),
    Column("reason", String(16)),
    prefixes=["TEMPORARY"],
)
STAFF_BATCH = Table(
    "tmp_send_staff",
    MetaData(),
    Column("staff_id", BigInteger, primary_key=True),
    Column("base", Integer),
    Column("split", Integer),
    prefixes=["TEMPORARY"],
)


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

    Set-based, inside the database, whatever the audience size: the audience into a
    temporary table; each member classified (removal, sending account, holdout: all in
    SQL, the same on SQLite and PostgreSQL) into a second one; the targeted counted per
    account (a few hundred rows come back); then ``INSERT … SELECT`` of every recipient
    row with its batch: an account's first batch number, or for an account with more
    than ``MAX_PER_CALL`` targeted customers, one batch per run of ``MAX_PER_CALL`` in
    customer order. Batches are numbered in account order.
    """
    tune_for_bulk_writes(session)  # SQLite: a 32 MiB page cache, so the sorts stay in memory
    conn = session.connection()
    tables = (TMP, PLAN, STAFF_BATCH)
    for t in tables:
        t.drop(conn, checkfirst=True)
        t.create(conn)
    try:
        if audience is None:
            audience = audience_query(session, send, now)
        session.execute(insert(TMP).from_select(["id"], audience))
        if conn.dialect.name == "postgresql":
            # its true size: the classification then merges it with the friendships
            # (both in customer order) instead of hashing a million rows in batches
            session.execute(text("ANALYZE tmp_send_audience"))
        if senders:
            session.execute(
                TMP.update().where(TMP.c.id == bindparam("cid")).values(sender=bindparam("sid")),
                [{"cid": c, "sid": st} for c, st in senders.items()],
            )
        session.execute(
            insert(PLAN).from_select(
                ["cid", "staff_id", "target", "arm", "reason"], _classified(session, send, knobs, now)
            )
        )
        report, per_staff = _counts_of_plan(session)
        batch_staff: dict[int, int] = {}
        sizes: dict[int, int] = {}
        rows = []
        for staff_id, k in per_staff.items():
            base = len(batch_staff) + 1
            rows.append({"staff_id": staff_id, "base": base, "split": int(k > MAX_PER_CALL)})
            for i in range(-(-k // MAX_PER_CALL)):
                batch_staff[base + i] = staff_id
                sizes[base + i] = min(MAX_PER_CALL, k - i * MAX_PER_CALL)
        if rows:
            session.execute(insert(STAFF_BATCH), rows)
        _insert_recipients(session, send, now, split=any(r["split"] for r in rows))
    finally:
        for t in tables:
            t.drop(session.connection(), checkfirst=True)
    _store_batches(session, send, batch_staff, sizes, now)
    report.staff = len(per_staff)
    report.calls = len(batch_staff)
    report.min_calls = sum(-(-k // MAX_PER_CALL) for k in per_staff.values())
    return report


def _counts_of_plan(session: Session) -> tuple[PlanReport, dict[int, int]]:
    """Audience, holdout, targeted, removals per reason, and targeted per account.

    One pass over the plan, grouped by arm, reason and (targeted) account: a few hundred
    rows come back.
    """
    report = PlanReport()
    per_staff: dict[int, int] = {}
    staff = case((PLAN.c.arm == "target", PLAN.c.staff_id), else_=None)
    rows = session.execute(
        select(PLAN.c.arm, PLAN.c.reason, staff, func.count()).group_by(PLAN.c.arm, PLAN.c.reason, staff)
    )
    for arm, why, staff_id, k in rows:
        report.audience += int(k)
        if arm == "holdout":
            report.holdout += int(k)
        elif arm == "target":
            report.targeted += int(k)
            per_staff[int(staff_id)] = per_staff.get(int(staff_id), 0) + int(k)
        elif why in report.removed:
            report.removed[why] += int(k)
    return report, dict(sorted(per_staff.items()))


def _insert_recipients(session: Session, send: Send, now: datetime, *, split: bool) -> None:
    """The plan into ``send_recipients``, each targeted customer with its batch."""
    stamp = literal(now, type_=SendRecipient.__table__.c.created_at.type)
    p, b = PLAN.c, STAFF_BATCH.c
    is_target = p.arm == "target"
    pending = case((is_target, "pending"), else_=None)
    head = [literal(send.workspace_id), literal(send.id), p.cid, p.staff_id, p.target, p.arm, p.reason]
    whole = (
        select(*head, case((is_target, b.base), else_=None), pending, stamp)
        .select_from(PLAN)
        .outerjoin(STAFF_BATCH, and_(b.staff_id == p.staff_id, is_target))
        .where(or_(b.split.is_(None), b.split == 0))
    )
    session.execute(insert(SendRecipient).from_select(list(RECIPIENT_COLUMNS), whole))
    if not split:
        return
    k = func.row_number().over(partition_by=p.staff_id, order_by=p.cid)
    big = (
        select(*head, b.base.label("base"), k.label("k"))
        .select_from(PLAN)
        .join(STAFF_BATCH, b.staff_id == p.staff_id)
        .where(is_target, b.split == 1)
        .subquery("big")
    )
    g = big.c
    seq = g.base + (g.k - 1) // MAX_PER_CALL
    cols = [c for c in g if c.name not in ("base", "k")]
    parts = select(*cols, seq, literal("pending"), stamp).select_from(big)
    session.execute(insert(SendRecipient).from_select(list(RECIPIENT_COLUMNS), parts))


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
