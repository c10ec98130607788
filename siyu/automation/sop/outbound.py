"""SOP steps that reach customers through the real engines: sends, group sends, moments.

Each function gets the calls of one ``(plan, step)`` from one job (the customers who
reached that step together) and writes in the caller's transaction, beside the step
runs, so the step and its effect commit together or not at all:

``send``
    One mass send (``kind=customer``) frozen at once by the send engine's planner, each
    customer from the staff member who owns them (the enrollment's owner; another friend
    account only where the owner is no longer a friend). The planner splits it into one
    ``add_msg_template`` batch per staff account (≤ 10,000 customers each); the delivery
    job makes each call exactly once and the staff confirm in their WeCom client (a
    ``send_confirm`` task each). The frequency cap, WeCom's quota and opt-outs apply: a
    removed customer's step is ``skipped`` with the planner's reason (``opt_out``,
    ``no_friend``, ``freq_cap``, ``wecom_quota``). No holdout (a plan is not an
    experiment) and no approval (activating the plan was the approval).
``group_message``
    One group send (``kind=group``) to the groups the enrolled customers joined (in a
    group plan: the enrolled groups themselves), sent by each group's owner (the send
    engine makes one ``add_msg_template`` call with ``chat_type=group`` per owner); a
    group gets a step's message at most once a day (the group members who joined on one
    day share one welcome).
``moment``
    One moment per step per plan and day in the workspace zone (not one per customer):
    published by the staff named on the step, else by the owners of the customers who
    reached it, visible to the step's tags (or every friend). Later customers that day
    add their owner to the same moment while it is still planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.content import get_content
from siyu.automation.sop.actions import StepCall, StepOutcome
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import local_day
from siyu.models import (
    ContentItem,
    Customer,
    Group,
    Moment,
    MomentSender,
    Send,
    SendRecipient,
    SopPlan,
    Staff,
    Workspace,
)

MOMENT_KINDS = ("text", "script", "image", "video", "link")


def _all(calls: Sequence[StepCall], outcome: StepOutcome) -> dict[int, StepOutcome]:
    return {c.enrollment.id: outcome for c in calls}


def _content(session: Session, call: StepCall) -> ContentItem | str | None:
    """The step's library item, None without one, or the reason it cannot be used."""
    content_id = call.step.get("content_id")
    if content_id is None:
        return None
    try:
        item = get_content(session, workspace_id=call.plan.workspace_id, content_id=content_id, live=False)
    except NotFound:
        return "content_deleted"
    if item.deleted_at is not None:
        return "content_deleted"
    return item


def _marker(call: StepCall, tz: str | None, daily: bool) -> str:
    base = f"sop:{call.plan.id}:{call.index}"
    return f"{base}:{local_day(call.now, tz).isoformat()}" if daily else base


def _lock_plan(session: Session, plan: SopPlan) -> None:
    """Serialise the once-a-day checks of one plan (two workers on PostgreSQL)."""
    session.execute(select(SopPlan.id).where(SopPlan.id == plan.id).with_for_update())


def _deliver_after_quiet(session: Session, send: Send) -> None:
    """Queue the delivery now, or at the end of the outbound quiet hours."""
    from siyu.automation.sends.knobs import after_quiet_hours, in_quiet_hours
    from siyu.automation.sends.service import DELIVER_KIND, knobs_of
    from siyu.kit.timeutil import zone

    knobs = knobs_of(session, send.workspace_id)
    ws = session.get(Workspace, send.workspace_id)
    now = send.planned_at
    assert now is not None
    local = now.astimezone(zone(ws.timezone if ws else None))
    run_after = after_quiet_hours(knobs, local) if in_quiet_hours(knobs, local) else now
    enqueue(
        session,
        kind=DELIVER_KIND,
        workspace_id=send.workspace_id,
        payload={"send_id": send.id},
        run_after=run_after,
        dedup_key=f"{DELIVER_KIND}:{send.id}",
    )


def _new_send(session: Session, call: StepCall, item: ContentItem | None, kind: str, marker: str) -> Send:
    step, plan = call.step, call.plan
    send = Send(
        workspace_id=plan.workspace_id,
        kind=kind,
        title=f"【SOP】{plan.name}·{step['title']}"[:200],
        text=step.get("body"),
        content_ids=[item.id] if item is not None else [],
        audience=None,
        segment_id=None,
        group_filter={},
        sender_staff_id=None,
        holdout_pct=0,
        holdout_seed=0,
        status="scheduled",
        scheduled_at=call.now,
        created_by=marker[:64],
        counts={},
    )
    session.add(send)
    session.flush()
    return send


def _check_message(session: Session, call: StepCall, item: ContentItem | None) -> str | None:
    from siyu.automation.sends.render import check_message

    try:
        check_message(
            session,
            workspace_id=call.plan.workspace_id,
            text=call.step.get("body"),
            content_ids=[item.id] if item is not None else [],
        )
    except (Invalid, NotFound) as exc:
        return f"content_invalid: {exc.message}"[:200]
    return None


