"""The channel funnel to profit: adds → kept → first order → repeat → net revenue → gross profit.

Per channel (a live code's ``state``, named by the ``channels`` table) and per day, week or
month of the adds. Two maintained tables (``siyu.models.funnel``) hold it:

- ``channel_friends``: one row per friend add through a channel (a follow with a
  ``live_code_state``): its cohort day, whether it was lost within 7 / 30 days or by now,
  and, for the customer's first add through any channel (``credited``), the orders the
  customer paid *after* that add, through OneID (the follow's customer id is the merged
  profile, so an order imported from Douyin or Tmall counts once it is joined to the
  friend): count, net revenue (paid − refunded), cost of goods where the order has one.
- ``channel_funnel_days``: the sums of those rows per (channel, day).

:func:`refresh_customers` recomputes the rows of some customers and the days they touch
(the ``acquisition.funnel`` subscriber calls it for every friend add or loss and every
order import); :func:`rebuild` recomputes a workspace (nightly, and ``siyu funnel
rebuild``). :func:`report` reads ``channel_funnel_days`` only, so it answers in the same
time for a thousand friends or a million.

Rules an operator relies on (docs/acquisition-funnel.md):

- an order counts only when paid at or after the add, and only for the channel of the
  customer's first add (a customer who came through two channels is never counted twice);
- "kept after 7 days" is shown for cohorts at least 7 days old (30 likewise): adds of
  those days minus the friends deleted (by the customer or by staff) within 7 days;
  a transfer to another account is not a loss;
- gross profit = net revenue − cost of goods of the orders whose cost is known; the
  number of orders without a cost is reported beside it;
- a channel's cost (``channels.cost_fen``, for its whole life) is spread over its adds:
  a period carries the share of the cost that its adds are of all the channel's adds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import and_, case, delete, false, func, insert, literal, select
from sqlalchemy.orm import Session

from siyu.acquisition.channels import STORE_SEP, split_state
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import local_day, utcnow
from siyu.kit.types import UTCDateTime
from siyu.models import Channel, ChannelFriend, ChannelFunnelDay, Follow, Order, Store, Workspace

T = TypeVar("T")
Grain = Literal["day", "week", "month", "total"]
GRAINS: tuple[str, ...] = ("day", "week", "month", "total")
LOST_STATES = ("deleted_by_customer", "deleted_by_staff")
CHUNK = 1000
MAX_RANGE_DAYS = 3 * 366
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


# --- maintenance ------------------------------------------------------------------------


def _tz(session: Session, workspace_id: int) -> str:
    ws = session.get(Workspace, workspace_id)
    return ws.timezone if ws is not None and ws.timezone else "Asia/Shanghai"


def _chunks(ids: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _effective(status: str, paid_fen: int, refunded_fen: int) -> bool:
    return status not in ("closed", "refunded") and refunded_fen < paid_fen


def _rows(session: Session, workspace_id: int, customer_ids: Sequence[int], tz: str) -> list[dict[str, Any]]:
    """The ``channel_friends`` rows of these customers, computed from follows and orders."""
    follows = session.execute(
        select(
            Follow.id,
            Follow.customer_id,
            Follow.staff_id,
            Follow.live_code_state,
            Follow.added_at,
            Follow.state,
            Follow.deleted_at,
        )
        .where(
            Follow.workspace_id == workspace_id,
            Follow.customer_id.in_(customer_ids),
            Follow.live_code_state.is_not(None),
            Follow.live_code_state != "",
            Follow.added_at.is_not(None),
        )
        .order_by(Follow.customer_id, Follow.added_at, Follow.id)
    ).all()
    if not follows:
        return []
    buyers = sorted({f.customer_id for f in follows})
    orders: dict[int, list[Any]] = defaultdict(list)
    for o in session.execute(
        select(
            Order.customer_id, Order.paid_at, Order.status, Order.paid_fen, Order.refunded_fen, Order.cost_fen
        )
        .where(
            Order.workspace_id == workspace_id,
            Order.customer_id.in_(buyers),
            Order.paid_at.is_not(None),
            Order.status != "pending",
        )
        .order_by(Order.customer_id, Order.paid_at, Order.id)
    ):
        orders[o.customer_id].append(o)
    out: list[dict[str, Any]] = []
    first_seen: set[int] = set()
    for f in follows:
        credited = f.customer_id not in first_seen
        first_seen.add(f.customer_id)
        lost = f.state in LOST_STATES and f.deleted_at is not None
        kept_for = (f.deleted_at - f.added_at) if lost else None
        day = local_day(f.added_at, tz)
        row: dict[str, Any] = {
            "workspace_id": workspace_id,
            "follow_id": f.id,
            "customer_id": f.customer_id,
            "staff_id": f.staff_id,
            "state": f.live_code_state,
            "added_at": f.added_at,
            "add_day": day,
            "add_week": day - timedelta(days=day.weekday()),
            "add_month": day.replace(day=1),
            "lost_7d": int(kept_for is not None and kept_for < timedelta(days=7)),
            "lost_30d": int(kept_for is not None and kept_for < timedelta(days=30)),
            "lost": int(lost),
            "credited": credited,
            "first_order_at": None,
            "days_to_first": None,
            "orders": 0,
            "net_fen": 0,
            "cogs_fen": 0,
            "uncosted_orders": 0,
        }
        if credited:
            for o in orders.get(f.customer_id, ()):
                if o.paid_at < f.added_at:
                    continue
                row["net_fen"] += o.paid_fen - o.refunded_fen
                if not _effective(o.status, o.paid_fen, o.refunded_fen):
                    continue
                if row["first_order_at"] is None:
                    row["first_order_at"] = o.paid_at
                    row["days_to_first"] = (o.paid_at - f.added_at) // timedelta(days=1)
                row["orders"] += 1
                if o.cost_fen is None:
                    row["uncosted_orders"] += 1
                else:
                    row["cogs_fen"] += o.cost_fen
        out.append(row)
    return out


def _aggregate_select(workspace_id: int, where: Any) -> Any:
    cf = ChannelFriend
    return (
        select(
            literal(workspace_id).label("workspace_id"),
            cf.state,
            cf.add_day,
            cf.add_week,
            cf.add_month,
            func.count(),
            func.sum(cf.lost_7d),
            func.sum(cf.lost_30d),
            func.sum(cf.lost),
            func.sum(case((cf.orders >= 1, 1), else_=0)),
            func.sum(case((cf.orders >= 2, 1), else_=0)),
            func.sum(cf.orders),
            func.sum(cf.net_fen),
            func.sum(cf.cogs_fen),
            func.sum(cf.uncosted_orders),
            func.coalesce(func.sum(cf.days_to_first), 0),
            literal(utcnow(), UTCDateTime()),
        )
        .where(cf.workspace_id == workspace_id, where)
        .group_by(cf.state, cf.add_day, cf.add_week, cf.add_month)
    )


_DAY_COLUMNS = (
    "workspace_id",
    "state",
    "day",
    "week",
    "month",
    "adds",
    "lost_7d",
    "lost_30d",
    "lost",
    "buyers",
    "repeat_buyers",
    "orders",
    "net_fen",
    "cogs_fen",
    "uncosted_orders",
    "days_to_first_sum",
    "updated_at",
)


def _recompute_days(session: Session, workspace_id: int, cells: set[tuple[str, date]]) -> None:
    by_state: dict[str, set[date]] = defaultdict(set)
    for state, day in cells:
        by_state[state].add(day)
    for state, days in by_state.items():
        for part in _chunks(sorted(days), 500):
            session.execute(
                delete(ChannelFunnelDay).where(
                    ChannelFunnelDay.workspace_id == workspace_id,
                    ChannelFunnelDay.state == state,
                    ChannelFunnelDay.day.in_(part),
                )
            )
            where = and_(ChannelFriend.state == state, ChannelFriend.add_day.in_(part))
            session.execute(
                insert(ChannelFunnelDay).from_select(_DAY_COLUMNS, _aggregate_select(workspace_id, where))
            )


def refresh_customers(session: Session, *, workspace_id: int, customer_ids: Iterable[int]) -> int:
    """Recompute the funnel rows of these customers and the channel-days they touch.

    Returns the number of friend rows written. Idempotent: run it again and nothing moves.
    """
    ids = sorted({int(c) for c in customer_ids if c is not None})
    if not ids:
        return 0
    tz = _tz(session, workspace_id)
    written = 0
    for part in _chunks(ids):
        cells: set[tuple[str, date]] = {
            (r.state, r.add_day)
            for r in session.execute(
                select(ChannelFriend.state, ChannelFriend.add_day)
                .where(ChannelFriend.workspace_id == workspace_id, ChannelFriend.customer_id.in_(part))
                .distinct()
            )
        }
        session.execute(
            delete(ChannelFriend).where(
                ChannelFriend.workspace_id == workspace_id, ChannelFriend.customer_id.in_(part)
            )
        )
        rows = _rows(session, workspace_id, part, tz)
        if rows:
            session.execute(insert(ChannelFriend), rows)
        cells.update((r["state"], r["add_day"]) for r in rows)
        _recompute_days(session, workspace_id, cells)
        written += len(rows)
    return written


def rebuild(session: Session, *, workspace_id: int) -> int:
    """Recompute the whole funnel of a workspace from follows and orders; friend rows written."""
    tz = _tz(session, workspace_id)
    session.execute(delete(ChannelFunnelDay).where(ChannelFunnelDay.workspace_id == workspace_id))
    session.execute(delete(ChannelFriend).where(ChannelFriend.workspace_id == workspace_id))
    ids = list(
        session.scalars(
            select(Follow.customer_id)
            .where(
                Follow.workspace_id == workspace_id,
                Follow.live_code_state.is_not(None),
                Follow.added_at.is_not(None),
            )
            .distinct()
            .order_by(Follow.customer_id)
        )
    )
    written = 0
    for part in _chunks(ids, 5000):
        rows = _rows(session, workspace_id, part, tz)
        if rows:
            session.execute(insert(ChannelFriend), rows)
        written += len(rows)
    session.execute(
        insert(ChannelFunnelDay).from_select(_DAY_COLUMNS, _aggregate_select(workspace_id, literal(True)))
    )
    return written


# --- the report -------------------------------------------------------------------------


_SUMS = (
    "adds",
    "lost",
    "matured_7d",
    "kept_7d",
    "matured_30d",
    "kept_30d",
    "buyers",
    "repeat_buyers",
    "orders",
    "net_fen",
    "cogs_fen",
    "uncosted_orders",
    "_days_to_first_sum",
)


@dataclass
class FunnelFigures:
    """The funnel of some adds (one channel and period, a channel's total, or everything)."""

    adds: int = 0
    lost: int = 0
    kept: int = 0
    matured_7d: int = 0
    kept_7d: int = 0
    matured_30d: int = 0
    kept_30d: int = 0
    buyers: int = 0
    repeat_buyers: int = 0
    orders: int = 0
    net_fen: int = 0
    cogs_fen: int = 0
    gross_fen: int = 0
    uncosted_orders: int = 0
    cost_fen: int | None = None
    kept_7d_rate: float | None = None
    kept_30d_rate: float | None = None
    buyer_rate: float | None = None
    repeat_rate: float | None = None
    avg_days_to_first: float | None = None
    cost_per_add_fen: int | None = None
    cost_per_kept_fen: int | None = None
    cost_per_buyer_fen: int | None = None
    roi: float | None = None
    _days_to_first_sum: int = field(default=0, repr=False)
    _cost_share: float = field(default=0.0, repr=False)
    _has_cost: bool = field(default=False, repr=False)

    @classmethod
    def of(cls, sums: Sequence[Any], cost: tuple[int, int] | None) -> FunnelFigures:
        """Figures from the sums in ``_SUMS`` order (``cost``: the channel's (cost, all-time adds))."""
        v = [int(x or 0) for x in sums[:13]]
        f = cls(
            adds=v[0],
            lost=v[1],
            matured_7d=v[2],
            kept_7d=v[3],
            matured_30d=v[4],
            kept_30d=v[5],
            buyers=v[6],
            repeat_buyers=v[7],
            orders=v[8],
            net_fen=v[9],
            cogs_fen=v[10],
            uncosted_orders=v[11],
        )
        f._days_to_first_sum = v[12]
        if cost is not None:
            f._has_cost = True
            f._cost_share = cost[0] * f.adds / cost[1] if cost[1] else 0.0
        return f

    def add(self, o: FunnelFigures) -> None:
        self.adds += o.adds
        self.lost += o.lost
        self.matured_7d += o.matured_7d
        self.kept_7d += o.kept_7d
        self.matured_30d += o.matured_30d
        self.kept_30d += o.kept_30d
        self.buyers += o.buyers
        self.repeat_buyers += o.repeat_buyers
        self.orders += o.orders
        self.net_fen += o.net_fen
        self.cogs_fen += o.cogs_fen
        self.uncosted_orders += o.uncosted_orders
        self._days_to_first_sum += o._days_to_first_sum
        self._cost_share += o._cost_share
        self._has_cost = self._has_cost or o._has_cost

    def finish(self) -> FunnelFigures:
        self.kept = self.adds - self.lost
        self.gross_fen = self.net_fen - self.cogs_fen
        self.kept_7d_rate = self.kept_7d / self.matured_7d if self.matured_7d else None
        self.kept_30d_rate = self.kept_30d / self.matured_30d if self.matured_30d else None
        self.buyer_rate = self.buyers / self.adds if self.adds else None
        self.repeat_rate = self.repeat_buyers / self.buyers if self.buyers else None
        self.avg_days_to_first = round(self._days_to_first_sum / self.buyers, 1) if self.buyers else None
        if self._has_cost:
            self.cost_fen = round(self._cost_share)
            self.cost_per_add_fen = round(self.cost_fen / self.adds) if self.adds else None
            self.cost_per_kept_fen = round(self.cost_fen / self.kept) if self.kept else None
            self.cost_per_buyer_fen = round(self.cost_fen / self.buyers) if self.buyers else None
            self.roi = round(self.gross_fen / self.cost_fen, 2) if self.cost_fen else None
        return self

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


@dataclass
class ChannelFunnel:
    state: str
    name: str
    group_name: str | None
    channel_id: int | None
    total: FunnelFigures
    periods: dict[str, FunnelFigures]
    store_id: int | None = None  # a store channel's row for one store (state ``<state>~<id>``)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "name": self.name,
            "group_name": self.group_name,
            "channel_id": self.channel_id,
            "store_id": self.store_id,
            "total": self.total.as_dict(),
            "periods": [{"period": p, **f.as_dict()} for p, f in self.periods.items()],
        }


