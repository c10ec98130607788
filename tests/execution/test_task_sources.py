"""Where tasks come from, how siyu sees them done, and who hears when they are late."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.customers.visibility import WholeWorkspace
from siyu.execution import sources, tracking
from siyu.execution.settings import task_settings
from siyu.kit.timeutil import moved_clock
from siyu.models import Event, StaffTask, Workspace
from tests.automation.factory import friend, message, staff

# Monday 2026-06-01 08:00 Shanghai
MON = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)


def _tasks(session: Session, kind: str) -> list[StaffTask]:
    return list(session.scalars(select(StaffTask).where(StaffTask.kind == kind).order_by(StaffTask.id)))


def test_unanswered_message_makes_one_task_and_a_reply_completes_it_detected(
    session: Session, workspace_id: int
) -> None:
    with moved_clock(MON) as advance:
        sid = staff(session, workspace_id, "amy")
        cid = friend(session, workspace_id, sid, MON - timedelta(days=10))
        message(session, workspace_id, staff_id=sid, customer_id=cid, at=MON, direction="in")
        message(
            session,
            workspace_id,
            staff_id=sid,
            customer_id=cid,
            at=MON + timedelta(minutes=2),
            direction="in",
        )
        advance(timedelta(minutes=5))
        assert sources.slas(session, workspace_id=workspace_id)["reply_sla"] == 0
        advance(timedelta(minutes=6))
        assert sources.slas(session, workspace_id=workspace_id)["reply_sla"] == 1
        assert sources.slas(session, workspace_id=workspace_id)["reply_sla"] == 0
        (task,) = _tasks(session, "reply_sla")
        assert task.staff_id == sid
        assert task.priority == 1
        message(session, workspace_id, staff_id=sid, customer_id=cid, at=MON + timedelta(minutes=12))
        advance(timedelta(minutes=2))
        assert tracking.detect_completion(session, workspace_id=workspace_id) == 1
        session.refresh(task)
        assert task.status == "done"
        assert task.done_how == "detected"
        assert session.scalar(select(Event.payload).where(Event.kind == "task.done"))["how"] == "detected"


def test_new_friend_not_greeted_and_self_reported_done(session: Session, workspace_id: int) -> None:
    with moved_clock(MON) as advance:
        sid = staff(session, workspace_id, "amy")
        greeted = friend(session, workspace_id, sid, MON)
        friend(session, workspace_id, sid, MON)
        message(session, workspace_id, staff_id=sid, customer_id=greeted, at=MON + timedelta(minutes=1))
        advance(timedelta(minutes=31))
        assert sources.slas(session, workspace_id=workspace_id)["greet"] == 1
        (task,) = _tasks(session, "greet")
        done = tracking.mark_done(session, WholeWorkspace(workspace_id), task_id=task.id)
        assert done.done_how == "self_reported"


def test_monthly_coverage_reaches_each_friend_once_over_working_days_a_to_z(
    session: Session, workspace_id: int
) -> None:
    names = ["张三", "阿宝", "Bob", "陈晨", "李雷", "王五", "赵六", "钱七", "孙八", "周九"] * 5
    with moved_clock(MON - timedelta(days=40)):
        sid = staff(session, workspace_id, "amy")
        for n, name in enumerate(names):
            friend(session, workspace_id, sid, MON - timedelta(days=40), remark=f"{name}{n:02d}", event=False)
    s = task_settings(session, workspace_id)
    days = sources.working_days(2026, 6, s.working_days)
    assert len(days) == 22
    assert days[0] == date(2026, 6, 1)
    seen: Counter[int] = Counter()
    first_day: list[str] = []
    for d in days:
        at = datetime(d.year, d.month, d.day, 0, 0, tzinfo=UTC)
        with moved_clock(at):
            made = sources.morning(session, workspace_id=workspace_id, only=("coverage",))["coverage"]
            again = sources.morning(session, workspace_id=workspace_id, only=("coverage",))["coverage"]
            assert again == 0
            assert 2 <= made <= 3
            if d == days[0]:
                first_day = [t.title for t in _tasks(session, "coverage")]
    for t in _tasks(session, "coverage"):
        seen[t.customer_id or 0] += 1
    assert len(seen) == 50
    assert set(seen.values()) == {1}
    # A to Z by pinyin: 阿宝 (a) and Bob come first
    assert first_day == ["本月触达：阿宝01", "本月触达：阿宝11", "本月触达：阿宝21"]
    # Saturday: no coverage
    with moved_clock(datetime(2026, 6, 6, 0, 0, tzinfo=UTC)):
        assert sources.morning(session, workspace_id=workspace_id, only=("coverage",))["coverage"] == 0


def test_overdue_tasks_escalate_to_the_team_lead_once_a_day(session: Session, workspace_id: int) -> None:
    with moved_clock(MON) as advance:
        sid = staff(session, workspace_id, "amy", department="华东")
        lead = staff(session, workspace_id, "boss_li", department="华东")
        ws = session.get(Workspace, workspace_id)
        assert ws is not None
        ws.settings = {**ws.settings, "tasks": {"team_leads": {"华东": "boss_li"}}}
        for n in range(3):
            tracking.add_manual(
                session,
                workspace_id=workspace_id,
                staff_id=sid,
                title=f"回访 {n}",
                due_at=MON + timedelta(hours=1),
            )
        assert tracking.escalate_overdue(session, workspace_id=workspace_id)["escalated"] == 0
        advance(timedelta(hours=2))
        out = tracking.escalate_overdue(session, workspace_id=workspace_id)
        assert out == {"escalated": 3, "lead_tasks": 1}
        assert tracking.escalate_overdue(session, workspace_id=workspace_id) == {
            "escalated": 0,
            "lead_tasks": 0,
        }
        (esc,) = _tasks(session, "escalation")
        assert esc.staff_id == lead
        assert "amy" in esc.title
        summary = tracking.completion(session, WholeWorkspace(workspace_id), since=MON - timedelta(days=1))
        (acct,) = summary["accounts"]
        assert acct["total"] == 3
        assert acct["overdue"] == 3
        assert acct["rate"] == 0.0


def _escalate_at(session: Session, workspace_id: int, at: datetime, tz: str = "Asia/Shanghai") -> StaffTask:
    """A task overdue at ``at`` escalated then: the lead's escalation task."""
    with moved_clock(at - timedelta(hours=3)) as advance:
        ws = session.get(Workspace, workspace_id)
        assert ws is not None
        ws.timezone = tz
        sid = staff(session, workspace_id, "amy", department="华东")
        staff(session, workspace_id, "boss_li", department="华东")
        ws.settings = {**ws.settings, "tasks": {"team_leads": {"华东": "boss_li"}, "due_hour": 21}}
        tracking.add_manual(
            session, workspace_id=workspace_id, staff_id=sid, title="回访", due_at=at - timedelta(hours=1)
        )
        advance(timedelta(hours=3))
        assert tracking.escalate_overdue(session, workspace_id=workspace_id)["lead_tasks"] == 1
    (esc,) = _tasks(session, "escalation")
    return esc