def send_step(session: Session, calls: list[StepCall]) -> dict[int, StepOutcome]:
    """A 1:1 send to each customer of ``calls`` from their owner, through the send engine."""
    from siyu.automation.sends.planner import plan_customers
    from siyu.automation.sends.service import knobs_of

    first = calls[0]
    item = _content(session, first)
    if isinstance(item, str):
        return _all(calls, StepOutcome("skipped", detail={"reason": item}))
    bad = _check_message(session, first, item)
    if bad is not None:
        return _all(calls, StepOutcome("skipped", detail={"reason": bad}))
    ws = first.plan.workspace_id
    send = _new_send(session, first, item, "customer", _marker(first, None, daily=False))
    ids = sorted({c.enrollment.customer_id for c in calls if c.enrollment.customer_id is not None})
    senders = {
        c.enrollment.customer_id: c.staff_id
        for c in calls
        if c.staff_id is not None and c.enrollment.customer_id is not None
    }
    audience = select(Customer.id).where(Customer.workspace_id == ws, Customer.id.in_(ids))
    report = plan_customers(
        session, send, knobs_of(session, ws), first.now, audience=audience, senders=senders
    )
    send.status, send.planned_at = "planned", first.now
    send.counts = {"live_count": len(ids), **report.as_dict(), "sop_plan_id": first.plan.id}
    if report.targeted:
        _deliver_after_quiet(session, send)
    else:
        send.status, send.settled_at = "settled", first.now
    arms = {
        cid: (arm, reason, staff_id)
        for cid, arm, reason, staff_id in session.execute(
            select(
                SendRecipient.customer_id, SendRecipient.arm, SendRecipient.reason, SendRecipient.staff_id
            ).where(SendRecipient.send_id == send.id)
        )
    }
    out: dict[int, StepOutcome] = {}
    for c in calls:
        arm, reason, staff_id = arms.get(c.enrollment.customer_id, ("removed", "no_friend", None))
        if arm == "target":
            out[c.enrollment.id] = StepOutcome("done", detail={"send_id": send.id, "staff_id": staff_id})
        else:
            out[c.enrollment.id] = StepOutcome("skipped", detail={"reason": reason, "send_id": send.id})
    return out


def group_message_step(session: Session, calls: list[StepCall]) -> dict[int, StepOutcome]:
    """A group send to the groups the customers joined (each group once a day per step)."""
    from siyu.automation.sends.planner import plan_groups
    from siyu.automation.sends.service import knobs_of, zone_name

    first = calls[0]
    out: dict[int, StepOutcome] = {}
    with_group = [c for c in calls if c.enrollment.group_id is not None]
    for c in calls:
        if c.enrollment.group_id is None:
            out[c.enrollment.id] = StepOutcome("skipped", detail={"reason": "no_group"})
    if not with_group:
        return out
    item = _content(session, first)
    if isinstance(item, str):
        return out | _all(with_group, StepOutcome("skipped", detail={"reason": item}))
    bad = _check_message(session, first, item)
    if bad is not None:
        return out | _all(with_group, StepOutcome("skipped", detail={"reason": bad}))
    ws = first.plan.workspace_id
    marker = _marker(first, zone_name(session, ws), daily=True)
    _lock_plan(session, first.plan)
    gids = sorted({c.enrollment.group_id for c in with_group if c.enrollment.group_id is not None})
    got: dict[int, tuple[str, str | None, int]] = {
        gid: (arm, reason, sid)
        for gid, arm, reason, sid in session.execute(
            select(SendRecipient.group_id, SendRecipient.arm, SendRecipient.reason, SendRecipient.send_id)
            .join(Send, Send.id == SendRecipient.send_id)
            .where(Send.workspace_id == ws, Send.created_by == marker[:64], SendRecipient.group_id.in_(gids))
        )
        if gid is not None
    }
    fresh = [g for g in gids if g not in got]
    if fresh:
        chats = [
            str(c)
            for c in session.scalars(
                select(Group.chat_id).where(Group.workspace_id == ws, Group.id.in_(fresh))
            )
        ]
        send = _new_send(session, first, item, "group", marker)
        send.group_filter = {"chat_ids": chats}
        report = plan_groups(session, send, knobs_of(session, ws), first.now)
        send.status, send.planned_at = "planned", first.now
        send.counts = {"live_count": len(chats), **report.as_dict(), "sop_plan_id": first.plan.id}
        if report.targeted:
            _deliver_after_quiet(session, send)
        else:
            send.status, send.settled_at = "settled", first.now
        for gid, arm, reason in session.execute(
            select(SendRecipient.group_id, SendRecipient.arm, SendRecipient.reason).where(
                SendRecipient.send_id == send.id
            )
        ):
            if gid is not None:
                got[gid] = (arm, reason, send.id)
    for c in with_group:
        gid = c.enrollment.group_id
        assert gid is not None
        arm, reason, send_id = got.get(gid, ("removed", "group_dismissed", 0))
        if arm == "target":
            out[c.enrollment.id] = StepOutcome("done", detail={"send_id": send_id, "group_id": gid})
        else:
            out[c.enrollment.id] = StepOutcome(
                "skipped", detail={"reason": reason, "group_id": gid, "send_id": send_id or None}
            )
    return out


