"""last_interaction_at only moves forward, and exists for customers with no orders."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.service import IdentityInput, resolve_customer
from siyu.customers.stats import touch_interactions
from siyu.models import CustomerStats


def test_interaction_time_moves_forward_only(session: Session, workspace_id: int) -> None:
    c = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput("external_userid", "wm_t")], source="t"
    )
    t1 = datetime(2026, 11, 1, 8, tzinfo=UTC)
    t0 = datetime(2026, 10, 1, 8, tzinfo=UTC)
    assert touch_interactions(session, workspace_id=workspace_id, last_at={c.id: t1}) == 1
    assert touch_interactions(session, workspace_id=workspace_id, last_at={c.id: t0}) == 0
    got = session.scalar(select(CustomerStats.last_interaction_at).where(CustomerStats.customer_id == c.id))
    assert got == t1
    # another workspace's id is not touched
    assert touch_interactions(session, workspace_id=workspace_id + 99, last_at={c.id: t1}) == 0
