"""The P&L's orders, kept per workspace and month in process, exact through the change journal.

A month's P&L sums one *fact* per effective order (``profit.Fact``: customer, owner staff
account and channel state at payment, paid, net, cost of goods, platform fee, discount,
cost known) and the groups its customer was in then. Computing the facts reads every
order of the month, its lines, the price list and the customer's friendships
(``profit._facts``, ~1 CPU s per 40,000 orders); summing them is cheap. So, as the
audience index does (ADR 0005), each process keeps the facts of the months it was asked
for, and the sums, and keeps them exact:

- before each answer it reads the audience change journal (``audience_changes``, written
  in the writer's transaction by ``siyu.kit.changes`` for follows, group members and
  orders) past its cursor, in the caller's session, and recomputes the facts of the
  customers named there, in every month it holds (an order moved between customers
  names both); the sums of a month that changed are summed again;
- the price list, the platform fee rates, ``discount_in_paid`` and the zone are compared
  with what the facts were computed from (a fingerprint): any difference drops them;
- an "everything" entry, a reset journal, 12 hours without a read or more changed
  customers than ``RECOMPUTE_MAX`` (and a tenth of a month's buyers) drop them too;
- orders of no customer (which the journal cannot name) are never kept: they are read
  on each answer (few, through ``ix_orders_customer_id_paid_at``);
- rewards are read on each answer (few), friends and adds too (``profit._follow_counts``,
  index-only reads), unless the journal is unchanged since they were counted;
- a session with uncommitted changes of its own is answered without the cache.

Order lines are not journalled: every change to an order's lines comes with an update of
the order itself (the import marks it with its run), which is.

**Snapshots, for a process's first answer.** Computing a month's facts costs seconds at a
million friends (bench/RESULTS.md), so a new process (a CLI call, a restarted server)
would pay it on its first answer. The periodic ``insights.pnl_snapshots`` job (the
worker's process, which keeps its months warm) stores each month it keeps in
``pnl_snapshots``: the facts, the group memberships, the fingerprint they were computed
with and the journal cursor they are exact at. A process asked for a month it does not
keep loads the snapshot and replays the journal from the snapshot's cursor, as it would
its own, instead of computing the month; a snapshot is not used when its fingerprint
differs, when it is older than ``STALE_AFTER`` (the journal keeps 24 hours), when the
journal went backwards or holds an "everything" entry since, or when more customers
changed since than the kept months would recompute. Snapshots are written only by that
job, in its own transaction: an answer never writes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import weakref
import zlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from siyu.insights.knobs import InsightKnobs
from siyu.kit import changes
from siyu.kit.gcpause import collector_paused
from siyu.kit.timeutil import day_start_utc, utcnow
from siyu.models import Order, PnlSnapshot, SkuCost
from siyu.segments.audience import journal

ENABLED = True  # False: compute every answer (tests of the reference, benchmarks' "before")
STALE_AFTER = timedelta(hours=12)  # idle longer (journal may be pruned past us): start over
MAX_MONTHS = 12  # months kept per workspace (the least recently read goes first)
RECOMPUTE_MAX = 2_000  # more changed customers than this (and 10 % of a month's): drop the months
_CHUNK = 500


@dataclass
class _Month:
    facts: dict[int, Any] = field(default_factory=dict)  # order id -> profit.Fact
    member_of: dict[int, list[int]] = field(default_factory=dict)  # order id -> groups
    of_customer: dict[int, set[int]] = field(default_factory=dict)  # customer -> order ids
    lines: dict[str, Any] | None = None  # the facts summed (no rewards, no customer-less orders)
    used: float = 0.0


@dataclass
class _Workspace:
    lock: threading.Lock = field(default_factory=threading.Lock)
    fingerprint: Any = None
    cursor: journal.Cursor = field(default_factory=journal.Cursor)
    synced_at: float = 0.0
    synced_wall: datetime | None = None  # utcnow() when ``cursor`` was read (snapshots' age)
    months: dict[date, _Month] = field(default_factory=dict)
    counts: dict[tuple[datetime, datetime], Any] = field(default_factory=dict)


_registry: weakref.WeakKeyDictionary[Engine, dict[int, _Workspace]] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _fingerprint(session: Session, workspace_id: int, knobs: InsightKnobs) -> Any:
    prices = tuple(
        tuple(r)
        for r in session.execute(
            select(SkuCost.id, SkuCost.sku, SkuCost.cost_fen, SkuCost.valid_from, SkuCost.valid_to)
            .where(SkuCost.workspace_id == workspace_id)
            .order_by(SkuCost.id)
        )
    )
    return (knobs.hours.tz, tuple(sorted(knobs.platform_fee_rates.items())), knobs.discount_in_paid, prices)


def _copy(lines: dict[str, Any]) -> dict[str, Any]:
    def one(line: Any) -> Any:
        return replace(line, buyers=set(line.buyers))

    out = {k: one(lines[k]) for k in ("total", "private", "outside")}
    for k in ("staff", "states", "groups"):
        out[k] = type(lines[k])(lines[k].default_factory, {key: one(v) for key, v in lines[k].items()})
    return out


def _merge(lines: dict[str, Any], more: dict[str, Any]) -> None:
    for k in ("total", "private", "outside"):
        lines[k].merge(more[k])
    for k in ("staff", "states", "groups"):
        for key, line in more[k].items():
            lines[k][key].merge(line)


def _unsum(lines: dict[str, Any], cid: int, orders: list[tuple[Any, Any]]) -> None:
    """Take a customer's orders (facts, groups) out of the sums: each line they were in
    loses their money, and the customer as a buyer (all their orders leave at once)."""
    touched = []
    for (_cid, sid, base, paid, net, cogs, fee, disc, known), groups in orders:
        here = [lines["total"]]
        if sid is None:
            here.append(lines["outside"])
        else:
            here += [lines["private"], lines["staff"][sid], lines["states"][base]]
        here += [lines["groups"][g] for g in groups]
        for line in here:
            line.remove(paid, net, cogs, fee, disc, known)
        touched += here
    for line in touched:
        line.buyers.discard(cid)
    for k in ("staff", "states", "groups"):  # a line left with no order is no line
        for key in [key for key, line in lines[k].items() if line.orders == 0]:
            del lines[k][key]


def _changed(got: tuple[list[journal.Change], journal.Cursor] | None) -> list[int] | None:
    """The customers a journal read names; None when the reader must start over (the
    journal went backwards, or an entry names everything)."""
    if got is None or any(cid is None for _, cid in got[0]):
        return None
    return sorted({int(cid) for _, cid in got[0] if cid is not None})


def _too_many(customers: list[int], kept: int) -> bool:
    """More changed customers than recomputing them one by one is worth (of ``kept``)."""
    return len(customers) > max(RECOMPUTE_MAX, kept // 10)


class PnlCache:
    """The facts of one workspace's months, brought up to date in the caller's session."""

    def __init__(self, session: Session, workspace_id: int, knobs: InsightKnobs) -> None:
        self.session, self.workspace_id, self.knobs = session, workspace_id, knobs
        with _registry_lock:
            self.ws = _registry.setdefault(_engine(session), {}).setdefault(workspace_id, _Workspace())

    def _sync(self) -> bool:
        """Apply the journal; True when anything changed since the last answer."""
        s, ws = self.session, self.ws
        fp = _fingerprint(s, self.workspace_id, self.knobs)
        got = None
        if fp == ws.fingerprint and time.monotonic() - ws.synced_at < STALE_AFTER.total_seconds():
            got = journal.read(s, self.workspace_id, ws.cursor)
        customers = _changed(got)
        if customers is None:
            ws.months.clear()
            ws.counts.clear()
            ws.synced_wall = utcnow()
            ws.fingerprint, ws.cursor = fp, journal.position(s)  # first: later commits replay
            ws.synced_at = time.monotonic()
            return True
        assert got is not None
        ws.synced_wall = utcnow()
        entries, ws.cursor = got
        ws.synced_at = time.monotonic()
        if not entries:
            return False
        ws.counts.clear()
        kept = max((len(m.of_customer) for m in ws.months.values()), default=0)
        if _too_many(customers, kept):
            ws.months.clear()  # cheaper computed again whole, when asked
            return True
        for start, month in ws.months.items():
            self._recompute(start, month, customers)
        return True

    def _recompute(self, start: date, month: _Month, customers: list[int]) -> None:
        from siyu.insights import profit

        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        lines = month.lines
        for i in range(0, len(customers), _CHUNK):
            chunk = customers[i : i + _CHUNK]
            for cid in chunk:
                old = month.of_customer.pop(cid, ())
                if lines is not None and old:
                    # every order of the customer leaves the sums, and the customer the buyers
                    _unsum(lines, cid, [(month.facts[o], month.member_of.get(o, ())) for o in old])
                for oid in old:
                    month.facts.pop(oid, None)
                    month.member_of.pop(oid, None)
            facts, member_of = profit._facts(
                self.session, self.workspace_id, start, end, self.knobs, who=Order.customer_id.in_(chunk)
            )
            self._keep(month, facts, member_of)
            if lines is not None and facts:
                _merge(lines, profit._lines(facts.items(), member_of))

    @staticmethod
    def _keep(month: _Month, facts: dict[int, Any], member_of: dict[int, list[int]]) -> None:
        month.facts.update(facts)
        month.member_of.update(member_of)
        of = month.of_customer
        for oid, fact in facts.items():
            mine = of.get(fact[0])
            if mine is None:
                of[fact[0]] = {oid}
            else:
                mine.add(oid)

    def lines(self, start: date, end: date) -> dict[str, Any]:
        """The month's lines from its orders of a customer (a copy: the caller adds to it)."""
        from siyu.insights import profit

        ws = self.ws
        month = ws.months.get(start)
        if month is None:
            month = self._load(start)
        if month is None:
            month = _Month()
            facts, member_of = profit._facts(self.session, self.workspace_id, start, end, self.knobs)
            # orders of no customer are read on each answer (the journal cannot name them)
            facts = {oid: f for oid, f in facts.items() if f[0] is not None}
            self._keep(month, facts, member_of)
        if start not in ws.months:
            ws.months[start] = month
            while len(ws.months) > MAX_MONTHS:
                del ws.months[min(ws.months, key=lambda m: ws.months[m].used)]
        month.used = time.monotonic()
        if month.lines is None:
            month.lines = profit._lines(month.facts.items(), month.member_of)
        return _copy(month.lines)

    def _load(self, start: date) -> _Month | None:
        """The month from its snapshot, brought up to date through the journal; None when
        there is none fit to use (see the module docstring)."""
        s, ws = self.session, self.ws
        row = s.execute(
            select(
                PnlSnapshot.fingerprint, PnlSnapshot.cursor, PnlSnapshot.taken_at, PnlSnapshot.facts
            ).where(PnlSnapshot.workspace_id == self.workspace_id, PnlSnapshot.month == start)
        ).one_or_none()
        if row is None or row.fingerprint != _digest(ws.fingerprint) or row.taken_at < utcnow() - STALE_AFTER:
            return None
        cursor = _cursor_from(row.cursor)
        if (cursor.xmin is None) != (s.get_bind().dialect.name != "postgresql"):
            return None  # written on another kind of database
        customers = _changed(journal.read(s, self.workspace_id, cursor))
        if customers is None:
            return None
        month = _Month()
        with collector_paused():  # tens of thousands of new tuples and sets
            self._keep(month, *_unpack(row.facts))
        if _too_many(customers, len(month.of_customer)):
            return None
        if customers:
            self._recompute(start, month, customers)
        return month

    def follow_counts(self, since: datetime, until: datetime) -> Any:
        from siyu.insights import profit

        key = (since, until)
        if key not in self.ws.counts:
            self.ws.counts[key] = profit._follow_counts(self.session, self.workspace_id, since, until)
        return self.ws.counts[key]


