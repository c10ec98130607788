"""Save, activate, pause and copy plans; enroll customers; run each step exactly once.

Exactly once: a step's run is a ``sop_step_runs`` row unique on ``(enrollment,
step)``, written in the same transaction as the step's effect (a task with a
``dedup_key``, a tag change) and the enrollment's advance. A worker killed between
planning (the queued ``automation.sop_steps`` job) and executing leaves the job to be
run again, which finds the step done or does it whole; two workers on PostgreSQL lock
the enrollment row and the loser sees the step taken.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.automation.content import get_content
from siyu.automation.sop import spec
from siyu.automation.sop.actions import StepCall, StepOutcome, is_batched, run_action, run_batch
from siyu.automation.sop.outbound import check_step_refs
from siyu.automation.sop.triggers import (
    Match,
    check_date_field,
    find_segment,
    group_matches,
    in_audience,
    matches_now,
    owners,
)
from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import utcnow, zone
from siyu.models import (
    Customer,
    CustomerStats,
    CustomerTag,
    Follow,
    Group,
    Message,
    SopEnrollment,
    SopPlan,
    SopStepRun,
    Tag,
    Workspace,
)
from siyu.segments.audience import AudienceSyntaxError, parse

STATUSES = ("draft", "active", "paused", "archived")
STEP_JOB = "automation.sop_steps"
JOB_PAIRS = 200  # (enrollment, step) pairs per job: short transactions, callbacks get in between
BATCH_JOB_PAIRS = 2000  # at one send / group message / moment step: one send (or moment) per job
PLAN_BATCH = 5000  # pairs planned per tick
REPLAN_AFTER = timedelta(hours=1)  # a planned step whose job vanished is planned again
ENROLL_CHUNK = 1000
# WeCom's CreateTime (an event's occurred_at) may run a little ahead of siyu's clock: an
# occurrence up to this far ahead is taken as happening now; one further ahead waits.
CLOCK_SKEW = timedelta(minutes=2)
NAME_MAX = 100


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def workspace_zone(session: Session, workspace_id: int) -> tuple[str, spec.Quiet]:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound(f"no workspace {workspace_id}", field="workspace_id")
    return ws.timezone, spec.Quiet.of(ws.settings)


# -- saving ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInput:
    name: str
    trigger: dict[str, Any]
    steps: list[dict[str, Any]]
    audience: str | None = None
    exits: list[Any] = field(default_factory=list)
    description: str | None = None
    template: str | None = None
    subject: str = "customer"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanInput:
        if not isinstance(data, dict):
            raise Invalid("a plan is an object with name, trigger and steps", field="plan")
        return cls(
            name=data.get("name") or "",
            trigger=data.get("trigger") or {},
            steps=data.get("steps") or [],
            audience=data.get("audience") or None,
            exits=data.get("exits") or [],
            description=data.get("description"),
            template=data.get("template"),
            subject=data.get("subject") or "customer",
        )


def check_plan(session: Session, *, workspace_id: int, data: PlanInput) -> dict[str, Any]:
    """The plan's parts normalised, or Invalid naming the field (nothing is written)."""
    name = (data.name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise Invalid(f"a plan needs a name of 1 to {NAME_MAX} characters", field="name")
    subject = spec.check_subject(data.subject)
    trigger = spec.check_trigger(data.trigger, subject)
    steps = spec.check_steps(data.steps, subject)
    exits = spec.check_exits(data.exits, subject)
    audience = (data.audience or "").strip() or None
    if audience is not None and subject == "group":
        raise Invalid(
            "audience is a condition on customers; a group plan narrows its groups with "
            "trigger.group_type and trigger.owner",
            field="audience",
        )
    if audience is not None:
        try:
            parse(audience)
        except AudienceSyntaxError as exc:
            raise Invalid(f"audience: {exc}", field="audience") from None
    if trigger["kind"] == "date_field":
        check_date_field(session, workspace_id=workspace_id, key=trigger["field"])
    if (
        trigger["kind"] == "segment"
        and find_segment(session, workspace_id=workspace_id, name=trigger["segment"]) is None
    ):
        raise Invalid(f"no saved segment named {trigger['segment']!r}", field="trigger.segment")
    for n, step in enumerate(steps):
        if "content_id" in step:
            try:
                get_content(session, workspace_id=workspace_id, content_id=step["content_id"])
            except NotFound as exc:
                raise Invalid(f"steps[{n}] refers to {exc.message}", field=f"steps[{n}].content_id") from None
    check_step_refs(session, workspace_id=workspace_id, trigger=trigger, steps=steps, subject=subject)
    looped = spec.loop_in(trigger, steps)
    if looped is not None:
        raise Invalid(
            f"steps[{looped}] changes the tag {trigger['tag']!r} that triggers this plan: it would loop",
            field=f"steps[{looped}]",
        )
    return {
        "name": name,
        "subject": subject,
        "trigger": trigger,
        "steps": steps,
        "exits": exits,
        "audience": audience,
        "description": (data.description or None),
        "template": data.template,
    }


def create_plan(session: Session, *, workspace_id: int, data: PlanInput, actor: str = "system") -> SopPlan:
    """A new draft plan (checked whole first)."""
    parts = check_plan(session, workspace_id=workspace_id, data=data)
    plan = SopPlan(workspace_id=workspace_id, status="draft", created_by=actor, version=1, **parts)
    session.add(plan)
    session.flush()
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="sop.create",
        target_type="sop_plan",
        target_id=str(plan.id),
        detail={"name": plan.name},
    )
    return plan


