"""Turn stored callbacks into state: one transaction per callback, safe to repeat.

``process_callback`` claims a pending row with a conditional UPDATE as the first
statement of its transaction (PostgreSQL locks the row, SQLite the database), so the
request's background task and a ``process-callbacks`` worker never both apply it. A
failure rolls the changes back and is recorded on the row; after ``MAX_ATTEMPTS`` the
row is marked ``failed`` (fix the cause, then ``--retry-failed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.kit.errors import SiyuError
from siyu.kit.timeutil import utcnow
from siyu.models import WeComCallback
from siyu.wecom.callbacks.handlers import HANDLERS, CallbackDataError
from siyu.wecom.callbacks.inbox import parse_event

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
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


def _apply(session: Session, row: WeComCallback) -> None:
    ev = parse_event(row.body)
    handler = HANDLERS.get(ev.event)
    at = ev.create_time or row.received_at
    if handler is None or not ev.handled:  # pragma: no cover - accept() stores these as ignored
        return
    handler(session, workspace_id=row.workspace_id, ev=ev, key=row.dedup_key, at=at)


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
    try:
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
        _apply(session, row)
        row.status = "processed"
        row.processed_at = utcnow()
        row.error = None
        session.commit()
        return "processed"
    except IntegrityError:
        session.rollback()
        if not last_try:
            return "conflict"
        return _record_failure(session, callback_id, "IntegrityError: unique key clash, will retry", False)
    except Exception as exc:  # any failure is recorded on the row, never lost
        session.rollback()
        # Bad data will not improve with retries; database or bug failures might.
        permanent = isinstance(exc, CallbackDataError | SiyuError)
        message = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning("wecom callback %s failed: %s", callback_id, message)
        return _record_failure(session, callback_id, message, permanent)
    finally:
        session.close()


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


def process_pending(
    session_factory: SessionFactory,
    workspace_id: int | None = None,
    limit: int = 1000,
    *,
    retry_failed: bool = False,
) -> ProcessSummary:
    """Process pending callbacks (oldest WeCom time first); the crash-recovery path."""
    summary = ProcessSummary()
    with session_factory() as session:
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
    for callback_id in ids:
        status = process_callback(session_factory, callback_id)
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
