"""Sends as the CLI, the API and the console see them: create, approve, plan, show, list."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.automation.sends.knobs import OutboundKnobs, after_quiet_hours, in_quiet_hours, knobs_from_settings
from siyu.automation.sends.planner import PlanReport, live_count, plan_customers, plan_groups
from siyu.automation.sends.render import check_message
from siyu.kit.audit import record
from siyu.kit.errors import Conflict, Forbidden, Invalid, NotFound
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import utcnow, zone
from siyu.models import ContentItem, Send, SendBatch, SendRecipient, Staff, Workspace
from siyu.segments.audience import AudienceSyntaxError, parse

PLAN_KIND = "sends.plan"
DELIVER_KIND = "sends.deliver"
RECURRENCES = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
APPROVER_ROLES = ("owner", "admin")


@dataclass
class NewSend:
    title: str
    kind: str = "customer"
    text: str | None = None
    content_ids: list[int] = field(default_factory=list)
    audience: str | None = None
    segment: str | None = None
    chat_ids: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    group_type: str | None = None
    sender: str | None = None
    holdout_pct: int | None = None
    scheduled_at: datetime | None = None
    recurrence: str | None = None
    recurrence_until: datetime | None = None


def knobs_of(session: Session, workspace_id: int) -> OutboundKnobs:
    ws = session.get(Workspace, workspace_id)
    return knobs_from_settings(ws.settings if ws else None)


def zone_name(session: Session, workspace_id: int) -> str:
    ws = session.get(Workspace, workspace_id)
    return ws.timezone if ws else "Asia/Shanghai"


def get_send(session: Session, *, workspace_id: int, send_id: int, lock: bool = False) -> Send:
    q = select(Send).where(Send.workspace_id == workspace_id, Send.id == send_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    send = session.scalar(q)
    if send is None:
        raise NotFound(f"no send {send_id}", field="send_id")
    return send


def create_send(session: Session, *, workspace_id: int, new: NewSend, actor: str) -> Send:
    """Check and store a send; scheduled (a plan job queued) or waiting for an admin's approval."""
    if new.kind not in ("customer", "group"):
        raise Invalid("kind is customer or group", field="kind")
    if not new.title.strip() or len(new.title) > 200:
        raise Invalid("a title of 1 to 200 characters is needed", field="title")
    knobs = knobs_of(session, workspace_id)
    check_message(session, workspace_id=workspace_id, text=new.text, content_ids=list(new.content_ids))
    segment_id: int | None = None
    if new.kind == "customer":
        if bool(new.audience) == bool(new.segment):
            raise Invalid("give an audience expression or a saved segment (one of them)", field="audience")
        if new.audience:
            try:
                parse(new.audience)
            except AudienceSyntaxError as exc:
                raise Invalid(f"audience: {exc}", field="audience") from exc
        if new.segment:
            from siyu.segments.audience.saved import get_segment

            segment_id = get_segment(session, workspace_id=workspace_id, name=new.segment).id
    elif not (new.chat_ids or new.owners or new.group_type):
        raise Invalid("a group send needs chat ids, owners or a group type", field="chat_ids")
    sender_id: int | None = None
    if new.sender:
        sender_id = session.scalar(
            select(Staff.id).where(Staff.workspace_id == workspace_id, Staff.userid == new.sender)
        )
        if sender_id is None:
            raise Invalid(f"no staff account {new.sender!r}", field="sender")
    holdout = knobs.holdout_pct if new.holdout_pct is None else new.holdout_pct
    if not 0 <= holdout <= 50:
        raise Invalid("holdout_pct is 0 to 50", field="holdout_pct")
    if new.kind == "group":
        holdout = 0
    now = utcnow()
    when = new.scheduled_at or now
    if when.tzinfo is None:
        raise Invalid("scheduled_at must carry a time zone", field="scheduled_at")
    tz = zone(session.get(Workspace, workspace_id).timezone)  # type: ignore[union-attr]
    if new.scheduled_at is not None and in_quiet_hours(knobs, when.astimezone(tz)):
        raise Invalid(
            f"{when.astimezone(tz):%H:%M} is inside the quiet hours "
            f"({knobs.quiet_start:%H:%M}-{knobs.quiet_end:%H:%M}); pick another time",
            field="scheduled_at",
        )
    if new.recurrence is not None and new.recurrence not in RECURRENCES:
        raise Invalid("recurrence is daily or weekly", field="recurrence")
    if new.recurrence_until is not None and new.recurrence_until.tzinfo is None:
        raise Invalid("recurrence_until must carry a time zone", field="recurrence_until")
    send = Send(
        workspace_id=workspace_id,
        kind=new.kind,
        title=new.title.strip(),
        text=new.text,
        content_ids=list(new.content_ids),
        audience=new.audience,
        segment_id=segment_id,
        group_filter={
            k: v
            for k, v in {"chat_ids": new.chat_ids, "owners": new.owners, "group_type": new.group_type}.items()
            if v
        },
        sender_staff_id=sender_id,
        holdout_pct=holdout,
        holdout_seed=secrets.randbits(48),
        status="draft",
        scheduled_at=when,
        recurrence=new.recurrence,
        recurrence_until=new.recurrence_until,
        created_by=actor,
        counts={},
    )
    session.add(send)
    session.flush()
    if new.content_ids:
        session.execute(
            update(ContentItem).where(ContentItem.id.in_(new.content_ids)).values(uses=ContentItem.uses + 1)
        )
    size = live_count(session, send, now) if new.kind == "customer" else len(new.chat_ids)
    send.counts = {"live_count": size}
    if knobs.approval_over and size > knobs.approval_over:
        send.status = "pending_approval"
    else:
        _schedule(session, send)
    detail = {"title": send.title, "live_count": size, "status": send.status}
    record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="send.create",
        target_type="send",
        target_id=str(send.id),
        detail=detail,
    )
    return send


