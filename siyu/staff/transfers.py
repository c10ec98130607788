"""Staff changes (在职继承 / 离职继承): hand an account's customers and groups to other accounts.

``start_transfer`` checks everything first (nothing is written when one thing is wrong),
picks each customer's takeover (by hand, or by rule: the least-loaded account, or the
least-loaded of the same team) and queues a ``staff.transfer`` job. The job calls WeCom in
chunks of 100 (``transfer_customer`` for an employed account, ``resigned/transfer_customer``
after a resignation; groups through ``groupchat/onjob_transfer`` / ``groupchat/transfer``)
and queues ``staff.transfer_result``, which polls ``transfer_result`` every hour until each
customer is done (1), refused (3), blocked by the takeover's limit (4) or unknown (5).
A done handover moves the follow and writes the ownership history
(``customer_ownership``), so reports credit each period to the account that owned the
customer then (:func:`owner_at`).

WeCom's rules, checked here before any call: at most 2 handovers of a customer in 90
days, one at a time; a message of at most 200 characters (in-service only: WeCom sends
none after a resignation); the takeover must be an active account with the
customer-contact permission and room under its customer limit.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit import audit
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, CustomerOwnership, CustomerTransfer, Follow, Group, GroupTransfer, Staff

SEND_KIND = "staff.transfer"
RESULT_KIND = "staff.transfer_result"
RULES = ("hand", "least_loaded", "same_team")
MAX_MESSAGE = 200
PER_CALL = 100
PER_90_DAYS = 2
POLL_EVERY = timedelta(hours=1)
# WeCom's result codes of transfer_result
STATUS_OF = {1: "done", 2: "waiting", 3: "refused", 4: "receiver_full", 5: "none"}
STATUSES = ("queued", "waiting", "done", "refused", "receiver_full", "none", "failed")
# Per-customer errcodes of transfer_customer, in plain words
REASONS = {
    40128: "handed over twice in the last 90 days already (WeCom allows 2)",
    40129: "a handover of this customer is already waiting",
    84061: "the customer is not a friend of the handover account",
    40096: "WeCom does not know this customer (external_userid)",
    60111: "WeCom does not know the staff userid",
    90500: "the group's owner has not resigned: use an in-service handover",
    90502: "the group's owner has resigned: use a resigned handover",
    40050: "WeCom does not know this group",
}


@dataclass
class TransferPlan:
    """What ``start_transfer`` queued (and what it left out, with the reason)."""

    batch: str
    kind: str
    rule: str
    handover: str
    customers: int = 0
    groups: int = 0
    by_takeover: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "kind": self.kind,
            "rule": self.rule,
            "handover": self.handover,
            "customers": self.customers,
            "groups": self.groups,
            "by_takeover": self.by_takeover,
            "skipped": self.skipped,
        }


def _staff(session: Session, workspace_id: int, userid: str, name: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.workspace_id == workspace_id, Staff.userid == userid))
    if staff is None:
        raise NotFound(f"no staff account with userid {userid!r}", field=name)
    return staff


def _friends(session: Session, workspace_id: int) -> dict[int, int]:
    rows = session.execute(
        select(Follow.staff_id, func.count())
        .where(Follow.workspace_id == workspace_id, Follow.state == "active")
        .group_by(Follow.staff_id)
    )
    return {int(s): int(n) for s, n in rows}


def _recent(session: Session, workspace_id: int, customer_ids: Sequence[int]) -> dict[int, list[str]]:
    """Per customer, the statuses of their handovers in the last 90 days that count."""
    since = utcnow() - timedelta(days=90)
    out: dict[int, list[str]] = defaultdict(list)
    for part in range(0, len(customer_ids), 1000):
        for cid, status in session.execute(
            select(CustomerTransfer.customer_id, CustomerTransfer.status).where(
                CustomerTransfer.workspace_id == workspace_id,
                CustomerTransfer.customer_id.in_(customer_ids[part : part + 1000]),
                CustomerTransfer.status.in_(("queued", "waiting", "done")),
                func.coalesce(CustomerTransfer.requested_at, CustomerTransfer.created_at) >= since,
            )
        ):
            out[int(cid)].append(status)
    return out


def start_transfer(
    session: Session,
    *,
    workspace_id: int,
    handover: str,
    takeover: str | None = None,
    rule: str = "hand",
    customer_ids: Sequence[int] | None = None,
    include_groups: bool = False,
    message: str | None = None,
    actor: str = "cli",
) -> TransferPlan:
    """Check and queue the handover of ``handover``'s customers (all, or ``customer_ids``)."""
    if rule not in RULES:
        raise Invalid(f"rule must be one of {', '.join(RULES)}, not {rule!r}", field="rule")
    if rule == "hand" and not takeover:
        raise Invalid("name the takeover account, or pick a rule (least_loaded, same_team)", field="takeover")
    if rule != "hand" and takeover:
        raise Invalid("give either a takeover account or a rule, not both", field="takeover")
    message = (message or "").strip() or None
    if message is not None and len(message) > MAX_MESSAGE:
        raise Invalid(
            f"the message is {len(message)} characters; WeCom allows at most {MAX_MESSAGE}", field="message"
        )
    giver = _staff(session, workspace_id, handover, "handover")
    kind = "resigned" if giver.status == "resigned" else "onjob"
    if kind == "resigned" and message:
        raise Invalid(
            "WeCom sends no message when a resigned account's customers are handed over", field="message"
        )
    friends = _friends(session, workspace_id)
    if rule == "hand":
        assert takeover is not None
        receiver = _staff(session, workspace_id, takeover, "takeover")
        if receiver.id == giver.id:
            raise Invalid("the takeover must be another account", field="takeover")
        candidates = [receiver]
    else:
        q = select(Staff).where(Staff.workspace_id == workspace_id, Staff.id != giver.id)
        if rule == "same_team":
            if not giver.department:
                raise Invalid(f"{giver.userid} has no department, so no team to pick from", field="rule")
            q = q.where(Staff.department == giver.department)
        candidates = list(session.scalars(q.order_by(Staff.id)))
    for c in candidates:
        if rule == "hand" and (c.status != "active" or not c.has_contact_permission):
            why = "is not active" if c.status != "active" else "has no customer-contact permission"
            raise Invalid(f"takeover {c.userid} {why}", field="takeover")
    candidates = [c for c in candidates if c.status == "active" and c.has_contact_permission]
    if not candidates:
        raise Invalid("no active account with the customer-contact permission can take over", field="rule")
    live = {
        f.customer_id: f
        for f in session.scalars(
            select(Follow).where(
                Follow.workspace_id == workspace_id,
                Follow.staff_id == giver.id,
                Follow.state == "active",
                Follow.external_userid.is_not(None),
            )
        )
    }
    if customer_ids is not None:
        wanted = list(dict.fromkeys(int(c) for c in customer_ids))
        if not wanted:
            raise Invalid("no customers given", field="customer_ids")
        strangers = [c for c in wanted if c not in live]
        if strangers:
            shown = ", ".join(str(c) for c in strangers[:5])
            raise Invalid(
                f"{len(strangers)} customer(s) are not friends of {giver.userid}: {shown}",
                field="customer_ids",
            )
    else:
        wanted = sorted(live)
    plan = TransferPlan(batch=secrets.token_hex(8), kind=kind, rule=rule, handover=giver.userid)
    recent = _recent(session, workspace_id, wanted)
    load = {c.id: friends.get(c.id, 0) for c in candidates}
    now = utcnow()
    rows: list[CustomerTransfer] = []
    for cid in wanted:
        past = recent.get(cid, [])
        if any(s in ("queued", "waiting") for s in past):
            plan.skipped.append({"customer_id": cid, "reason": REASONS[40129]})
            continue
        if len(past) >= PER_90_DAYS:
            plan.skipped.append({"customer_id": cid, "reason": REASONS[40128]})
            continue
        room = [c for c in candidates if load[c.id] < (c.customer_limit or 0)]
        if not room:
            if rule == "hand":
                raise Invalid(
                    f"takeover {candidates[0].userid} would pass its customer limit "
                    f"({candidates[0].customer_limit}); pick another or hand over fewer",
                    field="takeover",
                )
            plan.skipped.append(
                {"customer_id": cid, "reason": "no takeover account has room under its limit"}
            )
            continue
        to = min(room, key=lambda c: (load[c.id] / max(c.customer_limit, 1), load[c.id], c.id))
        load[to.id] += 1
        rows.append(
            CustomerTransfer(
                workspace_id=workspace_id,
                batch=plan.batch,
                kind=kind,
                handover_staff_id=giver.id,
                takeover_staff_id=to.id,
                customer_id=cid,
                external_userid=live[cid].external_userid,
                message=message,
                status="queued",
                rule=rule,
                actor=actor[:64],
                created_at=now,
            )
        )
        plan.by_takeover[to.userid] = plan.by_takeover.get(to.userid, 0) + 1
    groups: list[GroupTransfer] = []
    if include_groups:
        owner = candidates[0] if rule == "hand" else min(candidates, key=lambda c: (load[c.id], c.id))
        for g in session.scalars(
            select(Group).where(
                Group.workspace_id == workspace_id, Group.owner_staff_id == giver.id, Group.status == "active"
            )
        ):
            groups.append(
                GroupTransfer(
                    workspace_id=workspace_id,
                    batch=plan.batch,
                    kind=kind,
                    group_id=g.id,
                    chat_id=g.chat_id,
                    from_staff_id=giver.id,
                    to_staff_id=owner.id,
                    status="queued",
                    created_at=now,
                )
            )
    if not rows and not groups:
        raise Invalid(
            f"nothing to hand over: {giver.userid} has no customer that can move"
            + (f" ({len(plan.skipped)} skipped: {plan.skipped[0]['reason']})" if plan.skipped else ""),
            field="customer_ids",
        )
    session.add_all([*rows, *groups])
    plan.customers, plan.groups = len(rows), len(groups)
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="staff.transfer",
        target_type="staff",
        target_id=giver.id,
        detail={
            "batch": plan.batch,
            "customers": len(rows),
            "groups": len(groups),
            "rule": rule,
            "kind": kind,
        },
    )
    session.flush()
    enqueue(
        session,
        kind=SEND_KIND,
        workspace_id=workspace_id,
        payload={"batch": plan.batch},
        dedup_key=f"{SEND_KIND}:{plan.batch}",
    )
    return plan


