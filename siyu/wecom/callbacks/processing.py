"""Turn stored callbacks into state: one transaction per batch (or callback), safe to repeat.

``process_callback`` claims a pending row with a conditional UPDATE as the first
statement of its transaction (PostgreSQL locks the row, SQLite the database), so the
request's background task and a ``process-callbacks`` worker never both apply it. A
failure rolls the changes back and is recorded on the row; after ``MAX_ATTEMPTS`` the
row is marked ``failed`` (fix the cause, then ``--retry-failed``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.kit.db import local_write_lock
from siyu.kit.errors import SiyuError
from siyu.kit.timeutil import utcnow
from siyu.models import WeComCallback
from siyu.privacy.erasure import REDACTED
from siyu.wecom.callbacks import batch
from siyu.wecom.callbacks.handlers import ERASED_VALUES, HANDLERS, CallbackDataError
from siyu.wecom.callbacks.inbox import CallbackEvent, parse_event

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Callbacks per transaction when draining a backlog. SQLite has one writer at a time, so
# its batches stay short: the inbox must not wait long behind processing to answer 200.
BATCH_SIZE = 25
SQLITE_BATCH_SIZE = 5
SessionFactory = Callable[[], Session]


@dataclass(slots=True)
class ProcessSummary:
    """What a processing run did, by outcome."""

    processed: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.processed + self.failed + self.retried + self.skipped


def _without_erased(session: Session, body: str) -> str:
    """The stored body without the ids of people erased on request that it named."""
    erased: set[str] | None = session.info.get(ERASED_VALUES)
    if erased:
        for value in sorted(erased, key=len, reverse=True):
            body = body.replace(value, REDACTED)
    return body


def _apply(session: Session, workspace_id: int, body: str, key: str, received_at: datetime) -> None:
    _apply_event(session, workspace_id, parse_event(body), key, received_at)


def _apply_event(
    session: Session, workspace_id: int, ev: CallbackEvent, key: str, received_at: datetime
) -> None:
    handler = HANDLERS.get(ev.event)
    at = ev.create_time or received_at
    if handler is None or not ev.handled:  # pragma: no cover - accept() stores these as ignored
        return
    handler(session, workspace_id=workspace_id, ev=ev, key=key, at=at)


def process_callback(session_factory: SessionFactory, callback_id: int) -> str:
    """Process one stored callback; returns its status afterwards (or "skipped").

    A unique-key clash (two callbacks creating the same staff or customer at once) is
    retried straight away: the new transaction sees the other's committed row.
    """
    for _ in range(3):
        status = _process_once(session_factory, callback_id)
        if status != "conflict":
            return status
    return _process_once(session_factory, callback_id, last_try=True)


def _process_once(session_factory: SessionFactory, callback_id: int, *, last_try: bool = False) -> str:
    session = session_factory()
    lock = local_write_lock(session)
    try:
        with lock:
            return _claim_and_apply(session, callback_id)
    except IntegrityError:
        session.rollback()
        if not last_try:
            return "conflict"
        with lock:
            return _record_failure(
                session, callback_id, "IntegrityError: unique key clash, will retry", False
            )
    except Exception as exc:  # any failure is recorded on the row, never lost
        session.rollback()
        # Bad data will not improve with retries; database or bug failures might.
        permanent = isinstance(exc, CallbackDataError | SiyuError)
        message = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning("wecom callback %s failed: %s", callback_id, message)
        with lock:
            return _record_failure(session, callback_id, message, permanent)
    finally:
        session.close()


def _claim_and_apply(session: Session, callback_id: int) -> str:
    claimed = session.execute(
        update(WeComCallback)
        .where(WeComCallback.id == callback_id, WeComCallback.status == "pending")
        .values(attempts=WeComCallback.attempts + 1)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        session.rollback()
        return "skipped"  # already processed by someone else, or not pending
    row = session.get(WeComCallback, callback_id)
    assert row is not None
    _apply(session, row.workspace_id, row.body, row.dedup_key, row.received_at)
    row.body = _without_erased(session, row.body)
    row.status = "processed"
    row.processed_at = utcnow()
    row.error = None
    session.commit()
    return "processed"


def _record_failure(session: Session, callback_id: int, message: str, permanent: bool) -> str:
    row = session.get(WeComCallback, callback_id)
    if row is None:  # pragma: no cover - rows are never deleted
        return "skipped"
    row.attempts += 1
    row.error = message
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
    session.commit()
    return row.status


def process_batch(session_factory: SessionFactory, ids: list[int]) -> dict[int, str]:
    """Process several callbacks in one transaction, each failing alone.

    The claim (an UPDATE of all ids still pending) comes first, so the transaction holds
    the rows (PostgreSQL) or the write lock (SQLite) before anything is applied. The
    batch is applied optimistically, without a savepoint per callback, its staff and
    customers looked up at once and its re-fetch requests written once. Should one
    callback raise, the transaction is rolled back and the batch redone with a savepoint
    per callback: the failure rolls back only its own savepoint and is recorded on its
    row. If the batch itself cannot commit, every callback is retried on its own.
    """
    session = session_factory()
    try:
        with local_write_lock(session):
            statuses = _apply_batch(session, ids, optimistic=True)
            if statuses is None:  # a callback raised: redo the batch, one savepoint each
                statuses = _apply_batch(session, ids, optimistic=False)
                assert statuses is not None
    except Exception:  # the batch could not commit: fall back to one transaction each
        session.rollback()
        log.warning("wecom callback batch of %d failed; processing one by one", len(ids), exc_info=True)
        return {cid: process_callback(session_factory, cid) for cid in ids}
    finally:
        session.close()
    for cid in ids:
        statuses.setdefault(cid, "skipped")  # no longer pending: someone else did it
    return statuses


def _apply_batch(session: Session, ids: list[int], *, optimistic: bool) -> dict[int, str] | None:
    """Claim, apply and commit one batch; None (rolled back) when optimistic and one raised."""
    session.execute(
        update(WeComCallback)
        .where(WeComCallback.id.in_(ids), WeComCallback.status == "pending")
        .values(attempts=WeComCallback.attempts + 1)
    )
    rows = list(
        session.execute(
            select(
                WeComCallback.id,
                WeComCallback.workspace_id,
                WeComCallback.body,
                WeComCallback.dedup_key,
                WeComCallback.received_at,
            )
            .where(WeComCallback.id.in_(ids), WeComCallback.status == "pending")
            .order_by(WeComCallback.create_time, WeComCallback.id)
        ).all()
    )
    done: list[int] = []
    failures: list[tuple[int, str, bool]] = []
    with batch.batch_state(session) as state:
        if optimistic:
            try:
                events = [(row, parse_event(row.body)) for row in rows]
                state.prefetch(
                    session, ((row.workspace_id, ev, ev.create_time or row.received_at) for row, ev in events)
                )
                for row, ev in events:
                    _apply_event(session, row.workspace_id, ev, row.dedup_key, row.received_at)
                session.flush()
            except Exception as exc:
                session.rollback()
                log.info("wecom callback batch of %d: %s; redoing it one savepoint each", len(ids), exc)
                return None
            done = [row.id for row in rows]
        else:
            for row in rows:
                snap = state.snapshot()
                savepoint = session.begin_nested()
                try:
                    _apply(session, row.workspace_id, row.body, row.dedup_key, row.received_at)
                    session.flush()
                    savepoint.commit()
                    done.append(row.id)
                except Exception as exc:  # recorded below, in the same transaction
                    savepoint.rollback()
                    state.restore(snap)
                    permanent = isinstance(exc, CallbackDataError | SiyuError)
                    failures.append((row.id, f"{type(exc).__name__}: {exc}"[:2000], permanent))
    statuses = dict.fromkeys(done, "processed")
    finished = set(done)
    for row in rows:
        if row.id in finished and (body := _without_erased(session, row.body)) != row.body:
            session.execute(
                update(WeComCallback)
                .where(WeComCallback.id == row.id)
                .values(body=body)
                .execution_options(synchronize_session=False)
            )
    session.info.pop(ERASED_VALUES, None)
    if done:
        session.execute(
            update(WeComCallback)
            .where(WeComCallback.id.in_(done))
            .values(status="processed", processed_at=utcnow(), error=None)
            .execution_options(synchronize_session=False)
        )
    for callback_id, message, permanent in failures:
        log.warning("wecom callback %s failed: %s", callback_id, message)
        failed = session.get(WeComCallback, callback_id)
        assert failed is not None
        failed.error = message
        failed.status = "failed" if permanent or failed.attempts >= MAX_ATTEMPTS else "pending"
        statuses[callback_id] = failed.status
    session.commit()
    return statuses


def process_pending(
    session_factory: SessionFactory,
    workspace_id: int | None = None,
    limit: int = 1000,
    *,
    retry_failed: bool = False,
    batch_size: int | None = None,
) -> ProcessSummary:
    """Process pending callbacks (oldest WeCom time first); the crash-recovery path."""
    summary = ProcessSummary()
    with session_factory() as session:
        if batch_size is None:
            sqlite = session.get_bind().dialect.name == "sqlite"
            batch_size = SQLITE_BATCH_SIZE if sqlite else BATCH_SIZE
        if retry_failed:
            stmt = update(WeComCallback).where(WeComCallback.status == "failed")
            if workspace_id is not None:
                stmt = stmt.where(WeComCallback.workspace_id == workspace_id)
            session.execute(stmt.values(status="pending", attempts=0))
            session.commit()
        q = select(WeComCallback.id).where(WeComCallback.status == "pending")
        if workspace_id is not None:
            q = q.where(WeComCallback.workspace_id == workspace_id)
        # Oldest first so state is built in the order WeCom saw it.
        ids = list(session.scalars(q.order_by(WeComCallback.create_time, WeComCallback.id).limit(limit)))
    for start in range(0, len(ids), batch_size):
        for callback_id, status in process_batch(session_factory, ids[start : start + batch_size]).items():
            if status == "processed":
                summary.processed += 1
            elif status == "failed":
                summary.failed += 1
                summary.errors.append(f"callback {callback_id}: {_error_of(session_factory, callback_id)}")
            elif status == "pending":
                summary.retried += 1
            else:
                summary.skipped += 1
    return summary


def _error_of(session_factory: SessionFactory, callback_id: int) -> str:
    with session_factory() as session:
        row = session.get(WeComCallback, callback_id)
        return (row.error or "") if row is not None else ""


class _DrainState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dirty = False


_drains: dict[str, _DrainState] = {}
_drains_lock = threading.Lock()


def drain(session_factory: SessionFactory, key: str) -> None:
    """Process everything pending, once per process at a time (the after-200 task).

    Many requests finish at once; the first runs the drain and the others only mark it
    dirty, so it makes another pass. Callbacks are taken in batches (one transaction
    each) instead of one transaction per request.
    """
    with _drains_lock:
        state = _drains.setdefault(key, _DrainState())
    state.dirty = True
    while state.dirty:
        if not state.lock.acquire(blocking=False):
            return  # the running drain will see the flag and go round again
        try:
            while state.dirty:
                state.dirty = False
                while True:
                    done = process_pending(session_factory, None, BATCH_SIZE * 4)
                    if done.processed + done.skipped == 0 or done.total < BATCH_SIZE * 4:
                        break
        finally:
            state.lock.release()
