"""The one job runner for the ``jobs`` table (ADR 0006).

Handlers are declared by their domains (``siyu.kit.ops.job_handler``). Two kinds:

- **Short jobs** are claimed in batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
  any number of workers share the queue; SQLite's write lock there) and run inside the
  claiming transaction, each under a savepoint; their results, retries and ``done``
  marks are written in one statement per outcome and committed with the jobs' own
  writes. A crash rolls everything back and the rows are simply queued again: no
  lease, no double effect, and two workers never run one job.
- **Long jobs** (imports, recomputes, WeCom calls) are claimed one at a time with a
  lease (``running``, ``locked_by`` = this worker) and run with their own
  transactions. The lease holds while the worker's heartbeat is fresh; a job whose
  worker stopped beating (``kill -9``) is queued again by the next worker. Long
  handlers are resumable or idempotent by contract.

A job that raises is retried with exponential backoff until ``max_attempts``; then it
is ``failed`` with its error (``siyu jobs list --status failed``, the console's 任务
page) until someone retries or cancels it. A job that raises ``RetryAt`` (it cannot
progress before a known time) is queued for that time without using up a try.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import get_settings
from siyu.kit.db import begin_write, get_engine, local_write_lock
from siyu.kit.errors import RetryAt, SiyuError
from siyu.kit.jobs import cancel, counts, enqueue, list_jobs, retry
from siyu.kit.ops import JobContext, JobHandler, discover
from siyu.kit.timeutil import utcnow
from siyu.models import Job, WorkerHeartbeat

log = logging.getLogger(__name__)

__all__ = ["cancel", "counts", "dispatch", "enqueue", "list_jobs", "retry"]

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def lease_seconds() -> int:
    """A long job's lease ends when its worker has not beaten for this long
    (``SIYU_WORKER_LEASE_SECONDS``, default 30)."""
    return get_settings().worker_lease_seconds


def heartbeat_seconds() -> float:
    """How often a worker beats: six beats a lease."""
    return lease_seconds() / 6

SHORT_BATCH = 200
MAX_ERROR = 2000


@dataclass
class DispatchSummary:
    done: int = 0
    retried: int = 0
    failed: int = 0
    requeued: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try: 30 s, 1 min, 2 min ... capped at 1 h."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def engine_of(factory: sessionmaker[Session]) -> Engine:
    bind = factory.kw.get("bind")
    return bind if isinstance(bind, Engine) else get_engine()


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def handlers() -> dict[str, JobHandler]:
    """Every declared job handler (importing each domain's tasks module)."""
    from siyu.worker import outbox  # noqa: F401  (declares the events.redeliver handler)

    return dict(discover().jobs)


# --- heartbeats and leases ------------------------------------------------------------


def beat(factory: sessionmaker[Session], worker_id: str = WORKER_ID) -> None:
    """Record that this worker is alive (its long jobs' leases hold)."""
    now = utcnow()
    with local_write_lock(engine_of(factory)), factory() as s:
        ins = (pg_insert if _is_pg(s) else sqlite_insert)(WorkerHeartbeat).values(
            worker_id=worker_id, started_at=now, beat_at=now
        )
        s.execute(ins.on_conflict_do_update(index_elements=["worker_id"], set_={"beat_at": now}))
        s.commit()


def farewell(factory: sessionmaker[Session], worker_id: str = WORKER_ID) -> None:
    with local_write_lock(engine_of(factory)), factory() as s:
        s.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id))
        s.commit()


def requeue_orphans(factory: sessionmaker[Session]) -> int:
    """Queue again the long jobs whose worker stopped beating; how many."""
    now = utcnow()
    stale = now - timedelta(seconds=lease_seconds())
    with local_write_lock(engine_of(factory)), factory() as s:
        alive = select(WorkerHeartbeat.worker_id).where(WorkerHeartbeat.beat_at >= stale)
        result = s.execute(
            update(Job)
            .where(Job.status == "running", Job.locked_at < stale, Job.locked_by.not_in(alive))
            .values(status="queued", locked_by=None, run_after=now, last_error="requeued: its worker stopped")
        )
        s.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - timedelta(days=1)))
        s.commit()
        return int(getattr(result, "rowcount", 0) or 0)


