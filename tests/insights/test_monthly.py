"""The maintained friend and interaction counts (siyu.insights.monthly) equal the raw definition.

A random world per seed and zone: friendships begun and ended around month ends and the
zone's midnights (and UTC's), re-adds that left an old ``deleted_at``, pending adds,
several accounts, 1:1 messages, group messages (not touches) and moments likes. The
report's interaction figures are compared with the definition computed here straight from
``follows`` and ``interaction_days``: after a refresh, after friendships change with no
refresh (the journal not yet folded), after the fold, and after a rebuild.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.insights import aggregates, metrics, monthly
from siyu.kit.db import session_scope
from siyu.kit.events import record_event
from siyu.kit.timeutil import day_start_utc, local_to_utc
from siyu.models import (
    Customer,
    Follow,
    FollowCountChange,
    InteractionDay,
    InteractionMonth,
    Message,
    Staff,
    StaffFriendDay,
    StaffMetricMonth,
    Workspace,
)

MONTHS = (date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1))


def _instants(rnd: random.Random, tz: str) -> list[datetime]:
    """Times near the interesting edges (local and UTC midnights at month ends) and random ones."""
    out = []
    for d in (date(2026, 10, 1), date(2026, 11, 1), date(2026, 11, 2), date(2026, 12, 1), date(2027, 1, 1)):
        local_midnight = day_start_utc(d, tz)
        utc_midnight = datetime(d.year, d.month, d.day, tzinfo=UTC)
        for base in (local_midnight, utc_midnight):
            out += [base - timedelta(microseconds=1), base, base + timedelta(seconds=1)]
    start = datetime(2026, 9, 20, tzinfo=UTC)
    out += [start + timedelta(seconds=rnd.randint(0, 110 * 86400)) for _ in range(40)]
    return out


def _build(s: Session, ws: int, seed: int, tz: str) -> tuple[list[int], list[int]]:
    rnd = random.Random(seed)
    s.get(Workspace, ws).timezone = tz  # type: ignore[union-attr]
    staff = []
    for i in range(3):
        st = Staff(workspace_id=ws, userid=f"s{seed}_{i}", name=f"s{i}", department="t" if i < 2 else None)
        s.add(st)
        s.flush()
        staff.append(st.id)
    customers = []
    for i in range(30):
        cu = Customer(workspace_id=ws, name=f"c{i}")
        s.add(cu)
        s.flush()
        customers.append(cu.id)
    times = _instants(rnd, tz)
    for sid in staff:
        for cid in rnd.sample(customers, 22):
            added = rnd.choice([*times, None]) if rnd.random() < 0.1 else rnd.choice(times)
            deleted = None
            r = rnd.random()
            if r < 0.3:
                deleted = rnd.choice(times)  # before or after the add: both happen (re-adds)
            s.add(
                Follow(
                    workspace_id=ws,
                    staff_id=sid,
                    customer_id=cid,
                    added_at=added,
                    deleted_at=deleted,
                    state="deleted" if deleted else "active",
                )
            )
    for n in range(260):
        sid, cid = rnd.choice(staff), rnd.choice(customers)
        s.add(
            Message(
                workspace_id=ws,
                source="archive",
                msgid=f"m{seed}_{n}",
                direction=rnd.choice(("in", "out")),
                staff_id=sid,
                customer_id=cid,
                msgtype="text",
                sent_at=rnd.choice(times),
            )
        )
    for _ in range(25):
        record_event(
            s,
            workspace_id=ws,
            kind="moment.like",
            occurred_at=rnd.choice(times),
            source="wecom",
            customer_id=rnd.choice(customers),
            staff_id=rnd.choice(staff),
        )
    s.flush()
    return staff, customers


def _raw(
    s: Session, ws: int, staff: list[int], start: date, end: date, tz: str
) -> dict[int, tuple[int, ...]]:
    """(friends at the end, touched, messages) per account, straight from the definition."""
    until = day_start_utc(end + timedelta(days=1), tz)
    follows = {
        (f.staff_id, f.customer_id): f for f in s.scalars(select(Follow).where(Follow.workspace_id == ws))
    }

    def friend(f: Follow | None) -> bool:
        return (
            f is not None
            and f.added_at is not None
            and f.added_at < until
            and (f.deleted_at is None or f.deleted_at >= until)
        )

    sums: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for d in s.scalars(
        select(InteractionDay).where(
            InteractionDay.workspace_id == ws, InteractionDay.day.between(start, end)
        )
    ):
        acc = sums[(d.staff_id, d.customer_id)]
        acc[0] += d.msgs_in
        acc[1] += d.msgs_out
        acc[2] += d.moments
    out = {}
    for sid in staff:
        friends = sum(1 for (fs, _c), f in follows.items() if fs == sid and friend(f))
        touched = sum(
            1
            for (ps, c), (i, o, m) in sums.items()
            if ps == sid and ((i > 0 and o > 0) or m > 0) and friend(follows.get((ps, c)))
        )
        msgs = sum(i + o for (ps, _c), (i, o, _m) in sums.items() if ps == sid)
        out[sid] = (friends, touched, msgs)
    return out


def _check(s: Session, ws: int, staff: list[int], tz: str) -> None:
    s.expire_all()
    for month in MONTHS:
        rep = metrics.report(s, workspace_id=ws, grain="month", on=month, trend=2)
        end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        raw = _raw(s, ws, staff, month, end, tz)
        for row in rep["accounts"]:
            sid = row["staff_id"]
            f, t, _m = raw[sid]
            inter = row["interaction"]
            assert (inter["friends_end"], inter["touched"]) == (f, t), (month, sid)
            assert (inter["month_friends"], inter["month_touched"]) == (f, t), (month, sid)
        total = rep["total"]["interaction"]
        covered = [sid for sid in staff if raw[sid][2] > 0 or _conversations(rep, sid) > 0]
        assert total["friends_end"] == sum(raw[sid][0] for sid in covered)
        assert total["touched"] == sum(raw[sid][1] for sid in covered)
        assert sorted(rep["not_covered"]) == sorted(
            r["userid"] for r in rep["accounts"] if r["staff_id"] not in covered
        )
    # A week and a day: friends from the maintained days, touches from interaction_days.
    for grain, on, start, end in (
        ("week", date(2026, 11, 30), date(2026, 11, 30), date(2026, 12, 6)),
        ("day", date(2026, 11, 1), date(2026, 11, 1), date(2026, 11, 1)),
    ):
        rep = metrics.report(s, workspace_id=ws, grain=grain, on=on, trend=1)
        raw = _raw(s, ws, staff, start, end, tz)
        mtd = _raw(s, ws, staff, end.replace(day=1), end, tz)
        for row in rep["accounts"]:
            sid = row["staff_id"]
            inter = row["interaction"]
            assert (inter["friends_end"], inter["touched"]) == raw[sid][:2], (grain, sid)
            assert (inter["month_friends"], inter["month_touched"]) == mtd[sid][:2], (grain, sid)


def _conversations(rep: dict, sid: int) -> int:  # type: ignore[type-arg]
    row = next(r for r in rep["accounts"] if r["staff_id"] == sid)
    return int(row["reply"]["conversations"])


def _same(s: Session, ws: int, days: list, months: list) -> None:  # type: ignore[type-arg]
    after = sorted(
        (r.staff_id, r.day, r.net)
        for r in s.scalars(select(StaffFriendDay).where(StaffFriendDay.workspace_id == ws))
        if r.net
    )
    months_after = sorted(
        (r.staff_id, r.month, r.msgs, r.touched)
        for r in s.scalars(select(StaffMetricMonth).where(StaffMetricMonth.workspace_id == ws))
        if r.msgs or r.touched
    )
    assert after == days
    assert months_after == months


def _pending(s: Session, ws: int) -> int:
    return int(
        s.scalar(
            select(func.count()).select_from(FollowCountChange).where(FollowCountChange.workspace_id == ws)
        )
        or 0
    )


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York"])
@pytest.mark.parametrize("seed", [1, 2])
def test_maintained_counts_equal_the_definition(env: Settings, workspace_id: int, seed: int, tz: str) -> None:
    ws = workspace_id
    with session_scope() as s:
        staff, customers = _build(s, ws, seed, tz)
    with session_scope() as s:
        assert _pending(s, ws) > 0  # the triggers saw the inserts
        aggregates.refresh_all(s, ws)
    with session_scope() as s:
        assert _pending(s, ws) == 0
        _check(s, ws, staff, tz)

    # Friendships change with no refresh: the readers correct for the unfolded journal.
    rnd = random.Random(seed * 31)
    times = _instants(rnd, tz)
    with session_scope() as s:
        rows = list(s.scalars(select(Follow).where(Follow.workspace_id == ws).order_by(Follow.id)))
        rnd.shuffle(rows)
        s.delete(rows[0])  # a hard delete
        rows[1].deleted_at = times[3]  # ended right at a month's local midnight
        rows[2].deleted_at, rows[2].added_at = None, times[9]  # re-added
        rows[3].added_at = None  # back to pending
        rows[4].state = "transferred"  # not a counted column: no journal entry
        rows[5].deleted_at = rows[5].added_at  # ended at once
        s.flush()
        taken = {
            (f.staff_id, f.customer_id) for f in s.scalars(select(Follow).where(Follow.workspace_id == ws))
        }
        free = [(sid, cid) for sid in staff for cid in customers if (sid, cid) not in taken]
        for sid, cid in free[:4]:
            s.add(Follow(workspace_id=ws, staff_id=sid, customer_id=cid, added_at=rnd.choice(times)))
        # Core statements: an account's friendships moved to another one, a bulk end.
        moved = rows[6]
        if (staff[2], moved.customer_id) not in taken | set(free[:4]):
            s.execute(update(Follow).where(Follow.id == moved.id).values(staff_id=staff[2]))
        s.execute(
            update(Follow)
            .where(Follow.workspace_id == ws, Follow.id.in_([r.id for r in rows[7:10]]))
            .values(deleted_at=local_to_utc(datetime(2026, 11, 30, 23, 59, 59), tz))
        )
    with session_scope() as s:
        assert _pending(s, ws) > 0
        _check(s, ws, staff, tz)
    # Pairs two-way in November whose friendship now starts or ends right at its end.
    nov_end = day_start_utc(date(2026, 12, 1), tz)
    edges = [
        (nov_end - timedelta(microseconds=1), None),  # a friend at the end
        (nov_end, None),  # not yet
        (datetime(2026, 10, 1, tzinfo=UTC), nov_end),  # still a friend at the very instant
        (datetime(2026, 10, 1, tzinfo=UTC), nov_end - timedelta(microseconds=1)),  # gone
    ]
    with session_scope() as s:
        pairs = [
            (r.staff_id, r.customer_id)
            for r in s.scalars(
                select(InteractionMonth)
                .where(InteractionMonth.workspace_id == ws, InteractionMonth.month == date(2026, 11, 1))
                .order_by(InteractionMonth.id)
            )
            if (r.msgs_in and r.msgs_out) or r.moments
        ]
        assert len(pairs) >= 2 * len(edges)
        for round_ in range(2):
            for (sid, cid), (added, deleted) in zip(pairs[round_ * 4 :], edges, strict=False):
                f = s.scalar(select(Follow).where(Follow.staff_id == sid, Follow.customer_id == cid))
                if f is None:
                    f = Follow(workspace_id=ws, staff_id=sid, customer_id=cid)
                    s.add(f)
                f.added_at, f.deleted_at = added, deleted
            s.flush()
            if round_ == 0:
                aggregates.refresh_all(s, ws)  # the first four folded, the next four pending
        assert _pending(s, ws) > 0
    with session_scope() as s:
        _check(s, ws, staff, tz)
    # More messages, then the fold: still the definition, journal empty.
    with session_scope() as s:
        for i, t in enumerate(times[:12]):
            s.add(
                Message(
                    workspace_id=ws,
                    source="archive",
                    msgid=f"late{i}",
                    direction="in" if i % 2 else "out",
                    staff_id=staff[i % 3],
                    customer_id=customers[i % 7],
                    msgtype="text",
                    sent_at=t,
                )
            )
    with session_scope() as s:
        aggregates.refresh_all(s, ws)
    with session_scope() as s:
        assert _pending(s, ws) == 0
        _check(s, ws, staff, tz)
        before = sorted(
            (r.staff_id, r.day, r.net)
            for r in s.scalars(select(StaffFriendDay).where(StaffFriendDay.workspace_id == ws))
            if r.net
        )
        months_before = sorted(
            (r.staff_id, r.month, r.msgs, r.touched)
            for r in s.scalars(select(StaffMetricMonth).where(StaffMetricMonth.workspace_id == ws))
            if r.msgs or r.touched
        )
    for rebuild in (
        lambda s: monthly.rebuild(s, ws, aggregates.knobs_for(s, ws)),  # from interaction_days
        lambda s: aggregates.rebuild(s, ws),  # from messages and events
    ):
        with session_scope() as s:
            rebuild(s)
        with session_scope() as s:
            _check(s, ws, staff, tz)
            _same(s, ws, before, months_before)
    with session_scope() as s:
        _check(s, ws, staff, tz)
    # A deleted account's journal entries are dropped at the fold.
    with session_scope() as s:
        s.execute(delete(Follow).where(Follow.staff_id == staff[0]))
        s.execute(delete(Staff).where(Staff.id == staff[0]))
    with session_scope() as s:
        aggregates.refresh_all(s, ws)
    with session_scope() as s:
        assert _pending(s, ws) == 0
        _check(s, ws, staff[1:], tz)
