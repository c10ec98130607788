"""Maintained friend counts and monthly interaction counts behind the interaction rate.

The interaction rate of a month needs, per staff account, the friends held at the month's
end and the friends among them with a two-way exchange in the month. Counted from
``follows`` and ``interaction_days`` on every read, that grows with the friends and the
month's touches (1 M friends: seconds); maintained here, a month reads about
accounts × days rows:

- ``staff_friend_days``: per (account, business day), friendships begun minus ended,
  folded from ``follow_count_changes``, the journal that triggers on ``follows`` write for
  every insert, update and delete (so no writer can be missed);
- ``interaction_months``: per (account, customer, month), the sums of the month's
  ``interaction_days``, bumped with them, with ``counted`` = two-way **and** a friend at
  the month's end;
- ``staff_metric_months``: per (account, month), 1:1 messages and the ``counted`` rows.

:func:`maintain` (called by ``aggregates.refresh``) folds the journal and bumps the
months; readers correct for journal entries not yet folded (:func:`friends_at`,
:func:`month_figures`), so figures are exact whatever the refresh lag of the friendships
(interaction counts are, as ever, as of the last refresh). The business days are those
of the workspace zone at fold time: a changed zone needs ``siyu insights refresh
--rebuild``, as for the other aggregates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from siyu.insights.knobs import InsightKnobs
from siyu.kit.timeutil import day_start_utc, local_day
from siyu.models import (
    Follow,
    FollowCountChange,
    InteractionDay,
    InteractionMonth,
    Staff,
    StaffFriendDay,
    StaffMetricMonth,
)

_CHUNK = 500
FOLD_BATCH = 50_000

Pair = tuple[int, int]  # (staff, customer)
Key = tuple[int, int, date]  # (staff, customer, month)


def _chunks(items: list[Any], n: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_end_utc(month: date, tz: str) -> datetime:
    """The instant the calendar month starting ``month`` ends (next month's first midnight)."""
    return day_start_utc((month + timedelta(days=32)).replace(day=1), tz)


def is_friend(added_at: datetime | None, deleted_at: datetime | None, until: datetime) -> bool:
    """The report's definition: added before ``until`` and not deleted before it."""
    return added_at is not None and added_at < until and (deleted_at is None or deleted_at >= until)


def two_way(msgs_in: int, msgs_out: int, moments: int) -> bool:
    return (msgs_in > 0 and msgs_out > 0) or moments > 0


def _follows(session: Session, workspace_id: int, pairs: Iterable[Pair]) -> dict[Pair, tuple[Any, Any]]:
    """(added_at, deleted_at) of the pairs' friendships (one row per pair at most).

    Read by customer (its index); a row-value IN would scan the workspace's follows.
    """
    wanted = set(pairs)
    out: dict[Pair, tuple[Any, Any]] = {}
    for chunk in _chunks(sorted({c for _, c in wanted})):
        # No workspace condition in SQL: SQLite would prefer a (workspace_id, ...) index.
        for ws, s, c, added, deleted in session.execute(
            select(
                Follow.workspace_id, Follow.staff_id, Follow.customer_id, Follow.added_at, Follow.deleted_at
            ).where(Follow.customer_id.in_(chunk))
        ):
            if ws == workspace_id and (s, c) in wanted:
                out[(s, c)] = (added, deleted)
    return out


_MONTH_COLS = (
    InteractionMonth.id,
    InteractionMonth.staff_id,
    InteractionMonth.customer_id,
    InteractionMonth.month,
    InteractionMonth.msgs_in,
    InteractionMonth.msgs_out,
    InteractionMonth.moments,
    InteractionMonth.counted,
)


def _month_rows(session: Session, workspace_id: int, pairs: Iterable[Pair]) -> list[Any]:
    """Every ``interaction_months`` row of the pairs (by account, then customers: the unique
    index; a row-value IN would scan the workspace's rows)."""
    by_staff: dict[int, set[int]] = defaultdict(set)
    for s, c in pairs:
        by_staff[s].add(c)
    rows: list[Any] = []
    for s, customers in sorted(by_staff.items()):
        for chunk in _chunks(sorted(customers)):
            rows += session.execute(
                select(*_MONTH_COLS).where(
                    InteractionMonth.workspace_id == workspace_id,
                    InteractionMonth.staff_id == s,
                    InteractionMonth.customer_id.in_(chunk),
                )
            ).all()
    return rows


def _bump_staff_months(
    session: Session, workspace_id: int, deltas: dict[tuple[int, date], list[int]]
) -> None:
    """Add (msgs, touched) deltas to ``staff_metric_months``."""
    deltas = {k: v for k, v in deltas.items() if v[0] or v[1]}
    if not deltas:
        return
    keys = sorted(deltas)
    existing: dict[tuple[int, date], tuple[int, int, int]] = {}
    for rid, s, m, msgs, touched in session.execute(
        select(
            StaffMetricMonth.id,
            StaffMetricMonth.staff_id,
            StaffMetricMonth.month,
            StaffMetricMonth.msgs,
            StaffMetricMonth.touched,
        ).where(
            StaffMetricMonth.workspace_id == workspace_id,
            StaffMetricMonth.month.in_(sorted({m for _, m in keys})),
        )
    ):
        existing[(s, m)] = (rid, msgs, touched)
    inserts, updates = [], []
    for key in keys:
        d_msgs, d_touched = deltas[key]
        row = existing.get(key)
        if row is None:
            inserts.append(
                {
                    "workspace_id": workspace_id,
                    "staff_id": key[0],
                    "month": key[1],
                    "msgs": d_msgs,
                    "touched": d_touched,
                }
            )
        else:
            updates.append({"rid": row[0], "n_msgs": row[1] + d_msgs, "n_touched": row[2] + d_touched})
    if inserts:
        session.execute(insert(StaffMetricMonth), inserts)
    if updates:
        table = cast(Table, StaffMetricMonth.__table__)
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(msgs=bindparam("n_msgs"), touched=bindparam("n_touched")),
            updates,
        )