# --- running --------------------------------------------------------------------------


def _due(kinds: Sequence[str], now: datetime, *columns: Any) -> Any:
    """Due queued jobs of these kinds, oldest due first (whole rows, or ``columns``)."""
    return (
        select(*(columns or (Job,)))
        .where(Job.status == "queued", Job.run_after <= now, Job.kind.in_(list(kinds)))
        .order_by(Job.run_after, Job.id)
    )


def _failure(job: Any, exc: BaseException, summary: DispatchSummary) -> dict[str, Any]:
    """The column values after a failed try: retried later, or failed for good.

    ``job`` is a ``Job`` or a claimed row (``id``, ``kind``, ``attempts`` after this try,
    ``max_attempts``)."""
    if isinstance(exc, RetryAt):  # not a failure: queued for its time, the try given back
        summary.retried += 1
        return {
            "status": "queued",
            "run_after": max(exc.at, utcnow() + timedelta(seconds=1)),  # never a busy loop
            "last_error": exc.message[:MAX_ERROR],
            "locked_by": None,
            "attempts": job.attempts - 1,
        }
    # Bad input (a SiyuError: a file that cannot be read, a missing workspace) will not
    # mend itself: it fails at once, with the plain-words message the user should see.
    permanent = isinstance(exc, SiyuError)
    message = (exc.message if isinstance(exc, SiyuError) else f"{type(exc).__name__}: {exc}")[:MAX_ERROR]
    summary.errors.append(f"job {job.id} ({job.kind}): {message}")
    if permanent or job.attempts >= job.max_attempts:
        summary.failed += 1
        return {"status": "failed", "finished_at": utcnow(), "last_error": message, "locked_by": None}
    summary.retried += 1
    return {
        "status": "queued",
        "run_after": utcnow() + backoff(job.attempts),
        "last_error": message,
        "locked_by": None,
    }


# What a short job's run needs of its row: read as plain rows, not ORM objects.
_SHORT_COLUMNS = (Job.id, Job.kind, Job.workspace_id, Job.payload, Job.attempts, Job.max_attempts)


@dataclass
class _Tried:
    """A claimed short job after this try (``attempts`` counts it)."""

    id: int
    kind: str
    attempts: int
    max_attempts: int


def run_short(
    factory: sessionmaker[Session],
    table: Mapping[str, JobHandler],
    *,
    limit: int = SHORT_BATCH,
    summary: DispatchSummary | None = None,
) -> DispatchSummary:
    """Claim up to ``limit`` due short jobs and run them in one transaction."""
    summary = summary or DispatchSummary()
    kinds = [k for k, h in table.items() if not h.long]
    if not kinds:
        return summary
    now = utcnow()
    with local_write_lock(engine_of(factory)), factory() as s:
        q = _due(kinds, now, *_SHORT_COLUMNS).limit(limit)
        if _is_pg(s):
            q = q.with_for_update(skip_locked=True)
        else:
            begin_write(s)
        rows = s.execute(q).all()
        if not rows:
            s.rollback()
            return summary
        done: list[int] = []
        results: list[dict[str, Any]] = []
        for row in rows:
            payload = dict(row.payload or {})
            ctx = JobContext(row.id, row.kind, row.workspace_id, dict(payload), row.attempts + 1, factory, s)
            try:
                with s.begin_nested():
                    result = table[row.kind].fn(ctx)
            except Exception as exc:  # one job's failure must not fail the batch
                tried = _Tried(row.id, row.kind, row.attempts + 1, row.max_attempts)
                values = _failure(tried, exc, summary)
                s.execute(
                    update(Job)
                    .where(Job.id == row.id)
                    .values(**{"attempts": tried.attempts, **values})
                    .execution_options(synchronize_session=False)
                )
                continue
            if result:
                results.append({"id": row.id, "payload": {**payload, "result": dict(result)}})
            done.append(row.id)
        if results:
            s.execute(update(Job), results)  # by primary key, one executemany
        if done:
            # One statement for every job done (no per-row UPDATE for the common case).
            s.execute(
                update(Job)
                .where(Job.id.in_(done))
                .values(status="done", finished_at=utcnow(), locked_by=None, attempts=Job.attempts + 1)
                .execution_options(synchronize_session=False)
            )
        s.commit()
        summary.done += len(done)
    return summary


