"""The SOP engine's background work: enroll on events, scan state triggers, run steps.

Group plans: WeCom's ``change_external_chat`` create callback (``group.create``) enrolls
the new group in ``group_created`` plans at once; the scan catches groups a sync brought,
groups whose owner or type a re-fetch filled in later, and the ``group_type`` and
``group_age`` triggers. ``group.dismiss`` takes the group out of its plans and ends its
members' enrollments that came through it (``joined_group``); the scan does the same for
groups a sync found dismissed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.automation.sop import service, spec
from siyu.automation.sop.triggers import Match, in_audience
from siyu.customers.tags import TAG_CHANGED
from siyu.kit.jobs import run_soon
from siyu.kit.ops import Delivered, JobContext, job_handler, periodic, subscriber
from siyu.kit.timeutil import local_day
from siyu.models import CustomerTag, Group, SopPlan, Tag

ENROLL_ON = [
    "friend.add",
    "tag.add",
    "tag.remove",
    TAG_CHANGED,
    "group.join",
    "group.create",
    "group.dismiss",
    "stats.refreshed",
]
_EVENT_TRIGGER = {
    "friend.add": "friend_added",
    "tag.add": "tag_added",
    "tag.remove": "tag_removed",
    "group.join": "joined_group",
}


def _active(session: Session, workspace_id: int) -> list[SopPlan]:
    return list(
        session.scalars(
            select(SopPlan).where(SopPlan.workspace_id == workspace_id, SopPlan.status == "active")
        )
    )


@subscriber("automation.sop_enroll", kinds=ENROLL_ON, batch=200)
def enroll_on_events(session: Session, events: Sequence[Delivered]) -> None:
    """Enroll customers in active SOP plans whose trigger an event matches."""
    plans: dict[int, list[SopPlan]] = {}
    for ev in events:
        if ev.workspace_id not in plans:
            plans[ev.workspace_id] = _active(session, ev.workspace_id)
        tz, _ = service.workspace_zone(session, ev.workspace_id)
        if ev.kind == TAG_CHANGED:
            _enroll_tag_change(session, ev, plans[ev.workspace_id], tz)
            continue
        if ev.kind == "group.dismiss":
            if ev.group_id is not None:
                service.exit_dismissed(
                    session, workspace_id=ev.workspace_id, group_id=ev.group_id, at=ev.occurred_at
                )
            continue
        for plan in plans[ev.workspace_id]:
            kind = plan.trigger["kind"]
            if ev.kind == "group.create":
                if kind == "group_created" and plan.subject == "group" and ev.group_id is not None:
                    service.enroll_group(session, plan, group_id=ev.group_id)
                continue
            if ev.kind == "stats.refreshed":
                if kind in ("first_order", "category_order", "inactive", "layer_changed"):
                    ids = [int(c) for c in ev.payload.get("customer_ids") or []]
                    if ids:
                        service.enroll_matching(session, plan, ids)
                continue
            if ev.customer_id is None or _EVENT_TRIGGER.get(ev.kind) != kind:
                continue
            day = local_day(ev.occurred_at, tz).isoformat()
            if kind == "friend_added":
                if ev.payload.get("applied") is False:
                    continue
                if plan.trigger.get("channel"):
                    from siyu.automation.sop.triggers import channel_state

                    want = channel_state(
                        session, workspace_id=ev.workspace_id, channel=plan.trigger["channel"]
                    )
                    if ev.payload.get("state") != want:
                        continue
                service.enroll_event(
                    session,
                    plan,
                    customer_id=ev.customer_id,
                    key=f"friend:{ev.staff_id}:{day}",
                    at=ev.occurred_at,
                    staff_id=ev.staff_id,
                )
            elif kind in ("tag_added", "tag_removed"):
                tag_id = ev.payload.get("tag_id")
                name = ev.payload.get("tag") or (session.get(Tag, tag_id).name if tag_id else None)  # type: ignore[union-attr]
                if name != plan.trigger["tag"]:
                    continue
                service.enroll_event(
                    session, plan, customer_id=ev.customer_id, key=f"tag:{tag_id}:{day}", at=ev.occurred_at
                )
            elif kind == "joined_group" and ev.group_id is not None:
                group = session.get(Group, ev.group_id)
                if group is None or group.status == "dismissed" or group.dismissed_at is not None:
                    continue  # a late join callback of a group already dismissed
                want_group = plan.trigger.get("group")
                if want_group and want_group not in (group.name, group.chat_id):
                    continue
                service.enroll_event(
                    session,
                    plan,
                    customer_id=ev.customer_id,
                    key=f"group:{group.id}:{day}",
                    at=ev.occurred_at,
                    staff_id=group.owner_staff_id,
                    group_id=group.id,
                )


# A customer's link to a tag made by the change an event reports is at most this much
# older than the event (the event is recorded after the rows of its call are written).
TAG_ROW_SLACK = timedelta(minutes=30)


def _enroll_tag_change(session: Session, ev: Delivered, plans: Sequence[SopPlan], tz: str) -> None:
    """``tag.changed`` (any path: API, bulk, rules, keyword rules, sidebar, WeCom) enrolls
    customers in ``tag_added`` / ``tag_removed`` plans.

    The event names the customers and the tags that changed on at least one of them, so
    each customer is checked against what they hold now: for ``tag_added`` a link to the
    tag made by this change (not one they had before), for ``tag_removed`` no link. The
    occurrence key is the one the per-customer ``tag.add`` / ``tag.remove`` events use,
    so a change reported both ways enrolls once.
    """
    cids = sorted({int(c) for c in ev.payload.get("customer_ids") or []})
    if not cids:
        return
    day = local_day(ev.occurred_at, tz).isoformat()
    for plan in plans:
        kind = plan.trigger.get("kind")
        if plan.subject == "group" or kind not in ("tag_added", "tag_removed"):
            continue
        changed = [int(t) for t in ev.payload.get("added" if kind == "tag_added" else "removed") or []]
        if not changed:
            continue
        tag_ids = session.scalars(
            select(Tag.id).where(
                Tag.workspace_id == ev.workspace_id, Tag.id.in_(changed), Tag.name == plan.trigger["tag"]
            )
        ).all()
        for tag_id in tag_ids:
            for start in range(0, len(cids), 500):
                part = cids[start : start + 500]
                held = select(CustomerTag.customer_id).where(
                    CustomerTag.tag_id == tag_id, CustomerTag.customer_id.in_(part)
                )
                if kind == "tag_added":
                    held = held.where(CustomerTag.created_at >= ev.occurred_at - TAG_ROW_SLACK)
                holders = set(session.scalars(held))
                who = [c for c in part if (c in holders) == (kind == "tag_added")]
                admitted = in_audience(
                    session, workspace_id=ev.workspace_id, audience=plan.audience, customer_ids=who
                )
                matches = [Match(c, f"tag:{tag_id}:{day}", ev.occurred_at) for c in who if c in admitted]
                if matches:
                    service.enroll(session, plan, matches)


@periodic(
    "automation.sop_scan", every=600, description="enroll customers who now match SOP plans' state triggers"
)
def scan(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    out: dict[str, int] = {}
    with factory() as s:
        # What still runs through groups a sync found gone (or whose dismiss callback was
        # lost) ends here; the dismiss callback ends it at once.
        ended = service.exit_all_dismissed(s)
        s.commit()
    with factory() as s:
        plan_ids = [
            p.id
            for p in s.scalars(select(SopPlan).where(SopPlan.status == "active"))
            if p.trigger.get("kind") in spec.SCANNED
        ]
    for pid in plan_ids:
        with factory() as s:
            plan = s.get(SopPlan, pid)
            if plan is None or plan.status != "active":
                continue
            out[str(pid)] = service.enroll_matching(s, plan)
            s.commit()
    return {"enrolled": out, "ended_dismissed": ended}


PLAN_TASK = "automation.sop_plan"


@periodic(PLAN_TASK, every=30, description="queue the SOP steps that are due")
def plan_steps(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    with factory() as s:
        n = service.plan_due(s)
        s.commit()
    return {"planned": n}


@job_handler(service.STEP_JOB)
def run_steps_job(ctx: JobContext) -> Mapping[str, Any]:
    """Run a batch of due SOP steps, each once."""
    assert ctx.session is not None
    assert ctx.workspace_id is not None
    pairs = ctx.payload.get("pairs") or []
    result = service.run_steps(ctx.session, workspace_id=ctx.workspace_id, pairs=pairs)
    if result.ran and service.next_due_now(ctx.session, [int(e) for e, _ in pairs]):
        # The plan's next step is due at once (another step on the same day): the
        # planner's next tick comes in seconds, not at its 30-second interval. It still
        # gathers every customer who reached a send step into one mass send per account.
        run_soon(ctx.session, PLAN_TASK)
    return {"ran": result.ran, "already": result.already, "exited": result.exited, "waiting": result.waiting}
