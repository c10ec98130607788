"""Tag triggers see every path that changes tags: a bulk tag, an auto-tag rule or a tag
staff set in WeCom (one ``tag.changed`` event for many customers) enrolls exactly the
customers whose tag changed, once, even where a per-customer ``tag.add`` came too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.sop import service
from siyu.automation.sop.jobs import enroll_on_events
from siyu.automation.sop.service import PlanInput
from siyu.customers.tags import add_tags, ensure_tag, remove_tags
from siyu.kit.events import record_event
from siyu.kit.ops import Delivered
from siyu.kit.timeutil import moved_clock
from siyu.models import Event, SopEnrollment
from tests.automation.factory import friend, staff

T0 = datetime(2026, 3, 31, 2, 0, tzinfo=UTC)


def _deliver(session: Session, ws: int, after: int = 0) -> int:
    """Deliver the events recorded after event id ``after`` (as the subscriber would, once);
    the last id delivered."""
    events = session.scalars(
        select(Event).where(Event.workspace_id == ws, Event.id > after).order_by(Event.id)
    )
    got = [Delivered(e.id, e.workspace_id, e.kind, e.occurred_at, e.source, e.customer_id, e.staff_id,
                     e.group_id, e.order_id, e.payload) for e in events]  # fmt: skip
    enroll_on_events(session, got)
    return got[-1].id if got else after


def _plan(session: Session, ws: int, kind: str, tag: str) -> int:
    plan = service.create_plan(
        session,
        workspace_id=ws,
        data=PlanInput(name=f"{kind} {tag}", trigger={"kind": kind, "tag": tag},
                       steps=[{"day": 0, "action": "task", "title": "跟进"}]),
    )  # fmt: skip
    service.activate(session, workspace_id=ws, plan_id=plan.id, enroll_existing=False)
    return plan.id


def _enrolled(session: Session, plan_id: int) -> list[int]:
    return sorted(
        session.scalars(
            select(SopEnrollment.customer_id).where(
                SopEnrollment.plan_id == plan_id, SopEnrollment.status != "skipped"
            )
        )
    )


def test_a_bulk_tag_change_enrolls_exactly_the_changed_customers_once(
    session: Session, workspace_id: int
) -> None:
    ws = workspace_id
    with moved_clock(T0) as advance:
        sid = staff(session, ws, "amy")
        a, b, c = (friend(session, ws, sid, T0, event=False) for _ in range(3))
        vip = ensure_tag(session, workspace_id=ws, name="VIP")
        other = ensure_tag(session, workspace_id=ws, name="复购")
        # ``a`` was a VIP long before the plans existed (activation marks it skipped)
        add_tags(session, workspace_id=ws, customer_ids=[a], tag_ids=[vip.id], source="manual")
        seen = _deliver(session, ws)
        advance(timedelta(hours=2))
        added = _plan(session, ws, "tag_added", "VIP")
        dropped = _plan(session, ws, "tag_removed", "复购")
        # one bulk call: VIP and 复购 on all three (a only gains 复购)
        add_tags(session, workspace_id=ws, customer_ids=[a, b, c], tag_ids=[vip.id, other.id], source="rule")
        # the console's per-customer event for b comes as well: still one enrollment
        record_event(
            session, workspace_id=ws, kind="tag.add", occurred_at=T0 + timedelta(hours=2),
            source="console", customer_id=b, payload={"tag_id": vip.id},
        )  # fmt: skip
        _deliver(session, ws, seen)
        seen = _deliver(session, ws, seen)  # a re-delivery changes nothing
        assert _enrolled(session, added) == [b, c]
        assert _enrolled(session, dropped) == []
        advance(timedelta(minutes=5))
        # staff take 复购 off b and c in WeCom (a sync records one event for both)
        remove_tags(session, workspace_id=ws, customer_ids=[b, c], tag_ids=[other.id], by="sync")
        _deliver(session, ws, seen)
        assert _enrolled(session, dropped) == [b, c]
        assert _enrolled(session, added) == [b, c]