def bump_months(
    session: Session, workspace_id: int, counts: dict[tuple[int, int, date], list[int]], tz: str
) -> None:
    """Add a refresh batch's per-day counts (in, out, moments) to ``interaction_months``.

    Each changed row's ``counted`` is evaluated again against the pair's friendship now.
    """
    by_month: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (s, c, day), (n_in, n_out, n_mom) in counts.items():
        acc = by_month[(s, c, month_of(day))]
        acc[0] += n_in
        acc[1] += n_out
        acc[2] += n_mom
    if not by_month:
        return
    keys = sorted(by_month)
    existing: dict[Key, tuple[int, int, int, int, bool]] = {}
    for rid, s, c, m, n_in, n_out, n_mom, counted in _month_rows(
        session, workspace_id, {(s, c) for s, c, _ in keys}
    ):
        if (s, c, m) in by_month:
            existing[(s, c, m)] = (rid, n_in, n_out, n_mom, bool(counted))
    follows = _follows(session, workspace_id, ((s, c) for s, c, _ in keys))
    inserts, updates = [], []
    staff_deltas: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    for key in keys:
        s, c, m = key
        d_in, d_out, d_mom = by_month[key]
        row = existing.get(key)
        o_in, o_out, o_mom, was = (0, 0, 0, False) if row is None else row[1:]
        n_in, n_out, n_mom = o_in + d_in, o_out + d_out, o_mom + d_mom
        added, deleted = follows.get((s, c), (None, None))
        now = two_way(n_in, n_out, n_mom) and is_friend(added, deleted, month_end_utc(m, tz))
        sd = staff_deltas[(s, m)]
        sd[0] += d_in + d_out
        sd[1] += int(now) - int(was)
        if row is None:
            inserts.append(
                {
                    "workspace_id": workspace_id,
                    "staff_id": s,
                    "customer_id": c,
                    "month": m,
                    "msgs_in": n_in,
                    "msgs_out": n_out,
                    "moments": n_mom,
                    "counted": now,
                }
            )
        else:
            updates.append({"rid": row[0], "n_in": n_in, "n_out": n_out, "n_mom": n_mom, "n_counted": now})
    for part in _chunks(inserts, 2000):
        session.execute(insert(InteractionMonth), part)
    if updates:
        table = cast(Table, InteractionMonth.__table__)
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(
                msgs_in=bindparam("n_in"),
                msgs_out=bindparam("n_out"),
                moments=bindparam("n_mom"),
                counted=bindparam("n_counted"),
            ),
            updates,
        )
    _bump_staff_months(session, workspace_id, staff_deltas)