def claim_long(
    factory: sessionmaker[Session], kinds: Sequence[str], worker_id: str = WORKER_ID
) -> Job | None:
    """Take one due long job with a lease for this worker."""
    if not kinds:
        return None
    now = utcnow()
    with local_write_lock(engine_of(factory)), factory() as s:
        q = _due(kinds, now).limit(1)
        if _is_pg(s):
            q = q.with_for_update(skip_locked=True)
        else:
            begin_write(s)
        job: Job | None = s.scalars(q).first()
        if job is None:
            s.rollback()
            return None
        job.status = "running"
        job.locked_by = worker_id
        job.locked_at = now
        job.attempts += 1
        s.commit()
        return job


def run_long(
    factory: sessionmaker[Session],
    table: Mapping[str, JobHandler],
    *,
    limit: int = 1,
    summary: DispatchSummary | None = None,
    worker_id: str = WORKER_ID,
) -> DispatchSummary:
    """Run up to ``limit`` due long jobs, one after the other."""
    summary = summary or DispatchSummary()
    kinds = [k for k, h in table.items() if h.long]
    for _ in range(limit):
        job = claim_long(factory, kinds, worker_id)
        if job is None:
            break
        ctx = JobContext(job.id, job.kind, job.workspace_id, dict(job.payload), job.attempts, factory, None)
        try:
            result = table[job.kind].fn(ctx)
            values: dict[str, Any] = {"status": "done", "finished_at": utcnow(), "locked_by": None}
            if result:
                values["payload"] = {**job.payload, "result": dict(result)}
            summary.done += 1
        except Exception as exc:  # recorded on the job
            if isinstance(exc, RetryAt):
                log.info("job %s (%s) waits until %s: %s", job.id, job.kind, exc.at, exc.message)
            else:
                log.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
            values = _failure(job, exc, summary)
        with local_write_lock(engine_of(factory)), factory() as s:
            # Only if the lease is still ours (it is, unless this worker stalled past it).
            s.execute(
                update(Job)
                .where(Job.id == job.id, Job.status == "running", Job.locked_by == worker_id)
                .values(**values)
            )
            s.commit()
    return summary


def dispatch(
    factory: sessionmaker[Session],
    *,
    limit: int = 50,
    handlers: Mapping[str, Any] | None = None,
) -> DispatchSummary:
    """One pass: short jobs (up to ``limit``, in batches), then one long job.

    ``handlers`` maps kinds to ``JobHandler`` (tests may pass plain functions of the
    context, run as short jobs).
    """
    if handlers is None:
        table = globals()["handlers"]()
    else:
        table = {k: h if isinstance(h, JobHandler) else JobHandler(k, h) for k, h in handlers.items()}
    summary = DispatchSummary()
    while summary.done + summary.retried + summary.failed < limit:
        before = summary.done + summary.retried + summary.failed
        run_short(factory, table, limit=min(SHORT_BATCH, limit - before), summary=summary)
        if summary.done + summary.retried + summary.failed == before:
            break
    run_long(factory, table, summary=summary)
    return summary


class Heartbeat:
    """Beats for this worker every :func:`heartbeat_seconds` in a daemon thread."""

    def __init__(self, factory: sessionmaker[Session], worker_id: str = WORKER_ID) -> None:
        self.factory = factory
        self.worker_id = worker_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        beat(self.factory, self.worker_id)
        self._thread = threading.Thread(target=self._run, name="siyu-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(heartbeat_seconds()):
            try:
                beat(self.factory, self.worker_id)
            except Exception:  # a missed beat is retried at the next; the lease is 6 beats long
                log.exception("heartbeat failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            farewell(self.factory, self.worker_id)
        except Exception:  # the row expires by itself
            log.exception("could not remove the heartbeat")
