"""Date triggers on any custom profile field of kind date: N days before/after the date,
yearly or once, in the workspace's zone (Asia/Shanghai here)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.sop import service
from siyu.automation.sop.service import PlanInput
from siyu.automation.sop.triggers import matches_now
from siyu.customers.fields import define_field, set_values
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import moved_clock
from siyu.models import Customer, SopEnrollment
from tests.automation.factory import friend, staff

SH = timedelta(hours=8)


def local(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    """An instant given as Shanghai wall time."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - SH


def _customer(session: Session, workspace_id: int, **values: str) -> int:
    sid = staff(session, workspace_id, "amy")
    cid = friend(session, workspace_id, sid, datetime(2020, 1, 1, tzinfo=UTC), event=False)
    set_values(session, workspace_id=workspace_id, customer_id=cid, values=values, source="test")
    return cid


def _hits(session: Session, workspace_id: int, trigger: dict[str, Any], at: datetime) -> dict[int, str]:
    with moved_clock(at):
        return {
            m.customer_id: m.key
            for m in matches_now(session, workspace_id=workspace_id, trigger=trigger, tz="Asia/Shanghai")
        }


@pytest.fixture
def fields(session: Session, workspace_id: int) -> None:
    define_field(session, workspace_id=workspace_id, key="anniversary", label="纪念日", kind="date")
    define_field(session, workspace_id=workspace_id, key="skin", label="肤质", kind="text")
    define_field(session, workspace_id=workspace_id, key="birthday", label="生日", kind="date")


def test_the_day_turns_at_local_midnight(session: Session, workspace_id: int, fields: None) -> None:
    cid = _customer(session, workspace_id, anniversary="2019-07-01")
    trig = {"kind": "date_field", "field": "anniversary"}
    # 23:59 on 30 June in Shanghai (15:59 UTC): not yet; 00:00 on 1 July (16:00 UTC the day before): yes
    assert _hits(session, workspace_id, trig, local(2026, 6, 30, 23, 59)) == {}
    assert _hits(session, workspace_id, trig, local(2026, 7, 1, 0, 0)) == {cid: "date:anniversary:2026"}
    assert local(2026, 7, 1, 0, 0).day == 30  # still 30 June in UTC
    assert _hits(session, workspace_id, trig, local(2026, 7, 1, 23, 59)) == {cid: "date:anniversary:2026"}
    assert _hits(session, workspace_id, trig, local(2026, 7, 2, 0, 0)) == {}


def test_days_before_and_after_across_month_and_year_boundaries(
    session: Session, workspace_id: int, fields: None
) -> None:
    new_year = _customer(session, workspace_id, anniversary="2015-01-02")
    month_end = _customer(session, workspace_id, anniversary="2015-03-30")
    before = {"kind": "date_field", "field": "anniversary", "days_before": 3}
    # 3 days before 2 January is 30 December of the year before: the occurrence is next year's
    assert _hits(session, workspace_id, before, local(2026, 12, 30, 0, 0)) == {
        new_year: "date:anniversary:2027"
    }
    assert _hits(session, workspace_id, before, local(2026, 12, 29, 23, 59)) == {}
    after = {"kind": "date_field", "field": "anniversary", "days_after": 5}
    # 5 days after 30 March is 4 April; 5 days after 2 January is 7 January
    assert _hits(session, workspace_id, after, local(2026, 4, 4, 0, 0)) == {
        month_end: "date:anniversary:2026"
    }
    assert _hits(session, workspace_id, after, local(2027, 1, 7, 0, 1)) == {new_year: "date:anniversary:2027"}
    assert _hits(session, workspace_id, after, local(2027, 1, 6, 23, 59)) == {}


def test_29_february_falls_on_28_february_in_other_years(
    session: Session, workspace_id: int, fields: None
) -> None:
    leapling = _customer(session, workspace_id, birthday="2000-02-29")
    trig = {"kind": "date_field", "field": "birthday"}
    assert _hits(session, workspace_id, trig, local(2027, 2, 28)) == {leapling: "birthday:2027"}
    assert _hits(session, workspace_id, trig, local(2027, 3, 1)) == {}
    assert _hits(session, workspace_id, trig, local(2028, 2, 28)) == {}
    assert _hits(session, workspace_id, trig, local(2028, 2, 29)) == {leapling: "birthday:2028"}
    # 2 days before: 26 February in 2027, 27 February in 2028
    two = {**trig, "days_before": 2}
    assert _hits(session, workspace_id, two, local(2027, 2, 26)) == {leapling: "birthday:2027"}
    assert _hits(session, workspace_id, two, local(2028, 2, 27)) == {leapling: "birthday:2028"}
    assert _hits(session, workspace_id, two, local(2028, 2, 26)) == {}


