"""Event delivery: the ``events`` table as a transactional outbox (ADR 0006).

Each subscriber has a position ``(txid, event_id)`` in ``event_subscriptions``. One
delivery is one transaction: lock the position row, read the next batch of the
subscriber's kinds after it, call the handler with the session, move the position,
commit. So:

- a subscriber sees only committed events (it reads them), after their commit;
- in order: by id on SQLite (one writer, ids follow commit order) and by
  ``(txid, id)`` on PostgreSQL, reading only events below the oldest transaction still
  running in this database (:func:`horizon`), so an event that commits late under a
  lower id is waited for, never skipped;
- at least once: a crash (``kill -9``) rolls the handler's writes back with the
  position, and the batch is delivered again. Writes through the given session happen
  exactly once;
- with several workers a subscriber's position row is locked (``FOR UPDATE`` on
  PostgreSQL; SQLite's write lock), so batches of one subscriber never overlap.

A batch that raises is retried with backoff; after ``max_attempts`` it is replayed one
event at a time, and the event that still raises is parked as a failed job of kind
``events.redeliver`` (``siyu jobs retry`` delivers it again) so the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, tuple_
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import begin_write, get_engine, local_write_lock
from siyu.kit.ops import REDELIVER_KIND, Delivered, JobContext, Subscriber, discover, job_handler
from siyu.kit.timeutil import utcnow
from siyu.models import Event, EventSubscription, Job

log = logging.getLogger(__name__)

_COLUMNS = (
    Event.id,
    Event.workspace_id,
    Event.kind,
    Event.occurred_at,
    Event.source,
    Event.customer_id,
    Event.staff_id,
    Event.group_id,
    Event.order_id,
    Event.payload,
    Event.txid,
)


@dataclass
class DeliverySummary:
    delivered: int = 0
    batches: int = 0
    parked: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Delay before a failed batch is tried again: 5 s, 10 s, 20 s ... capped at 10 min."""
    return timedelta(seconds=min(600, 5 * 2 ** max(0, attempts - 1)))


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _lock_position(session: Session, name: str) -> EventSubscription:
    """The subscriber's position row, created at the log's start and locked for this transaction."""
    if _is_pg(session):
        q = select(EventSubscription).where(EventSubscription.name == name).with_for_update()
        row = session.scalars(q).one_or_none()
        if row is None:
            session.execute(
                text(
                    "INSERT INTO event_subscriptions (name, txid, event_id, delivered, attempts, updated_at) "
                    "VALUES (:n, 0, 0, 0, 0, now()) ON CONFLICT (name) DO NOTHING"
                ),
                {"n": name},
            )
            row = session.scalars(q).one()
        return row
    begin_write(session)  # SQLite: the write lock first, so two deliveries never interleave
    row = session.get(EventSubscription, name)
    if row is None:
        row = EventSubscription(name=name, txid=0, event_id=0, delivered=0, attempts=0)
        session.add(row)
        session.flush()
    return row


# The oldest transaction still running in *this* database (xids are cluster-wide: a
# long transaction in another database on the same server must not hold delivery up),
# else the snapshot's xmax. Running transactions are matched on their 32-bit xid.
_HORIZON = text(
    "WITH snap AS (SELECT txid_current_snapshot() AS s) "
    "SELECT coalesce("
    " (SELECT min(x) FROM snap, txid_snapshot_xip(snap.s) AS x"
    "  WHERE (x % 4294967296) IN (SELECT backend_xid::text::bigint FROM pg_stat_activity"
    "   WHERE datname = current_database() AND backend_xid IS NOT NULL)),"
    " (SELECT txid_snapshot_xmax(snap.s) FROM snap))"
)


def horizon(session: Session) -> int:
    """Every event with a lower txid is committed (and visible to the next statement) or gone.

    A transaction in the snapshot's in-progress list that is not found running in this
    database any more has ended by the time the activity is read, so the *next*
    statement (READ COMMITTED takes a new snapshot per statement) sees its events.
    """
    return int(session.execute(_HORIZON).scalar_one())


def _batch(session: Session, sub: Subscriber, pos: EventSubscription, limit: int) -> list[Any]:
    q = select(*_COLUMNS).where(Event.kind.in_(sub.kinds))
    if _is_pg(session):
        q = q.where(
            Event.txid.is_not(None),
            tuple_(Event.txid, Event.id) > tuple_(pos.txid, pos.event_id),
            Event.txid < horizon(session),
        ).order_by(Event.txid, Event.id)
    else:
        q = q.where(Event.id > pos.event_id).order_by(Event.id)
    return list(session.execute(q.limit(limit)).all())


def _delivered(row: Any) -> Delivered:
    return Delivered(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=row.kind,
        occurred_at=row.occurred_at,
        source=row.source,
        customer_id=row.customer_id,
        staff_id=row.staff_id,
        group_id=row.group_id,
        order_id=row.order_id,
        payload=dict(row.payload or {}),
    )


