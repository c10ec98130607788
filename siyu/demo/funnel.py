"""Demo step: parcel-card friends claim Douyin orders (order binding), then the channel funnel.

Douyin exports carry no buyer key, so the demo's Douyin orders have no customer after the
import. Here a share of the friends who came through the parcel card (``package_card``)
claim one such order each, as they would on ``/bind/{token}``: an order paid after the
friend's add, so the funnel credits the card with a first order. Then the funnel is
rebuilt from follows and orders (the worker keeps it current afterwards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from siyu.acquisition import binding, funnel
from siyu.kit.db import session_scope
from siyu.models import Follow, Order, OrderBinding

if TYPE_CHECKING:
    from siyu.demo.service import DemoContext

CHANNEL = "package_card"
SHARE = 0.25  # of the Douyin orders without a buyer


def seed(ctx: DemoContext) -> None:
    assert ctx.workspace_id is not None
    ws = ctx.workspace_id
    bound = 0
    with session_scope() as session:
        if (
            session.scalar(select(OrderBinding.id).where(OrderBinding.workspace_id == ws).limit(1))
            is not None
        ):
            # A second run of the demo binds nothing more (the demo is the same every run).
            follows = []
        else:
            follows = list(
                session.execute(
                    select(Follow.id, Follow.added_at)
                    .where(
                        Follow.workspace_id == ws,
                        Follow.live_code_state == CHANNEL,
                        Follow.state == "active",
                        Follow.added_at.is_not(None),
                    )
                    .order_by(Follow.added_at, Follow.id)
                )
            )
        orders = list(
            session.execute(
                select(Order.external_id, Order.paid_at)
                .where(
                    Order.workspace_id == ws,
                    Order.platform == "douyin",
                    Order.customer_id.is_(None),
                    Order.paid_at.is_not(None),
                    Order.status != "pending",
                )
                .order_by(Order.paid_at, Order.id)
            )
        )
        unbound = len(orders)
        want = int(unbound * SHARE)
        i = 0
        for follow_id, added_at in follows:
            if bound >= want:
                break
            while i < len(orders) and orders[i].paid_at < added_at:
                i += 1
            if i >= len(orders):
                break
            binding.bind_order(
                session,
                workspace_id=ws,
                follow_id=follow_id,
                order_no=orders[i].external_id,
                source="demo",
                actor="demo",
            )
            bound += 1
            i += 1
    with session_scope() as session:
        friends = funnel.rebuild(session, workspace_id=ws)
    ctx.notes.append(
        f"Order binding: {bound:,} of {unbound:,} Douyin orders without a buyer claimed by parcel-card "
        f"friends (`siyu bind list`); channel funnel over {friends:,} channel friends (`siyu funnel`)"
    )