def get_plan(session: Session, *, workspace_id: int, plan_id: int, lock: bool = False) -> SopPlan:
    stmt = select(SopPlan).where(SopPlan.workspace_id == workspace_id, SopPlan.id == plan_id)
    plan = session.scalar(stmt.with_for_update() if lock else stmt)
    if plan is None:
        raise NotFound(f"no SOP plan {plan_id}", field="plan_id")
    return plan


def list_plans(session: Session, *, workspace_id: int, status: str | None = None) -> list[SopPlan]:
    stmt = select(SopPlan).where(SopPlan.workspace_id == workspace_id)
    if status:
        stmt = stmt.where(SopPlan.status == status)
    return list(session.scalars(stmt.order_by(SopPlan.id)))


def update_plan(
    session: Session, *, workspace_id: int, plan_id: int, data: PlanInput, actor: str = "system"
) -> SopPlan:
    """Replace a plan's parts. Enrolled customers stay enrolled (once); they go on with
    the new steps from the step they are at."""
    plan = get_plan(session, workspace_id=workspace_id, plan_id=plan_id, lock=True)
    if plan.status == "archived":
        raise Conflict(f"plan {plan_id} is archived", field="plan_id")
    parts = check_plan(session, workspace_id=workspace_id, data=data)
    if parts["subject"] != plan.subject and enrollment_counts(
        session, workspace_id=workspace_id, plan_id=plan.id
    ):
        raise Conflict(
            f"plan {plan_id} has enrollments of {plan.subject}s: its subject cannot change (copy it)",
            field="subject",
        )
    if data.template is None:
        parts.pop("template", None)  # which template the plan came from stays, unless named anew
    for key, value in parts.items():
        setattr(plan, key, value)
    plan.version += 1
    _reschedule(session, plan)
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="sop.update",
        target_type="sop_plan",
        target_id=str(plan.id),
        detail={"version": plan.version},
    )
    return plan


def copy_plan(session: Session, *, workspace_id: int, plan_id: int, actor: str = "system") -> SopPlan:
    """A draft copy of a plan (its parts as they are now; no enrollments)."""
    src = get_plan(session, workspace_id=workspace_id, plan_id=plan_id)
    data = PlanInput(
        name=f"{src.name} 副本"[:NAME_MAX],
        trigger=dict(src.trigger),
        steps=[dict(s) for s in src.steps],
        audience=src.audience,
        exits=[dict(e) for e in src.exits],
        description=src.description,
        template=src.template,
        subject=src.subject,
    )
    return create_plan(session, workspace_id=workspace_id, data=data, actor=actor)


def _reschedule(session: Session, plan: SopPlan) -> None:
    """After an edit: each active enrollment's next step time from the new steps."""
    tz, quiet = workspace_zone(session, plan.workspace_id)
    rows = session.scalars(
        select(SopEnrollment).where(SopEnrollment.plan_id == plan.id, SopEnrollment.status == "active")
    )
    for enr in rows:
        if enr.current_step >= len(plan.steps):
            enr.status, enr.next_due_at = "completed", None
        else:
            enr.next_due_at = spec.due_at(plan.steps[enr.current_step], enr.entered_at, tz=tz, quiet=quiet)
        enr.planned_at = None


# -- activation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    plan_id: int
    status: str
    already_matching: int
    enroll_existing: bool
    enrolled: int
    skipped: int
    dry_run: bool


def _matching(
    session: Session,
    plan: SopPlan,
    customer_ids: Sequence[int] | None = None,
    group_ids: Sequence[int] | None = None,
) -> list[Match]:
    if plan.subject == "group":
        return group_matches(
            session, workspace_id=plan.workspace_id, trigger=plan.trigger, group_ids=group_ids
        )
    tz, _ = workspace_zone(session, plan.workspace_id)
    found = matches_now(
        session, workspace_id=plan.workspace_id, trigger=plan.trigger, tz=tz, customer_ids=customer_ids
    )
    if not found:
        return []
    admitted = in_audience(
        session,
        workspace_id=plan.workspace_id,
        audience=plan.audience,
        customer_ids=[m.customer_id for m in found if m.customer_id is not None],
    )
    out = [m for m in found if m.customer_id in admitted]
    return _stays(session, plan, out) if _reentry(plan) else out


def _reentry(plan: SopPlan) -> bool:
    return plan.subject != "group" and bool(plan.trigger.get("reentry"))


def _stay_rows(
    session: Session, plan: SopPlan, base: str, customer_ids: Sequence[int] | None
) -> list[tuple[int, int, str, datetime | None]]:
    """``(enrollment id, customer, key, left_at)`` of this plan's stays under the trigger
    key ``base`` (the first stay's key is ``base``, later ones ``base#<previous id>``)."""
    stmt = select(
        SopEnrollment.id, SopEnrollment.customer_id, SopEnrollment.trigger_key, SopEnrollment.left_at
    ).where(
        SopEnrollment.plan_id == plan.id,
        SopEnrollment.customer_id.is_not(None),
        (SopEnrollment.trigger_key == base) | SopEnrollment.trigger_key.startswith(f"{base}#"),
    )
    if customer_ids is None:
        return [(int(e), c or 0, k, lt) for e, c, k, lt in session.execute(stmt.order_by(SopEnrollment.id))]
    ids = sorted(set(customer_ids))
    out: list[tuple[int, int, str, datetime | None]] = []
    for n in range(0, len(ids), ENROLL_CHUNK):
        part = stmt.where(SopEnrollment.customer_id.in_(ids[n : n + ENROLL_CHUNK]))
        out.extend((int(e), c or 0, k, lt) for e, c, k, lt in session.execute(part))
    out.sort()
    return out