def _advance(pos: EventSubscription, rows: Sequence[Any]) -> None:
    last = rows[-1]
    pos.event_id = last.id
    pos.txid = last.txid or 0
    pos.delivered += len(rows)
    pos.attempts = 0
    pos.retry_after = None
    pos.last_error = None


def deliver_once(
    factory: sessionmaker[Session], sub: Subscriber, *, limit: int | None = None
) -> tuple[int, int]:
    """Deliver one batch to ``sub``; (events delivered, events parked). (0, 0): nothing due."""
    limit = limit or sub.batch
    with local_write_lock(factory.kw["bind"] or get_engine()), factory() as session:
        pos = _lock_position(session, sub.name)
        if pos.retry_after is not None and pos.retry_after > utcnow():
            session.rollback()
            return 0, 0
        rows = _batch(session, sub, pos, limit)
        if not rows:
            session.rollback()
            return 0, 0
        attempts = pos.attempts
        try:
            with session.begin_nested():
                sub.fn(session, [_delivered(r) for r in rows])
        except Exception as exc:  # a subscriber's failure must not stop delivery to the others
            message = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning(
                "subscriber %s failed on events %s..%s: %s", sub.name, rows[0].id, rows[-1].id, message
            )
            if attempts + 1 >= sub.max_attempts:
                parked = _park_one_by_one(session, sub, pos, rows)
                session.commit()
                return len(rows) - parked, parked
            pos.attempts = attempts + 1
            pos.last_error = message
            pos.retry_after = utcnow() + backoff(pos.attempts)
            session.commit()
            raise DeliveryError(sub.name, message) from exc
        _advance(pos, rows)
        session.commit()
        return len(rows), 0


class DeliveryError(RuntimeError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"subscriber {name}: {message}")


def _park_one_by_one(session: Session, sub: Subscriber, pos: EventSubscription, rows: Sequence[Any]) -> int:
    """Deliver the batch event by event; park those that still raise. How many were parked."""
    parked = 0
    for row in rows:
        try:
            with session.begin_nested():
                sub.fn(session, [_delivered(row)])
        except Exception as exc:  # parked: visible as a failed job, retried by hand
            parked += 1
            session.add(
                Job(
                    workspace_id=row.workspace_id,
                    kind=REDELIVER_KIND,
                    payload={"subscriber": sub.name, "event_id": row.id, "event_kind": row.kind},
                    status="failed",
                    attempts=sub.max_attempts,
                    max_attempts=sub.max_attempts + 1,
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    finished_at=utcnow(),
                )
            )
    _advance(pos, rows)
    return parked


def deliver(
    factory: sessionmaker[Session], *, names: Sequence[str] | None = None, max_batches: int = 20
) -> DeliverySummary:
    """Deliver to every declared subscriber (or those in ``names``) until caught up or
    ``max_batches`` batches each; errors are reported, not raised."""
    registry = discover()
    subs = [registry.subscribers[n] for n in names] if names else list(registry.subscribers.values())
    summary = DeliverySummary()
    for sub in subs:
        for _ in range(max_batches):
            try:
                done, parked = deliver_once(factory, sub)
            except DeliveryError as exc:
                summary.errors.append(str(exc))
                break
            if done == 0 and parked == 0:
                break
            summary.delivered += done
            summary.parked += parked
            summary.batches += 1
    return summary


def status(session: Session) -> list[dict[str, Any]]:
    """Every declared subscriber with its position, what is left to deliver and its last error."""
    registry = discover()
    rows = {r.name: r for r in session.scalars(select(EventSubscription))}
    out = []
    for sub in registry.subscribers.values():
        pos = rows.get(sub.name)
        after = pos.event_id if pos else 0
        q = select(Event.id).where(Event.kind.in_(sub.kinds))
        if pos is not None and _is_pg(session):
            q = q.where(or_(Event.txid > pos.txid, and_(Event.txid == pos.txid, Event.id > after)))
        else:
            q = q.where(Event.id > after)
        pending = session.scalar(select(func.count()).select_from(q.subquery())) or 0
        out.append(
            {
                "name": sub.name,
                "kinds": list(sub.kinds),
                "description": sub.description,
                "delivered": pos.delivered if pos else 0,
                "pending": pending,
                "attempts": pos.attempts if pos else 0,
                "retry_after": pos.retry_after if pos else None,
                "last_error": pos.last_error if pos else None,
            }
        )
    return out


@job_handler(REDELIVER_KIND, description="deliver a parked event to its subscriber again")
def redeliver(ctx: JobContext) -> dict[str, Any]:
    """A parked event, delivered again to one subscriber (after ``siyu jobs retry``)."""
    assert ctx.session is not None
    name = str(ctx.payload["subscriber"])
    sub = discover().subscribers.get(name)
    if sub is None:
        raise LookupError(f"no subscriber named {name!r} is declared any more")
    row = ctx.session.execute(select(*_COLUMNS).where(Event.id == int(ctx.payload["event_id"]))).one_or_none()
    if row is None:
        return {"skipped": "the event no longer exists"}
    sub.fn(ctx.session, [_delivered(row)])
    return {"delivered": row.id}
