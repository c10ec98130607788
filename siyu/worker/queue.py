"""The durable job queue (``jobs`` table): claim, run, retry with backoff.

Claiming is a row lock with SKIP LOCKED on PostgreSQL (any number of workers) and a
guarded UPDATE on SQLite (one writer at a time anyway). A job that raises is retried
with exponential backoff until ``max_attempts``; then it is ``failed`` with the error.
Only kinds with a registered handler are claimed, so other domains' queue rows (the
WeCom re-fetch jobs, API upload jobs) are left to their own runners.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.timeutil import utcnow
from siyu.models import Job

Handler = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]


def _handlers() -> dict[str, Handler]:
    from siyu.segments.tasks import RECOMPUTE_KIND, run_recompute_job

    return {RECOMPUTE_KIND: run_recompute_job}


WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class DispatchSummary:
    done: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try: 30 s, 1 min, 2 min ... capped at 1 h."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def claim(factory: sessionmaker[Session], kinds: list[str]) -> int | None:
    """Mark one due, queued job of these kinds as running for this worker; its id."""
    with factory() as s:
        now = utcnow()
        q = (
            select(Job.id)
            .where(Job.status == "queued", Job.kind.in_(kinds), Job.run_after <= now)
            .order_by(Job.run_after, Job.id)
            .limit(1)
        )
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        job_id = s.scalar(q)
        if job_id is None:
            return None
        claimed = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="running", locked_by=WORKER_ID, locked_at=now, attempts=Job.attempts + 1)
        )
        s.commit()
        return job_id if claimed.rowcount == 1 else None  # type: ignore[attr-defined]


def dispatch(
    factory: sessionmaker[Session], *, limit: int = 50, handlers: Mapping[str, Handler] | None = None
) -> DispatchSummary:
    """Run up to ``limit`` due jobs; each job's outcome is committed on its own."""
    handlers = dict(handlers) if handlers is not None else _handlers()
    summary = DispatchSummary()
    for _ in range(limit):
        job_id = claim(factory, sorted(handlers))
        if job_id is None:
            break
        with factory() as s:
            job = s.get(Job, job_id)
            assert job is not None
            kind, payload, attempts, max_attempts = (
                job.kind,
                dict(job.payload),
                job.attempts,
                job.max_attempts,
            )
        try:
            result = handlers[kind](payload)
        except Exception as exc:  # a job's failure must not stop the worker
            message = f"{type(exc).__name__}: {exc}"
            with factory() as s:
                job = s.get(Job, job_id)
                assert job is not None
                job.last_error = message[:2000]
                job.locked_by = None
                if attempts >= max_attempts:
                    job.status = "failed"
                    job.finished_at = utcnow()
                    summary.failed += 1
                else:
                    job.status = "queued"
                    job.run_after = utcnow() + backoff(attempts)
                    summary.retried += 1
                s.commit()
            summary.errors.append(f"job {job_id} ({kind}): {message}")
            continue
        with factory() as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.status = "done"
            job.finished_at = utcnow()
            job.locked_by = None
            if result:
                job.payload = {**job.payload, "result": dict(result)}
            s.commit()
        summary.done += 1
    return summary
