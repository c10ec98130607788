"""The execution subscribers: churn alerts on a customer's deletion, and completion from a
moment comment or a confirmed send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.execution import tracking
from siyu.execution.tasks import churn_alerts, complete_from_events
from siyu.kit.ops import Delivered
from siyu.kit.timeutil import moved_clock
from siyu.models import StaffTask
from tests.automation.factory import friend, staff

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def _ev(n: int, kind: str, ws: int, cid: int, sid: int, **payload: object) -> Delivered:
    return Delivered(n, ws, kind, T0 + timedelta(hours=1), "wecom", cid, sid, None, None, payload)


def test_churn_subscriber_makes_one_alert_per_event(session: Session, workspace_id: int) -> None:
    with moved_clock(T0):
        sid = staff(session, workspace_id, "amy")
        cid = friend(session, workspace_id, sid, T0 - timedelta(days=5), remark="李先生")
        ev = _ev(41, "friend.delete_by_customer", workspace_id, cid, sid)
        churn_alerts(session, [ev])
        churn_alerts(session, [ev])  # re-delivered
        (task,) = session.scalars(select(StaffTask).where(StaffTask.kind == "churn")).all()
        assert task.staff_id == sid
        assert "李先生" in task.title
        assert task.priority == 2


def test_moment_comment_and_confirmed_send_complete_tasks_detected(
    session: Session, workspace_id: int
) -> None:
    with moved_clock(T0):
        sid = staff(session, workspace_id, "amy")
        cid = friend(session, workspace_id, sid, T0 - timedelta(days=5))
        a = tracking.add_manual(
            session,
            workspace_id=workspace_id,
            staff_id=sid,
            title="评论朋友圈",
            due_at=T0 + timedelta(hours=3),
            customer_id=cid,
        )
        b = tracking.add_manual(
            session, workspace_id=workspace_id, staff_id=sid, title="确认发送", due_at=T0 + timedelta(hours=3)
        )
        complete_from_events(session, [_ev(1, "moment.comment", workspace_id, cid, sid)])
        complete_from_events(session, [_ev(2, "send.confirmed", workspace_id, cid, sid, task_id=b)])
        session.flush()
        got = {t.id: (t.status, t.done_how) for t in session.scalars(select(StaffTask))}
        assert got == {a: ("done", "detected"), b: ("done", "detected")}