def test_escalation_is_due_at_the_due_hour_of_the_workspace_day_after_local_midnight(
    session: Session, workspace_id: int
) -> None:
    # 00:30 on Tuesday 2 June in Shanghai is still Monday 1 June 16:30 in UTC: the lead's
    # task is due at 21:00 of the Shanghai Tuesday (13:00 UTC), not at 21:00 UTC Monday
    # (05:00 in Shanghai) nor four hours on (04:30).
    esc = _escalate_at(session, workspace_id, datetime(2026, 6, 1, 16, 30, tzinfo=UTC))
    assert esc.due_at == datetime(2026, 6, 2, 13, 0, tzinfo=UTC)
    assert esc.dedup_key is not None
    assert esc.dedup_key.endswith(":2026-06-02")


def test_escalation_after_the_due_hour_is_due_at_the_next_local_evening(
    session: Session, workspace_id: int
) -> None:
    # 21:30 in Shanghai (13:30 UTC), as the demo escalates: due the next evening at 21:00
    # local, not at 01:30 in the night.
    esc = _escalate_at(session, workspace_id, datetime(2026, 6, 1, 13, 30, tzinfo=UTC))
    assert esc.due_at == datetime(2026, 6, 2, 13, 0, tzinfo=UTC)


def test_escalation_due_hour_follows_a_zone_west_of_utc(session: Session, workspace_id: int) -> None:
    # 20:00 on 31 May in New York (EDT, UTC-4) is 00:00 on 1 June in UTC: today's 21:00
    # local is still ahead, 01:00 UTC on 1 June.
    esc = _escalate_at(session, workspace_id, datetime(2026, 6, 1, 0, 0, tzinfo=UTC), tz="America/New_York")
    assert esc.due_at == datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


def test_churn_alert_says_who_after_what_and_worth(session: Session, workspace_id: int) -> None:
    with moved_clock(MON):
        sid = staff(session, workspace_id, "amy")
        cid = friend(session, workspace_id, sid, MON - timedelta(days=3), remark="王女士")
        message(session, workspace_id, staff_id=sid, customer_id=cid, at=MON - timedelta(hours=3))
        tid = sources.churn(
            session, workspace_id=workspace_id, customer_id=cid, staff_id=sid, at=MON, ref="event:1"
        )
        again = sources.churn(
            session, workspace_id=workspace_id, customer_id=cid, staff_id=sid, at=MON, ref="event:1"
        )
        assert tid is not None
        assert again is None
        task = session.get(StaffTask, tid)
        assert task is not None
        assert "王女士" in task.title
        assert "发送了一条text消息" in (task.body or "")
        assert "0.00 元" in (task.body or "")
        assert session.scalar(select(func.count()).select_from(StaffTask)) == 1