def _stays(session: Session, plan: SopPlan, found: Sequence[Match]) -> list[Match]:
    """In a re-entry plan, each match's key names the customer's current stay in the layer
    or segment: the first stay ``base``; while they stay, the key of the stay they are in
    (taken, so nobody enrolls twice); after a scan saw them leave, a new stay
    ``base#<the previous stay's enrollment id>`` (the same key for two scans at once)."""
    if not found:
        return []
    base = found[0].key
    latest: dict[int, tuple[int, str, datetime | None]] = {}
    ids = [m.customer_id for m in found if m.customer_id is not None]
    for eid, cid, key, left in _stay_rows(session, plan, base, ids):
        latest[cid] = (eid, key, left)  # in id order: the last is the latest stay
    out: list[Match] = []
    for m in found:
        prev = latest.get(m.customer_id) if m.customer_id is not None else None
        if prev is None:
            out.append(m)
        elif prev[2] is None:
            out.append(replace(m, key=prev[1]))
        else:
            out.append(replace(m, key=f"{m.key}#{prev[0]}"))
    return out


def _mark_left(
    session: Session, plan: SopPlan, matched: Sequence[Match], checked: Sequence[int] | None
) -> int:
    """Re-entry plans: the stays of customers (of ``checked``; all when None) who no
    longer match end now (``left_at``), so that their return enrolls them again."""
    if plan.trigger["kind"] == "layer_changed":
        base = f"{plan.trigger['field']}:{plan.trigger['to']}"
    else:
        seg = find_segment(session, workspace_id=plan.workspace_id, name=plan.trigger["segment"])
        if seg is None:
            return 0
        base = f"segment:{seg.id}"
    inside = {m.customer_id for m in matched}
    gone = [
        eid
        for eid, cid, _key, left in _stay_rows(session, plan, base, checked)
        if left is None and cid not in inside
    ]
    now = utcnow()
    for n in range(0, len(gone), ENROLL_CHUNK):
        session.execute(
            update(SopEnrollment)
            .where(SopEnrollment.id.in_(gone[n : n + ENROLL_CHUNK]))
            .values(left_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(gone)


def activate(
    session: Session,
    *,
    workspace_id: int,
    plan_id: int,
    enroll_existing: bool,
    dry_run: bool = False,
    actor: str = "system",
) -> Activation:
    """Start (or resume) a plan. ``already_matching`` says how many customers match it
    now; with ``enroll_existing`` they are enrolled, without it they are marked
    ``skipped`` (so that only later occurrences enroll). ``dry_run`` changes nothing."""
    plan = get_plan(session, workspace_id=workspace_id, plan_id=plan_id, lock=not dry_run)
    if plan.status == "archived":
        raise Conflict(f"plan {plan_id} is archived", field="plan_id")
    check_plan(session, workspace_id=workspace_id, data=PlanInput.from_dict(plan_dict(plan)))
    resuming = plan.status == "paused"
    now = utcnow()
    # An occurrence cannot lie ahead of now (imported data may say so): those wait.
    found = [] if resuming else [m for m in _matching(session, plan) if m.at is None or m.at <= now]
    fresh = _not_enrolled(session, plan, found)
    if dry_run or resuming:
        if not dry_run:
            plan.status = "active"
            _audit_status(session, plan, actor, "sop.resume")
        return Activation(plan.id, plan.status, len(fresh), enroll_existing, 0, 0, dry_run)
    plan.status = "active"
    plan.activated_at = now
    plan.enroll_existing = enroll_existing
    if enroll_existing:
        enrolled = enroll(session, plan, fresh, now=now)
        skipped = 0
    else:
        enrolled = 0
        skipped = _insert_enrollments(session, plan, fresh, now=now, status="skipped")
    _audit_status(
        session, plan, actor, "sop.activate", {"enroll_existing": enroll_existing, "matching": len(fresh)}
    )
    return Activation(plan.id, plan.status, len(fresh), enroll_existing, enrolled, skipped, False)


def _audit_status(
    session: Session, plan: SopPlan, actor: str, action: str, detail: dict[str, Any] | None = None
) -> None:
    audit.record(
        session,
        workspace_id=plan.workspace_id,
        actor=actor,
        action=action,
        target_type="sop_plan",
        target_id=str(plan.id),
        detail=detail or {},
    )


def set_status(
    session: Session, *, workspace_id: int, plan_id: int, status: str, actor: str = "system"
) -> SopPlan:
    """Pause (no new steps run; enrollment waits) or archive a plan."""
    if status not in ("paused", "archived"):
        raise Invalid("status is paused or archived (activate to start or resume)", field="status")
    plan = get_plan(session, workspace_id=workspace_id, plan_id=plan_id, lock=True)
    if status == "paused" and plan.status != "active":
        raise Conflict(f"plan {plan_id} is {plan.status}, not active", field="plan_id")
    plan.status = status
    _audit_status(session, plan, actor, f"sop.{'pause' if status == 'paused' else 'archive'}")
    return plan


# -- enrollment ----------------------------------------------------------------------------


def _not_enrolled(session: Session, plan: SopPlan, found: Sequence[Match]) -> list[Match]:
    """Matches whose occurrence has no enrollment yet and whose customer is not in the plan
    now; in a group plan, groups never enrolled in it (a group enters a plan once)."""
    if not found:
        return []
    if plan.subject == "group":
        return _groups_not_enrolled(session, plan, found)
    ids = sorted({m.customer_id for m in found if m.customer_id is not None})
    taken: set[tuple[int | None, str]] = set()
    active: set[int | None] = set()
    for n in range(0, len(ids), ENROLL_CHUNK):
        rows = session.execute(
            select(SopEnrollment.customer_id, SopEnrollment.trigger_key, SopEnrollment.status).where(
                SopEnrollment.plan_id == plan.id, SopEnrollment.customer_id.in_(ids[n : n + ENROLL_CHUNK])
            )
        )
        for cid, key, status in rows:
            taken.add((cid, key))
            if status == "active":
                active.add(cid)
    seen: set[int | None] = set()
    out: list[Match] = []
    for m in found:
        if (m.customer_id, m.key) in taken or m.customer_id in active or m.customer_id in seen:
            continue
        seen.add(m.customer_id)
        out.append(m)
    return out


def _groups_not_enrolled(session: Session, plan: SopPlan, found: Sequence[Match]) -> list[Match]:
    gids = sorted({m.group_id for m in found if m.group_id is not None})
    taken: set[int] = set()
    for n in range(0, len(gids), ENROLL_CHUNK):
        taken.update(
            int(g)
            for g in session.scalars(
                select(SopEnrollment.group_id).where(
                    SopEnrollment.plan_id == plan.id,
                    SopEnrollment.customer_id.is_(None),
                    SopEnrollment.group_id.in_(gids[n : n + ENROLL_CHUNK]),
                )
            )
            if g is not None
        )
    out: list[Match] = []
    for m in found:
        if m.group_id is None or m.group_id in taken:
            continue
        taken.add(m.group_id)
        out.append(m)
    return out


def _insert_enrollments(
    session: Session, plan: SopPlan, matches: Sequence[Match], *, now: datetime, status: str
) -> int:
    if not matches:
        return 0
    tz, quiet = workspace_zone(session, plan.workspace_id)
    staff = owners(
        session,
        workspace_id=plan.workspace_id,
        customer_ids=[m.customer_id for m in matches if m.staff_id is None and m.customer_id is not None],
    )
    first_due = None
    if status == "active":
        first_due = spec.due_at(plan.steps[0], now, tz=tz, quiet=quiet)
    ins = _insert(session)(SopEnrollment)
    total = 0
    for n in range(0, len(matches), ENROLL_CHUNK):
        rows = [
            {
                "workspace_id": plan.workspace_id,
                "plan_id": plan.id,
                "customer_id": m.customer_id,
                "staff_id": m.staff_id
                if m.staff_id is not None or m.customer_id is None
                else staff.get(m.customer_id),
                "group_id": m.group_id,
                "trigger_key": m.key[:120],
                "status": status,
                "entered_at": now,
                "current_step": 0,
                "next_due_at": first_due,
                "exit_reason": None if status == "active" else "already_matching",
                "created_at": now,
                "updated_at": now,
            }
            for m in matches[n : n + ENROLL_CHUNK]
        ]
        if plan.subject == "group":  # the partial unique index: one enrollment per (plan, group)
            stmt = ins.values(rows).on_conflict_do_nothing(
                index_elements=["plan_id", "group_id"], index_where=SopEnrollment.customer_id.is_(None)
            )
        else:
            stmt = ins.values(rows).on_conflict_do_nothing(
                index_elements=["plan_id", "customer_id", "trigger_key"]
            )
        result = session.execute(stmt.returning(SopEnrollment.id))
        total += len(result.all())
    return total


def enroll(session: Session, plan: SopPlan, matches: Sequence[Match], *, now: datetime | None = None) -> int:
    """Enroll these matches (audience already applied) once each; how many entered."""
    if plan.status != "active":
        return 0
    when = now or utcnow()
    # An occurrence further ahead than the clocks can differ is not one yet (imported
    # data may say so): it enrolls when its time comes (the scan, a re-delivery).
    matches = [m for m in matches if m.at is None or m.at <= when + CLOCK_SKEW]
    if not plan.enroll_existing and plan.activated_at is not None:
        # Without existing customers, only occurrences since the activation count (those
        # without a time were marked skipped at activation).
        matches = [m for m in matches if m.at is None or m.at >= plan.activated_at]
    return _insert_enrollments(
        session, plan, _not_enrolled(session, plan, matches), now=when, status="active"
    )


def enroll_matching(
    session: Session,
    plan: SopPlan,
    customer_ids: Sequence[int] | None = None,
    group_ids: Sequence[int] | None = None,
) -> int:
    """Enroll whoever (whichever group) matches the plan now (the scan of state triggers);
    in a re-entry plan, first note who left the layer or segment (of ``customer_ids``)."""
    found = _matching(session, plan, customer_ids, group_ids)
    if _reentry(plan) and plan.status == "active":
        _mark_left(session, plan, found, customer_ids)
    return enroll(session, plan, found)


def enroll_event(
    session: Session,
    plan: SopPlan,
    *,
    customer_id: int,
    key: str,
    at: datetime,
    staff_id: int | None = None,
    group_id: int | None = None,
) -> int:
    """Enroll one customer for one event occurrence, if the audience admits them."""
    if customer_id not in in_audience(
        session, workspace_id=plan.workspace_id, audience=plan.audience, customer_ids=[customer_id]
    ):
        return 0
    return enroll(session, plan, [Match(customer_id, key, at, staff_id, group_id)])


def enroll_group(session: Session, plan: SopPlan, *, group_id: int) -> int:
    """Enroll one group in a group plan if it matches the trigger now (an event said so)."""
    if plan.subject != "group":
        return 0
    return enroll(session, plan, _matching(session, plan, group_ids=[group_id]))


def exit_dismissed(session: Session, *, workspace_id: int, group_id: int, at: datetime) -> int:
    """A dismissed group ends what runs through it: the group leaves the group plans it is
    in (``dismissed``) and its members' enrollments that came through it (``joined_group``
    plans) end with ``group_dismissed``; no further step runs. How many ended."""
    total = 0
    for members, reason in ((False, "dismissed"), (True, "group_dismissed")):
        who = SopEnrollment.customer_id.is_not(None) if members else SopEnrollment.customer_id.is_(None)
        result = session.execute(
            update(SopEnrollment)
            .where(
                SopEnrollment.workspace_id == workspace_id,
                SopEnrollment.group_id == group_id,
                who,
                SopEnrollment.status == "active",
            )
            .values(status="exited", exit_reason=reason, exited_at=at, next_due_at=None, planned_at=None)
            .execution_options(synchronize_session=False)
        )
        total += int(getattr(result, "rowcount", 0) or 0)
    return total


def exit_all_dismissed(session: Session, *, workspace_id: int | None = None) -> int:
    """End the enrollments still running through groups that are dismissed now (a sync
    found the group gone, or the dismiss callback was lost): the scan's sweep."""
    stmt = (
        select(Group.workspace_id, Group.id, func.coalesce(Group.dismissed_at, Group.updated_at))
        .where(
            (Group.status == "dismissed") | Group.dismissed_at.is_not(None),
            select(SopEnrollment.id)
            .where(SopEnrollment.group_id == Group.id, SopEnrollment.status == "active")
            .exists(),
        )
        .order_by(Group.id)
    )
    if workspace_id is not None:
        stmt = stmt.where(Group.workspace_id == workspace_id)
    total = 0
    for ws_id, gid, at in session.execute(stmt).all():
        total += exit_dismissed(session, workspace_id=ws_id, group_id=gid, at=at or utcnow())
    return total


# -- running steps ---------------------------------------------------------------------------


def plan_due(session: Session, *, limit: int = PLAN_BATCH) -> int:
    """Queue jobs for the steps now due (active plans only); how many steps were queued.

    Pairs at a send, group-message or moment step are queued together per (plan, step),
    up to ``BATCH_JOB_PAIRS`` a job: customers reaching a send step at the same time
    become one mass send per staff account, not one WeCom call each.
    """
    now = utcnow()
    rows = session.execute(
        select(
            SopEnrollment.id, SopEnrollment.current_step, SopEnrollment.workspace_id, SopEnrollment.plan_id
        )
        .join(SopPlan, SopPlan.id == SopEnrollment.plan_id)
        .where(
            SopEnrollment.status == "active",
            SopEnrollment.next_due_at <= now,
            (SopEnrollment.planned_at.is_(None)) | (SopEnrollment.planned_at < now - REPLAN_AFTER),
            SopPlan.status == "active",
        )
        .order_by(SopEnrollment.next_due_at, SopEnrollment.id)
        .limit(limit)
    ).all()
    plan_ids = {int(r[3]) for r in rows}
    steps_of: dict[int, list[dict[str, Any]]] = {
        int(pid): list(steps)
        for pid, steps in session.execute(select(SopPlan.id, SopPlan.steps).where(SopPlan.id.in_(plan_ids)))
    }
    groups: dict[tuple[int, int | None, int | None], list[tuple[int, int]]] = {}
    for eid, step, ws, pid in rows:
        steps = steps_of.get(pid) or []
        batched = step < len(steps) and is_batched(steps[step]["action"])
        key = (ws, pid, step) if batched else (ws, None, None)
        groups.setdefault(key, []).append((eid, step))
    for (ws_id, plan_id, _), pairs in groups.items():
        size = BATCH_JOB_PAIRS if plan_id is not None else JOB_PAIRS
        for n in range(0, len(pairs), size):
            chunk = pairs[n : n + size]
            digest = hashlib.sha256(repr(chunk).encode()).hexdigest()[:16]
            enqueue(
                session,
                kind=STEP_JOB,
                workspace_id=ws_id,
                payload={"pairs": [list(p) for p in chunk]},
                dedup_key=f"sop-steps:{chunk[0][0]}:{chunk[0][1]}:{digest}",
            )
            session.execute(
                update(SopEnrollment)
                .where(SopEnrollment.id.in_([p[0] for p in chunk]))
                .values(planned_at=now)
            )
    return len(rows)


def next_due_now(session: Session, enrollment_ids: Sequence[int]) -> bool:
    """Whether any of these enrollments has its next step due now and not yet planned."""
    if not enrollment_ids:
        return False
    return (
        session.scalar(
            select(SopEnrollment.id)
            .where(
                SopEnrollment.id.in_(enrollment_ids),
                SopEnrollment.status == "active",
                SopEnrollment.planned_at.is_(None),
                SopEnrollment.next_due_at <= utcnow(),
            )
            .limit(1)
        )
        is not None
    )


@dataclass
class StepsRun:
    ran: int = 0
    already: int = 0
    exited: int = 0
    waiting: int = 0


def run_steps(session: Session, *, workspace_id: int, pairs: Iterable[Sequence[int]]) -> StepsRun:
    """Run each ``(enrollment, step)`` that is still due, once."""
    out = StepsRun()
    tz, quiet = workspace_zone(session, workspace_id)
    wanted = [(int(e), int(i)) for e, i in pairs]
    # One locking read, in id order (two workers on PostgreSQL queue behind each other
    # instead of deadlocking); the loser then finds the step taken.
    loaded = {
        e.id: e
        for e in session.scalars(
            select(SopEnrollment)
            .where(SopEnrollment.workspace_id == workspace_id, SopEnrollment.id.in_([e for e, _ in wanted]))
            .order_by(SopEnrollment.id)
            .with_for_update()
        )
    }
    owner_of = owners(
        session,
        workspace_id=workspace_id,
        customer_ids=[e.customer_id for e in loaded.values() if e.customer_id is not None],
    )
    # A group plan's steps go to the group's owner now (a create callback enrolls the
    # group before the re-fetch names its owner; a transfer changes it).
    group_owner: dict[int, int | None] = dict(
        session.execute(
            select(Group.id, Group.owner_staff_id).where(
                Group.id.in_(
                    sorted({e.group_id for e in loaded.values() if e.customer_id is None and e.group_id})
                )
            )
        ).all()
    )
    ran_before = set(
        session.execute(
            select(SopStepRun.enrollment_id, SopStepRun.step_index).where(
                SopStepRun.enrollment_id.in_(list(loaded))
            )
        ).all()
    )
    plans = {
        p.id: p
        for p in session.scalars(
            select(SopPlan).where(SopPlan.id.in_(sorted({e.plan_id for e in loaded.values()})))
        )
    }
    # What the plans' exit conditions read, for the whole batch at once.
    facts = ExitFacts.load(session, list(plans.values()), list(loaded.values()))
    acted_on: set[int] = set()
    runs: list[dict[str, Any]] = []
    # Sends, group messages and moments run per (plan, step) for the whole batch.
    batched: dict[tuple[int, int], list[tuple[StepCall, dict[str, Any]]]] = {}
    for eid, index in wanted:
        enr = loaded.get(eid)
        if enr is None or enr.status != "active" or enr.current_step != index:
            out.already += 1
            continue
        plan = plans[enr.plan_id]
        if plan.status != "active":  # paused: the step waits for the resume
            enr.planned_at = None
            out.waiting += 1
            continue
        now = utcnow()
        if enr.next_due_at is not None and enr.next_due_at > now:
            enr.planned_at = None
            out.waiting += 1
            continue
        if enr.customer_id is not None and enr.customer_id in acted_on:
            # an earlier step of this batch acted on the customer (a tag step): ask again
            reason = exit_reason(session, plan, enr)
        else:
            reason = facts.reason(session, plan, enr)
        if reason is not None:
            enr.status, enr.exit_reason, enr.exited_at = "exited", reason, now
            enr.next_due_at = enr.planned_at = None
            out.exited += 1
            continue
        if index >= len(plan.steps):
            enr.status, enr.next_due_at, enr.planned_at = "completed", None, None
            continue
        step = plan.steps[index]
        if (enr.id, index) in ran_before:  # recorded, but the enrollment did not move: repair it
            _advance(enr, plan, tz, quiet)
            out.already += 1
            continue
        if enr.customer_id is None:
            owner = group_owner.get(enr.group_id) if enr.group_id is not None else None
        else:
            owner = owner_of.get(enr.customer_id)
        call = StepCall(plan, enr, step, index, owner if owner is not None else enr.staff_id, now)
        row: dict[str, Any] = {
            "workspace_id": workspace_id,
            "enrollment_id": enr.id,
            "step_index": index,
            "action": step["action"],
            "ran_at": now,
        }
        if is_batched(step["action"]):
            batched.setdefault((plan.id, index), []).append((call, row))
        else:
            _outcome(row, run_action(session, call))
            if enr.customer_id is not None:
                acted_on.add(enr.customer_id)
        runs.append(row)
        _advance(enr, plan, tz, quiet)
        out.ran += 1
    for items in batched.values():
        got = run_batch(session, [c for c, _ in items])
        for c, row in items:
            _outcome(row, got[c.enrollment.id])
    if runs:
        # One statement for the batch; the unique (enrollment, step) pair is the last
        # guard: a duplicate aborts the whole transaction (the job is retried and finds
        # the steps done) rather than letting a step count twice.
        session.execute(insert(SopStepRun), runs)
    return out


def _outcome(row: dict[str, Any], result: StepOutcome) -> None:
    row.update(outcome=result.outcome, task_id=result.task_id, detail=result.detail or {})


def _advance(enr: SopEnrollment, plan: SopPlan, tz: str, quiet: spec.Quiet) -> None:
    enr.current_step += 1
    enr.planned_at = None
    if enr.current_step >= len(plan.steps):
        enr.status, enr.next_due_at = "completed", None
    else:
        enr.next_due_at = spec.due_at(plan.steps[enr.current_step], enr.entered_at, tz=tz, quiet=quiet)


_IN_CHUNK = 5000  # ids per IN (...) list


@dataclass
class ExitFacts:
    """What the exit conditions read, for a batch of enrollments, in one query per kind.

    ``reason`` gives one enrollment's first exit of the plan's list that the customer
    meets since entering (:func:`exit_reason` is this for a batch of one).
    """

    last_paid: dict[int, datetime] = field(default_factory=dict)
    opted_out: set[int] = field(default_factory=set)
    following: set[int] = field(default_factory=set)
    last_reply: dict[int, datetime] = field(default_factory=dict)
    last_tagged: dict[tuple[int, str], datetime] = field(default_factory=dict)

    @classmethod
    def load(
        cls, session: Session, plans: Sequence[SopPlan], enrollments: Sequence[SopEnrollment]
    ) -> ExitFacts:
        out = cls()
        kinds = {ex["kind"] for p in plans for ex in p.exits}
        tags = sorted({ex["tag"] for p in plans for ex in p.exits if ex["kind"] == "tag_added"})
        ids = sorted({e.customer_id for e in enrollments if e.customer_id is not None})
        for n in range(0, len(ids), _IN_CHUNK):
            chunk = ids[n : n + _IN_CHUNK]
            if "bought" in kinds:
                out.last_paid.update(
                    (c, at)
                    for c, at in session.execute(
                        select(CustomerStats.customer_id, CustomerStats.last_paid_at).where(
                            CustomerStats.customer_id.in_(chunk), CustomerStats.last_paid_at.is_not(None)
                        )
                    )
                    if at is not None
                )
            if "opted_out" in kinds:
                out.opted_out.update(
                    session.scalars(
                        select(Customer.id).where(Customer.id.in_(chunk), Customer.opt_out.is_(True))
                    )
                )
            if "left" in kinds:
                out.following.update(
                    session.scalars(
                        select(Follow.customer_id)
                        .where(Follow.customer_id.in_(chunk), Follow.state == "active")
                        .distinct()
                    )
                )
            if "replied" in kinds:
                out.last_reply.update(
                    (c, at)
                    for c, at in session.execute(
                        select(Message.customer_id, func.max(Message.sent_at))
                        .where(Message.customer_id.in_(chunk), Message.direction == "in")
                        .group_by(Message.customer_id)
                    )
                    if c is not None
                )
            if tags:
                out.last_tagged.update(
                    ((c, name), at)
                    for c, name, at in session.execute(
                        select(CustomerTag.customer_id, Tag.name, func.max(CustomerTag.created_at))
                        .join(Tag, Tag.id == CustomerTag.tag_id)
                        .where(CustomerTag.customer_id.in_(chunk), Tag.name.in_(tags))
                        .group_by(CustomerTag.customer_id, Tag.name)
                    )
                )
        return out

    def reason(self, session: Session, plan: SopPlan, enr: SopEnrollment) -> str | None:
        cid = enr.customer_id
        if cid is None or enr.group_id is not None:
            group_reason = _group_exit(session, enr)
            if group_reason is not None or cid is None:
                return group_reason
        entered = enr.entered_at
        for ex in plan.exits:
            kind = ex["kind"]
            if kind == "bought":
                last = self.last_paid.get(cid)
                if last is not None and last > entered:
                    return "bought"
            elif kind == "opted_out":
                if cid in self.opted_out:
                    return "opted_out"
            elif kind == "left":
                if cid not in self.following:
                    return "left"
            elif kind == "replied":
                last = self.last_reply.get(cid)
                if last is not None and last > entered:
                    return "replied"
            elif kind == "tag_added":
                last = self.last_tagged.get((cid, ex["tag"]))
                if last is not None and last > entered:
                    return "tag_added"
        return None


def _group_exit(session: Session, enr: SopEnrollment) -> str | None:
    """A group enrollment's ``dismissed``, or a member's ``group_dismissed`` (entered through it)."""
    group = session.get(Group, enr.group_id) if enr.group_id is not None else None
    if group is None or group.status == "dismissed" or group.dismissed_at is not None:
        return "dismissed" if enr.customer_id is None else "group_dismissed"
    return None


def exit_reason(session: Session, plan: SopPlan, enr: SopEnrollment) -> str | None:
    """The first exit condition the customer meets since entering, if any; for a group
    enrollment, ``dismissed`` when the group is gone (whatever the plan lists), and for a
    member who entered through a group, ``group_dismissed`` when that group is gone."""
    return ExitFacts.load(session, [plan], [enr]).reason(session, plan, enr)


# -- reading ---------------------------------------------------------------------------------


def plan_dict(plan: SopPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "name": plan.name,
        "subject": plan.subject,
        "description": plan.description,
        "status": plan.status,
        "trigger": plan.trigger,
        "audience": plan.audience,
        "steps": plan.steps,
        "exits": plan.exits,
        "template": plan.template,
        "enroll_existing": plan.enroll_existing,
        "version": plan.version,
        "activated_at": plan.activated_at.isoformat() if plan.activated_at else None,
    }


def enrollment_counts(session: Session, *, workspace_id: int, plan_id: int) -> dict[str, int]:
    rows = session.execute(
        select(SopEnrollment.status, func.count())
        .where(SopEnrollment.workspace_id == workspace_id, SopEnrollment.plan_id == plan_id)
        .group_by(SopEnrollment.status)
    )
    return {status: int(n) for status, n in rows}


def preview(session: Session, *, workspace_id: int, plan_id: int) -> dict[str, Any]:
    """The timeline (when each step runs for someone entering now) and each step's reach
    now: customers enrolled and not past it, plus those who match and are not enrolled."""
    plan = get_plan(session, workspace_id=workspace_id, plan_id=plan_id)
    tz, quiet = workspace_zone(session, workspace_id)
    now = utcnow()
    waiting = (
        len(_not_enrolled(session, plan, _matching(session, plan)))
        if plan.status in ("draft", "paused") or plan.enroll_existing
        else 0
    )
    at_step = dict(
        session.execute(
            select(SopEnrollment.current_step, func.count())
            .where(SopEnrollment.plan_id == plan.id, SopEnrollment.status == "active")
            .group_by(SopEnrollment.current_step)
        ).all()
    )
    steps = []
    for n, step in enumerate(plan.steps):
        enrolled_before = sum(int(c) for s, c in at_step.items() if s <= n)
        steps.append(
            {
                "index": n,
                "day": step["day"],
                "at": step.get("at"),
                "action": step["action"],
                "title": step["title"],
                "runs_at": spec.due_at(step, now, tz=tz, quiet=quiet).isoformat(),
                "reach_now": enrolled_before + waiting,
            }
        )
    return {
        "plan_id": plan.id,
        "matching_not_enrolled": waiting,
        "steps": steps,
        "counts": enrollment_counts(session, workspace_id=workspace_id, plan_id=plan.id),
    }


def customer_enrollments(session: Session, *, workspace_id: int, customer_id: int) -> list[dict[str, Any]]:
    """The customer's SOP enrollments (for the profile): plan, state, step, exit."""
    rows = session.execute(
        select(SopEnrollment, SopPlan.name, SopPlan.steps)
        .join(SopPlan, SopPlan.id == SopEnrollment.plan_id)
        .where(SopEnrollment.workspace_id == workspace_id, SopEnrollment.customer_id == customer_id)
        .where(SopEnrollment.status != "skipped")
        .order_by(SopEnrollment.entered_at.desc())
    ).all()
    return [_enrollment_dict(enr, name, steps) for enr, name, steps in rows]


def _enrollment_dict(enr: SopEnrollment, name: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "plan_id": enr.plan_id,
        "plan": name,
        "status": enr.status,
        "entered_at": enr.entered_at.isoformat(),
        "current_step": enr.current_step,
        "steps": len(steps),
        "next_step": steps[enr.current_step]["title"]
        if enr.status == "active" and enr.current_step < len(steps)
        else None,
        "next_action": steps[enr.current_step]["action"]
        if enr.status == "active" and enr.current_step < len(steps)
        else None,
        "next_due_at": enr.next_due_at.isoformat() if enr.next_due_at else None,
        "exit_reason": enr.exit_reason,
        "exited_at": enr.exited_at.isoformat() if enr.exited_at else None,
    }


def find_group_id(session: Session, *, workspace_id: int, group: str | int) -> int:
    """A group of this workspace named by its id or its WeCom chat id."""
    text = str(group).strip()
    cond = Group.chat_id == text
    if text.isdigit():
        cond = cond | (Group.id == int(text))
    gid = session.scalar(select(Group.id).where(Group.workspace_id == workspace_id, cond).limit(1))
    if gid is None:
        raise NotFound(f"no group {text!r} (an id or a chat id)", field="group")
    return int(gid)


def group_plan_enrollments(session: Session, *, workspace_id: int, group_id: int) -> list[dict[str, Any]]:
    """A group's own enrollments in group plans (API, CLI): plan, state, step, exit, and
    the group's name."""
    group = session.scalar(select(Group).where(Group.workspace_id == workspace_id, Group.id == group_id))
    if group is None:
        raise NotFound(f"no group {group_id}", field="group_id")
    rows = session.execute(
        select(SopEnrollment, SopPlan.name, SopPlan.steps)
        .join(SopPlan, SopPlan.id == SopEnrollment.plan_id)
        .where(
            SopEnrollment.workspace_id == workspace_id,
            SopEnrollment.group_id == group_id,
            SopEnrollment.customer_id.is_(None),
            SopEnrollment.status != "skipped",
        )
        .order_by(SopEnrollment.entered_at.desc(), SopEnrollment.id.desc())
    ).all()
    return [
        {**_enrollment_dict(enr, name, steps), "group_id": group.id, "group": group.name}
        for enr, name, steps in rows
    ]


def group_enrollments(session: Session, *, workspace_id: int, group_id: int) -> list[dict[str, Any]]:
    """The plans running for a group (for the group card): first the group's own plans
    (``subject: group``: its next step and when), then each plan its members are in
    through the group (``joined_group`` plans, ``subject: members``), with the next step,
    how many members are at it and when it is next due (``next_due_local``: in the
    workspace's zone, as the sidebar shows it)."""
    tz, _ = workspace_zone(session, workspace_id)

    def local(at: str | None) -> str | None:
        return f"{datetime.fromisoformat(at).astimezone(zone(tz)):%Y-%m-%d %H:%M}" if at else None

    own = [
        {
            "plan_id": r["plan_id"],
            "plan": r["plan"],
            "subject": "group",
            "step": r["next_step"] or "",
            "action": r["next_action"],
            "members": None,
            "next_due_at": r["next_due_at"],
            "next_due_local": local(r["next_due_at"]),
        }
        for r in group_plan_enrollments(session, workspace_id=workspace_id, group_id=group_id)
        if r["status"] == "active"
    ]
    rows = session.execute(
        select(
            SopPlan.id,
            SopPlan.name,
            SopPlan.steps,
            SopEnrollment.current_step,
            func.count(),
            func.min(SopEnrollment.next_due_at),
        )
        .join(SopPlan, SopPlan.id == SopEnrollment.plan_id)
        .where(
            SopEnrollment.workspace_id == workspace_id,
            SopEnrollment.group_id == group_id,
            SopEnrollment.customer_id.is_not(None),
            SopEnrollment.status == "active",
        )
        .group_by(SopPlan.id, SopPlan.name, SopPlan.steps, SopEnrollment.current_step)
        .order_by(SopPlan.id, SopEnrollment.current_step)
    ).all()
    out = own
    for pid, name, steps, current, n, due in rows:
        out.append(
            {
                "plan_id": pid,
                "plan": name,
                "subject": "members",
                "step": steps[current]["title"] if current < len(steps) else "",
                "action": steps[current]["action"] if current < len(steps) else None,
                "members": int(n),
                "next_due_at": due.isoformat() if due else None,
                "next_due_local": local(due.isoformat() if due else None),
            }
        )
    return out


def run_all_due(session: Session, *, workspace_id: int, limit: int = 100_000) -> StepsRun:
    """Run every step due now in this workspace in the caller's transaction (CLI, demo, tests)."""
    total = StepsRun()
    while True:
        now = utcnow()
        pairs = session.execute(
            select(SopEnrollment.id, SopEnrollment.current_step)
            .join(SopPlan, SopPlan.id == SopEnrollment.plan_id)
            .where(
                SopEnrollment.workspace_id == workspace_id,
                SopEnrollment.status == "active",
                SopEnrollment.next_due_at <= now,
                SopPlan.status == "active",
            )
            .order_by(SopEnrollment.id)
            .limit(BATCH_JOB_PAIRS)
        ).all()
        if not pairs or total.ran >= limit:
            return total
        got = run_steps(session, workspace_id=workspace_id, pairs=[(e, s) for e, s in pairs])
        total.ran += got.ran
        total.exited += got.exited
        total.already += got.already
        session.flush()
        if got.ran == 0 and got.exited == 0:
            return total
