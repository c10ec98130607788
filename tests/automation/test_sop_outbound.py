"""SOP send, group-message and moment steps through the real engines (the WeCom simulator
for sends): batched per staff account, opt-outs and the frequency cap respected, once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.automation.sends import tasks as send_tasks
from siyu.automation.sop import service
from siyu.automation.sop.service import PlanInput
from siyu.kit.db import session_factory, session_scope
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import moved_clock, utcnow
from siyu.models import (
    Follow,
    Group,
    Moment,
    MomentSender,
    Send,
    SendBatch,
    SendRecipient,
    SopEnrollment,
    SopPlan,
    SopStepRun,
    Staff,
    StaffTask,
    Workspace,
)
from siyu.privacy.service import set_opt_out
from siyu.wecom.client import WeComClient
from siyu.wecom.simulator import Simulator
from siyu.wecom.sync.run import full_sync
from tests.automation.factory import friend, staff
from tests.wecom.sim_fixtures import simulator, wecom  # noqa: F401

STAFF = ("amy", "bob")
NO_QUIET = {
    "quiet_hours": {"start": "00:00", "end": "00:00"},
    "outbound": {"quiet_hours": "", "freq_cap_per_7d": 1},
}


def _quiet_off(session: Session, workspace_id: int) -> None:
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    ws.settings = {**ws.settings, **NO_QUIET}


@pytest.fixture
def corp(simulator: Simulator, wecom: WeComClient, workspace_id: int) -> Iterator[Simulator]:  # noqa: F811
    """8 customers over 2 staff (customer 0 is a friend of both, amy first), synced into siyu."""
    sc = simulator.scenario
    for u in STAFF:
        sc.add_staff(u, u.title())
    for i in range(8):
        ext = sc.new_customer(f"客户{i}", external_userid=f"wmsop{i:02d}")
        sc.add_friend(ext, userid=STAFF[i % 2])
        if i == 0:
            sc.advance(60)
            sc.add_friend(ext, userid="bob")
    full_sync(session_factory(), workspace_id=workspace_id, gateway=wecom)
    with session_scope() as s:
        _quiet_off(s, workspace_id)
    send_tasks.GATEWAY.append(lambda _s, _w: wecom)
    yield simulator
    send_tasks.GATEWAY.pop()


def _cid(session: Session, ext: str) -> int:
    return int(session.scalar(select(Follow.customer_id).where(Follow.external_userid == ext).limit(1)))  # type: ignore[arg-type]


def _plan(
    session: Session, workspace_id: int, steps: list[dict[str, Any]], trigger: dict[str, Any] | None = None
) -> int:
    plan = service.create_plan(
        session,
        workspace_id=workspace_id,
        data=PlanInput(name="推送", trigger=trigger or {"kind": "tag_added", "tag": "新客"}, steps=steps),
    )
    service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
    return plan.id


def _enroll(session: Session, plan_id: int, cid: int, group_id: int | None = None, key: str = "k") -> None:
    plan = session.get(SopPlan, plan_id)
    assert plan is not None
    assert service.enroll_event(session, plan, customer_id=cid, key=key, at=utcnow(), group_id=group_id) == 1


def _runs(session: Session, plan_id: int, index: int) -> dict[int, SopStepRun]:
    rows = session.execute(
        select(SopEnrollment.customer_id, SopStepRun)
        .join(SopStepRun, SopStepRun.enrollment_id == SopEnrollment.id)
        .where(SopEnrollment.plan_id == plan_id, SopStepRun.step_index == index)
    ).all()
    return dict(rows)


def test_send_step_goes_through_the_send_engine_once_per_staff_account(
    session: Session, workspace_id: int, corp: Simulator
) -> None:
    with session_scope() as s:
        plan_id = _plan(
            s,
            workspace_id,
            [
                {"day": 0, "action": "send", "title": "欢迎", "body": "欢迎加入，我是{员工姓名}"},
                {"day": 0, "delay_minutes": 1, "action": "send", "title": "再发", "body": "第二条"},
            ],
        )
        ids = [_cid(s, f"wmsop{i:02d}") for i in range(8)]
        for cid in ids:
            _enroll(s, plan_id, cid)
        # one customer opts out before the step runs
        set_opt_out(s, workspace_id=workspace_id, customer_id=ids[3], opt_out=True, actor="t")
    with session_scope() as s:
        ran = service.run_all_due(s, workspace_id=workspace_id)
    assert ran.ran == 8

    session.expire_all()
    sends = list(session.scalars(select(Send)))
    assert len(sends) == 1
    send = sends[0]
    assert (send.kind, send.status, send.holdout_pct) == ("customer", "planned", 0)
    assert send.counts["targeted"] == 7
    assert send.counts["removed"]["opt_out"] == 1
    # one batch (one add_msg_template) per staff account, each customer from their owner
    batches = list(session.scalars(select(SendBatch).where(SendBatch.send_id == send.id)))
    amy, bob = (session.scalar(select(Staff.id).where(Staff.userid == u)) for u in STAFF)
    assert sorted(b.staff_id for b in batches) == sorted([amy, bob])
    sender_of = dict(
        session.execute(
            select(SendRecipient.customer_id, SendRecipient.staff_id).where(SendRecipient.arm == "target")
        ).all()
    )
    assert sender_of[ids[0]] == amy  # friend of both: its owner (the earliest friendship) sends
    runs = _runs(session, plan_id, 0)
    assert runs[ids[3]].outcome == "skipped"
    assert runs[ids[3]].detail["reason"] == "opt_out"
    assert {runs[c].outcome for c in ids if c != ids[3]} == {"done"}
    assert all(runs[c].detail["send_id"] == send.id for c in ids)

    # the delivery job: exactly one WeCom call per staff account, then the confirm tasks
    out = send_tasks.run_deliver(session_factory(), workspace_id, send.id)
    assert out["calls"] == 2
    assert out["status"] == "waiting"
    msgs = list(corp.state.mass_sends.values())
    assert len(msgs) == 2
    got = Counter(e for m in msgs for t in m.targets.values() for e in t)
    assert max(got.values()) == 1
    assert len(got) == 7
    assert "wmsop03" not in got
    assert all(m.text and m.text["content"] in ("欢迎加入，我是Amy", "欢迎加入，我是Bob") for m in msgs)
    assert send_tasks.run_deliver(session_factory(), workspace_id, send.id).get("calls", 0) == 0
    assert len(corp.state.mass_sends) == 2
    session.expire_all()
    confirm = session.scalars(select(StaffTask.staff_id).where(StaffTask.kind == "send_confirm")).all()
    assert sorted(confirm) == sorted([amy, bob])

    # step 2 a minute later: the frequency cap (1 in 7 days) removes everyone, no WeCom call
    with moved_clock(utcnow() + timedelta(minutes=2)), session_scope() as s:
        assert service.run_all_due(s, workspace_id=workspace_id).ran == 8
    session.expire_all()
    runs = _runs(session, plan_id, 1)
    reasons = Counter(r.detail["reason"] for r in runs.values())
    assert reasons == {"freq_cap": 7, "opt_out": 1}
    assert {r.outcome for r in runs.values()} == {"skipped"}
    second = session.scalars(select(Send).where(Send.id != send.id)).one()
    assert second.status == "settled"
    assert (
        session.scalar(select(func.count()).select_from(SendBatch).where(SendBatch.send_id == second.id)) == 0
    )
    assert len(corp.state.mass_sends) == 2


def test_moment_step_makes_one_moment_per_step_and_day_not_per_customer(
    session: Session, workspace_id: int
) -> None:
    t0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    with moved_clock(t0) as advance:
        _quiet_off(session, workspace_id)
        amy, bob = staff(session, workspace_id, "amy"), staff(session, workspace_id, "bob")
        c1 = friend(session, workspace_id, amy, t0 - timedelta(days=3), event=False)
        c2 = friend(session, workspace_id, bob, t0 - timedelta(days=3), event=False)
        c3 = friend(session, workspace_id, bob, t0 - timedelta(days=3), event=False)
        with pytest.raises(Invalid) as bad:
            _plan(
                session,
                workspace_id,
                [{"day": 0, "action": "moment", "body": "新品", "visible_tags": ["无此标签"]}],
            )
        assert bad.value.field == "steps[0].visible_tags"
        plan_id = _plan(
            session, workspace_id, [{"day": 0, "action": "moment", "title": "晒单", "body": "今日上新"}]
        )
        _enroll(session, plan_id, c1)
        _enroll(session, plan_id, c2)
        assert service.run_all_due(session, workspace_id=workspace_id).ran == 2
        moment = session.scalars(select(Moment)).one()
        assert (moment.text, moment.status, moment.origin) == ("今日上新", "planned", "plan")
        senders = set(
            session.scalars(select(MomentSender.staff_id).where(MomentSender.moment_id == moment.id))
        )
        assert senders == {amy, bob}
        # later the same day: the same moment
        advance(timedelta(hours=3))
        _enroll(session, plan_id, c3)
        assert service.run_all_due(session, workspace_id=workspace_id).ran == 1
        assert session.scalar(select(func.count()).select_from(Moment)) == 1
        runs = _runs(session, plan_id, 0)
        assert {r.detail["moment_id"] for r in runs.values()} == {moment.id}
        # the next day another customer reaching the step makes the day's moment
        advance(timedelta(days=1))
        c4 = friend(session, workspace_id, amy, t0 - timedelta(days=3), event=False)
        _enroll(session, plan_id, c4)
        assert service.run_all_due(session, workspace_id=workspace_id).ran == 1
        assert session.scalar(select(func.count()).select_from(Moment)) == 2


def test_group_message_step_sends_each_group_once_a_day_from_its_owner(
    session: Session, workspace_id: int
) -> None:
    _quiet_off(session, workspace_id)
    amy = staff(session, workspace_id, "amy")
    group = Group(workspace_id=workspace_id, chat_id="wrgrp001", name="新人群", owner_staff_id=amy)
    session.add(group)
    session.flush()
    c1 = friend(session, workspace_id, amy, utcnow() - timedelta(days=1), event=False)
    c2 = friend(session, workspace_id, amy, utcnow() - timedelta(days=1), event=False)
    with pytest.raises(Invalid) as bad:
        _plan(session, workspace_id, [{"day": 0, "action": "group_message", "body": "欢迎"}])
    assert bad.value.field == "steps[0].action"
    plan_id = _plan(
        session,
        workspace_id,
        [{"day": 0, "action": "group_message", "title": "群欢迎", "body": "欢迎新朋友"}],
        trigger={"kind": "joined_group"},
    )
    _enroll(session, plan_id, c1, group_id=group.id)
    assert service.run_all_due(session, workspace_id=workspace_id).ran == 1
    _enroll(session, plan_id, c2, group_id=group.id)
    assert service.run_all_due(session, workspace_id=workspace_id).ran == 1
    send = session.scalars(select(Send)).one()
    assert (send.kind, send.group_filter, send.status) == ("group", {"chat_ids": ["wrgrp001"]}, "planned")
    recipients = list(session.scalars(select(SendRecipient).where(SendRecipient.send_id == send.id)))
    assert [(r.group_id, r.staff_id, r.arm) for r in recipients] == [(group.id, amy, "target")]
    runs = _runs(session, plan_id, 0)
    assert {(r.outcome, r.detail["send_id"]) for r in runs.values()} == {("done", send.id)}


def test_send_step_refuses_content_wecom_would_refuse_at_save(session: Session, workspace_id: int) -> None:
    with pytest.raises(Invalid) as bad:
        _plan(session, workspace_id, [{"day": 0, "action": "send", "content_id": 999_999}])
    assert bad.value.field == "steps[0].content_id"
    with pytest.raises(Invalid) as bad:
        _plan(session, workspace_id, [{"day": 0, "action": "moment", "body": "x", "staff": ["nobody"]}])
    assert bad.value.field == "steps[0].staff"
