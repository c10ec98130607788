"""The event log is append-only and replays with a dedup key are no-ops."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.kit.events import record_event
from siyu.kit.timeutil import utcnow
from siyu.models import Event


def test_dedup_key_makes_replays_noops(session: Session, workspace_id: int) -> None:
    now = utcnow()
    with session_scope() as s:
        assert record_event(
            s,
            workspace_id=workspace_id,
            kind="friend.add",
            occurred_at=now,
            source="wecom",
            dedup_key="k1",
            payload={"a": 1},
        )
        # the same key twice in one unit of work
        assert not record_event(
            s, workspace_id=workspace_id, kind="friend.add", occurred_at=now, source="wecom", dedup_key="k1"
        )
    with session_scope() as s:
        assert not record_event(
            s, workspace_id=workspace_id, kind="friend.add", occurred_at=now, source="wecom", dedup_key="k1"
        )
        assert record_event(
            s, workspace_id=workspace_id, kind="friend.add", occurred_at=now, source="wecom", dedup_key="k2"
        )
        # events without a key are always appended
        assert record_event(s, workspace_id=workspace_id, kind="message.in", occurred_at=now, source="wecom")
        assert record_event(s, workspace_id=workspace_id, kind="message.in", occurred_at=now, source="wecom")
    assert session.scalar(select(func.count()).select_from(Event)) == 4
    first = session.scalars(select(Event).where(Event.dedup_key == "k1")).one()
    assert first.payload == {"a": 1}
    assert first.occurred_at == now.replace(microsecond=now.microsecond)
