"""The demo's costs: a price list with a price rise, fee rates and account costs, idempotent."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.demo.catalog import PRODUCTS
from siyu.demo.profit import apply
from siyu.insights.aggregates import knobs_for
from siyu.kit.db import session_scope
from siyu.models import SkuCost, Staff


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