def _recount_pairs(session: Session, workspace_id: int, pairs: set[Pair], tz: str) -> None:
    """Evaluate ``counted`` again for every month row of the pairs (their friendship changed)."""
    if not pairs:
        return
    rows = _month_rows(session, workspace_id, pairs)
    if not rows:
        return  # friendships with no touches yet (a first sync): nothing to judge
    follows = _follows(session, workspace_id, {(r[1], r[2]) for r in rows})
    changed: list[dict[str, Any]] = []
    staff_deltas: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    for rid, s, c, m, n_in, n_out, n_mom, counted in rows:
        added, deleted = follows.get((s, c), (None, None))
        now = two_way(n_in, n_out, n_mom) and is_friend(added, deleted, month_end_utc(m, tz))
        if now != bool(counted):
            changed.append({"rid": rid, "n_counted": now})
            staff_deltas[(s, m)][1] += 1 if now else -1
    if changed:
        table = cast(Table, InteractionMonth.__table__)
        session.connection().execute(
            update(table).where(table.c.id == bindparam("rid")).values(counted=bindparam("n_counted")),
            changed,
        )
    _bump_staff_months(session, workspace_id, staff_deltas)


def _add_friend_days(session: Session, workspace_id: int, net: dict[tuple[int, date], int]) -> None:
    net = {k: v for k, v in net.items() if v}
    if not net:
        return
    keys = sorted(net)
    existing: dict[tuple[int, date], tuple[int, int]] = {}
    for chunk in _chunks(sorted({d for _, d in keys})):
        for rid, s, d, n in session.execute(
            select(StaffFriendDay.id, StaffFriendDay.staff_id, StaffFriendDay.day, StaffFriendDay.net).where(
                StaffFriendDay.workspace_id == workspace_id, StaffFriendDay.day.in_(chunk)
            )
        ):
            if (s, d) in net:
                existing[(s, d)] = (rid, n)
    inserts = [
        {"workspace_id": workspace_id, "staff_id": k[0], "day": k[1], "net": net[k]}
        for k in keys
        if k not in existing
    ]
    updates = [{"rid": existing[k][0], "n_net": existing[k][1] + net[k]} for k in keys if k in existing]
    for part in _chunks(inserts, 2000):
        session.execute(insert(StaffFriendDay), part)
    if updates:
        table = cast(Table, StaffFriendDay.__table__)
        session.connection().execute(
            update(table).where(table.c.id == bindparam("rid")).values(net=bindparam("n_net")), updates
        )