def _moment_staff(session: Session, calls: Sequence[StepCall]) -> list[Staff]:
    """Who publishes: the step's staff, else the owners of the customers (active, with the
    customer-contact permission)."""
    ws = calls[0].plan.workspace_id
    named = calls[0].step.get("staff") or []
    q = select(Staff).where(
        Staff.workspace_id == ws, Staff.status == "active", Staff.has_contact_permission.is_(True)
    )
    if named:
        q = q.where(Staff.userid.in_(list(named)))
    else:
        q = q.where(Staff.id.in_(sorted({c.staff_id for c in calls if c.staff_id is not None})))
    return list(session.scalars(q.order_by(Staff.id)))


def moment_step(session: Session, calls: list[StepCall]) -> dict[int, StepOutcome]:
    """One moment per step, plan and day (not per customer), through the moments service."""
    from siyu.automation.moments.service import AttachmentInput, MomentInput, plan_moment
    from siyu.automation.sends.service import zone_name

    first = calls[0]
    ws = first.plan.workspace_id
    item = _content(session, first)
    if isinstance(item, str):
        return _all(calls, StepOutcome("skipped", detail={"reason": item}))
    staff = _moment_staff(session, calls)
    if not staff:
        return _all(calls, StepOutcome("skipped", detail={"reason": "no_staff"}))
    marker = _marker(first, zone_name(session, ws), daily=True)
    _lock_plan(session, first.plan)
    moment = session.scalar(select(Moment).where(Moment.workspace_id == ws, Moment.created_by == marker))
    if moment is not None:
        if moment.status == "planned":
            have = set(
                session.scalars(select(MomentSender.staff_id).where(MomentSender.moment_id == moment.id))
            )
            for s in staff:
                if s.id not in have:
                    session.add(
                        MomentSender(workspace_id=ws, moment_id=moment.id, staff_id=s.id, status="waiting")
                    )
        return _all(calls, StepOutcome("done", detail={"moment_id": moment.id}))
    attachments: list[AttachmentInput] = []
    content_id: int | None = None
    if item is not None:
        if item.kind in ("image", "video", "link"):
            attachments.append(AttachmentInput(kind=item.kind, content_id=item.id))
        else:
            content_id = item.id
    data = MomentInput(
        planned_at=first.now,
        staff_userids=[s.userid for s in staff],
        text=first.step.get("body") or "",
        attachments=attachments,
        content_id=content_id,
        visible_tags=list(first.step.get("visible_tags") or []),
    )
    nested = session.begin_nested()
    try:
        moment = plan_moment(session, workspace_id=ws, data=data, actor=marker)
    except (Invalid, NotFound) as exc:
        nested.rollback()
        return _all(calls, StepOutcome("skipped", detail={"reason": f"moment_invalid: {exc.message}"[:200]}))
    nested.commit()
    return _all(calls, StepOutcome("done", detail={"moment_id": moment.id}))


def check_step_refs(
    session: Session,
    *,
    workspace_id: int,
    trigger: dict[str, Any],
    steps: list[dict[str, Any]],
    subject: str = "customer",
) -> None:
    """Save-time checks of the outbound steps (Invalid naming the step and field)."""
    from siyu.automation.sends.render import check_message

    for n, step in enumerate(steps):
        action = step["action"]
        f = f"steps[{n}]"
        if action in ("send", "group_message"):
            try:
                check_message(
                    session,
                    workspace_id=workspace_id,
                    text=step.get("body"),
                    content_ids=[step["content_id"]] if "content_id" in step else [],
                )
            except Invalid as exc:
                raise Invalid(f"{f}: {exc.message}", field=f"{f}.content_id") from None
        if action == "group_message" and subject == "customer" and trigger["kind"] != "joined_group":
            raise Invalid(
                f"{f}: a group_message step sends to the group the customer joined; "
                "it needs a joined_group trigger",
                field=f"{f}.action",
            )
        if action == "moment":
            if "content_id" in step:
                item = get_content(session, workspace_id=workspace_id, content_id=step["content_id"])
                if item.kind not in MOMENT_KINDS:
                    raise Invalid(
                        f"{f}: content {item.id} is a {item.kind}; "
                        "a moment takes text, images, a video or a link",
                        field=f"{f}.content_id",
                    )
            for userid in step.get("staff") or []:
                found = session.scalar(
                    select(Staff.id).where(Staff.workspace_id == workspace_id, Staff.userid == userid)
                )
                if found is None:
                    raise Invalid(f"{f}: no staff account {userid!r}", field=f"{f}.staff")
            from siyu.automation.sop.triggers import find_tag_id

            for name in step.get("visible_tags") or []:
                if find_tag_id(session, workspace_id=workspace_id, name=name) is None:
                    raise Invalid(f"{f}: no tag {name!r} to limit the moment to", field=f"{f}.visible_tags")