# --- the jobs ---------------------------------------------------------------------------


def _userids(session: Session, ids: set[int]) -> dict[int, str]:
    return {s.id: s.userid for s in session.scalars(select(Staff).where(Staff.id.in_(ids)))}


def send_batch(
    factory: sessionmaker[Session], client: Any, *, workspace_id: int, batch: str
) -> dict[str, int]:
    """Make the WeCom calls of a queued batch; queue the result check when any wait."""
    from siyu.wecom.client.transfers import transfer_groups
    from siyu.wecom.errors import WeComAPIError
    from siyu.wecom.schemas import TransferRequest

    counts: dict[str, int] = defaultdict(int)
    with factory() as s:
        rows = list(
            s.scalars(
                select(CustomerTransfer).where(
                    CustomerTransfer.workspace_id == workspace_id,
                    CustomerTransfer.batch == batch,
                    CustomerTransfer.status == "queued",
                )
            )
        )
        grows = list(
            s.scalars(
                select(GroupTransfer).where(
                    GroupTransfer.workspace_id == workspace_id,
                    GroupTransfer.batch == batch,
                    GroupTransfer.status == "queued",
                )
            )
        )
        names = _userids(
            s,
            {r.handover_staff_id for r in rows}
            | {r.takeover_staff_id for r in rows}
            | {g.from_staff_id for g in grows}
            | {g.to_staff_id for g in grows},
        )
        s.expunge_all()
    pairs: dict[tuple[str, int, int, str | None], list[CustomerTransfer]] = defaultdict(list)
    for r in rows:
        pairs[(r.kind, r.handover_staff_id, r.takeover_staff_id, r.message)].append(r)
    updates: dict[int, tuple[str, int | None, str | None]] = {}
    for (kind, giver, taker, message), items in pairs.items():
        for start in range(0, len(items), PER_CALL):
            chunk = items[start : start + PER_CALL]
            req = TransferRequest(
                handover_userid=names[giver],
                takeover_userid=names[taker],
                external_userid=[r.external_userid for r in chunk],
                transfer_success_msg=message if kind == "onjob" else None,
            )
            try:
                answer = (client.transfer_customer if kind == "onjob" else client.transfer_resigned_customer)(
                    req
                )
            except WeComAPIError as exc:
                for r in chunk:
                    updates[r.id] = ("failed", exc.errcode, str(exc)[:300])
                continue
            codes = {i.external_userid: i.errcode for i in answer.customer}
            for r in chunk:
                code = codes.get(r.external_userid, 0)
                if code == 0:
                    updates[r.id] = ("waiting", None, None)
                else:
                    updates[r.id] = ("failed", code, REASONS.get(code, f"WeCom refused it (errcode {code})"))
    gupdates: dict[int, tuple[str, int | None, str | None]] = {}
    by_owner: dict[tuple[str, int, int], list[GroupTransfer]] = defaultdict(list)
    for g in grows:
        by_owner[(g.kind, g.from_staff_id, g.to_staff_id)].append(g)
    for (kind, _giver, taker), gitems in by_owner.items():
        for start in range(0, len(gitems), PER_CALL):
            gchunk = gitems[start : start + PER_CALL]
            try:
                failed = transfer_groups(
                    client, [g.chat_id for g in gchunk], names[taker], onjob=kind == "onjob"
                )
            except WeComAPIError as exc:
                for g in gchunk:
                    gupdates[g.id] = ("failed", exc.errcode, str(exc)[:300])
                continue
            bad = {f.chat_id: f for f in failed}
            for g in gchunk:
                f = bad.get(g.chat_id)
                gupdates[g.id] = (
                    ("failed", f.errcode, REASONS.get(f.errcode, f.errmsg or f"errcode {f.errcode}")[:300])
                    if f is not None
                    else ("done", None, None)
                )
    now = utcnow()
    with factory.begin() as s:
        from siyu.community.groups import ensure_group

        for r in s.scalars(select(CustomerTransfer).where(CustomerTransfer.id.in_(list(updates)))):
            r.status, r.errcode, r.error = updates[r.id]
            if r.status == "waiting":
                r.requested_at = now
            counts[r.status] += 1
        for g in s.scalars(select(GroupTransfer).where(GroupTransfer.id.in_(list(gupdates)))):
            g.status, g.errcode, g.error = gupdates[g.id]
            if g.status == "done":
                g.settled_at = now
                ensure_group(s, workspace_id=workspace_id, chat_id=g.chat_id, owner_staff_id=g.to_staff_id)
            counts[f"groups_{g.status}"] += 1
        if counts.get("waiting"):
            _queue_check(s, workspace_id, batch, now + POLL_EVERY)
    return dict(counts)