def fold_follow_changes(session: Session, workspace_id: int, tz: str, *, batch: int = FOLD_BATCH) -> int:
    """Fold the journal's entries into ``staff_friend_days`` and re-evaluate the pairs' months.

    Entries are removed by id once folded (entries of accounts no longer there are dropped).
    Returns how many were folded.
    """
    staff_ids = set(session.scalars(select(Staff.id).where(Staff.workspace_id == workspace_id)))
    done = 0
    while True:
        rows = session.execute(
            select(
                FollowCountChange.id,
                FollowCountChange.staff_id,
                FollowCountChange.customer_id,
                FollowCountChange.at,
                FollowCountChange.delta,
            )
            .where(FollowCountChange.workspace_id == workspace_id)
            .order_by(FollowCountChange.id)
            .limit(batch)
        ).all()
        if not rows:
            return done
        net: dict[tuple[int, date], int] = defaultdict(int)
        pairs: set[Pair] = set()
        for _id, s, c, at, delta in rows:
            if s not in staff_ids:
                continue
            net[(s, local_day(at, tz))] += delta
            pairs.add((s, c))
        # Taken out first: a concurrent fold of the same entries (PostgreSQL) would leave
        # fewer to delete here, and this transaction must then not count them again.
        gone = 0
        for chunk in _chunks([r[0] for r in rows]):
            res = cast(
                CursorResult[Any],
                session.execute(delete(FollowCountChange).where(FollowCountChange.id.in_(chunk))),
            )
            gone += res.rowcount
        if gone != len(rows):
            raise RuntimeError("follow_count_changes folded concurrently; this refresh rolls back")
        _add_friend_days(session, workspace_id, net)
        _recount_pairs(session, workspace_id, pairs, tz)
        session.flush()
        done += len(rows)
        if len(rows) < batch:
            return done


def maintain(
    session: Session, workspace_id: int, counts: dict[tuple[int, int, date], list[int]], knobs: InsightKnobs
) -> None:
    """One refresh batch's share: fold the friendship journal, then add the batch's touches."""
    tz = knobs.hours.tz
    fold_follow_changes(session, workspace_id, tz)
    if counts:
        bump_months(session, workspace_id, counts, tz)
    session.flush()


def rebuild(session: Session, workspace_id: int, knobs: InsightKnobs) -> None:
    """Recompute this module's tables for a workspace from ``follows`` and ``interaction_days``."""
    tz = knobs.hours.tz
    for model in (FollowCountChange, StaffFriendDay, InteractionMonth, StaffMetricMonth):
        session.execute(delete(model).where(model.workspace_id == workspace_id))
    net: dict[tuple[int, date], int] = defaultdict(int)
    for s, added, deleted in session.execute(
        select(Follow.staff_id, Follow.added_at, Follow.deleted_at).where(
            Follow.workspace_id == workspace_id, Follow.added_at.is_not(None)
        )
    ):
        if added is None:
            continue
        net[(s, local_day(added, tz))] += 1
        if deleted is not None:
            net[(s, local_day(max(added, deleted), tz))] -= 1
    _add_friend_days(session, workspace_id, net)
    # The months from the days, judged against every friendship, written in bulk.
    sums: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
    for s, c, d, n_in, n_out, n_mom in session.execute(
        select(
            InteractionDay.staff_id,
            InteractionDay.customer_id,
            InteractionDay.day,
            InteractionDay.msgs_in,
            InteractionDay.msgs_out,
            InteractionDay.moments,
        ).where(InteractionDay.workspace_id == workspace_id)
    ):
        acc = sums[(s, c, month_of(d))]
        acc[0] += n_in
        acc[1] += n_out
        acc[2] += n_mom
    follows = {
        (s, c): (added, deleted)
        for s, c, added, deleted in session.execute(
            select(Follow.staff_id, Follow.customer_id, Follow.added_at, Follow.deleted_at).where(
                Follow.workspace_id == workspace_id
            )
        )
    }
    rows = []
    staff_months: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    ends: dict[date, datetime] = {}
    for (s, c, m), (n_in, n_out, n_mom) in sums.items():
        until = ends.get(m) or ends.setdefault(m, month_end_utc(m, tz))
        added, deleted = follows.get((s, c), (None, None))
        counted = two_way(n_in, n_out, n_mom) and is_friend(added, deleted, until)
        rows.append(
            {
                "workspace_id": workspace_id,
                "staff_id": s,
                "customer_id": c,
                "month": m,
                "msgs_in": n_in,
                "msgs_out": n_out,
                "moments": n_mom,
                "counted": counted,
            }
        )
        sm = staff_months[(s, m)]
        sm[0] += n_in + n_out
        sm[1] += int(counted)
    for part in _chunks(rows, 5000):
        session.execute(insert(InteractionMonth), part)
    _bump_staff_months(session, workspace_id, staff_months)
    session.flush()


