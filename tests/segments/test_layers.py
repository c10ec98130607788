"""Layers (new/old, SVIP/VIP, value, lifecycle, category), knobs and the Pareto share."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import Customer, CustomerScore, Workspace
from siyu.segments.layers import pareto_share, preferred_category
from tests.conftest import CliRun
from tests.segments.scores_factory import befriend, make_customer


def _scores(session: Session) -> dict[str, CustomerScore]:
    session.expire_all()
    return dict(session.execute(select(Customer.name, CustomerScore).join(CustomerScore)).all())  # type: ignore[arg-type]


def test_layers_of_hand_made_customers(cli: CliRun, session: Session, workspace_id: int) -> None:
    mk = make_customer
    ws = workspace_id
    mk(session, ws, name="new10", orders=1, net_yuan=100, first_days_ago=10, last_days_ago=10)
    mk(session, ws, name="new29", orders=1, net_yuan=100, first_days_ago=29, last_days_ago=29)
    mk(session, ws, name="old30", orders=2, net_yuan=100, first_days_ago=30, last_days_ago=5)
    mk(session, ws, name="svip", orders=3, net_yuan=5000, first_days_ago=300, last_days_ago=20)
    mk(session, ws, name="vip_hi", orders=3, net_yuan=4999, first_days_ago=300, last_days_ago=20)
    mk(session, ws, name="vip_lo", orders=3, net_yuan=3000, first_days_ago=300, last_days_ago=20)
    mk(session, ws, name="regular", orders=3, net_yuan=2999, first_days_ago=300, last_days_ago=20)
    mk(session, ws, name="silent90", orders=1, net_yuan=10, first_days_ago=90, last_days_ago=90)
    mk(session, ws, name="awake89", orders=1, net_yuan=10, first_days_ago=89, last_days_ago=89)
    mk(
        session,
        ws,
        name="talks",
        orders=1,
        net_yuan=10,
        first_days_ago=120,
        last_days_ago=120,
        talk_days_ago=3,
    )
    mk(session, ws, name="vip_silent", orders=4, net_yuan=8000, last_days_ago=200)
    friend = mk(session, ws, name="friend")
    befriend(session, ws, friend)
    gone = mk(session, ws, name="deleted_friend")
    befriend(session, ws, gone, state="deleted_by_customer")
    mk(session, ws, name="lead")
    advocate = mk(session, ws, name="advocate", orders=1, net_yuan=10, last_days_ago=1)
    mk(session, ws, name="referred", referred_by=advocate)
    mk(session, ws, name="cats", orders=2, net_yuan=10, categories={"面霜": 3, "精华": 5, "乳液": 5})
    session.commit()

    cli("segments", "recompute", "--as-of", "2026-06-30")
    s = _scores(session)
    assert [s[n].layer_age for n in ("new10", "new29", "old30", "lead")] == ["new", "new", "old", None]
    assert [s[n].layer_tier for n in ("svip", "vip_hi", "vip_lo", "regular", "lead")] == [
        "svip",
        "vip",
        "vip",
        "regular",
        "regular",
    ]
    # silent = no order and no interaction for 90 days; talking keeps a customer awake
    assert [s[n].layer_value for n in ("silent90", "awake89", "talks", "vip_silent", "lead")] == [
        "silent",
        "potential",
        "potential",
        "silent",
        "silent",
    ]
    assert s["vip_lo"].layer_value == "high_value"
    # a big spender who went quiet is still SVIP, but silent
    assert s["vip_silent"].layer_tier == "svip"
    assert [s[n].lifecycle for n in ("lead", "friend", "deleted_friend", "new10", "old30", "advocate")] == [
        "lead",
        "friend",
        "lead",
        "first_purchase",
        "repeat",
        "advocate",
    ]
    assert s["referred"].lifecycle == "lead"
    # most items wins; 精华 and 乳液 tie at 5 and the name that sorts first is kept
    assert s["cats"].preferred_category == min("精华", "乳液")
    assert s["lead"].preferred_category is None


def test_workspace_knobs_change_the_layers(cli: CliRun, session: Session, workspace_id: int) -> None:
    make_customer(
        session, workspace_id, name="a", orders=1, net_yuan=1500, first_days_ago=10, last_days_ago=40
    )
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    ws.settings = {"segments": {"new_days": 7, "vip_yuan": 1000, "svip_yuan": 2000, "silent_days": 30}}
    session.commit()
    cli("segments", "recompute", "--as-of", "2026-06-30")
    a = _scores(session)["a"]
    assert (a.layer_age, a.layer_tier, a.layer_value) == ("old", "vip", "silent")


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"vip_yuan": 9000}, "segments.vip_yuan (9000) is above svip_yuan (5000)"),
        ({"silent_days": "90"}, "segments.silent_days must be a positive whole number, got '90'"),
        ({"rfm8_center": "avg"}, "segments.rfm8_center must be 'mean' or 'median'"),
    ],
)
def test_bad_knobs_are_refused_in_plain_words(
    cli: CliRun, session: Session, workspace_id: int, knobs: dict[str, object], message: str
) -> None:
    make_customer(session, workspace_id, name="a", orders=1, net_yuan=10)
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    ws.settings = {"segments": knobs}
    session.commit()
    result = cli("segments", "recompute", expect=2)
    assert message in " ".join(result.stderr.split())
    session.expire_all()
    assert session.scalar(select(CustomerScore.customer_id)) is None


def test_preferred_category_ignores_junk() -> None:
    assert preferred_category(None) is None
    assert preferred_category({"": 9, "x": "n/a", "y": -1, "z": 0}) is None
    assert preferred_category({"面霜": 2, "精华": "3"}) == "精华"


def test_pareto_share() -> None:
    assert pareto_share([]) is None
    assert pareto_share([0, 0]) is None
    assert pareto_share([100, 0, 0, 0, 0]) == 1.0
    assert pareto_share([10] * 10) == pytest.approx(0.2)
    # three buyers: the top 20 % is one customer (rounded up)
    assert pareto_share([50, 30, 20]) == pytest.approx(0.5)


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=300))
def test_pareto_share_properties(values: list[int]) -> None:
    share = pareto_share(values)
    if sum(values) == 0:
        assert share is None
        return
    assert share is not None
    k = math.ceil(0.2 * len(values))
    # the top k hold at least their head-count share and never more than everything
    assert k / len(values) - 1e-9 <= share <= 1 + 1e-9
    assert share == pytest.approx(sum(sorted(values)[-k:]) / sum(values))
