"""Read-only figures for the demo's closing summary (one workspace)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.orm import Session

from siyu.kit.scope import scoped
from siyu.models import Customer, Order

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def _scoped(stmt: S, model: Any, workspace_id: int) -> S:
    # kit.scope.scoped, keeping the statement's column types for mypy (SQLAlchemy 2.1
    # types Select by a variadic tuple that scoped's signature does not carry).
    return cast(S, cast(Any, scoped)(stmt, model, workspace_id))


@dataclass(frozen=True)
class DemoSummary:
    """What the demo prints at the end; money in fen."""

    customers: int
    orders: int
    paid_orders: int
    paid_fen: int
    refunded_fen: int
    # profiles holding orders from two or more platforms (OneID joined them by phone)
    cross_platform_customers: int
    # profiles folded into another one (tombstones)
    merged_profiles: int
    top_cities: list[tuple[str, int, int]]  # (city, customers, net fen)

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen


def count_orders(session: Session, *, workspace_id: int) -> int:
    """How many orders a workspace holds."""
    return session.scalar(_scoped(select(func.count()).select_from(Order), Order, workspace_id)) or 0


def summary(session: Session, *, workspace_id: int, top: int = 5) -> DemoSummary:
    """Counts, money and the leading cities of a workspace."""
    customers = session.scalar(
        _scoped(select(func.count()).select_from(Customer), Customer, workspace_id).where(
            Customer.merged_into_id.is_(None)
        )
    )
    merged = session.scalar(
        _scoped(select(func.count()).select_from(Customer), Customer, workspace_id).where(
            Customer.merged_into_id.is_not(None)
        )
    )
    orders, paid_orders, paid, refunded = session.execute(
        _scoped(
            select(
                func.count(),
                func.count(Order.paid_at),
                func.coalesce(func.sum(Order.paid_fen), 0),
                func.coalesce(func.sum(Order.refunded_fen), 0),
            ),
            Order,
            workspace_id,
        )
    ).one()
    per_customer = (
        _scoped(select(Order.customer_id), Order, workspace_id)
        .where(Order.customer_id.is_not(None))
        .group_by(Order.customer_id)
        .having(func.count(distinct(Order.platform)) > 1)
        .subquery()
    )
    cross = session.scalar(select(func.count()).select_from(per_customer))
    net = func.sum(Order.paid_fen - Order.refunded_fen)
    cities = session.execute(
        _scoped(select(Order.city, func.count(distinct(Order.customer_id)), net), Order, workspace_id)
        .where(Order.city.is_not(None), Order.paid_at.is_not(None))
        .group_by(Order.city)
        .order_by(net.desc(), Order.city)
        .limit(top)
    ).all()
    return DemoSummary(
        customers=customers or 0,
        orders=orders,
        paid_orders=paid_orders,
        paid_fen=int(paid),
        refunded_fen=int(refunded),
        cross_platform_customers=cross or 0,
        merged_profiles=merged or 0,
        top_cities=[(str(c), int(n), int(v or 0)) for c, n, v in cities],
    )