def _queue_check(session: Session, workspace_id: int, batch: str, when: datetime) -> None:
    enqueue(
        session,
        kind=RESULT_KIND,
        workspace_id=workspace_id,
        payload={"batch": batch},
        run_after=when,
        dedup_key=f"{RESULT_KIND}:{batch}:{int(when.timestamp())}",
    )


def check_batch(
    factory: sessionmaker[Session], client: Any, *, workspace_id: int, batch: str
) -> dict[str, int]:
    """Read ``transfer_result`` for the waiting customers of a batch and settle them."""
    from siyu.wecom.client.transfers import resigned_transfer_result

    with factory() as s:
        waiting = list(
            s.scalars(
                select(CustomerTransfer).where(
                    CustomerTransfer.workspace_id == workspace_id,
                    CustomerTransfer.batch == batch,
                    CustomerTransfer.status == "waiting",
                )
            )
        )
        names = _userids(s, {r.handover_staff_id for r in waiting} | {r.takeover_staff_id for r in waiting})
        s.expunge_all()
    results: dict[tuple[int, int, str], tuple[int, int | None]] = {}
    for kind, giver, taker in {(r.kind, r.handover_staff_id, r.takeover_staff_id) for r in waiting}:
        cursor: str | None = None
        while True:
            if kind == "onjob":
                page = client.transfer_result(names[giver], names[taker], cursor)
            else:
                page = resigned_transfer_result(client, names[giver], names[taker], cursor)
            for item in page.customer:
                results[(giver, taker, item.external_userid)] = (item.status, item.takeover_time)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    counts: dict[str, int] = defaultdict(int)
    now = utcnow()
    with factory.begin() as s:
        for r in s.scalars(select(CustomerTransfer).where(CustomerTransfer.id.in_([w.id for w in waiting]))):
            code, at = results.get((r.handover_staff_id, r.takeover_staff_id, r.external_userid), (5, None))
            r.status = STATUS_OF.get(code, "none")
            counts[r.status] += 1
            if r.status == "waiting":
                continue
            r.settled_at = datetime.fromtimestamp(at, UTC) if at else now
            if r.status == "done":
                _settle_done(s, r)
        if counts.get("waiting"):
            _queue_check(s, workspace_id, batch, now + POLL_EVERY)
    return dict(counts)


