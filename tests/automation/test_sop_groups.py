"""Group SOP plans (``subject: group``): a group created in the WeCom simulator enrolls
once, its day-0 group message goes out through the send engine (``add_msg_template``
with ``chat_type=group``) once, its day-3 step waits for the clock; customer plans go on
as before; a dismissed group leaves; save refuses what a group plan cannot do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.automation.sends import tasks as send_tasks
from siyu.automation.sop import jobs, service
from siyu.automation.sop.service import PlanInput
from siyu.automation.sop.triggers import Match
from siyu.customers.card import group_card
from siyu.kit.db import session_factory, session_scope
from siyu.kit.errors import Conflict, Invalid
from siyu.kit.timeutil import moved_clock, utcnow
from siyu.models import Group, Send, SendRecipient, SopEnrollment, SopPlan, SopStepRun, StaffTask, Workspace
from siyu.wecom.client import WeComClient
from siyu.wecom.simulator import ServerThread, SimClock, SimConfig, Simulator
from siyu.wecom.sync.run import full_sync
from siyu.worker import outbox
from tests.automation.factory import staff
from tests.conftest import CliRun
from tests.wecom.fixtures.callbacks import AES_KEY, CORP_ID, TOKEN, WeComSender, wecom  # noqa: F401
from tests.wecom.sim_fixtures import client_for

# Monday 2026-06-01 10:00 in Shanghai
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
NO_QUIET = {"quiet_hours": {"start": "00:00", "end": "00:00"}, "outbound": {"quiet_hours": ""}}

GROUP_PLAN: dict[str, Any] = {
    "name": "新群启动",
    "subject": "group",
    "trigger": {"kind": "group_created"},
    "steps": [
        {
            "day": 0,
            "delay_minutes": 5,
            "action": "group_message",
            "title": "开群欢迎",
            "body": "欢迎加入新品体验群！",
        },
        {"day": 3, "at": "20:00", "action": "task", "title": "群活跃检查", "body": "看看群里有没有人提问"},
    ],
    "exits": ["dismissed"],
}


def _quiet_off(session: Session, workspace_id: int) -> None:
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    ws.settings = {**ws.settings, **NO_QUIET}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator that signs callbacks for the test app and serves its API over HTTP."""
    s = Simulator(
        SimConfig(corp_id=CORP_ID, secret="group-sop-secret", callback_token=TOKEN, callback_aes_key=AES_KEY),
        SimClock(start=T0.timestamp()),
    )
    server = ServerThread(s.app).start()
    s.url = server.url  # type: ignore[attr-defined]
    yield s
    server.stop()


def _deliver(sim: Simulator, wecom: WeComSender, start: int = 0) -> None:  # noqa: F811
    for delivery in sim.sender.deliveries[start:]:  # WeCom's encrypted callbacks to siyu's endpoint
        resp = wecom.client.post("/wecom/callback", params=delivery.params, content=delivery.body.encode())
        assert resp.status_code == 200, resp.text
    outbox.deliver(session_factory(), names=["automation.sop_enroll"])


def _run(workspace_id: int) -> int:
    with session_scope() as s:
        return service.run_all_due(s, workspace_id=workspace_id).ran


