"""The demo's costs: a price list with a price rise, fee rates and account costs, idempotent."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.demo.catalog import PRODUCTS
from siyu.demo.profit import apply
from siyu.insights.aggregates import knobs_for
from siyu.kit.db import session_scope
from siyu.models import Reward, SkuCost, Staff
from tests.conftest import CliRun, DemoBrand


def test_demo_costs(env: Settings, workspace_id: int, session: Session) -> None:
    with session_scope() as s:
        s.add_all(Staff(workspace_id=workspace_id, userid=u, name=u) for u in ("a", "b"))
        s.flush()
        first = apply(s, workspace_id=workspace_id, as_of=date(2026, 12, 1))
    with session_scope() as s:
        again = apply(s, workspace_id=workspace_id, as_of=date(2026, 12, 1))
    assert first == {"sku_costs": 2 * len(PRODUCTS), "accounts": 2}
    assert again["sku_costs"] == 0
    assert session.scalar(select(func.count()).select_from(SkuCost)) == 2 * len(PRODUCTS)
    knobs = knobs_for(session, workspace_id)
    assert knobs.account_cost_fen == {"a": 80000, "b": 120000}
    assert knobs.platform_fee_rates["douyin"] == 0.08


@pytest.mark.xdist_group("demo")
def test_demo_pnl_is_plausible_with_rewards(cli: CliRun, session: Session, demo_brand: DemoBrand) -> None:
    """The demo's P&L: channel costs a modest share of each month's revenue, charged once over
    the months of the adds; a reward ledger of red packets (sends), coupons (channels) and
    referral gifts that the P&L and the send P&L subtract; the rewards step reruns as a no-op."""
    from datetime import UTC, datetime

    from siyu.demo import rewards as demo_rewards
    from siyu.insights.profit import pnl

    assert "Rewards:" in " ".join(demo_brand.stdout.split())
    ws = session.scalar(select(Reward.workspace_id).limit(1))
    assert ws is not None
    months = {m: json.loads(cli("insights", "pnl", "--on", m, "--json").stdout) for m in
              ("2026-07", "2026-08", "2026-09", "2026-10", "2026-11")}  # fmt: skip
    charged: dict[str, int] = {}
    for month, data in months.items():
        t = data["total"]
        assert t["net_fen"] > 0
        # The bug: cost × adds charged every month gave channel costs 5,000 × revenue.
        assert t["channel_costs_fen"] <= 0.2 * t["net_fen"], month
        for c in data["channels"]:
            charged[c["state"]] = charged.get(c["state"], 0) + c["channel_cost_fen"]
    assert months["2026-11"]["total"]["channel_costs_fen"] > 0
    assert months["2026-11"]["total"]["rewards_fen"] > 0
    # Friends came over the four months up to yesterday: each channel's cost is charged once.
    for c in months["2026-11"]["channels"]:
        if c["cost_total_fen"]:
            assert abs(charged[c["state"]] - c["cost_total_fen"]) <= 5, c["state"]
    # The page's month when none is chosen: the latest month with data.
    assert pnl(session, workspace_id=ws)["month"] == "2026-11"
    kinds = dict(session.execute(select(Reward.kind, func.count()).group_by(Reward.kind)).all())
    assert set(kinds) == {"red_packet", "coupon", "gift"}
    linked = session.execute(
        select(
            func.count(Reward.send_id), func.count(Reward.channel_id), func.count(Reward.referred_customer_id)
        )
    ).one()
    assert all(n > 0 for n in linked)
    rewarded = session.scalar(select(func.sum(Reward.amount_fen)))
    assert rewarded == sum(
        m["total"]["rewards_fen"] for m in months.values()
    ) + session.scalar(select(func.coalesce(func.sum(Reward.amount_fen), 0)).where(
        Reward.paid_at < datetime(2026, 6, 30, 16, tzinfo=UTC)))  # fmt: skip
    sends = json.loads(cli("insights", "sends", "--days", "366", "--json").stdout)["sends"]
    assert sends
    assert any(s["windows"][-1]["rewards_fen"] > 0 for s in sends)
    # Deterministic for the seed, and a rerun of the step records nothing twice.
    before = session.scalar(select(func.count()).select_from(Reward))
    with session_scope() as s:
        again = demo_rewards.apply(s, workspace_id=ws, seed=1, until=datetime(2026, 11, 23, 16, tzinfo=UTC))
    assert (again["written"], again["duplicates"]) == (0, before)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Reward)) == before
