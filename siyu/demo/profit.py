"""The demo brand's costs, so that the P&L shows real differences between accounts.

- a price list per SKU: the catalogue's landed cost until four months before the export
  day, 12 % dearer after (a supplier price rise: margins fall while GMV grows, which the
  P&L flags);
- platform fee rates (Tmall 5 %, Douyin 8 %, Youzan 0.6 %, offline 0);
- each staff account's monthly cost (salary share, phone, tools), from ¥800 to ¥2,500;
- the metric aggregates refreshed from whatever messages the demo recorded.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.demo.catalog import PRODUCTS
from siyu.insights.aggregates import refresh_all
from siyu.kit.db import session_scope
from siyu.models import SkuCost, Staff, Workspace

FEE_RATES = {"taobao": 0.05, "tmall": 0.05, "douyin": 0.08, "youzan": 0.006, "offline": 0.0}
ACCOUNT_COSTS_YUAN = (800, 1200, 1800, 2500)
PRICE_RISE = 1.12


def apply(session: Session, *, workspace_id: int, as_of: date) -> dict[str, int]:
    """Write the demo's costs into a workspace (a re-run changes nothing)."""
    written = 0
    if not session.scalar(
        select(func.count()).select_from(SkuCost).where(SkuCost.workspace_id == workspace_id)
    ):
        rise = as_of - timedelta(days=120)
        for p in PRODUCTS:
            session.add(
                SkuCost(
                    workspace_id=workspace_id,
                    sku=p.sku,
                    cost_fen=p.cost_fen,
                    valid_from=date(2000, 1, 1),
                    valid_to=rise - timedelta(days=1),
                )
            )
            session.add(
                SkuCost(
                    workspace_id=workspace_id,
                    sku=p.sku,
                    cost_fen=round(p.cost_fen * PRICE_RISE),
                    valid_from=rise,
                )
            )
            written += 2
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    staff = list(
        session.scalars(select(Staff.userid).where(Staff.workspace_id == workspace_id).order_by(Staff.id))
    )
    section: dict[str, Any] = dict((ws.settings or {}).get("insights") or {})
    section.setdefault("platform_fee_rates", FEE_RATES)
    costs = dict(section.get("account_cost_yuan") or {})
    for i, userid in enumerate(staff):
        costs.setdefault(userid, ACCOUNT_COSTS_YUAN[i % len(ACCOUNT_COSTS_YUAN)])
    section["account_cost_yuan"] = costs
    ws.settings = {**(ws.settings or {}), "insights": section}
    session.flush()
    return {"sku_costs": written, "accounts": len(staff)}


def seed(ctx: Any) -> None:
    """The demo step: costs, fee rates, account costs; then the metric aggregates."""
    with session_scope() as session:
        got = apply(session, workspace_id=ctx.workspace_id, as_of=ctx.as_of)
    with session_scope() as session:
        agg = refresh_all(session, ctx.workspace_id)
    ctx.notes.append(
        f"P&L costs: {got['sku_costs']} SKU cost rows, {got['accounts']} account costs; "
        f"metric aggregates from {agg['messages']:,} messages"
    )
