"""The demo's SOP plans and task lists: the five templates run over the last two weeks.

The clock walks day by day (``moved_clock``) from 14 days before the export to now: each
morning the plans enroll whoever their triggers match, due steps run (tasks for the
guides), the morning lists are built (coverage, wake-ups, post-purchase); each evening
the guides work through their tasks. Some accounts finish on time, some late, some
hardly at all, so the completion page has something to say.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from siyu.automation.sop import service, spec
from siyu.automation.sop.service import PlanInput
from siyu.automation.sop.templates import TEMPLATES, template
from siyu.execution import sources, tracking
from siyu.execution.service import complete_task
from siyu.kit.db import session_scope
from siyu.kit.timeutil import moved_clock, utcnow, zone
from siyu.models import SopPlan, Staff, StaffTask, Workspace

if TYPE_CHECKING:
    from siyu.demo.service import DemoContext

HISTORY_DAYS = 14
# How each account works: share of tasks done, and of those, the share done on time.
HABITS = ((0.95, 0.9), (0.8, 0.45), (0.25, 0.5))
HABIT_NAMES = ("按时完成", "常常晚完成", "很少完成")


def _plans(workspace_id: int) -> list[int]:
    with session_scope() as s:
        have = {p.template for p in service.list_plans(s, workspace_id=workspace_id)}
        # The five customer-plan templates (a group plan's template is offered in the console).
        for name in TEMPLATES:
            if name not in have and TEMPLATES[name].get("subject", "customer") == "customer":
                service.create_plan(
                    s, workspace_id=workspace_id, data=PlanInput.from_dict(template(name)), actor="demo"
                )
        s.flush()
        ids = []
        for plan in service.list_plans(s, workspace_id=workspace_id):
            if plan.status == "draft":
                service.activate(
                    s, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False, actor="demo"
                )
            ids.append(plan.id)
        return ids


def _morning(workspace_id: int) -> None:
    with session_scope() as s:
        for plan in service.list_plans(s, workspace_id=workspace_id, status="active"):
            if plan.trigger["kind"] in spec.STATE_TRIGGERS or plan.trigger["kind"] in (
                "friend_added",
                "joined_group",
            ):
                service.enroll_matching(s, plan)
        s.flush()
        service.run_all_due(s, workspace_id=workspace_id)
        sources.morning(s, workspace_id=workspace_id)


def _evening(workspace_id: int, seed: int, habit: dict[int, tuple[float, float]]) -> None:
    now = utcnow()
    with session_scope() as s:
        service.run_all_due(s, workspace_id=workspace_id)
        rows = s.execute(
            select(StaffTask.id, StaffTask.staff_id, StaffTask.created_at, StaffTask.due_at).where(
                StaffTask.workspace_id == workspace_id,
                StaffTask.status == "open",
                StaffTask.created_at >= now - timedelta(days=4),
                StaffTask.kind != "escalation",
            )
        ).all()
        for tid, sid, created, due in rows:
            rng = random.Random(seed * 1_000_003 + tid)  # each task's fate, decided once
            done, on_time = habit.get(sid or 0, HABITS[0])
            if rng.random() >= done:
                continue
            if rng.random() < on_time:
                at = created + (due - created) * rng.uniform(0.05, 0.9)
            else:
                at = due + timedelta(hours=rng.uniform(1, 40))
            if at > now:
                continue  # done on a later evening
            how = "detected" if rng.random() < 0.75 else "self_reported"
            complete_task(s, workspace_id=workspace_id, task_id=tid, how=how, at=at)
        tracking.escalate_overdue(s, workspace_id=workspace_id)


def seed(ctx: DemoContext) -> None:
    """The demo step: plans from the five templates, run over the last two weeks."""
    assert ctx.workspace_id is not None
    assert ctx.as_of is not None
    ws_id = ctx.workspace_id
    with session_scope() as s:
        ws = s.get(Workspace, ws_id)
        assert ws is not None
        tz = ws.timezone
        staff = list(s.scalars(select(Staff).where(Staff.workspace_id == ws_id).order_by(Staff.id)))
        if not staff:
            ctx.notes.append("SOP: no staff accounts (WeCom step skipped), no plans run")
            return
        if s.scalar(select(SopPlan.id).where(SopPlan.workspace_id == ws_id, SopPlan.created_by == "demo")):
            ctx.notes.append("SOP: plans already built by an earlier demo run")
            return
        lead = staff[0]
        settings = dict(ws.settings or {})
        settings["tasks"] = {
            **settings.get("tasks", {}),
            "team_leads": {st.department or "": lead.userid for st in staff[1:]},
        }
        ws.settings = settings
    habit = {st.id: HABITS[n % len(HABITS)] for n, st in enumerate(staff)}
    start = ctx.as_of - timedelta(days=HISTORY_DAYS)
    real_now = utcnow()
    with moved_clock(datetime.combine(start, time(7, 0), tzinfo=zone(tz))) as advance:
        _plans(ws_id)
        for day in range(HISTORY_DAYS + 1):
            d = start + timedelta(days=day)
            morning = datetime.combine(d, time(8, 30), tzinfo=zone(tz))
            if morning > real_now:
                break
            advance(morning - utcnow())
            _morning(ws_id)
            evening = datetime.combine(d, time(21, 30), tzinfo=zone(tz))
            if evening > real_now:
                break
            advance(evening - utcnow())
            _evening(ws_id, ctx.seed, habit)
    with session_scope() as s:
        service.run_all_due(s, workspace_id=ws_id)
        counts = {
            p.name: service.enrollment_counts(s, workspace_id=ws_id, plan_id=p.id)
            for p in service.list_plans(s, workspace_id=ws_id)
        }
        total = s.scalar(
            select(StaffTask.id).where(StaffTask.workspace_id == ws_id).order_by(StaffTask.id.desc()).limit(1)
        )
    enrolled = ", ".join(f"{name} {sum(c.values()) - c.get('skipped', 0)}" for name, c in counts.items())
    habits = "; ".join(
        f"{st.name or st.userid}: {HABIT_NAMES[n % len(HABIT_NAMES)]}" for n, st in enumerate(staff[:6])
    )
    ctx.notes.append(
        f"SOP: five template plans ran over {HISTORY_DAYS} days (enrolled: {enrolled}); "
        f"~{total or 0:,} tasks; {habits}"
    )
