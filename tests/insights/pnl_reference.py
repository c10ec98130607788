"""The P&L computed from scratch in Python, order by order (the code before issue 17's
set-based rewrite), to check :func:`siyu.insights.profit.pnl` against."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.insights import pnl_cache, profit
from siyu.insights.knobs import InsightKnobs
from siyu.insights.profit import (
    Line,
    _base,
    _friendships,
    _memberships,
    order_profits,
    owner_at,
)
from siyu.kit.timeutil import day_start_utc
from siyu.models import Channel, Follow, Reward


def month_lines(
    session: Session,
    workspace_id: int,
    start: date,
    end: date,
    knobs: InsightKnobs,
    *,
    groups: bool = True,
) -> dict[str, Any]:
    """The month's lines as P&L computed them before issue 17: every order read and costed
    in Python, friendships and memberships read per customer."""
    tz = knobs.hours.tz
    since, until = day_start_utc(start, tz), day_start_utc(end + timedelta(days=1), tz)
    profits = order_profits(session, workspace_id, since, until, knobs=knobs)
    rewards = session.execute(
        select(
            Reward.customer_id, Reward.amount_fen, Reward.paid_at, Reward.staff_id, Reward.channel_id
        ).where(Reward.workspace_id == workspace_id, Reward.paid_at >= since, Reward.paid_at < until)
    ).all()
    customers = sorted(
        {p.customer_id for p in profits if p.customer_id is not None} | {int(r[0]) for r in rewards}
    )
    friends = _friendships(session, workspace_id, customers)
    members = _memberships(session, workspace_id, customers)
    total, private, outside = Line(), Line(), Line()
    by_staff: dict[int, Line] = defaultdict(Line)
    by_state: dict[str | None, Line] = defaultdict(Line)
    by_group: dict[int, Line] = defaultdict(Line)
    for p in profits:
        total.take(p)
        owner = owner_at(friends.get(p.customer_id or 0, []), p.paid_at) if p.customer_id else None
        if owner is None:
            outside.take(p)
        else:
            private.take(p)
            by_staff[owner.staff_id].take(p)
            by_state[_base(owner.state)].take(p)
        for gid, joined, quit_ in members.get(p.customer_id or 0, []):
            if joined is not None and joined <= p.paid_at and (quit_ is None or quit_ > p.paid_at):
                by_group[gid].take(p)
    # Rewards: the stated staff account and channel win over the ownership rule.
    states = (
        dict(
            session.execute(
                select(Channel.id, Channel.state).where(Channel.workspace_id == workspace_id)
            ).all()
        )
        if any(r[4] is not None for r in rewards)
        else {}
    )
    for cid, amount, at, r_staff, r_channel in rewards:
        owner = owner_at(friends.get(cid, []), at)
        total.reward(int(amount))
        staff_of = r_staff if r_staff is not None else (owner.staff_id if owner else None)
        (outside if staff_of is None else private).reward(int(amount))
        if staff_of is not None:
            by_staff[staff_of].reward(int(amount))
        state = states.get(r_channel) if r_channel is not None else (_base(owner.state) if owner else None)
        if state is not None:
            by_state[state].reward(int(amount))
        for gid, joined, quit_ in members.get(cid, []):
            if joined is not None and joined <= at and (quit_ is None or quit_ > at):
                by_group[gid].reward(int(amount))
    return {
        "since": since, "until": until, "total": total, "private": private, "outside": outside,
        "staff": by_staff, "states": by_state, "groups": by_group,
    }  # fmt: skip


def follow_counts(
    session: Session, workspace_id: int, since: datetime, until: datetime
) -> list[tuple[int, str | None, int, int, int]]:
    """Every follow read and counted in Python."""
    out: dict[tuple[int, str | None], list[int]] = defaultdict(lambda: [0, 0, 0])
    for sid, state, added, deleted in session.execute(
        select(Follow.staff_id, Follow.live_code_state, Follow.added_at, Follow.deleted_at).where(
            Follow.workspace_id == workspace_id
        )
    ):
        if added is None:
            continue
        c = out[(sid, state)]
        c[0] += 1 if added < until and (deleted is None or deleted >= until) else 0
        c[1] += 1 if since <= added < until else 0
        c[2] += 1
    return [(s, st, a, m, n) for (s, st), (a, m, n) in out.items()]


@contextmanager
def from_scratch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Within: ``profit.pnl`` computes its lines and follow counts the reference way."""
    with monkeypatch.context() as m:
        m.setattr(profit, "_month_lines", month_lines)
        m.setattr(profit, "_follow_counts", follow_counts)
        m.setattr(pnl_cache, "ENABLED", False)
        yield


def reference_pnl(session: Session, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> dict[str, Any]:
    with from_scratch(monkeypatch):
        return profit.pnl(session, **kw)
