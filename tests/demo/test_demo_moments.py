"""The demo brand's moments: past weeks with likes and comments fetched from WeCom, a planned week."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.timeutil import local_day
from siyu.models import CustomerStats, Event, Moment, MomentInteraction, MomentSender
from tests.conftest import CliRun, DemoBrand
from tests.demo.test_demo_cli import ARGS


@pytest.mark.xdist_group("demo")
def test_demo_has_past_moments_with_reactions_and_a_planned_week(
    cli: CliRun, session: Session, tmp_path: Path, demo_brand: DemoBrand
) -> None:

    def counts() -> tuple[int, int, int, int]:
        session.expire_all()
        return (
            session.scalar(select(func.count()).select_from(Moment).where(Moment.origin == "personal")) or 0,
            session.scalar(select(func.count()).select_from(Moment).where(Moment.origin == "plan")) or 0,
            session.scalar(select(func.count()).select_from(MomentInteraction)) or 0,
            session.scalar(select(func.count()).select_from(Event).where(Event.kind.like("moment.%"))) or 0,
        )

    personal, planned, interactions, events = counts()
    assert personal > 50
    assert planned >= 20
    assert interactions > 100
    assert events == interactions
    touched = session.scalar(
        select(func.count()).select_from(CustomerStats).where(CustomerStats.last_interaction_at.is_not(None))
    )
    assert touched is not None
    assert touched > 50
    # The planned week: every day from tomorrow, with the cadence flags on the calendar.
    week = cli("moments", "week", "--json").stdout
    assert '"planned"' in week
    first = min(session.scalars(select(Moment.planned_at).where(Moment.status == "planned")))
    # Today's corp moment went to WeCom; four guides published it, two have not yet.
    today = session.scalars(select(Moment).where(Moment.origin == "plan", Moment.status == "ready")).one()
    senders = session.scalars(select(MomentSender.status).where(MomentSender.moment_id == today.id)).all()
    assert sorted(senders) == ["published"] * 4 + ["unpublished"] * 2
    # (from the day the demo was built: a test that runs after midnight shares the build)
    assert local_day(first) - timedelta(days=1) in demo_brand.built
    # A second run adds nothing twice.
    cli(*ARGS, "--out", tmp_path / "demo-data")
    assert counts() == (personal, planned, interactions, events)
