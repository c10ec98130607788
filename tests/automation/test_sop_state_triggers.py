"""State triggers (first order, silence, birthday, layer, segment) enroll through the scan
and the stats.refreshed subscriber, once per occurrence, only after activation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.automation.sop import service
from siyu.automation.sop.jobs import enroll_on_events
from siyu.automation.sop.service import PlanInput
from siyu.kit.ops import Delivered
from siyu.kit.timeutil import moved_clock
from siyu.models import Customer, CustomerScore, CustomerStats, SopEnrollment
from tests.automation.factory import friend, staff

T0 = datetime(2026, 8, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _plan(session: Session, workspace_id: int, trigger: dict[str, object], existing: bool = False) -> int:
    plan = service.create_plan(
        session,
        workspace_id=workspace_id,
        data=PlanInput(name=str(trigger["kind"]), trigger=trigger, steps=[{"day": 0, "title": "跟进"}]),
    )
    service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=existing)
    return plan.id


def _count(session: Session, plan_id: int, status: str = "active") -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SopEnrollment)
            .where(SopEnrollment.plan_id == plan_id, SopEnrollment.status == status)
        )
        or 0
    )


def _stats(session: Session, workspace_id: int, cid: int, paid_at: datetime) -> None:
    session.add(
        CustomerStats(
            customer_id=cid,
            workspace_id=workspace_id,
            paid_orders_count=1,
            first_paid_at=paid_at,
            last_paid_at=paid_at,
            first_order_id=cid * 10,
            last_order_id=cid * 10,
            categories={"面霜": 1},
        )
    )
    session.flush()


def test_first_order_enrolls_new_buyers_only_once_via_the_subscriber(
    session: Session, workspace_id: int
) -> None:
    with moved_clock(T0) as advance:
        sid = staff(session, workspace_id, "amy")
        old = friend(session, workspace_id, sid, T0 - timedelta(days=30), event=False)
        _stats(session, workspace_id, old, T0 - timedelta(days=1))  # bought before activation
        plan_id = _plan(session, workspace_id, {"kind": "first_order"})
        cat_id = _plan(session, workspace_id, {"kind": "category_order", "category": "面霜"})
        advance(timedelta(hours=1))
        new = friend(session, workspace_id, sid, T0 - timedelta(days=30), event=False)
        _stats(session, workspace_id, new, T0 + timedelta(minutes=30))
        ev = Delivered(
            1,
            workspace_id,
            "stats.refreshed",
            T0,
            "import",
            None,
            None,
            None,
            None,
            {"customer_ids": [old, new]},
        )
        enroll_on_events(session, [ev])
        enroll_on_events(session, [ev])
        assert _count(session, plan_id) == 1
        assert _count(session, cat_id) == 1
        assert (
            session.scalar(
                select(SopEnrollment.customer_id).where(
                    SopEnrollment.plan_id == plan_id, SopEnrollment.status == "active"
                )
            )
            == new
        )


def test_silence_birthday_and_layer_triggers_via_the_scan(session: Session, workspace_id: int) -> None:
    with moved_clock(T0):
        sid = staff(session, workspace_id, "amy")
        quiet = friend(session, workspace_id, sid, T0 - timedelta(days=200), event=False)
        _stats(session, workspace_id, quiet, T0 - timedelta(days=91))
        bday = friend(session, workspace_id, sid, T0 - timedelta(days=200), event=False)
        c = session.get(Customer, bday)
        assert c is not None
        c.birthday = date(1990, 8, 13)
        svip = friend(session, workspace_id, sid, T0 - timedelta(days=200), event=False)
        session.add(CustomerScore(customer_id=svip, workspace_id=workspace_id, layer_tier="svip"))
        session.flush()
        silent_plan = _plan(
            session, workspace_id, {"kind": "inactive", "what": "order", "days": 90}, existing=True
        )
        bday_plan = _plan(
            session,
            workspace_id,
            {"kind": "date_field", "field": "birthday", "days_before": 3},
            existing=True,
        )
        svip_plan = _plan(
            session, workspace_id, {"kind": "layer_changed", "field": "layer_tier", "to": "svip"}
        )
        assert _count(session, silent_plan) == 1
        assert _count(session, bday_plan) == 1
        # activated without existing: the SVIP already there is skipped, and stays so on a scan
        assert _count(session, svip_plan, "skipped") == 1
        for pid in (silent_plan, bday_plan, svip_plan):
            plan = service.get_plan(session, workspace_id=workspace_id, plan_id=pid)
            assert service.enroll_matching(session, plan) == 0
        newcomer = friend(session, workspace_id, sid, T0 - timedelta(days=200), event=False)
        session.add(CustomerScore(customer_id=newcomer, workspace_id=workspace_id, layer_tier="svip"))
        session.flush()
        plan = service.get_plan(session, workspace_id=workspace_id, plan_id=svip_plan)
        assert service.enroll_matching(session, plan) == 1