def test_group_created_in_the_simulator_runs_the_group_plan_once(
    wecom: WeComSender,  # noqa: F811
    sim: Simulator,
    session: Session,
    workspace_id: int,
    cli: CliRun,
) -> None:
    sc = sim.scenario
    sc.add_staff("amy", "Amy")
    client: WeComClient = client_for(sim)
    send_tasks.GATEWAY.append(lambda _s, _w: client)
    try:
        with moved_clock(T0 - timedelta(minutes=10)) as advance:
            full_sync(session_factory(), workspace_id=workspace_id, gateway=client)
            with session_scope() as s:
                _quiet_off(s, workspace_id)
                group_plan = service.create_plan(
                    s, workspace_id=workspace_id, data=PlanInput.from_dict(GROUP_PLAN)
                )
                customer_plan = service.create_plan(
                    s,
                    workspace_id=workspace_id,
                    data=PlanInput(
                        name="新好友",
                        trigger={"kind": "friend_added"},
                        steps=[{"day": 0, "action": "task", "title": "打招呼"}],
                    ),
                )
                for p in (group_plan, customer_plan):
                    service.activate(s, workspace_id=workspace_id, plan_id=p.id, enroll_existing=False)
                gp, cp = group_plan.id, customer_plan.id
            advance(timedelta(minutes=11))  # siyu's clock a minute past the simulator's
            chat = sc.create_group("amy", "新品体验群")
            ext = sc.new_customer("王芳")
            sc.add_friend(ext, userid="amy")
            _deliver(sim, wecom)

            session.expire_all()
            group = session.scalars(select(Group).where(Group.chat_id == chat)).one()
            enr = session.scalars(select(SopEnrollment).where(SopEnrollment.plan_id == gp)).one()
            assert (enr.customer_id, enr.group_id, enr.status, enr.current_step) == (
                None,
                group.id,
                "active",
                0,
            )
            assert enr.next_due_at == T0 + timedelta(minutes=6)  # 5 minutes after entering
            # the customer plan still enrolls its new friend
            cenr = session.scalars(select(SopEnrollment).where(SopEnrollment.plan_id == cp)).one()
            assert cenr.customer_id is not None
            assert cenr.group_id is None

            # WeCom re-delivers every callback; the scan runs; a second event for the group
            _deliver(sim, wecom)
            jobs.scan(session_factory())
            with session_scope() as s:
                plan = s.get(SopPlan, gp)
                assert plan is not None
                assert service.enroll_group(s, plan, group_id=group.id) == 0
            assert session.scalar(select(func.count()).select_from(SopEnrollment)) == 2

            # the callback carries ids only: the group sync names the group and its owner
            full_sync(session_factory(), workspace_id=workspace_id, gateway=client)
            assert _run(workspace_id) == 1  # the customer plan's task (day 0 now)
            advance(timedelta(minutes=6))
            assert _run(workspace_id) == 1  # the group's welcome
            assert _run(workspace_id) == 0
            session.expire_all()
            send = session.scalars(select(Send)).one()
            assert (send.kind, send.group_filter) == ("group", {"chat_ids": [chat]})
            rcpt = session.scalars(select(SendRecipient).where(SendRecipient.send_id == send.id)).one()
            amy = group.owner_staff_id
            assert amy is not None
            assert (rcpt.group_id, rcpt.staff_id, rcpt.arm) == (group.id, amy, "target")
            run = session.scalars(select(SopStepRun).where(SopStepRun.enrollment_id == enr.id)).one()
            assert (run.outcome, run.detail["send_id"]) == ("done", send.id)

            assert send_tasks.run_deliver(session_factory(), workspace_id, send.id)["calls"] == 1
            assert send_tasks.run_deliver(session_factory(), workspace_id, send.id).get("calls", 0) == 0
            (msg,) = sim.state.mass_sends.values()
            assert msg.chat_type == "group"
            assert msg.targets == {"amy": [chat]}
            assert msg.text is not None
            assert msg.text["content"] == "欢迎加入新品体验群！"

            # the group's own SOP: on the sidebar's group card, in the API/CLI with its name
            day3 = datetime(2026, 6, 4, 12, 0, tzinfo=UTC)  # day 3 at 20:00 in Shanghai
            card = group_card(session, workspace_id=workspace_id, staff_id=amy, chat_id=chat)
            assert card["sop"] == [
                {
                    "plan_id": gp,
                    "plan": "新群启动",
                    "subject": "group",
                    "step": "群活跃检查",
                    "action": "task",
                    "members": None,
                    "next_due_at": day3.isoformat(),
                    "next_due_local": "2026-06-04 20:00",
                }
            ]
            shown = json.loads(cli("sop", "enrollments", "--group", chat, "--json").stdout)
            assert [
                (r["group"], r["plan"], r["status"], r["current_step"], r["next_step"]) for r in shown
            ] == [("新品体验群", "新群启动", "active", 1, "群活跃检查")]
            listed = json.loads(cli("sop", "list", "--json").stdout)
            assert {p["id"]: p["subject"] for p in listed} == {gp: "group", cp: "customer"}

            # day 3 at 20:00 local: not a minute before
            advance(day3 - utcnow() - timedelta(minutes=1))
            assert _run(workspace_id) == 0
            advance(timedelta(minutes=1))
            assert _run(workspace_id) == 1
            session.expire_all()
            task = session.scalars(select(StaffTask).where(StaffTask.title == "【新群启动】群活跃检查")).one()
            assert (task.staff_id, task.group_id, task.customer_id) == (amy, group.id, None)
            enr = session.scalars(select(SopEnrollment).where(SopEnrollment.plan_id == gp)).one()
            assert enr.status == "completed"
            assert len(sim.state.mass_sends) == 1

            # a second group is created, then dismissed before its welcome: it leaves the plan
            seen = len(sim.sender.deliveries)
            second = sc.create_group("amy", "第二个群")
            _deliver(sim, wecom, seen)
            seen = len(sim.sender.deliveries)
            sc.dismiss_group(second)
            _deliver(sim, wecom, seen)
            session.expire_all()
            gone = session.scalars(
                select(SopEnrollment)
                .join(Group, Group.id == SopEnrollment.group_id)
                .where(Group.chat_id == second)
            ).one()
            assert (gone.status, gone.exit_reason) == ("exited", "dismissed")
            advance(timedelta(minutes=10))
            assert _run(workspace_id) == 0
            assert len(sim.state.mass_sends) == 1
    finally:
        send_tasks.GATEWAY.pop()
        client.close()


