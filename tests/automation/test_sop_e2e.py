"""End to end: a customer adds a staff member through a live code in the WeCom simulator;
the onboarding plan enrolls them, the day-0 task appears and is completed by a message,
and the later steps wait for their time (a controllable clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.sop import service
from siyu.automation.sop.service import PlanInput
from siyu.automation.sop.templates import template
from siyu.execution import tracking
from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import moved_clock
from siyu.models import Follow, SopEnrollment, StaffTask
from siyu.wecom.simulator import SimClock, SimConfig, Simulator
from siyu.worker import outbox
from tests.automation.factory import message
from tests.wecom.fixtures.callbacks import AES_KEY, CORP_ID, TOKEN, WeComSender, wecom  # noqa: F401

# Monday 2026-06-01 10:00 in Shanghai
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def test_friend_added_in_the_simulator_runs_the_onboarding_plan(
    wecom: WeComSender,  # noqa: F811
    session: Session,
    workspace_id: int,
) -> None:
    sim = Simulator(
        SimConfig(corp_id=CORP_ID, callback_token=TOKEN, callback_aes_key=AES_KEY),
        SimClock(start=T0.timestamp(), frozen=True)  # siyu's clock is moved by hand too,
    )
    sim.scenario.add_staff("xiaomei", "小美")
    config_id = sim.scenario.live_code("ch_douyin", ["xiaomei"])
    customer = sim.scenario.new_customer("王芳")
    with moved_clock(T0 - timedelta(minutes=5)) as advance:
        with session_scope() as s:
            data = template("onboarding")
            data["trigger"] = {"kind": "friend_added", "channel": "ch_douyin"}
            plan = service.create_plan(s, workspace_id=workspace_id, data=PlanInput.from_dict(data))
            service.activate(s, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
            plan_id = plan.id
        advance(timedelta(minutes=5))
        sim.scenario.add_friend(customer, config_id=config_id)
        for delivery in sim.sender.deliveries:  # WeCom's encrypted callbacks to siyu's endpoint
            resp = wecom.client.post(
                "/wecom/callback", params=delivery.params, content=delivery.body.encode()
            )
            assert resp.status_code == 200, resp.text
        outbox.deliver(session_factory(), names=["automation.sop_enroll"])
        session.expire_all()
        follow = session.scalars(select(Follow)).one()
        assert follow.live_code_state == "ch_douyin"
        enr = session.scalars(select(SopEnrollment)).one()
        assert (enr.plan_id, enr.customer_id, enr.status) == (plan_id, follow.customer_id, "active")
        # day 0, 10 minutes after the add
        assert enr.next_due_at == T0 + timedelta(minutes=10)

        def run() -> int:
            with session_scope() as s:
                return service.run_all_due(s, workspace_id=workspace_id).ran

        assert run() == 0
        advance(timedelta(minutes=11))
        assert run() == 1
        task = session.scalars(select(StaffTask)).one()
        assert (task.kind, task.staff_id, task.customer_id) == (
            "sop_step",
            follow.staff_id,
            follow.customer_id,
        )
        assert task.title == "【新好友承接】发送欢迎语和新人礼"
        assert task.body
        # 小美 greets 王芳 (the archive brings the message): the task is done, detected
        advance(timedelta(minutes=3))
        with session_scope() as s:
            message(
                s,
                workspace_id,
                staff_id=follow.staff_id,
                customer_id=follow.customer_id,
                at=T0 + timedelta(minutes=13),
            )
            assert tracking.detect_completion(s, workspace_id=workspace_id) == 1
        session.expire_all()
        session.refresh(task)
        assert (task.status, task.done_how) == ("done", "detected")
        # day 1 at 20:00 local, then day 3 at 20:00 local: each waits for its time
        assert run() == 0
        advance(datetime(2026, 6, 2, 12, 0, tzinfo=UTC) - (T0 + timedelta(minutes=14)))
        assert run() == 1
        advance(timedelta(days=1, hours=23, minutes=59))
        assert run() == 0
        session.expire_all()
        enr = session.scalars(select(SopEnrollment)).one()
        assert enr.current_step == 2
        assert enr.next_due_at == datetime(2026, 6, 4, 12, 0, tzinfo=UTC)
        advance(timedelta(minutes=1))
        assert run() == 1


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
