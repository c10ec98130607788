"""Follows (staff × customer friendships), as WeCom reports them; staff accounts
themselves live in ``siyu.staff.service``.

Used by the WeCom callback processor and by sync. Callbacks can arrive late or out of
order, so every state change carries the WeCom time it happened (``at``) and is applied
only if it is not older than the last change already stored: a late ``add`` never
revives a follow that a newer ``del`` ended, a late ``del`` never ends a newer add.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.errors import Invalid
from siyu.models import Customer, Follow

FOLLOW_STATES = ("active", "pending", "deleted_by_customer", "deleted_by_staff", "transferred")
LIVE_STATES = ("active", "pending")
# deleted_by value stored for each ended state
_DELETED_BY = {
    "deleted_by_customer": "customer",
    "deleted_by_staff": "staff",
    "transferred": "transfer",
}


@dataclass(slots=True)
class FollowChange:
    """What an upsert did: the row, whether it was created, whether the state moved."""

    follow: Follow
    created: bool
    applied: bool
    previous_state: str | None


def find_follow(session: Session, *, workspace_id: int, staff_id: int, customer_id: int) -> Follow | None:
    """The follow between one staff account and one customer, if any."""
    return session.scalar(
        select(Follow).where(
            Follow.workspace_id == workspace_id,
            Follow.staff_id == staff_id,
            Follow.customer_id == customer_id,
        )
    )


def follows_of_customer(session: Session, *, workspace_id: int, customer_id: int) -> list[Follow]:
    """Every follow (live or ended) of a customer, oldest first."""
    return list(
        session.scalars(
            select(Follow)
            .where(Follow.workspace_id == workspace_id, Follow.customer_id == customer_id)
            .order_by(Follow.id)
        )
    )


def last_change_at(follow: Follow) -> datetime | None:
    """The WeCom time of the newest add or delete stored on the follow."""
    times = [t for t in (follow.added_at, follow.deleted_at) if t is not None]
    return max(times) if times else None


def upsert_follow(
    session: Session,
    *,
    workspace_id: int,
    staff_id: int,
    customer_id: int,
    state: str,
    at: datetime,
    external_userid: str | None = None,
    live_code_state: str | None = None,
    add_way: int | None = None,
    remark: str | None = None,
    description: str | None = None,
    oper_userid: str | None = None,
) -> FollowChange:
    """Apply a follow state seen at WeCom time ``at`` (a callback, or a sync snapshot).

    For a live ``state`` (active, pending) ``at`` is the add time; for an ended state it
    is the delete time. An older change than the one stored does not move the state
    (``applied`` is False) but still fills times and attribution that are missing.
    Profile fields (remark, description, add_way, live_code_state) given are kept.
    """
    if state not in FOLLOW_STATES:
        raise Invalid(f"follow state {state!r} is not one of {', '.join(FOLLOW_STATES)}", field="state")
    if at.tzinfo is None:
        raise Invalid("follow change time must be timezone-aware", field="at")
    follow = find_follow(session, workspace_id=workspace_id, staff_id=staff_id, customer_id=customer_id)
    created = follow is None
    previous: str | None = None
    if follow is None:
        follow = Follow(workspace_id=workspace_id, staff_id=staff_id, customer_id=customer_id, state=state)
        session.add(follow)
    else:
        previous = follow.state
    last = None if created else last_change_at(follow)
    live = state in LIVE_STATES
    if live:
        # A tie with a delete keeps the delete: WeCom's one-second clock cannot order them.
        applied = last is None or at > last or (at == last and follow.deleted_at != at)
    else:
        applied = last is None or at >= last
    if applied:
        follow.state = state
        if live:
            follow.added_at = at
        else:
            follow.deleted_at = at
            follow.deleted_by = _DELETED_BY[state]
    elif live and follow.added_at is None:
        follow.added_at = at  # a late add still tells when the friendship began
    elif not live and follow.deleted_at is None:
        follow.deleted_at = at
    if live:
        customer = session.get(Customer, customer_id)
        if customer is not None and (customer.first_seen_at is None or at < customer.first_seen_at):
            customer.first_seen_at = at  # a friendship is the earliest sign of a customer
    if external_userid or remark or description:
        customer = session.get(Customer, customer_id)
        if customer is not None and customer.anonymised_at is not None:
            # Erased on request (PIPL): the friendship's facts are kept, not the person.
            external_userid = remark = description = None
    if external_userid:
        follow.external_userid = external_userid
    # Attribution belongs to the add: a stale add's state is kept only if none is known.
    if live_code_state and (applied or not follow.live_code_state):
        follow.live_code_state = live_code_state[:64]
    if add_way is not None:
        follow.add_way = add_way
    if remark is not None:
        follow.remark = remark[:100]
    if description is not None:
        follow.description = description[:300]
    if oper_userid is not None:
        follow.oper_userid = oper_userid[:64]
    session.flush()
    return FollowChange(follow=follow, created=created, applied=applied, previous_state=previous)


def follow_added(
    session: Session,
    *,
    workspace_id: int,
    staff_id: int,
    customer_id: int,
    at: datetime,
    external_userid: str | None = None,
    live_code_state: str | None = None,
    half: bool = False,
    add_way: int | None = None,
) -> FollowChange:
    """A customer and a staff account became friends (``half``: not yet accepted back)."""
    return upsert_follow(
        session,
        workspace_id=workspace_id,
        staff_id=staff_id,
        customer_id=customer_id,
        state="pending" if half else "active",
        at=at,
        external_userid=external_userid,
        live_code_state=live_code_state,
        add_way=add_way,
    )


def follow_ended(
    session: Session,
    *,
    workspace_id: int,
    staff_id: int,
    customer_id: int,
    at: datetime,
    deleted_by: str,
    external_userid: str | None = None,
) -> FollowChange:
    """The friendship ended; ``deleted_by`` is customer, staff or transfer."""
    states = {v: k for k, v in _DELETED_BY.items()}
    if deleted_by not in states:
        raise Invalid(f"deleted_by {deleted_by!r} is not customer, staff or transfer", field="deleted_by")
    return upsert_follow(
        session,
        workspace_id=workspace_id,
        staff_id=staff_id,
        customer_id=customer_id,
        state=states[deleted_by],
        at=at,
        external_userid=external_userid,
    )