def _settle_done(session: Session, r: CustomerTransfer) -> None:
    """The follow moves to the takeover, and the ownership history says since when."""
    from siyu.customers.follows import find_follow, follow_added, follow_ended

    at = r.settled_at or utcnow()
    ws = r.workspace_id
    old = find_follow(session, workspace_id=ws, staff_id=r.handover_staff_id, customer_id=r.customer_id)
    follow_ended(
        session,
        workspace_id=ws,
        staff_id=r.handover_staff_id,
        customer_id=r.customer_id,
        at=at,
        deleted_by="transfer",
        external_userid=r.external_userid,
    )
    follow_added(
        session,
        workspace_id=ws,
        staff_id=r.takeover_staff_id,
        customer_id=r.customer_id,
        at=at,
        external_userid=r.external_userid,
    )
    period = session.scalar(
        select(CustomerOwnership).where(
            CustomerOwnership.workspace_id == ws,
            CustomerOwnership.customer_id == r.customer_id,
            CustomerOwnership.staff_id == r.handover_staff_id,
            CustomerOwnership.ended_at.is_(None),
        )
    )
    if period is None:
        started = (old.added_at if old is not None else None) or r.created_at
        period = CustomerOwnership(
            workspace_id=ws,
            customer_id=r.customer_id,
            staff_id=r.handover_staff_id,
            started_at=min(started, at),
            reason="add",
        )
        session.add(period)
    period.ended_at = at
    session.add(
        CustomerOwnership(
            workspace_id=ws,
            customer_id=r.customer_id,
            staff_id=r.takeover_staff_id,
            started_at=at,
            reason="resigned" if r.kind == "resigned" else "transfer",
            transfer_id=r.id,
        )
    )
    session.flush()