def month_lines(
    session: Session,
    workspace_id: int,
    knobs: InsightKnobs,
    months: list[tuple[date, date]],
) -> tuple[list[dict[str, Any]], Any]:
    """The lines of these months (orders, rewards) and the friends/adds counts of the
    first, as ``profit._month_lines`` and ``profit._follow_counts`` compute them."""
    from siyu.insights import profit

    tz = knobs.hours.tz
    bounds = [(day_start_utc(a, tz), day_start_utc(b + timedelta(days=1), tz)) for a, b in months]
    if session.autoflush:
        session.flush()
    if not ENABLED or changes.pending(session):
        out = [profit._month_lines(session, workspace_id, a, b, knobs) for a, b in months]
        return out, profit._follow_counts(session, workspace_id, *bounds[0])
    cache = PnlCache(session, workspace_id, knobs)
    with cache.ws.lock:
        cache._sync()
        out = []
        for (a, b), (since, until) in zip(months, bounds, strict=True):
            lines = cache.lines(a, b)
            # orders of no customer: the journal cannot name them, so they are read now
            facts, member_of = profit._facts(
                session, workspace_id, a, b, knobs, who=Order.customer_id.is_(None)
            )
            _merge(lines, profit._lines(facts.items(), member_of))
            profit._add_rewards(session, workspace_id, since, until, lines)
            out.append({"since": since, "until": until, **lines})
        counts = cache.follow_counts(*bounds[0])
    return out, counts


