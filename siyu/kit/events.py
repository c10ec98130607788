"""Append to the events table (the interaction log every metric reads)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import Event


def record_event(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    occurred_at: datetime,
    source: str,
    customer_id: int | None = None,
    staff_id: int | None = None,
    group_id: int | None = None,
    order_id: int | None = None,
    dedup_key: str | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Append one event; returns False (and writes nothing) if ``dedup_key`` is known."""
    if dedup_key is not None:
        exists = session.scalar(
            select(Event.id).where(Event.workspace_id == workspace_id, Event.dedup_key == dedup_key)
        )
        if exists is not None:
            return False
        # Also catch an identical key added earlier in this same unit of work.
        for obj in session.new:
            if isinstance(obj, Event) and obj.workspace_id == workspace_id and obj.dedup_key == dedup_key:
                return False
    session.add(
        Event(
            workspace_id=workspace_id,
            kind=kind,
            occurred_at=occurred_at,
            source=source,
            customer_id=customer_id,
            staff_id=staff_id,
            group_id=group_id,
            order_id=order_id,
            dedup_key=dedup_key,
            payload=payload or {},
        )
    )
    return True