# --- reading ------------------------------------------------------------------------
# Each figure is one statement, so that it reads one snapshot: a fold committing between
# two reads (PostgreSQL, read committed) can never count a friendship twice or not at all.


def friends_at(
    session: Session, workspace_id: int, staff_ids: list[int], day: date, tz: str
) -> dict[int, int]:
    """Friends of each account at the start of business day ``day`` (as the raw definition)."""
    until = day_start_utc(day, tz)
    parts = union_all(
        select(StaffFriendDay.staff_id.label("staff_id"), StaffFriendDay.net.label("n")).where(
            StaffFriendDay.workspace_id == workspace_id, StaffFriendDay.day < day
        ),
        select(FollowCountChange.staff_id.label("staff_id"), FollowCountChange.delta.label("n")).where(
            FollowCountChange.workspace_id == workspace_id, FollowCountChange.at < until
        ),
    ).subquery()
    got = {
        int(s): int(n or 0)
        for s, n in session.execute(select(parts.c.staff_id, func.sum(parts.c.n)).group_by(parts.c.staff_id))
    }
    return {s: got.get(s, 0) for s in staff_ids}


def month_figures(
    session: Session, workspace_id: int, staff_ids: list[int], month: date, tz: str
) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """(friends at the month's end, friends touched in the month, 1:1 messages) per account."""
    nxt = (month + timedelta(days=32)).replace(day=1)
    friends = friends_at(session, workspace_id, staff_ids, nxt, tz)
    until = day_start_utc(nxt, tz)
    # Pairs whose friendship changed since the last fold: their month rows judged again, live.
    pending = (
        select(FollowCountChange.staff_id, FollowCountChange.customer_id)
        .where(FollowCountChange.workspace_id == workspace_id)
        .distinct()
        .subquery()
    )
    im = InteractionMonth
    live = and_(
        or_(and_(im.msgs_in > 0, im.msgs_out > 0), im.moments > 0),
        Follow.added_at.is_not(None),
        Follow.added_at < until,
        or_(Follow.deleted_at.is_(None), Follow.deleted_at >= until),
    )
    parts = union_all(
        select(
            StaffMetricMonth.staff_id.label("staff_id"),
            StaffMetricMonth.msgs.label("msgs"),
            StaffMetricMonth.touched.label("touched"),
        ).where(StaffMetricMonth.workspace_id == workspace_id, StaffMetricMonth.month == month),
        select(
            im.staff_id.label("staff_id"),
            literal(0).label("msgs"),
            (case((live, 1), else_=0) - case((im.counted, 1), else_=0)).label("touched"),
        )
        .select_from(pending)
        .join(
            im,
            and_(
                im.workspace_id == workspace_id,
                im.staff_id == pending.c.staff_id,
                im.customer_id == pending.c.customer_id,
                im.month == month,
            ),
        )
        .outerjoin(
            Follow,
            and_(
                Follow.workspace_id == workspace_id,
                Follow.staff_id == im.staff_id,
                Follow.customer_id == im.customer_id,
            ),
        ),
    ).subquery()
    wanted = set(staff_ids)
    touched: dict[int, int] = {}
    msgs: dict[int, int] = {}
    for s, m, t in session.execute(
        select(parts.c.staff_id, func.sum(parts.c.msgs), func.sum(parts.c.touched)).group_by(parts.c.staff_id)
    ):
        if s in wanted:
            msgs[int(s)] = int(m or 0)
            touched[int(s)] = int(t or 0)
    return friends, touched, msgs
