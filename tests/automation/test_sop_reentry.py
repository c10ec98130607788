"""Re-entry (``trigger.reentry``): a plan triggered by entering a layer or a saved segment
enrolls a customer again after the scan saw them leave and come back; without it, never
twice. Through the trigger paths: the periodic scan and the recompute's stats.refreshed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.sop import jobs, service
from siyu.automation.sop.service import PlanInput
from siyu.customers.tags import add_tags, ensure_tag, remove_tags
from siyu.kit.db import session_factory, session_scope
from siyu.kit.errors import Invalid
from siyu.kit.ops import Delivered
from siyu.kit.timeutil import moved_clock
from siyu.models import CustomerScore, SopEnrollment
from siyu.segments.audience.saved import save_segment
from tests.automation.factory import friend, staff

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
STEPS = [{"day": 0, "title": "欢迎回来"}]


def _plan(workspace_id: int, trigger: dict[str, Any]) -> int:
    with session_scope() as s:
        plan = service.create_plan(
            s, workspace_id=workspace_id, data=PlanInput(name=str(trigger), trigger=trigger, steps=STEPS)
        )
        service.activate(s, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        return plan.id


def _stays(session: Session, plan_id: int, cid: int) -> list[tuple[str, str]]:
    session.expire_all()
    rows = session.execute(
        select(SopEnrollment.status, SopEnrollment.trigger_key)
        .where(SopEnrollment.plan_id == plan_id, SopEnrollment.customer_id == cid)
        .order_by(SopEnrollment.id)
    ).all()
    return [(st, key) for st, key in rows]


def _scan_and_run(workspace_id: int) -> None:
    jobs.scan(session_factory())
    with session_scope() as s:
        service.run_all_due(s, workspace_id=workspace_id)


def test_segment_plan_with_reentry_enrolls_again_after_leaving_and_without_never_twice(
    session: Session, workspace_id: int
) -> None:
    with moved_clock(T0) as advance:
        with session_scope() as s:
            sid = staff(s, workspace_id, "amy")
            cid = friend(s, workspace_id, sid, T0 - timedelta(days=30), event=False)
            vip = ensure_tag(s, workspace_id=workspace_id, name="VIP").id
            save_segment(s, workspace_id=workspace_id, name="会员", expression="tag:VIP")
        again = _plan(workspace_id, {"kind": "segment", "segment": "会员", "reentry": True})
        once = _plan(workspace_id, {"kind": "segment", "segment": "会员"})

        def tag(on: bool) -> None:
            with session_scope() as s:
                fn = add_tags if on else remove_tags
                fn(s, workspace_id=workspace_id, customer_ids=[cid], tag_ids=[vip], source="manual")
            advance(timedelta(minutes=10))
            _scan_and_run(workspace_id)

        tag(True)  # enters
        for pid in (again, once):
            assert [st for st, _ in _stays(session, pid, cid)] == ["completed"]
        _scan_and_run(workspace_id)  # still in: nothing more
        tag(False)  # leaves: the scan sees it
        tag(True)  # comes back
        assert [st for st, _ in _stays(session, again, cid)] == ["completed", "completed"]
        assert [st for st, _ in _stays(session, once, cid)] == ["completed"]
        _scan_and_run(workspace_id)
        _scan_and_run(workspace_id)
        assert len(_stays(session, again, cid)) == 2  # one stay, one enrollment
        tag(False)
        tag(True)  # a third stay
        keys = [k for _, k in _stays(session, again, cid)]
        assert len(keys) == 3
        assert len(set(keys)) == 3
        assert keys[0].startswith("segment:")
        assert len(_stays(session, once, cid)) == 1


def test_layer_plan_reentry_through_the_recompute_event(session: Session, workspace_id: int) -> None:
    with moved_clock(T0) as advance:
        with session_scope() as s:
            sid = staff(s, workspace_id, "amy")
            cid = friend(s, workspace_id, sid, T0 - timedelta(days=30), event=False)
            s.add(CustomerScore(customer_id=cid, workspace_id=workspace_id, layer_tier="vip"))
        again = _plan(
            workspace_id, {"kind": "layer_changed", "field": "layer_tier", "to": "svip", "reentry": True}
        )
        once = _plan(workspace_id, {"kind": "layer_changed", "field": "layer_tier", "to": "svip"})
        n = 0

        def recompute(tier: str) -> None:
            nonlocal n
            n += 1
            advance(timedelta(hours=1))
            with session_scope() as s:
                score = s.get(CustomerScore, cid)
                assert score is not None
                score.layer_tier = tier
                s.flush()
                ev = Delivered(n, workspace_id, "stats.refreshed", T0, "recompute", None, None, None, None,
                               {"customer_ids": [cid]})  # fmt: skip
                jobs.enroll_on_events(s, [ev])

        recompute("svip")
        recompute("vip")  # left while the first stay's steps still run
        recompute("svip")
        # back, but still in the plan: never in it twice at once
        assert [st for st, _ in _stays(session, again, cid)] == ["active"]
        with session_scope() as s:
            service.run_all_due(s, workspace_id=workspace_id)
        recompute("svip")  # the first stay done: the return enrolls, once
        recompute("svip")
        assert [st for st, _ in _stays(session, again, cid)] == ["completed", "active"]
        recompute("vip")
        recompute("svip")
        assert [st for st, _ in _stays(session, again, cid)] == ["completed", "active"]
        with session_scope() as s:
            service.run_all_due(s, workspace_id=workspace_id)
        recompute("vip")
        recompute("svip")
        assert [st for st, _ in _stays(session, again, cid)] == ["completed", "completed", "active"]
        assert len(_stays(session, once, cid)) == 1


def test_reentry_is_refused_where_it_means_nothing(session: Session, workspace_id: int) -> None:
    for trigger, field in (
        ({"kind": "friend_added", "reentry": True}, "trigger.reentry"),
        ({"kind": "segment", "segment": "x", "reentry": "yes"}, "trigger.reentry"),
    ):
        with pytest.raises(Invalid) as bad:
            service.create_plan(
                session, workspace_id=workspace_id, data=PlanInput(name="x", trigger=trigger, steps=STEPS)
            )
        assert bad.value.field == field