# -- snapshots ---------------------------------------------------------------------------


def _digest(fingerprint: Any) -> str:
    return hashlib.sha256(repr(fingerprint).encode()).hexdigest()


def _cursor_to(cursor: journal.Cursor) -> dict[str, Any]:
    return {"last_id": cursor.last_id, "xmin": cursor.xmin, "seen": sorted(cursor.seen)}


def _cursor_from(raw: dict[str, Any]) -> journal.Cursor:
    xmin = raw.get("xmin")
    return journal.Cursor(
        int(raw["last_id"]), None if xmin is None else int(xmin), frozenset(raw.get("seen", ()))
    )


def _pack(month: _Month) -> bytes:
    body = {
        "facts": [[oid, *fact] for oid, fact in month.facts.items()],
        "groups": [[oid, list(groups)] for oid, groups in month.member_of.items()],
    }
    return zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 1)


def _unpack(blob: bytes) -> tuple[dict[int, Any], dict[int, list[int]]]:
    body = json.loads(zlib.decompress(blob))
    facts = {int(row[0]): tuple(row[1:]) for row in body["facts"]}
    member_of = {int(oid): list(groups) for oid, groups in body["groups"]}
    return facts, member_of


def save_snapshots(session: Session, workspace_id: int) -> int:
    """Store the months this process keeps for the workspace, exact at its cursor (in the
    caller's transaction); returns how many. Nothing when it keeps none."""
    if not ENABLED:
        return 0
    with _registry_lock:
        ws = _registry.get(_engine(session), {}).get(workspace_id)
    if ws is None:
        return 0
    with ws.lock:
        if ws.fingerprint is None or ws.synced_wall is None or not ws.months:
            return 0
        digest, cursor, taken = _digest(ws.fingerprint), _cursor_to(ws.cursor), ws.synced_wall
        packed = {start: _pack(month) for start, month in ws.months.items()}
    session.execute(
        delete(PnlSnapshot).where(
            PnlSnapshot.workspace_id == workspace_id, PnlSnapshot.month.in_(list(packed))
        )
    )
    session.add_all(
        PnlSnapshot(
            workspace_id=workspace_id,
            month=start,
            fingerprint=digest,
            cursor=cursor,
            taken_at=taken,
            facts=blob,
        )
        for start, blob in packed.items()
    )
    session.flush()
    return len(packed)


def forget(engine: Engine | None = None) -> None:
    """Drop what this process keeps (all engines, or one): its next answers start cold."""
    with _registry_lock:
        if engine is None:
            _registry.clear()
        else:
            _registry.pop(engine, None)
