"""Quiet hours move a due send to their end; a recurring send plans its next occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.sends.knobs import knobs_from_settings, quota_window
from siyu.automation.sends.service import NewSend, create_send, plan
from siyu.kit.db import session_scope
from siyu.kit.timeutil import moved_clock
from siyu.models import Job, Send


def test_quiet_hours_and_recurrence(session: Session, workspace_id: int) -> None:
    morning = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    with moved_clock(morning), session_scope() as s:
        send = create_send(
            s,
            workspace_id=workspace_id,
            new=NewSend(
                title="周报",
                text="hi",
                audience="orders>=1",
                recurrence="weekly",
                recurrence_until=morning + timedelta(days=10),
            ),
            actor="t",
        )
        assert plan(s, send, now=morning) is not None
        first_id = send.id
    children = list(session.scalars(select(Send).where(Send.parent_id == first_id)))
    assert [c.scheduled_at for c in children] == [morning + timedelta(days=7)]
    # The child falls due at 23:30 Shanghai time: planned at 08:00 instead.
    late = datetime(2026, 12, 14, 15, 30, tzinfo=UTC)
    with moved_clock(late), session_scope() as s:
        child = s.get(Send, children[0].id)
        assert child is not None
        assert plan(s, child, now=late) is None
        assert child.status == "scheduled"
        assert child.scheduled_at == datetime(2026, 12, 15, 0, 0, tzinfo=UTC)
    session.expire_all()
    runs = session.scalars(select(Job.run_after).where(Job.kind == "sends.plan").order_by(Job.id)).all()
    assert datetime(2026, 12, 15, 0, 0, tzinfo=UTC) in runs


def test_quota_windows() -> None:
    at = datetime(2026, 2, 10, 17, 0, tzinfo=UTC)  # 11 Feb, 01:00 in China
    start, end, allowed = quota_window("month_days", at)
    assert (start, end, allowed) == (
        datetime(2026, 1, 31, 16, 0, tzinfo=UTC),
        datetime(2026, 2, 28, 16, 0, tzinfo=UTC),
        28,
    )
    assert quota_window("day1", at)[:2] == (
        datetime(2026, 2, 10, 16, 0, tzinfo=UTC),
        datetime(2026, 2, 11, 16, 0, tzinfo=UTC),
    )
    assert quota_window("week7", at)[2] == 7
    assert quota_window("month4", at)[2] == 4
    assert knobs_from_settings({"outbound": {"quiet_hours": ""}}).quiet_start is None
