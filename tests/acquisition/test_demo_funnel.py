"""The demo shows order bindings (Douyin orders claimed by parcel-card friends) and a funnel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.models import Order, OrderBinding
from tests.conftest import CliRun, DemoBrand
from tests.demo.test_demo_cli import ARGS


@pytest.mark.xdist_group("demo")
def test_demo_binds_douyin_orders_and_fills_the_funnel(
    cli: CliRun, session: Session, tmp_path: Path, demo_brand: DemoBrand
) -> None:
    out = demo_brand.stdout
    assert "Order binding:" in " ".join(out.split())
    bound = session.scalar(select(func.count()).select_from(OrderBinding))
    assert bound
    assert bound > 0
    douyin = session.scalar(
        select(func.count())
        .select_from(OrderBinding)
        .join(Order, Order.id == OrderBinding.order_id)
        .where(Order.platform == "douyin", Order.customer_id == OrderBinding.customer_id)
    )
    assert douyin == bound
    data = json.loads(cli("funnel", "--json", "--by", "month", "--from", "2024-06-01").stdout)
    card = {c["state"]: c for c in data["channels"]}["package_card"]["total"]
    assert card["adds"] > 0
    # Claimed orders were paid after the friend's add (a refunded one, or a friend who came
    # through another channel first, is not the card's buyer).
    assert card["buyers"] > bound // 2
    assert data["total"]["net_fen"] > 0
    # The 获客助手 link channel and the store channel (one row per store) have friends.
    rows = {c["state"]: c for c in data["channels"]}
    assert rows["douyin_ads"]["total"]["adds"] > 0
    stores = [c for c in data["channels"] if c["store_id"] is not None]
    assert sorted(c["name"] for c in stores) == ["门店导流页 · 湖滨店", "门店导流页 · 静安店"]
    assert all(c["total"]["adds"] > 0 for c in stores)
    # A second run binds nothing more.
    cli(*ARGS, "--out", tmp_path / "demo-data")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OrderBinding)) == bound
