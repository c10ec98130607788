"""``last_interaction_at`` from messages and friend adds (METRICS.md: the silent layer).

A two-way 1:1 exchange is a message in a 1:1 chat (customer ↔ staff account) whose
previous message in that chat went the other way at most :data:`EXCHANGE_WINDOW`
earlier; the interaction time is that message's time. A one-sided stream (a mass
send nobody answered, a customer writing to nobody) is no interaction. A friend add
is one (at ``follows.added_at``). Group messages are not 1:1 and do not count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.stats import touch_interactions
from siyu.models import Follow, Message

EXCHANGE_WINDOW = timedelta(hours=24)
CHAT_DIRECTIONS = ("in", "out")
NOT_CHAT = ("agree", "disagree", "revoke")


def exchange_times(messages: Iterable[tuple[int, int, str, datetime]]) -> dict[int, datetime]:
    """customer id → time of the latest two-way exchange among ``(customer, staff, direction, at)``."""
    chats: dict[tuple[int, int], list[tuple[datetime, str]]] = defaultdict(list)
    for cid, sid, direction, at in messages:
        chats[(cid, sid)].append((at, direction))
    latest: dict[int, datetime] = {}
    for (cid, _), items in chats.items():
        items.sort()
        for (prev_at, prev_dir), (at, direction) in pairwise(items):
            exchange = direction != prev_dir and at - prev_at <= EXCHANGE_WINDOW
            if exchange and (cid not in latest or at > latest[cid]):
                latest[cid] = at
    return latest


def _is_chat(row: Mapping[str, Any]) -> bool:
    return (
        row["customer_id"] is not None
        and row["staff_id"] is not None
        and row["group_id"] is None
        and row["direction"] in CHAT_DIRECTIONS
        and row["msgtype"] not in NOT_CHAT
    )


def touch_from_messages(session: Session, *, workspace_id: int, rows: list[dict[str, Any]]) -> int:
    """Move ``last_interaction_at`` for the customers of newly stored message rows."""
    chat = [r for r in rows if _is_chat(r)]
    if not chat:
        return 0
    customers = sorted({r["customer_id"] for r in chat})
    lo = min(r["sent_at"] for r in chat) - EXCHANGE_WINDOW
    hi = max(r["sent_at"] for r in chat) + EXCHANGE_WINDOW
    found: list[tuple[int, int, str, datetime]] = []
    for i in range(0, len(customers), 900):
        found.extend(
            session.execute(
                select(Message.customer_id, Message.staff_id, Message.direction, Message.sent_at).where(
                    Message.workspace_id == workspace_id,
                    Message.customer_id.in_(customers[i : i + 900]),
                    Message.staff_id.is_not(None),
                    Message.group_id.is_(None),
                    Message.direction.in_(CHAT_DIRECTIONS),
                    Message.msgtype.not_in(NOT_CHAT),
                    Message.sent_at >= lo,
                    Message.sent_at <= hi,
                )
            ).all()  # type: ignore[arg-type]
        )
    return touch_interactions(session, workspace_id=workspace_id, last_at=exchange_times(found))


def touch_from_follows(
    session: Session, *, workspace_id: int, customer_ids: Iterable[int] | None = None
) -> int:
    """Move ``last_interaction_at`` to each customer's latest friend add (all, or the given)."""
    q = select(Follow.customer_id, Follow.added_at).where(
        Follow.workspace_id == workspace_id, Follow.added_at.is_not(None)
    )
    wanted = None if customer_ids is None else sorted(set(customer_ids))
    latest: dict[int, datetime] = {}
    parts = [None] if wanted is None else [wanted[i : i + 900] for i in range(0, len(wanted), 900)]
    for part in parts:
        stmt = q if part is None else q.where(Follow.customer_id.in_(part))
        for cid, at in session.execute(stmt).all():
            if at is not None and (cid not in latest or at > latest[cid]):
                latest[cid] = at
    return touch_interactions(session, workspace_id=workspace_id, last_at=latest)