def _schedule(session: Session, send: Send) -> None:
    send.status = "scheduled"
    enqueue(
        session,
        kind=PLAN_KIND,
        workspace_id=send.workspace_id,
        payload={"send_id": send.id},
        run_after=send.scheduled_at,
        dedup_key=f"{PLAN_KIND}:{send.id}",
    )


def approve(session: Session, *, workspace_id: int, send_id: int, actor: str, role: str) -> Send:
    if role not in APPROVER_ROLES:
        raise Forbidden("only an owner or admin approves a send over the size limit", field="role")
    send = get_send(session, workspace_id=workspace_id, send_id=send_id, lock=True)
    if send.status != "pending_approval":
        raise Conflict(f"send {send_id} is {send.status}, not waiting for approval", field="send_id")
    send.approved_by, send.approved_at = actor, utcnow()
    _schedule(session, send)
    record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="send.approve",
        target_type="send",
        target_id=str(send.id),
        detail={"live_count": send.counts.get("live_count")},
    )
    return send


def plan(session: Session, send: Send, *, now: datetime | None = None) -> PlanReport | None:
    """Freeze the audience now (the caller commits); None when it is not due or not plannable."""
    if send.status != "scheduled":
        return None
    now = now or utcnow()
    knobs = knobs_of(session, send.workspace_id)
    ws = session.get(Workspace, send.workspace_id)
    tz = zone(ws.timezone if ws else None)
    local = now.astimezone(tz)
    if in_quiet_hours(knobs, local):
        send.scheduled_at = after_quiet_hours(knobs, local)
        session.flush()
        key = f"{PLAN_KIND}:{send.id}:{send.scheduled_at.isoformat()}"
        enqueue(
            session,
            kind=PLAN_KIND,
            workspace_id=send.workspace_id,
            payload={"send_id": send.id},
            run_after=send.scheduled_at,
            dedup_key=key,
        )
        return None
    report = (plan_groups if send.kind == "group" else plan_customers)(session, send, knobs, now)
    if knobs.approval_over and report.targeted > knobs.approval_over and send.approved_at is None:
        raise NeedsApproval(report.targeted)
    send.status, send.planned_at = "planned", now
    send.counts = {**send.counts, **report.as_dict()}
    enqueue(
        session,
        kind=DELIVER_KIND,
        workspace_id=send.workspace_id,
        payload={"send_id": send.id},
        dedup_key=f"{DELIVER_KIND}:{send.id}",
    )
    _next_occurrence(session, send)
    return report


