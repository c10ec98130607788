"""``siyu sop`` and ``siyu tasks`` through the CLI, checked in the database; step times."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.automation.sop import spec
from siyu.automation.sop.service import PlanInput, copy_plan, create_plan
from siyu.automation.sop.templates import TEMPLATES, template
from siyu.kit.db import session_scope
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import moved_clock
from siyu.models import SopPlan, StaffTask
from tests.automation.factory import friend, staff
from tests.conftest import CliRun

Q = spec.Quiet.of({})
TZ = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("entered", "step", "expected"),
    [
        # 00:00 local is inside quiet hours: a delay-only step waits for 08:00
        (datetime(2026, 1, 31, 16, 0, tzinfo=UTC), {"day": 0}, datetime(2026, 2, 1, 0, 0, tzinfo=UTC)),
        # 23:59 local, day 1 at 20:00: next local day, across the month
        (
            datetime(2026, 1, 31, 15, 59, tzinfo=UTC),
            {"day": 1, "at": "20:00"},
            datetime(2026, 2, 1, 12, 0, tzinfo=UTC),
        ),
        # 23:59 local on 12-31, day 0 at 20:00 already past: pushed out of quiet hours to 08:00 next day
        (
            datetime(2026, 12, 31, 15, 59, tzinfo=UTC),
            {"day": 0, "at": "20:00"},
            datetime(2027, 1, 1, 0, 0, tzinfo=UTC),
        ),
        # 10:00 local, day 3 at 20:00
        (
            datetime(2026, 2, 27, 2, 0, tzinfo=UTC),
            {"day": 3, "at": "20:00"},
            datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        ),
        # a step at 23:00 falls in quiet hours: 08:00 the next morning
        (
            datetime(2026, 2, 27, 2, 0, tzinfo=UTC),
            {"day": 0, "at": "23:00"},
            datetime(2026, 2, 28, 0, 0, tzinfo=UTC),
        ),
    ],
)
def test_step_times_in_the_workspace_zone(
    entered: datetime, step: dict[str, object], expected: datetime
) -> None:
    assert spec.due_at(spec.check_step(step, 0), entered, tz=TZ, quiet=Q) == expected


@settings(max_examples=200, deadline=None)
@given(
    entered=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    day=st.integers(0, 60),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_a_step_is_never_due_in_quiet_hours_nor_before_entry(
    entered: datetime, day: int, hour: int, minute: int
) -> None:
    step = spec.check_step({"day": day, "at": f"{hour:02d}:{minute:02d}"}, 0)
    due = spec.due_at(step, entered, tz=TZ, quiet=Q)
    assert due >= entered
    assert not Q.inside(due.astimezone(spec.zone(TZ)).time())


def test_cli_creates_from_template_activates_and_shows(
    cli: CliRun, session: Session, workspace_id: int
) -> None:
    out = json.loads(cli("sop", "templates", "--json").stdout)
    assert {t["template"] for t in out} == set(TEMPLATES)
    plan = json.loads(cli("sop", "create", "--template", "onboarding", "--json").stdout)
    assert plan["status"] == "draft"
    assert len(plan["steps"]) == 4
    dry = json.loads(cli("sop", "activate", plan["id"], "--existing", "--dry-run", "--json").stdout)
    assert dry["already_matching"] == 0
    assert dry["dry_run"] is True
    act = json.loads(cli("sop", "activate", plan["id"], "--json").stdout)
    assert act["status"] == "active"
    shown = json.loads(cli("sop", "show", plan["id"], "--json").stdout)
    assert [s["index"] for s in shown["preview"]["steps"]] == [0, 1, 2, 3]
    listed = json.loads(cli("sop", "list", "--json").stdout)
    assert listed[0]["id"] == plan["id"]
    json.loads(cli("sop", "pause", plan["id"], "--json").stdout)
    assert session.scalar(select(SopPlan.status)) == "paused"


def test_cli_refuses_a_bad_plan_naming_the_field(
    cli: CliRun, tmp_path: Path, session: Session, workspace_id: int
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps({"name": "x", "trigger": {"kind": "inactive", "days": 0}, "steps": [{"day": 0}]})
    )
    result = cli("sop", "create", "--file", path, expect=2)
    assert "trigger.days" in result.stderr
    assert session.scalar(select(func.count()).select_from(SopPlan)) == 0


def test_tasks_cli_add_list_done_summary(cli: CliRun, session: Session, workspace_id: int) -> None:
    with session_scope() as s:
        sid = staff(s, workspace_id, "amy")
        friend(s, workspace_id, sid, datetime(2026, 1, 1, tzinfo=UTC), remark="王女士")
    with moved_clock(datetime(2026, 6, 1, 2, 0, tzinfo=UTC)):
        added = json.loads(
            cli(
                "tasks", "add", "--staff", "amy", "--title", "回访", "--due", "2026-06-01 18:00", "--json"
            ).stdout
        )
        rows = json.loads(cli("tasks", "list", "--staff", "amy", "--json").stdout)
        assert rows[0]["id"] == added["id"]
        assert rows[0]["due_at"].startswith("2026-06-01T10:00")
        done = json.loads(cli("tasks", "done", added["id"], "--json").stdout)
        assert done["done_how"] == "self_reported"
        assert done["on_time"] is True
        summary = json.loads(cli("tasks", "summary", "--json").stdout)
        assert summary["accounts"][0]["done"] == 1
        assert summary["teams"][0]["team"] == "一组"
        bad = cli("tasks", "add", "--staff", "nobody", "--title", "x", "--due", "2026-06-01 18:00", expect=2)
        assert "staff" in bad.stderr
        generated = json.loads(cli("tasks", "generate", "--json").stdout)
        assert set(generated) >= {"reply_sla", "greet", "coverage", "wakeup", "post_purchase", "lead_add"}
    session.expire_all()
    assert session.scalar(select(StaffTask.done_how).where(StaffTask.id == added["id"])) == "self_reported"


def test_concurrent_create_and_copy_leave_each_plan_whole(env: object, workspace_id: int) -> None:
    with session_scope() as s:
        src = create_plan(s, workspace_id=workspace_id, data=PlanInput.from_dict(template("onboarding")))
        src_id = src.id
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(3):
                with session_scope() as s:
                    if n % 2:
                        copy_plan(s, workspace_id=workspace_id, plan_id=src_id)
                    else:
                        create_plan(
                            s, workspace_id=workspace_id, data=PlanInput.from_dict(template("wakeup"))
                        )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with session_scope() as s:
        plans = s.scalars(select(SopPlan)).all()
        assert len(plans) == 13
        for p in plans:
            want = TEMPLATES[p.template or ""]["steps"]
            assert len(p.steps) == len(want)
            assert [x["title"] for x in p.steps] == [x["title"] for x in want]


def test_a_step_at_a_bad_time_is_refused() -> None:
    with pytest.raises(Invalid) as exc:
        spec.check_steps([{"day": 0, "at": "25:00"}])
    assert exc.value.field == "steps[0].at"
    with pytest.raises(Invalid) as exc:
        spec.check_steps([{"day": 3}, {"day": 1}])
    assert exc.value.field == "steps[1].day"