@dataclass
class FunnelReport:
    start: date
    end: date
    grain: str
    today: date
    periods: list[str]
    channels: list[ChannelFunnel]
    total: FunnelFigures
    updated_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "grain": self.grain,
            "today": self.today.isoformat(),
            "periods": self.periods,
            "channels": [c.as_dict() for c in self.channels],
            "total": self.total.as_dict(),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


def _own_rows(workspace_id: int, staff_id: int) -> Any:
    """One account's ``channel_friends`` rows, shaped like ``channel_funnel_days`` (one add each)."""
    cf = ChannelFriend
    return (
        select(
            cf.workspace_id,
            cf.state,
            cf.add_day.label("day"),
            cf.add_week.label("week"),
            cf.add_month.label("month"),
            literal(1).label("adds"),
            cf.lost_7d,
            cf.lost_30d,
            cf.lost,
            case((cf.orders >= 1, 1), else_=0).label("buyers"),
            case((cf.orders >= 2, 1), else_=0).label("repeat_buyers"),
            cf.orders,
            cf.net_fen,
            cf.cogs_fen,
            cf.uncosted_orders,
            func.coalesce(cf.days_to_first, 0).label("days_to_first_sum"),
        )
        .where(cf.workspace_id == workspace_id, cf.staff_id == staff_id)
        .subquery("own")
        .c
    )


