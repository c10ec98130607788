"""last_interaction_at only moves forward, and exists for customers with no orders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
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


def test_one_statement_moves_many_customers_forward_only(
    session: Session, workspace_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch: a customer without stats gets a row, an older time moves, a newer stays,
    an id of no customer of this workspace is skipped; chunks of 2 give the same answer."""
    import siyu.customers.stats as stats

    ids = [
        resolve_customer(
            session,
            workspace_id=workspace_id,
            identities=[IdentityInput("external_userid", f"wm_b{i}")],
            source="t",
        ).id
        for i in range(3)
    ]
    early, mid, late = (datetime(2026, 10, d, 8, tzinfo=UTC) for d in (1, 10, 20))
    assert touch_interactions(session, workspace_id=workspace_id, last_at={ids[1]: mid, ids[2]: late}) == 2
    monkeypatch.setattr(stats, "_TOUCH_CHUNK", 2)  # two statements of 2
    moved = touch_interactions(
        session,
        workspace_id=workspace_id,
        last_at={ids[0]: early, ids[1]: late, ids[2]: mid, max(ids) + 1000: late},
    )
    assert moved == 2
    got = dict(
        session.execute(
            select(CustomerStats.customer_id, CustomerStats.last_interaction_at).where(
                CustomerStats.customer_id.in_(ids)
            )
        ).all()
    )
    assert got == {ids[0]: early, ids[1]: late, ids[2]: late}
