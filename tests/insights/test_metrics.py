"""The four metrics against a hand-computed month (see tests/insights/world.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.insights.aggregates import _Msg, derive_conversations
from siyu.insights.knobs import InsightKnobs, WorkingHours, knobs_from_settings
from siyu.kit.db import session_scope
from siyu.kit.errors import Invalid
from siyu.kit.events import record_event
from siyu.models import Conversation, Customer, Follow, StaffMetricDay
from tests.conftest import CliRun
from tests.insights.world import W, at, build, msg


@pytest.fixture
def world(env: Settings, workspace_id: int) -> W:
    with session_scope() as s:
        return build(s, workspace_id)


def _month(cli: CliRun, *extra: str) -> dict:  # type: ignore[type-arg]
    cli("insights", "refresh")
    out = cli("insights", "metrics", "--grain", "month", "--on", "2026-11", "--json", *extra)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_working_time_skips_nights_and_closed_days() -> None:
    hours = WorkingHours()
    assert hours.seconds_between(at(11, 2, 17, 55), at(11, 3, 9, 4)) == 9 * 60
    assert hours.seconds_between(at(11, 2, 20, 0), at(11, 3, 9, 8)) == 8 * 60
    assert hours.seconds_between(at(11, 2, 10, 0), at(11, 2, 10, 9)) == 9 * 60
    weekdays = WorkingHours(weekdays=frozenset(range(1, 6)))
    # Friday 17:55 → Monday 09:04: the weekend does not count.
    assert weekdays.seconds_between(at(11, 6, 17, 55), at(11, 9, 9, 4)) == 9 * 60


def test_reply_rate_hand_computed(cli: CliRun, world: W, session: Session) -> None:
    data = _month(cli)
    alice = next(r for r in data["accounts"] if r["userid"] == "alice")
    reply = alice["reply"]
    assert reply["covered"]
    assert reply["source"] == "archive"
    # c1 (9 min), c4 (17:55 → 09:04 = 9 working min) and c5 (20:00 → 09:08 = 8) in 10 min;
    # c2 (11 min) late; c3 never answered; c1's "谢谢" after 41 min exempt.
    assert (reply["conversations"], reply["replied_in_target"], reply["unanswered"], reply["exempt"]) == (
        5,
        3,
        1,
        1,
    )
    assert reply["rate"] == 0.6
    assert reply["replied"] == 4
    assert reply["avg_min"] == pytest.approx((9 + 11 + 9 + 8) / 4, abs=0.06)
    assert reply["p50_min"] == 10.0  # bucket bound: ≤ 10 min
    assert reply["p90_min"] == 15.0
    assert reply["wecom_reply_percentage"] == 0.8
    assert reply["wecom_avg_reply_min"] == 5.0
    # The maintained rows: one staff-day, five + one conversations.
    rows = session.scalars(select(StaffMetricDay)).all()
    assert [(r.day.isoformat(), r.conversations, r.replied_10m) for r in rows] == [("2026-11-02", 5, 3)]
    convs = session.scalars(select(Conversation).order_by(Conversation.started_at)).all()
    assert [c.reply_work_s for c in convs] == [540, None, 660, None, 540, 480]
    assert [c.exempt for c in convs] == [False, True, False, False, False, False]


def test_bob_falls_back_to_wecom_and_totals_use_the_archive(cli: CliRun, world: W) -> None:
    data = _month(cli)
    bob = next(r for r in data["accounts"] if r["userid"] == "bob")
    assert bob["reply"]["covered"] is False
    assert bob["reply"]["source"] == "wecom"
    assert bob["reply"]["rate"] == 0.5
    assert data["not_covered"] == ["bob"]
    assert data["total"]["reply"]["rate"] == 0.6
    assert data["total"]["covered_accounts"] == 1
    assert {t["team"] for t in data["teams"]} == {"华东", "华南"}


def test_interaction_pass_and_conversion_hand_computed(cli: CliRun, world: W) -> None:
    alice = next(r for r in _month(cli)["accounts"] if r["userid"] == "alice")
    inter = alice["interaction"]
    assert (inter["friends_end"], inter["touched"]) == (8, 5)  # c1–c6 + c8 + c10 (added in Nov)
    assert inter["rate"] == round(5 / 8, 4)
    assert inter["month_coverage"] == inter["rate"]
    p = alice["pass"]
    assert (p["entrants"], p["entrants_passed"], p["rate"]) == (2, 1, 0.5)
    assert (p["adds"], p["adds_instant"], p["accept_known"]) == (2, 1, 2)
    assert p["accept_within_target_share"] == 1.0
    assert p["accept_p50_min"] == 15.0  # median of 0 and 30 working minutes
    assert p["wecom_rate"] == 0.75
    conv = alice["conversion"]
    assert (conv["new_friends"], conv["bought"], conv["rate"]) == (2, 1, 0.5)


def test_week_and_day_grains_and_month_to_date(cli: CliRun, world: W) -> None:
    cli("insights", "refresh")
    day = json.loads(cli("insights", "metrics", "--grain", "day", "--on", "2026-11-02", "--json", "--staff",
                         "alice").stdout)  # fmt: skip
    assert len(day["accounts"]) == 1
    assert day["accounts"][0]["reply"]["conversations"] == 5
    # The day's interactions: c1, c2, c4? No: c4 and c5 were answered on the 3rd.
    assert day["accounts"][0]["interaction"]["touched"] == 2
    week = json.loads(cli("insights", "metrics", "--grain", "week", "--on", "2026-11-04", "--json",
                          "--staff", "alice", "--trend", "3").stdout)  # fmt: skip
    a = week["accounts"][0]
    assert (week["start"], week["end"]) == ("2026-11-02", "2026-11-08")
    assert a["interaction"]["touched"] == 4
    assert a["interaction"]["month_touched"] == 4
    assert len(week["trend"]) == 3
    assert week["trend"][-1]["reply_rate"] == 0.6


def test_late_archive_rows_rederive_conversations(cli: CliRun, world: W, session: Session) -> None:
    cli("insights", "refresh")
    with session_scope() as s:
        # The archive brings c3's answer late (14:05): now 4 of 5 within 10 minutes.
        msg(s, world, "alice", "c3", "out", at(11, 2, 14, 5), "这样用")
    cli("insights", "refresh")
    alice = next(r for r in _month(cli)["accounts"] if r["userid"] == "alice")
    assert (alice["reply"]["replied_in_target"], alice["reply"]["unanswered"]) == (4, 0)
    rebuilt = json.loads(cli("insights", "refresh", "--rebuild", "--json").stdout)
    assert rebuilt["messages"] == 12
    again = next(r for r in _month(cli)["accounts"] if r["userid"] == "alice")
    assert again["reply"] == alice["reply"]
    assert again["interaction"] == alice["interaction"]


def test_staff_user_sees_own_numbers_only_and_bad_input(cli: CliRun, world: W) -> None:
    res = cli("insights", "metrics", "--grain", "year", expect=2)
    assert "grain" in res.stderr
    res = cli("insights", "metrics", "--staff", "nobody", expect=2)
    assert "nobody" in res.stderr
    res = cli("insights", "metrics", "--on", "2026-13", expect=2)
    assert "--on" in res.stderr


def test_derive_conversations_silence_and_horizon() -> None:
    k = InsightKnobs()
    t0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    msgs = [
        _Msg(t0, True, "hi"),
        _Msg(t0 + timedelta(minutes=29), True, "still there?"),  # same conversation
        _Msg(t0 + timedelta(hours=80), False, None),  # beyond the 72 h horizon
        _Msg(t0 + timedelta(hours=81), True, "hello"),  # after silence: a new one
        _Msg(t0 + timedelta(hours=81, minutes=3), False, None),
    ]
    convs = derive_conversations(msgs, k)
    assert [(c.started_at - t0, c.first_reply_at is not None) for c in convs] == [
        (timedelta(0), False),
        (timedelta(hours=81), True),
    ]


def test_settings_are_checked() -> None:
    with pytest.raises(Invalid) as exc:
        knobs_from_settings({"insights": {"working_hours": {"start": "18:00", "end": "09:00"}}})
    assert exc.value.field == "settings.insights.working_hours.end"
    with pytest.raises(Invalid) as exc:
        knobs_from_settings({"insights": {"silence_minutes": 0}})
    assert exc.value.field == "settings.insights.silence_minutes"
    with pytest.raises(Invalid):
        knobs_from_settings({"insights": {"platform_fee_rates": {"taobao": 2}}})


def test_the_worker_keeps_the_aggregates_up_to_date(world: W, session: Session) -> None:
    from siyu.insights.tasks import _refresh
    from siyu.kit.db import session_factory
    from siyu.kit.ops import discover

    assert "insights.refresh" in discover().periodic
    got = _refresh(session_factory())
    assert got["messages"] == 11
    assert got["events"] >= 1
    assert _refresh(session_factory())["messages"] == 0  # caught up: nothing read twice
    assert session.scalar(select(StaffMetricDay.replied_10m)) == 3


def test_accept_times_with_several_requests_and_instant_adds(cli: CliRun, world: W) -> None:
    """Adds counted in SQL; accept times read only for adds with a recorded request."""
    with session_scope() as s:
        for name in ("c20", "c21", "c22"):
            cu = Customer(workspace_id=world.ws, name=name)
            s.add(cu)
            s.flush()
            world.c[name] = cu.id
        alice = world.staff["alice"]
        # c20: through the code that skips verification, though a request was recorded.
        s.add(Follow(workspace_id=world.ws, staff_id=alice, customer_id=world.c["c20"], state="active",
                     added_at=at(11, 6, 10, 0), live_code_state="code1"))  # fmt: skip
        # c21: asked twice; the later request (10:20) counts: 5 working minutes.
        s.add(Follow(workspace_id=world.ws, staff_id=alice, customer_id=world.c["c21"], state="active",
                     added_at=at(11, 9, 10, 25)))  # fmt: skip
        # c22: the only request came after the add: no accept time.
        s.add(Follow(workspace_id=world.ws, staff_id=alice, customer_id=world.c["c22"], state="active",
                     added_at=at(11, 10, 10, 0)))  # fmt: skip
        for cust, when in (("c20", at(11, 6, 9, 0)), ("c21", at(11, 9, 10, 0)), ("c21", at(11, 9, 10, 20)),
                           ("c22", at(11, 10, 11, 0))):  # fmt: skip
            record_event(s, workspace_id=world.ws, kind="friend.request", occurred_at=when, source="staff",
                         customer_id=world.c[cust], staff_id=alice)  # fmt: skip
    p = next(r for r in _month(cli)["accounts"] if r["userid"] == "alice")["pass"]
    # c8 and c20 at once (0), c10 30 working minutes, c21 5; c22 unknown.
    assert (p["adds"], p["adds_instant"], p["accept_known"]) == (5, 2, 4)
    assert p["accept_within_target_share"] == 1.0
    assert p["accept_p50_min"] == 2.5  # median of 0, 0, 5, 30
    assert p["accept_p90_min"] == 30.0
    total = _month(cli)["total"]["pass"]
    assert (total["adds"], total["adds_instant"], total["accept_known"]) == (5, 2, 4)