class NeedsApproval(Exception):
    def __init__(self, targeted: int) -> None:
        super().__init__(f"{targeted} customers: over the approval size")
        self.targeted = targeted


def _next_occurrence(session: Session, send: Send) -> None:
    if not send.recurrence or send.scheduled_at is None:
        return
    nxt = send.scheduled_at + RECURRENCES[send.recurrence]
    if send.recurrence_until is not None and nxt > send.recurrence_until:
        return
    child = Send(
        workspace_id=send.workspace_id,
        kind=send.kind,
        title=send.title,
        text=send.text,
        content_ids=list(send.content_ids),
        audience=send.audience,
        segment_id=send.segment_id,
        group_filter=dict(send.group_filter),
        sender_staff_id=send.sender_staff_id,
        holdout_pct=send.holdout_pct,
        holdout_seed=secrets.randbits(48),
        scheduled_at=nxt,
        recurrence=send.recurrence,
        recurrence_until=send.recurrence_until,
        parent_id=send.parent_id or send.id,
        created_by=send.created_by,
        approved_by=send.approved_by,
        approved_at=send.approved_at,
        counts={"live_count": send.counts.get("live_count")},
    )
    session.add(child)
    session.flush()
    _schedule(session, child)


def preview(session: Session, *, workspace_id: int, new: NewSend, limit: int = 20) -> dict[str, Any]:
    """What planning now would do (counts per removal reason, first recipients); nothing kept."""
    outer = session.begin_nested()
    try:
        send = create_send(session, workspace_id=workspace_id, new=new, actor="preview")
        send.status = "scheduled"
        send.approved_at = utcnow()
        knobs = knobs_of(session, workspace_id)
        report = (plan_groups if send.kind == "group" else plan_customers)(session, send, knobs, utcnow())
        first = [
            {"customer_id": c, "group_id": g, "staff_userid": u, "target": t}
            for c, g, u, t in session.execute(
                select(SendRecipient.customer_id, SendRecipient.group_id, Staff.userid, SendRecipient.target)
                .join(Staff, Staff.id == SendRecipient.staff_id)
                .where(SendRecipient.send_id == send.id, SendRecipient.arm == "target")
                .order_by(SendRecipient.id)
                .limit(limit)
            )
        ]
        return {"live_count": send.counts.get("live_count"), **report.as_dict(), "first": first}
    finally:
        outer.rollback()


def list_sends(
    session: Session, *, workspace_id: int, status: str | None = None, limit: int = 100
) -> list[Send]:
    q = select(Send).where(Send.workspace_id == workspace_id)
    if status:
        q = q.where(Send.status == status)
    return list(session.scalars(q.order_by(Send.id.desc()).limit(limit)))


def waiting_for_staff(session: Session, *, workspace_id: int, staff_id: int) -> list[dict[str, Any]]:
    """The sends a staff account still has to confirm in the WeCom client."""
    rows = session.execute(
        select(Send.id, Send.title, Send.delivered_at, func.sum(SendBatch.size))
        .join(SendBatch, SendBatch.send_id == Send.id)
        .where(
            Send.workspace_id == workspace_id, SendBatch.staff_id == staff_id, SendBatch.state == "created"
        )
        .group_by(Send.id, Send.title, Send.delivered_at)
        .order_by(Send.id)
    )
    return [
        {"send_id": i, "title": t, "delivered_at": d.isoformat() if d else None, "customers": int(n or 0)}
        for i, t, d, n in rows
    ]


def send_json(send: Send) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {
        "id": send.id,
        "kind": send.kind,
        "title": send.title,
        "status": send.status,
        "text": send.text,
        "content_ids": list(send.content_ids),
        "audience": send.audience,
        "segment_id": send.segment_id,
        "group_filter": send.group_filter,
        "holdout_pct": send.holdout_pct,
        "scheduled_at": iso(send.scheduled_at),
        "recurrence": send.recurrence,
        "parent_id": send.parent_id,
        "planned_at": iso(send.planned_at),
        "delivered_at": iso(send.delivered_at),
        "settled_at": iso(send.settled_at),
        "cancelled_at": iso(send.cancelled_at),
        "counts": send.counts,
        "created_by": send.created_by,
        "approved_by": send.approved_by,
        "error": send.error,
    }
