"""The demo runs the five template plans over its history: enrollment, tasks and
completion that differ by account (on time, late, hardly ever)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.models import SopEnrollment, SopPlan, StaffTask
from tests.conftest import CliRun, DemoBrand
from tests.demo.test_demo_cli import AS_OF


@pytest.mark.xdist_group("demo")
def test_demo_runs_the_five_plans_and_accounts_differ(
    cli: CliRun, session: Session, demo_brand: DemoBrand
) -> None:
    plans = session.scalars(select(SopPlan)).all()
    assert {p.template for p in plans} == {
        "onboarding",
        "post_purchase",
        "wakeup",
        "svip",
        "group_onboarding",
    }
    assert all(p.status == "active" for p in plans)
    enrolled = session.scalar(
        select(func.count()).select_from(SopEnrollment).where(SopEnrollment.status != "skipped")
    )
    assert enrolled
    assert enrolled > 0
    assert session.scalar(select(func.count()).select_from(StaffTask).where(StaffTask.kind == "sop_step")) > 0
    summary = json.loads(cli("tasks", "summary", "--days", 15, "--until", AS_OF, "--json").stdout)
    rates = [a["rate"] for a in summary["accounts"] if a["total"] >= 5]
    assert len(rates) >= 3
    assert max(rates) - min(rates) > 0.3
    assert any(a["late"] > 0 for a in summary["accounts"])