def test_once_fires_on_the_date_itself_only(session: Session, workspace_id: int, fields: None) -> None:
    cid = _customer(session, workspace_id, anniversary="2026-09-01")
    once = {"kind": "date_field", "field": "anniversary", "days_after": 7, "repeat": "once"}
    assert _hits(session, workspace_id, once, local(2026, 9, 8, 0, 0)) == {cid: "date:anniversary:2026-09-01"}
    assert _hits(session, workspace_id, once, local(2027, 9, 8, 0, 0)) == {}
    yearly = {"kind": "date_field", "field": "anniversary"}
    # a yearly date in the future has no occurrence before it
    assert _hits(session, workspace_id, yearly, local(2025, 9, 1)) == {}


def test_birthday_reads_the_column_and_the_profile_field(
    session: Session, workspace_id: int, fields: None
) -> None:
    by_field = _customer(session, workspace_id, birthday="1990-05-20")
    by_column = _customer(session, workspace_id)
    c = session.get(Customer, by_column)
    assert c is not None
    c.birthday = date(1988, 5, 20)
    session.flush()
    trig = {"kind": "date_field", "field": "birthday"}
    assert set(_hits(session, workspace_id, trig, local(2026, 5, 20))) == {by_field, by_column}


def test_a_plan_on_a_date_field_enrolls_once_a_year_via_the_scan(
    session: Session, workspace_id: int, fields: None
) -> None:
    cid = _customer(session, workspace_id, anniversary="2019-07-01")
    with moved_clock(local(2026, 6, 28, 9, 0)) as advance:
        plan = service.create_plan(
            session,
            workspace_id=workspace_id,
            data=PlanInput(
                name="纪念日关怀",
                trigger={"kind": "date_field", "field": "anniversary", "days_before": 2},
                steps=[{"day": 0, "at": "10:00", "title": "送祝福"}],
            ),
        )
        service.activate(session, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        assert service.enroll_matching(session, plan) == 0
        advance(timedelta(days=1))  # 29 June 09:00: two days before
        assert service.enroll_matching(session, plan) == 1
        assert service.enroll_matching(session, plan) == 0
        enr = session.scalars(select(SopEnrollment)).one()
        assert (enr.customer_id, enr.trigger_key) == (cid, "date:anniversary:2026")
        assert enr.next_due_at == local(2026, 6, 29, 10, 0)
        advance(timedelta(days=365))
        service.run_all_due(session, workspace_id=workspace_id)
        assert service.enroll_matching(session, plan) == 1
        keys = set(session.scalars(select(SopEnrollment.trigger_key)))
        assert keys == {"date:anniversary:2026", "date:anniversary:2027"}


def test_save_refuses_unknown_and_non_date_fields(session: Session, workspace_id: int, fields: None) -> None:
    def save(trigger: dict[str, Any]) -> None:
        service.create_plan(
            session,
            workspace_id=workspace_id,
            data=PlanInput(name="x", trigger=trigger, steps=[{"day": 0, "title": "跟进"}]),
        )

    for trigger, field, words in (
        ({"kind": "date_field", "field": "wedding"}, "trigger.field", "no profile field 'wedding'"),
        ({"kind": "date_field", "field": "skin"}, "trigger.field", "is a text field"),
        ({"kind": "date_field", "field": "Bad Key"}, "trigger.field", "date profile field"),
        (
            {"kind": "date_field", "field": "anniversary", "days_before": 1, "days_after": 1},
            "trigger.days_after",
            "not both",
        ),
        (
            {"kind": "date_field", "field": "anniversary", "repeat": "monthly"},
            "trigger.repeat",
            "yearly or once",
        ),
    ):
        with pytest.raises(Invalid) as bad:
            save(trigger)
        assert bad.value.field == field
        assert words in bad.value.message