def period_of(day: date, grain: str) -> str:
    """The label of the period ``day`` falls in: ``2026-03-05``, ``2026-W10``, ``2026-03``, ``total``."""
    if grain == "day":
        return day.isoformat()
    if grain == "week":
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if grain == "month":
        return f"{day.year}-{day.month:02d}"
    return "total"


def report(
    session: Session,
    *,
    workspace_id: int,
    start: date | None = None,
    end: date | None = None,
    grain: str = "week",
    channel: str | None = None,
    group: str | None = None,
    staff_id: int | None = None,
) -> FunnelReport:
    """The funnel per channel (and period) for the adds from ``start`` to ``end`` (local days).

    Default range: the last 90 days to today. ``channel`` is a state or a channel's name;
    ``group`` a channel group (渠道分组). Reads ``channel_funnel_days`` only.

    ``staff_id``: one account's slice (a staff user's own view): the adds to that account
    only (``channel_friends`` rows of the account), the channels set up for it (pool or a
    store's staff) shown even without adds, and of each channel's cost only the share of
    the account's adds (cost × the account's adds ÷ all the channel's adds).
    """
    if grain not in GRAINS:
        raise Invalid(f"grain must be one of {', '.join(GRAINS)}, not {grain!r}", field="grain")
    for value, name in ((start, "start"), (end, "end")):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise Invalid(f"{name} must be between {EARLIEST} and {LATEST}", field=name)
    tz = _tz(session, workspace_id)
    today = local_day(utcnow(), tz)
    end = end or today
    start = start or end - timedelta(days=89)
    if start > end:
        raise Invalid(f"start {start} is after end {end}", field="start")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise Invalid(f"the range is at most {MAX_RANGE_DAYS} days", field="start")
    channels = {
        c.state: c
        for c in session.scalars(
            select(Channel).where(Channel.workspace_id == workspace_id, Channel.deleted_at.is_(None))
        )
    }
    states: set[str] | None = None
    if channel:
        states = {s for s, c in channels.items() if channel in (s, c.name)} or {channel}
    if group:
        in_group = {s for s, c in channels.items() if c.group_name == group}
        states = in_group if states is None else states & in_group
    store_bases = {s for s, c in channels.items() if c.kind == "store"}
    if states is not None and store_bases & states:
        # a store channel's adds are credited per store: its rows are <state>~<store id>
        for base in store_bases & states:
            states |= set(
                session.scalars(
                    select(ChannelFunnelDay.state)
                    .where(
                        ChannelFunnelDay.workspace_id == workspace_id,
                        ChannelFunnelDay.state.startswith(base + STORE_SEP, autoescape=True),
                    )
                    .distinct()
                )
            )
    store_names = (
        {st.id: st.name for st in session.scalars(select(Store).where(Store.workspace_id == workspace_id))}
        if store_bases
        else {}
    )
    costs: dict[str, tuple[int, int]] = {}
    costed = [s for s, c in channels.items() if c.cost_fen is not None and (states is None or s in states)]
    if costed:
        all_adds: dict[str, int] = {}
        for state, n in session.execute(
            select(ChannelFunnelDay.state, func.sum(ChannelFunnelDay.adds))
            .where(ChannelFunnelDay.workspace_id == workspace_id, ChannelFunnelDay.state.in_(costed))
            .group_by(ChannelFunnelDay.state)
        ):
            all_adds[state] = int(n or 0)
        costs = {s: (int(channels[s].cost_fen or 0), int(all_adds.get(s) or 0)) for s in costed}
        # A store channel's cost is shared by its stores' rows, by their adds.
        for base in (s for s in costed if s in store_bases):
            subs = {
                state: int(n or 0)
                for state, n in session.execute(
                    select(ChannelFunnelDay.state, func.sum(ChannelFunnelDay.adds))
                    .where(
                        ChannelFunnelDay.workspace_id == workspace_id,
                        ChannelFunnelDay.state.startswith(base + STORE_SEP, autoescape=True),
                    )
                    .group_by(ChannelFunnelDay.state)
                )
            }
            every = sum(subs.values()) + int(all_adds.get(base) or 0)
            for state in (base, *subs):
                costs[state] = (int(channels[base].cost_fen or 0), every)
    d: Any = ChannelFunnelDay
    visible: set[str] | None = None
    if staff_id is not None:
        from siyu.acquisition.scope import channels_of

        visible = {c.state for c in channels_of(session, workspace_id=workspace_id, staff_id=staff_id)}
        d = _own_rows(workspace_id, staff_id)
    t7, t30 = today - timedelta(days=7), today - timedelta(days=30)
    period = {"day": d.day, "week": d.week, "month": d.month}.get(grain)
    q = select(
        d.state,
        (period if period is not None else literal(None)).label("period"),
        func.sum(d.adds).label("adds"),
        func.sum(d.lost).label("lost"),
        func.sum(case((d.day <= t7, d.adds), else_=0)).label("matured_7d"),
        func.sum(case((d.day <= t7, d.adds - d.lost_7d), else_=0)).label("kept_7d"),
        func.sum(case((d.day <= t30, d.adds), else_=0)).label("matured_30d"),
        func.sum(case((d.day <= t30, d.adds - d.lost_30d), else_=0)).label("kept_30d"),
        func.sum(d.buyers).label("buyers"),
        func.sum(d.repeat_buyers).label("repeat_buyers"),
        func.sum(d.orders).label("orders"),
        func.sum(d.net_fen).label("net_fen"),
        func.sum(d.cogs_fen).label("cogs_fen"),
        func.sum(d.uncosted_orders).label("uncosted_orders"),
        func.sum(d.days_to_first_sum).label("days_to_first_sum"),
    ).where(d.workspace_id == workspace_id, d.day >= start, d.day <= end)
    if states is not None:
        q = q.where(d.state.in_(sorted(states)) if states else false())
    q = q.group_by(d.state, period) if period is not None else q.group_by(d.state)
    per: dict[str, ChannelFunnel] = {}
    periods: set[str] = set()
    updated = session.scalar(
        select(func.max(ChannelFunnelDay.updated_at)).where(
            ChannelFunnelDay.workspace_id == workspace_id,
            ChannelFunnelDay.day >= start,
            ChannelFunnelDay.day <= end,
        )
    )
    labels: dict[Any, str] = {}
    # Core rows (no ORM loading): thousands of them for a year by day.
    for row in session.connection().execute(q):
        cf = per.get(row.state)
        if cf is None:
            c = channels.get(row.state)
            name = c.name if c else row.state
            store_id = None
            if c is None and STORE_SEP in row.state:
                base, store_id = split_state(row.state)
                c = channels.get(base) if store_id is not None else None
                if c is not None and c.kind == "store":
                    name = f"{c.name} · {store_names.get(store_id or 0, f'门店 {store_id}')}"
                else:
                    c, store_id = None, None
            cf = per[row.state] = ChannelFunnel(
                row.state,
                name,
                c.group_name if c else None,
                c.id if c else None,
                FunnelFigures(),
                {},
                store_id,
            )
        label = labels.get(row.period)
        if label is None:
            label = labels[row.period] = "total" if row.period is None else period_of(row.period, grain)
        periods.add(label)
        figures = FunnelFigures.of(row[2:], costs.get(row.state))
        cf.periods[label] = figures
        cf.total.add(figures)
    # Channels set up but without adds in the range still show (with their cost share 0).
    with_stores = {cf.state.rpartition(STORE_SEP)[0] for cf in per.values() if cf.store_id is not None}
    for state, c in channels.items():
        if state in with_stores:
            continue  # a store channel with rows per store: no empty row of its own
        if state not in per and (states is None or state in states) and (visible is None or state in visible):
            figures = FunnelFigures()
            figures._has_cost = c.cost_fen is not None
            per[state] = ChannelFunnel(state, c.name, c.group_name, c.id, figures, {})
    total = FunnelFigures()
    for cf in per.values():
        total.add(cf.total)
        cf.total.finish()
        for f in cf.periods.values():
            f.finish()
    ordered = sorted(per.values(), key=lambda c: (-c.total.gross_fen, -c.total.adds, c.name))
    return FunnelReport(start, end, grain, today, sorted(periods), ordered, total.finish(), updated)
