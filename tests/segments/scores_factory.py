"""Hand-made customers with maintained stats, for the RFM / layer / recompute tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from siyu.models import Customer, CustomerStats, Follow, Staff

AS_OF = date(2026, 6, 30)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_noon(days_ago: int, as_of: date = AS_OF) -> datetime:
    """Noon in Shanghai, ``days_ago`` days before the reference day, as UTC."""
    return datetime.combine(as_of - timedelta(days=days_ago), time(12), tzinfo=SHANGHAI).astimezone(UTC)


def make_customer(
    session: Session,
    workspace_id: int,
    *,
    name: str,
    orders: int = 0,
    net_yuan: int = 0,
    last_days_ago: int | None = None,
    first_days_ago: int | None = None,
    purchase_days: int | None = None,
    categories: dict[str, Any] | None = None,
    talk_days_ago: int | None = None,
    referred_by: int | None = None,
) -> int:
    """A customer and (when it bought or talked) its stats row; returns the id."""
    customer = Customer(workspace_id=workspace_id, name=name, referred_by_id=referred_by)
    session.add(customer)
    session.flush()
    if orders or talk_days_ago is not None:
        last = last_days_ago if last_days_ago is not None else 0
        first = first_days_ago if first_days_ago is not None else last
        session.add(
            CustomerStats(
                customer_id=customer.id,
                workspace_id=workspace_id,
                orders_count=orders,
                paid_orders_count=orders,
                effective_orders_count=orders,
                paid_fen=net_yuan * 100,
                net_fen=net_yuan * 100,
                first_paid_at=local_noon(first) if orders else None,
                last_paid_at=local_noon(last) if orders else None,
                purchase_days=(purchase_days if purchase_days is not None else orders),
                categories=categories or {},
                last_interaction_at=local_noon(talk_days_ago) if talk_days_ago is not None else None,
            )
        )
    session.flush()
    return customer.id


def befriend(session: Session, workspace_id: int, customer_id: int, *, state: str = "active") -> None:
    """A follow between the first staff account (created on demand) and the customer."""
    staff = session.query(Staff).filter_by(workspace_id=workspace_id, userid="guide1").one_or_none()
    if staff is None:
        staff = Staff(workspace_id=workspace_id, userid="guide1", name="导购一")
        session.add(staff)
        session.flush()
    session.add(Follow(workspace_id=workspace_id, staff_id=staff.id, customer_id=customer_id, state=state))
    session.flush()