# --- readers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    staff_id: int
    userid: str
    name: str
    started_at: datetime | None
    ended_at: datetime | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "staff_id": self.staff_id,
            "userid": self.userid,
            "name": self.name,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "reason": self.reason,
        }


def ownership(
    session: Session, *, workspace_id: int, customer_id: int, staff_id: int | None = None
) -> list[Period]:
    """Who owned the customer when: recorded handovers, and each other follow's own period.

    ``staff_id``: a staff user's own view: only a customer the account owns or owned (else
    NotFound, as for a customer that does not exist).
    """
    customer = session.get(Customer, customer_id)
    if customer is None or customer.workspace_id != workspace_id:
        raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
    staff = {s.id: s for s in session.scalars(select(Staff).where(Staff.workspace_id == workspace_id))}
    out: list[Period] = []
    recorded: set[int] = set()
    for p in session.scalars(
        select(CustomerOwnership)
        .where(CustomerOwnership.workspace_id == workspace_id, CustomerOwnership.customer_id == customer_id)
        .order_by(CustomerOwnership.started_at, CustomerOwnership.id)
    ):
        s = staff[p.staff_id]
        recorded.add(p.staff_id)
        out.append(Period(s.id, s.userid, s.name, p.started_at, p.ended_at, p.reason))
    for f in session.scalars(
        select(Follow).where(Follow.workspace_id == workspace_id, Follow.customer_id == customer_id)
    ):
        if f.staff_id in recorded or f.state == "pending":
            continue
        s = staff[f.staff_id]
        out.append(
            Period(s.id, s.userid, s.name, f.added_at, f.deleted_at if f.state != "active" else None, "add")
        )
    if staff_id is not None and all(p.staff_id != staff_id for p in out):
        raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
    return sorted(out, key=lambda p: (p.started_at or datetime.min.replace(tzinfo=UTC), p.staff_id))


