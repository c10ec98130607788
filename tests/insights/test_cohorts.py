"""Friend cohorts by week of add and the repurchase lift, hand-computed (clock: 25 Nov 2026)."""

from __future__ import annotations

import json

import pytest

from siyu.config import Settings
from siyu.customers.service import refresh_stats
from siyu.kit.db import session_scope
from siyu.kit.timeutil import moved_clock
from siyu.models import Customer
from tests.conftest import CliRun
from tests.insights.world import W, at, build, order


@pytest.fixture
def world(env: Settings, workspace_id: int) -> W:
    with session_scope() as s:
        w = build(s, workspace_id)
        c12 = Customer(workspace_id=workspace_id, name="c12", first_seen_at=at(10, 1, 9, 0))
        s.add(c12)
        s.flush()
        w.c["c12"] = c12.id
        order(s, w, "c1", "o-c1-oct", at(10, 10, 12, 0), 10000)
        order(s, w, "c1", "o-c1", at(11, 10, 12, 0), 20000, qty=2)
        order(s, w, "c12", "o-c12", at(10, 5, 12, 0), 8000)
        order(s, w, "c9", "o-c9", at(11, 15, 12, 0), 9000)
        refresh_stats(s, workspace_id=workspace_id, customer_ids=list(w.c.values()))
        return w


def test_cohorts_and_lift(cli: CliRun, world: W) -> None:
    with moved_clock(at(11, 25, 12, 0)):
        data = json.loads(cli("insights", "cohorts", "--weeks", "4", "--json").stdout)
    cohorts = data["cohorts"]["cohorts"]
    assert [(c["week"], c["size"]) for c in cohorts] == [
        ("2026-11-02", 2),
        ("2026-11-09", 0),
        ("2026-11-16", 0),
        ("2026-11-23", 0),
    ]
    first = cohorts[0]
    # c8 (added 3 Nov) and c10 (5 Nov): both still friends; c8 bought on 20 Nov (week 2).
    assert first["retention"] == [1.0, 1.0, 1.0, 1.0]
    assert first["bought"] == [0.0, 0.0, 0.5, 0.5]
    assert first["profit_per_friend_fen"] == [0, 0, 5000, 5000]
    assert len(cohorts[3]["retention"]) == 1
    lift = data["lift"]
    # Oct/taobao: friend c1 repurchased, non-friend c12 did not; Nov/taobao: c8 vs c9, neither.
    strata = {(s["month"], s["platform"]): s for s in lift["strata"]}
    assert (strata[("2026-10", "taobao")]["friend_rate"], strata[("2026-10", "taobao")]["other_rate"]) == (
        1.0,
        0.0,
    )
    assert lift["matched_friends"] == 2
    assert (lift["friend_rate"], lift["matched_other_rate"], lift["lift_points"]) == (0.5, 0.0, 50.0)
    assert "weeks" in cli("insights", "cohorts", "--weeks", "0", expect=2).stderr


def test_cohorts_of_one_account(cli: CliRun, world: W) -> None:
    with moved_clock(at(11, 25, 12, 0)):
        data = json.loads(cli("insights", "cohorts", "--weeks", "8", "--staff", "bob", "--json").stdout)
    assert data["lift"] is None
    assert sum(c["size"] for c in data["cohorts"]["cohorts"]) == 0  # bob's friend came in October


def test_cohort_profit_per_friend_subtracts_rewards(cli: CliRun, world: W) -> None:
    """c8's ¥10 red packet (10 Nov, week 1) and c10's ¥4 gift paid by bob (12 Nov) come off
    the 2 Nov cohort's profit; a reward before the add (4 Nov; c10 came on 5 Nov) does not;
    buyers unchanged."""
    from siyu.models import Reward

    with session_scope() as s:
        for cust, amount, when, staff in (
            ("c8", 1000, at(11, 10, 12, 0), None),
            ("c10", 400, at(11, 12, 12, 0), "bob"),
            ("c10", 9900, at(11, 4, 12, 0), None),
        ):
            s.add(Reward(workspace_id=world.ws, customer_id=world.c[cust], amount_fen=amount,
                         kind="red_packet", paid_at=when,
                         staff_id=world.staff[staff] if staff else None))  # fmt: skip
    with moved_clock(at(11, 25, 12, 0)):
        data = json.loads(cli("insights", "cohorts", "--weeks", "4", "--json").stdout)
        alice = json.loads(cli("insights", "cohorts", "--weeks", "4", "--staff", "alice", "--json").stdout)
    first = data["cohorts"]["cohorts"][0]
    assert first["profit_per_friend_fen"] == [0, -700, 4300, 4300]  # (10000 − 1000 − 400) ÷ 2
    assert first["bought"] == [0.0, 0.0, 0.5, 0.5]
    # alice's cohorts leave out the reward stated for bob (the P&L puts it on his line).
    assert alice["cohorts"]["cohorts"][0]["profit_per_friend_fen"] == [0, -500, 4500, 4500]
