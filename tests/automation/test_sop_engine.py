"""SOP plans: saving refuses what cannot run; enrollment is once; each step runs once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.automation.content import create_content
from siyu.automation.sop import service
from siyu.automation.sop.jobs import enroll_on_events
from siyu.automation.sop.service import PlanInput
from siyu.kit.errors import Invalid
from siyu.kit.ops import Delivered
from siyu.kit.timeutil import moved_clock
from siyu.models import Event, SopEnrollment, SopStepRun, StaffTask
from tests.automation.factory import friend, staff

# 2026-03-31 10:00 in Shanghai
T0 = datetime(2026, 3, 31, 2, 0, tzinfo=UTC)


def onboarding(content_id: int | None = None) -> PlanInput:
    steps = [
        {"day": 0, "at": "20:00", "action": "task", "title": "问候新好友", "body": "您好，欢迎！"},
        {"day": 3, "at": "20:00", "action": "task", "title": "介绍爆品"},
    ]
    if content_id:
        steps[1]["content_id"] = content_id
    return PlanInput(
        name="新好友承接", trigger={"kind": "friend_added"}, steps=steps, exits=["bought", "opted_out"]
    )


def _deliver(session: Session, workspace_id: int) -> None:
    events = session.scalars(select(Event).where(Event.workspace_id == workspace_id).order_by(Event.id)).all()
    enroll_on_events(
        session,
        [
            Delivered(
                e.id,
                e.workspace_id,
                e.kind,
                e.occurred_at,
                e.source,
                e.customer_id,
                e.staff_id,
                e.group_id,
                e.order_id,
                e.payload,
            )
            for e in events
        ],
    )


def _run_due(session: Session) -> service.StepsRun:
    total = service.StepsRun()
    service.plan_due(session)
    from siyu.models import Job

    for job in session.scalars(select(Job).where(Job.kind == service.STEP_JOB, Job.status == "queued")).all():
        r = service.run_steps(session, workspace_id=job.workspace_id or 0, pairs=job.payload["pairs"])
        job.status = "done"
        total.ran += r.ran
        total.already += r.already
    session.flush()
    return total


def test_friend_enrolls_once_and_steps_run_once_at_their_local_times(
    session: Session, workspace_id: int
) -> None:
    with moved_clock(T0) as advance:
        sid = staff(session, workspace_id, "amy")
        plan = service.create_plan(session, workspace_id=workspace_id, data=onboarding())
        act = service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        assert act.status == "active"
        cid = friend(session, workspace_id, sid, T0)
        _deliver(session, workspace_id)
        _deliver(session, workspace_id)  # a re-delivery enrolls nobody twice
        enr = session.scalars(select(SopEnrollment).where(SopEnrollment.customer_id == cid)).one()
        # day 0 at 20:00 Shanghai = 12:00 UTC
        assert enr.next_due_at == datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
        assert _run_due(session).ran == 0
        advance(timedelta(hours=10))
        assert _run_due(session).ran == 1
        assert _run_due(session).ran == 0
        task = session.scalars(select(StaffTask).where(StaffTask.customer_id == cid)).one()
        assert task.kind == "sop_step"
        assert task.staff_id == sid
        assert task.title.endswith("问候新好友")
        # day 3 crosses the month: 2026-04-03 20:00 local
        session.refresh(enr)
        assert enr.next_due_at == datetime(2026, 4, 3, 12, 0, tzinfo=UTC)
        # editing the plan does not enroll anyone again
        service.update_plan(session, workspace_id=workspace_id, plan_id=plan.id, data=onboarding())
        _deliver(session, workspace_id)
        assert session.scalar(select(func.count()).select_from(SopEnrollment)) == 1
        advance(timedelta(days=3))
        assert _run_due(session).ran == 1
        session.refresh(enr)
        assert enr.status == "completed"
        assert session.scalar(select(func.count()).select_from(SopStepRun)) == 2


def test_pause_stops_new_steps_and_resume_runs_them(session: Session, workspace_id: int) -> None:
    with moved_clock(T0) as advance:
        sid = staff(session, workspace_id, "amy")
        plan = service.create_plan(session, workspace_id=workspace_id, data=onboarding())
        service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        friend(session, workspace_id, sid, T0)
        _deliver(session, workspace_id)
        service.set_status(session, workspace_id=workspace_id, plan_id=plan.id, status="paused")
        advance(timedelta(hours=11))
        assert _run_due(session).ran == 0
        service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        assert _run_due(session).ran == 1


def test_activation_counts_and_optionally_enrolls_those_who_already_match(
    session: Session, workspace_id: int
) -> None:
    with moved_clock(T0):
        sid = staff(session, workspace_id, "amy")
        for _ in range(3):
            friend(session, workspace_id, sid, T0 - timedelta(days=2), event=False)
        plan = service.create_plan(session, workspace_id=workspace_id, data=onboarding())
        dry = service.activate(
            session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=True, dry_run=True
        )
        assert dry.already_matching == 3
        assert dry.enrolled == 0
        assert session.scalar(select(func.count()).select_from(SopEnrollment)) == 0
        done = service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=True)
        assert done.enrolled == 3
        other = service.copy_plan(session, workspace_id=workspace_id, plan_id=plan.id)
        skipped = service.activate(
            session, workspace_id=workspace_id, plan_id=other.id, enroll_existing=False
        )
        assert skipped.already_matching == 3
        assert skipped.enrolled == 0
        assert skipped.skipped == 3


def test_exit_when_the_customer_opts_out(session: Session, workspace_id: int) -> None:
    from siyu.models import Customer

    with moved_clock(T0) as advance:
        sid = staff(session, workspace_id, "amy")
        plan = service.create_plan(session, workspace_id=workspace_id, data=onboarding())
        service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        cid = friend(session, workspace_id, sid, T0)
        _deliver(session, workspace_id)
        c = session.get(Customer, cid)
        assert c is not None
        c.opt_out = True
        advance(timedelta(hours=11))
        _run_due(session)
        enr = session.scalars(select(SopEnrollment)).one()
        assert enr.status == "exited"
        assert enr.exit_reason == "opted_out"
        assert session.scalar(select(func.count()).select_from(StaffTask)) == 0


def test_save_refuses_bad_expression_deleted_content_and_loops(session: Session, workspace_id: int) -> None:
    item = create_content(session, workspace_id=workspace_id, kind="text", title="爆品介绍", text="…")
    from siyu.kit.timeutil import utcnow

    item.deleted_at = utcnow()
    session.flush()
    with pytest.raises(Invalid) as exc:
        service.create_plan(session, workspace_id=workspace_id, data=onboarding(item.id))
    assert exc.value.field == "steps[1].content_id"
    bad = PlanInput(name="x", trigger={"kind": "friend_added"}, steps=[{"day": 0}], audience="tag:(")
    with pytest.raises(Invalid) as exc:
        service.create_plan(session, workspace_id=workspace_id, data=bad)
    assert exc.value.field == "audience"
    loop = PlanInput(
        name="loop",
        trigger={"kind": "tag_added", "tag": "VIP"},
        steps=[{"day": 0, "action": "tag", "add_tags": ["VIP"]}],
    )
    with pytest.raises(Invalid) as exc:
        service.create_plan(session, workspace_id=workspace_id, data=loop)
    assert exc.value.field == "steps[0]"
    with pytest.raises(Invalid) as exc:
        service.create_plan(
            session, workspace_id=workspace_id, data=PlanInput(name="x", trigger={"kind": "nope"}, steps=[{}])
        )
    assert exc.value.field == "trigger.kind"
    from siyu.models import SopPlan

    assert session.scalar(select(func.count()).select_from(SopPlan)) == 0


def test_an_add_slightly_ahead_of_our_clock_enrolls_once_and_a_future_one_waits(
    session: Session, workspace_id: int
) -> None:
    with moved_clock(T0) as advance:
        sid = staff(session, workspace_id, "amy")
        plan = service.create_plan(session, workspace_id=workspace_id, data=onboarding())
        service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        # WeCom's CreateTime 90 s (and exactly 2 min) ahead of siyu's clock: enrolled now
        ahead = friend(session, workspace_id, sid, T0 + timedelta(seconds=90))
        edge = friend(session, workspace_id, sid, T0 + timedelta(minutes=2))
        # 2 min 1 s and 10 min ahead: not an add that happened yet
        beyond = friend(session, workspace_id, sid, T0 + timedelta(minutes=2, seconds=1))
        future = friend(session, workspace_id, sid, T0 + timedelta(minutes=10))
        _deliver(session, workspace_id)
        _deliver(session, workspace_id)

        def enrolled() -> dict[int | None, int]:
            rows = session.execute(
                select(SopEnrollment.customer_id, func.count())
                .where(SopEnrollment.plan_id == plan.id)
                .group_by(SopEnrollment.customer_id)
            ).all()
            return {cid: int(n) for cid, n in rows}

        assert enrolled() == {ahead: 1, edge: 1}
        enr = session.scalars(select(SopEnrollment).where(SopEnrollment.customer_id == ahead)).one()
        assert enr.entered_at == T0
        # seven minutes on, the 10-minute one is still more than the skew ahead: it waits
        advance(timedelta(minutes=7))
        _deliver(session, workspace_id)
        assert enrolled() == {ahead: 1, edge: 1, beyond: 1}
        # within the skew of its time it enrolls, once, however often it is delivered
        advance(timedelta(minutes=1))
        _deliver(session, workspace_id)
        advance(timedelta(minutes=5))
        _deliver(session, workspace_id)
        assert enrolled() == {ahead: 1, edge: 1, beyond: 1, future: 1}
        first = session.scalars(select(SopEnrollment).where(SopEnrollment.customer_id == future)).one()
        assert first.entered_at == T0 + timedelta(minutes=8)


def _friend_plan(
    session: Session,
    workspace_id: int,
    name: str,
    tasks: list[tuple[int, str]],
    exits: list[Any] | None = None,
) -> Any:
    """An active ``friend_added`` plan of task steps, (day, title) each."""
    plan = service.create_plan(
        session,
        workspace_id=workspace_id,
        data=PlanInput(
            name=name,
            trigger={"kind": "friend_added"},
            steps=[{"day": day, "action": "task", "title": title} for day, title in tasks],
            exits=exits or [],
        ),
    )
    service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
    return plan


def test_steps_due_together_run_one_after_another_without_waiting_for_the_planners_interval(
    env: object, session: Session, workspace_id: int
) -> None:
    """Three steps on day 0: the second and third follow in seconds, not 30 s apart.

    A real runner with the planner (``automation.sop_plan``, every 30 s) as its only
    periodic task: each step job brings the planner's next tick forward when the next
    step is already due, so the whole plan ends well inside one planner interval.
    """
    import time

    from siyu.automation.sop.jobs import PLAN_TASK
    from siyu.kit.db import session_factory
    from siyu.models import PeriodicTask, Workspace
    from siyu.worker.service import Runner

    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    ws.settings = {**ws.settings, "quiet_hours": {"start": "00:00", "end": "00:00"}}
    sid = staff(session, workspace_id, "amy")
    _friend_plan(session, workspace_id, "当天连环", [(0, "问候"), (0, "发券"), (0, "邀请入群")])
    cid = friend(session, workspace_id, sid, datetime.now(UTC))
    _deliver(session, workspace_id)
    session.commit()

    runner = Runner(session_factory(), idle=0.05, only=[PLAN_TASK]).start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < 20:
            session.expire_all()
            enr = session.scalars(select(SopEnrollment).where(SopEnrollment.customer_id == cid)).one()
            if enr.status == "completed":
                break
            time.sleep(0.1)
    finally:
        runner.stop()
    assert enr.status == "completed", f"at step {enr.current_step} after 20 s"
    assert session.scalar(select(func.count()).select_from(SopStepRun)) == 3
    titles = session.scalars(select(StaffTask.title).where(StaffTask.customer_id == cid)).all()
    assert len(titles) == 3
    # with nothing left due, the planner is back on its interval
    tick = session.get(PeriodicTask, PLAN_TASK)
    assert tick is not None
    assert tick.next_run_at > datetime.now(UTC) + timedelta(seconds=10)


def test_exit_conditions_read_for_a_whole_batch_answer_as_one_by_one(
    session: Session, workspace_id: int
) -> None:
    """``ExitFacts`` (one query per kind for the batch) gives each enrollment the same
    reason as ``exit_reason`` (queries per enrollment), first exit of the list first, and
    the step job exits those customers with it."""
    from siyu.customers.follows import follow_ended
    from siyu.customers.tags import add_tags, ensure_tag
    from siyu.models import Customer, CustomerStats
    from tests.automation.factory import message

    with moved_clock(T0) as advance:
        sid = staff(session, workspace_id, "amy")
        vip = ensure_tag(session, workspace_id=workspace_id, name="VIP").id
        exits = ["bought", "opted_out", "left", "replied", {"kind": "tag_added", "tag": "VIP"}]
        plan = _friend_plan(session, workspace_id, "出口", [(0, "问候"), (1, "再问")], exits)
        names = ["bought", "opted_out", "left", "replied", "tag_added", "before", "both", "none"]
        cid = {n: friend(session, workspace_id, sid, T0) for n in names}
        # what happened before they entered does not count
        message(
            session,
            workspace_id,
            staff_id=sid,
            customer_id=cid["before"],
            at=T0 - timedelta(days=1),
            direction="in",
        )
        session.add(
            CustomerStats(
                customer_id=cid["before"], workspace_id=workspace_id, last_paid_at=T0 - timedelta(days=2)
            )
        )
        _deliver(session, workspace_id)
        assert session.scalar(select(func.count()).select_from(SopEnrollment)) == len(names)
        advance(timedelta(hours=2))
        later = T0 + timedelta(hours=1)
        for n in ("bought", "both"):
            session.add(CustomerStats(customer_id=cid[n], workspace_id=workspace_id, last_paid_at=later))
        customer = session.get(Customer, cid["opted_out"])
        assert customer is not None
        customer.opt_out = True
        follow_ended(
            session,
            workspace_id=workspace_id,
            staff_id=sid,
            customer_id=cid["left"],
            at=later,
            deleted_by="customer",
        )
        for n in ("replied", "both"):
            message(session, workspace_id, staff_id=sid, customer_id=cid[n], at=later, direction="in")
        add_tags(
            session,
            workspace_id=workspace_id,
            customer_ids=[cid["tag_added"]],
            tag_ids=[vip],
            source="manual",
        )
        session.flush()

        enrollments = list(session.scalars(select(SopEnrollment).order_by(SopEnrollment.id)))
        facts = service.ExitFacts.load(session, [plan], enrollments)
        by_customer = {e.customer_id: e for e in enrollments}
        expected = {"bought": "bought", "opted_out": "opted_out", "left": "left", "replied": "replied",
                    "tag_added": "tag_added", "before": None, "both": "bought", "none": None}  # fmt: skip
        for n, want in expected.items():
            enr = by_customer[cid[n]]
            assert service.exit_reason(session, plan, enr) == want, n
            assert facts.reason(session, plan, enr) == want, n

        _run_due(session)
        for n, want in expected.items():
            enr = by_customer[cid[n]]
            session.refresh(enr)
            if want is None:
                assert (enr.status, enr.current_step) == ("active", 1), n
            else:
                assert (enr.status, enr.exit_reason) == ("exited", want), n