def owner_at(session: Session, *, workspace_id: int, customer_id: int, at: datetime) -> list[int]:
    """The staff accounts that owned the customer at ``at`` (for crediting an order)."""
    return [
        p.staff_id
        for p in ownership(session, workspace_id=workspace_id, customer_id=customer_id)
        if (p.started_at is None or p.started_at <= at) and (p.ended_at is None or at < p.ended_at)
    ]


def batch_status(
    session: Session,
    *,
    workspace_id: int,
    batch: str | None = None,
    limit: int = 20,
    staff_id: int | None = None,
) -> list[dict[str, Any]]:
    """Batches (newest first, or one) with their counts per status and each failed row's reason.

    ``staff_id``: one account's view (a staff user's own): the batches handing its customers
    or groups over, with every row, and the batches giving it some, with those rows only.
    """
    q = select(CustomerTransfer.batch, func.min(CustomerTransfer.created_at)).where(
        CustomerTransfer.workspace_id == workspace_id
    )
    if staff_id is not None:
        q = q.where(
            (CustomerTransfer.handover_staff_id == staff_id)
            | (CustomerTransfer.takeover_staff_id == staff_id)
        )
    if batch:
        q = q.where(CustomerTransfer.batch == batch)
    batches = [
        b
        for b, _ in session.execute(
            q.group_by(CustomerTransfer.batch)
            .order_by(func.min(CustomerTransfer.created_at).desc())
            .limit(limit)
        )
    ]
    gq = select(GroupTransfer.batch).where(GroupTransfer.workspace_id == workspace_id).distinct()
    if staff_id is not None:
        gq = gq.where((GroupTransfer.from_staff_id == staff_id) | (GroupTransfer.to_staff_id == staff_id))
    if batch:
        gq = gq.where(GroupTransfer.batch == batch)
    batches += [b for b in session.scalars(gq) if b not in batches]
    if batch and not batches:
        raise NotFound(f"no transfer batch {batch!r}", field="batch")
    staff = {s.id: s for s in session.scalars(select(Staff).where(Staff.workspace_id == workspace_id))}
    out = []
    for b in batches:
        rows = list(
            session.scalars(
                select(CustomerTransfer)
                .where(CustomerTransfer.workspace_id == workspace_id, CustomerTransfer.batch == b)
                .order_by(CustomerTransfer.id)
            )
        )
        groups = list(
            session.scalars(
                select(GroupTransfer)
                .where(GroupTransfer.workspace_id == workspace_id, GroupTransfer.batch == b)
                .order_by(GroupTransfer.id)
            )
        )
        if staff_id is not None:
            rows = [r for r in rows if staff_id in (r.handover_staff_id, r.takeover_staff_id)]
            groups = [g for g in groups if staff_id in (g.from_staff_id, g.to_staff_id)]
        first = rows[0] if rows else None
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        gcounts: dict[str, int] = {}
        for g in groups:
            gcounts[g.status] = gcounts.get(g.status, 0) + 1
        giver = first.handover_staff_id if first else groups[0].from_staff_id
        out.append(
            {
                "batch": b,
                "kind": first.kind if first else groups[0].kind,
                "rule": first.rule if first else "hand",
                "handover": staff[giver].userid,
                "created_at": (first.created_at if first else groups[0].created_at).isoformat(),
                "customers": counts,
                "groups": gcounts,
                "rows": [
                    {
                        "customer_id": r.customer_id,
                        "takeover": staff[r.takeover_staff_id].userid,
                        "status": r.status,
                        "errcode": r.errcode,
                        "error": r.error,
                        "settled_at": r.settled_at.isoformat() if r.settled_at else None,
                    }
                    for r in rows
                ],
                "group_rows": [
                    {
                        "chat_id": g.chat_id,
                        "to": staff[g.to_staff_id].userid,
                        "status": g.status,
                        "error": g.error,
                    }
                    for g in groups
                ],
            }
        )
    return out