def test_one_enrollment_per_plan_and_group_and_dismissed_groups_leave(
    session: Session, workspace_id: int
) -> None:
    with moved_clock(T0) as advance:
        _quiet_off(session, workspace_id)
        amy, bob = staff(session, workspace_id, "amy"), staff(session, workspace_id, "bob")
        old = Group(workspace_id=workspace_id, chat_id="wrold", name="老群", owner_staff_id=amy,
                    wecom_created_at=T0 - timedelta(days=40), group_type="repurchase")  # fmt: skip
        other = Group(workspace_id=workspace_id, chat_id="wrbob", name="bob 的群", owner_staff_id=bob,
                      wecom_created_at=T0 - timedelta(days=2), group_type="repurchase")  # fmt: skip
        session.add_all([old, other])
        session.flush()
        data = {**GROUP_PLAN, "trigger": {"kind": "group_created", "owner": "amy"}}
        plan = service.create_plan(session, workspace_id=workspace_id, data=PlanInput.from_dict(data))
        # activation says how many existing groups match (amy's only), before it starts
        dry = service.activate(
            session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=True, dry_run=True
        )
        assert (dry.already_matching, dry.enrolled) == (1, 0)
        act = service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=True)
        assert (act.already_matching, act.enrolled) == (1, 1)
        enr = session.scalars(select(SopEnrollment).where(SopEnrollment.plan_id == plan.id)).one()
        assert (enr.group_id, enr.staff_id) == (old.id, amy)
        # the database itself refuses a second enrollment of the group in the plan
        nested = session.begin_nested()
        session.add(
            SopEnrollment(
                workspace_id=workspace_id,
                plan_id=plan.id,
                customer_id=None,
                group_id=old.id,
                trigger_key="other",
                status="active",
                entered_at=T0,
                current_step=0,
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()
        nested.rollback()
        assert service.enroll_matching(session, plan) == 0
        # two workers that both saw the group as new: the insert's ON CONFLICT (the partial
        # unique index) lets the second one do nothing, without an error
        late = Match(None, "group", T0, amy, old.id)
        assert service._insert_enrollments(session, plan, [late], now=utcnow(), status="active") == 0

        # N days since creation, of a type: the scan enrolls each group once, when it reaches the age
        aged = service.create_plan(
            session,
            workspace_id=workspace_id,
            data=PlanInput.from_dict(
                {
                    **GROUP_PLAN,
                    "name": "满 7 天",
                    "trigger": {"kind": "group_age", "days": 7, "group_type": "repurchase"},
                }
            ),
        )
        act = service.activate(session, workspace_id=workspace_id, plan_id=aged.id, enroll_existing=False)
        assert (act.already_matching, act.skipped) == (1, 1)  # the 40-day-old group
        assert service.enroll_matching(session, aged) == 0
        advance(timedelta(days=5))
        assert service.enroll_matching(session, aged) == 1  # bob's group is 7 days old now
        assert service.enroll_matching(session, aged) == 0
        got = session.scalars(
            select(SopEnrollment).where(SopEnrollment.plan_id == aged.id, SopEnrollment.status == "active")
        ).one()
        assert (got.group_id, got.staff_id) == (other.id, bob)

        # the group is dismissed (WeCom's dismiss event): it leaves its plans, nothing more runs
        from siyu.community.groups import group_dismissed

        group_dismissed(session, workspace_id=workspace_id, chat_id="wrbob", at=utcnow())
        assert service.exit_dismissed(session, workspace_id=workspace_id, group_id=other.id, at=utcnow()) == 1
        session.refresh(got)
        assert (got.status, got.exit_reason) == ("exited", "dismissed")
        # (a dismiss the event missed is found when the step would run)
        group_dismissed(session, workspace_id=workspace_id, chat_id="wrold", at=utcnow())
        assert service.run_all_due(session, workspace_id=workspace_id).exited == 1
        session.refresh(enr)
        assert (enr.status, enr.exit_reason) == ("exited", "dismissed")
        assert session.scalar(select(func.count()).select_from(Send)) == 0
        # the subject cannot change once groups are enrolled
        with pytest.raises(Conflict) as conflict:
            service.update_plan(
                session,
                workspace_id=workspace_id,
                plan_id=aged.id,
                data=PlanInput(name="x", trigger={"kind": "friend_added"}, steps=[{"day": 0}]),
            )
        assert conflict.value.field == "subject"


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"subject": "group", "trigger": {"kind": "friend_added"}}, "trigger.kind"),
        ({"subject": "group", "steps": [{"day": 0, "action": "send", "body": "x"}]}, "steps[0].action"),
        ({"subject": "group", "steps": [{"day": 0, "action": "tag", "add_tags": ["x"]}]}, "steps[0].action"),
        ({"subject": "group", "exits": ["bought"]}, "exits[0].kind"),
        ({"subject": "group", "audience": "tag:VIP"}, "audience"),
        ({"subject": "group", "trigger": {"kind": "group_type"}}, "trigger.group_type"),
        ({"subject": "group", "trigger": {"kind": "group_age", "days": 0}}, "trigger.days"),
        ({"subject": "team"}, "subject"),
        ({"subject": "customer"}, "trigger.kind"),  # a group trigger in a customer plan
        (
            {"subject": "customer", "trigger": {"kind": "friend_added"}, "exits": ["dismissed"]},
            "exits[0].kind",
        ),
    ],
)
def test_save_refuses_what_the_subject_cannot_do(
    session: Session, workspace_id: int, plan: dict[str, Any], field: str
) -> None:
    data = {**GROUP_PLAN, **plan}
    with pytest.raises(Invalid) as bad:
        service.create_plan(session, workspace_id=workspace_id, data=PlanInput.from_dict(data))
    assert bad.value.field == field
    assert field in bad.value.message
    assert session.scalar(select(func.count()).select_from(SopPlan)) == 0


MEMBER_PLAN: dict[str, Any] = {
    "name": "进群承接",
    "trigger": {"kind": "joined_group"},
    "steps": [
        {"day": 0, "delay_minutes": 30, "action": "task", "title": "进群欢迎"},
        {"day": 3, "at": "20:00", "action": "task", "title": "群内回访"},
    ],
}


def _member_enrollment(session: Session, plan_id: int) -> SopEnrollment:
    session.expire_all()
    return session.scalars(select(SopEnrollment).where(SopEnrollment.plan_id == plan_id)).one()


def _members_joined(sim: Simulator, workspace_id: int, advance: Any) -> tuple[int, str]:
    """A joined_group plan, a group in the simulator and a customer (amy's friend) who
    joins it (the callbacks not yet delivered): (plan id, chat id)."""
    sc = sim.scenario
    sc.add_staff("amy", "Amy")
    client: WeComClient = client_for(sim)
    try:
        full_sync(session_factory(), workspace_id=workspace_id, gateway=client)
    finally:
        client.close()
    with session_scope() as s:
        _quiet_off(s, workspace_id)
        plan = service.create_plan(s, workspace_id=workspace_id, data=PlanInput.from_dict(MEMBER_PLAN))
        service.activate(s, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        pid = plan.id
    advance(timedelta(minutes=11))  # siyu's clock a minute past the simulator's
    chat = sc.create_group("amy", "体验群")
    ext = sc.new_customer("李娜")
    sc.add_friend(ext, userid="amy")
    sc.join_group(chat, ext)
    return pid, chat


def test_members_enrollments_end_when_their_group_is_dismissed_by_callback(
    wecom: WeComSender,  # noqa: F811
    sim: Simulator,
    session: Session,
    workspace_id: int,
    cli: CliRun,
) -> None:
    with moved_clock(T0 - timedelta(minutes=10)) as advance:
        pid, chat = _members_joined(sim, workspace_id, advance)
        _deliver(sim, wecom)
        enr = _member_enrollment(session, pid)
        assert (enr.status, enr.group_id) == (
            "active",
            session.scalar(select(Group.id).where(Group.chat_id == chat)),
        )
        advance(timedelta(minutes=30))
        assert _run(workspace_id) == 1  # 进群欢迎
        seen = len(sim.sender.deliveries)
        sim.scenario.dismiss_group(chat)
        _deliver(sim, wecom, seen)
        enr = _member_enrollment(session, pid)
        assert (enr.status, enr.exit_reason, enr.current_step, enr.next_due_at) == (
            "exited",
            "group_dismissed",
            1,
            None,
        )
        assert enr.exited_at is not None
        # day 3 comes: the member's 群内回访 never runs
        advance(timedelta(days=4))
        assert _run(workspace_id) == 0
        assert session.scalar(select(func.count()).select_from(SopStepRun)) == 1
        shown = json.loads(cli("sop", "enrollments", "--customer", str(enr.customer_id), "--json").stdout)
        assert [(r["plan"], r["status"], r["exit_reason"]) for r in shown] == [
            ("进群承接", "exited", "group_dismissed")
        ]
        assert "group_dismissed" in cli("sop", "enrollments", "--customer", str(enr.customer_id)).stdout


def test_members_enrollments_end_when_a_sync_finds_their_group_gone(
    wecom: WeComSender,  # noqa: F811
    sim: Simulator,
    session: Session,
    workspace_id: int,
    cli: CliRun,
) -> None:
    with moved_clock(T0 - timedelta(minutes=10)) as advance:
        pid, chat = _members_joined(sim, workspace_id, advance)
        _deliver(sim, wecom)
        assert _member_enrollment(session, pid).status == "active"
        # the dismiss callback is lost: siyu hears nothing, the next sync finds the group gone
        sim.scenario.dismiss_group(chat)
        client: WeComClient = client_for(sim)
        try:
            full_sync(session_factory(), workspace_id=workspace_id, gateway=client)
        finally:
            client.close()
        session.expire_all()
        assert session.scalar(select(Group.status).where(Group.chat_id == chat)) == "dismissed"
        assert _member_enrollment(session, pid).status == "active"
        # the scan's sweep ends it (before its first step would have run)
        assert jobs.scan(session_factory())["ended_dismissed"] == 1
        enr = _member_enrollment(session, pid)
        assert (enr.status, enr.exit_reason, enr.current_step) == ("exited", "group_dismissed", 0)
        assert jobs.scan(session_factory())["ended_dismissed"] == 0
        advance(timedelta(minutes=30))
        assert _run(workspace_id) == 0
        assert session.scalar(select(func.count()).select_from(StaffTask)) == 0
        # a late join callback of the dismissed group enrolls nobody, and the scan does not either
        with session_scope() as s:
            plan = s.get(SopPlan, pid)
            assert plan is not None
            assert service.enroll_matching(s, plan) == 0


def test_a_missed_dismiss_ends_the_member_at_its_next_step(session: Session, workspace_id: int) -> None:
    with moved_clock(T0):
        _quiet_off(session, workspace_id)
        amy = staff(session, workspace_id, "amy")
        group = Group(workspace_id=workspace_id, chat_id="wrmem", name="会员群", owner_staff_id=amy)
        session.add(group)
        session.flush()
        plan = service.create_plan(session, workspace_id=workspace_id, data=PlanInput.from_dict(MEMBER_PLAN))
        service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        from tests.automation.factory import friend

        cid = friend(session, workspace_id, amy, T0 - timedelta(days=1), event=False)
        assert (
            service.enroll_event(
                session, plan, customer_id=cid, key=f"group:{group.id}:x", at=utcnow(), group_id=group.id
            )
            == 1
        )
        from siyu.community.groups import group_dismissed

        group_dismissed(session, workspace_id=workspace_id, chat_id="wrmem", at=utcnow())
    with moved_clock(T0 + timedelta(hours=1)):
        got = service.run_all_due(session, workspace_id=workspace_id)
        assert (got.ran, got.exited) == (0, 1)
        enr = _member_enrollment(session, plan.id)
        assert (enr.status, enr.exit_reason) == ("exited", "group_dismissed")
