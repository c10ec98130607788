"""The job queue's commands that every domain and door uses (ADR 0006).

``enqueue`` queues work in the caller's transaction (visible to workers on commit, gone
on rollback); ``retry``, ``cancel``, ``list_jobs`` and ``counts`` serve the CLI
(``siyu jobs``), the API and the console alike. The runner is ``siyu.worker``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.kit.errors import Conflict, NotFound
from siyu.kit.ops import REDELIVER_KIND
from siyu.kit.timeutil import utcnow
from siyu.models import Job, PeriodicTask

# Called after a transaction that queued jobs commits (the embedded runner wakes up).
_after_enqueue: list[Callable[[], None]] = []


def on_enqueue(fn: Callable[[], None]) -> None:
    """Register ``fn`` to be called after a commit that queued jobs in this process."""
    if fn not in _after_enqueue:
        _after_enqueue.append(fn)


def worker_in_process() -> bool:
    """Whether this process runs an embedded worker (``siyu serve`` without ``--no-worker``)."""
    return bool(_after_enqueue)


def _notify(_session: Session) -> None:
    for fn in list(_after_enqueue):
        fn()


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def enqueue(
    session: Session,
    *,
    kind: str,
    payload: Mapping[str, Any] | None = None,
    workspace_id: int | None = None,
    run_after: datetime | None = None,
    dedup_key: str | None = None,
    max_attempts: int = 5,
) -> int | None:
    """Queue a job in the caller's transaction; its id, or None when ``dedup_key`` was queued before.

    The job is visible to workers when the caller commits, and not at all if it rolls back.
    """
    values = {
        "workspace_id": workspace_id,
        "kind": kind,
        "payload": dict(payload or {}),
        "status": "queued",
        "run_after": run_after or utcnow(),
        "attempts": 0,
        "max_attempts": max_attempts,
        "dedup_key": dedup_key,
        "created_at": utcnow(),
    }
    if _after_enqueue and not session.info.get("siyu_job_notify"):
        session.info["siyu_job_notify"] = True
        event.listen(session, "after_commit", _notify, once=True)
    if dedup_key is None:
        job = Job(**values)
        session.add(job)
        session.flush()
        return job.id
    ins = (pg_insert if _is_pg(session) else sqlite_insert)(Job).values(**values)
    result = session.execute(ins.on_conflict_do_nothing(index_elements=["dedup_key"]).returning(Job.id))
    return result.scalar_one_or_none()


def run_soon(session: Session, task: str, *, within: timedelta = timedelta(seconds=2)) -> bool:
    """Bring periodic task ``task``'s next run forward to ``within`` from now, in the caller's transaction.

    For work that made the task's next tick due early (a SOP step whose next step is due
    at once): the next tick comes in seconds instead of at its interval. Reads first and
    writes only when the run is further away, so jobs finishing side by side do not queue
    on the task's row. True when it moved the run forward.
    """
    soon = utcnow() + within
    planned = session.scalar(select(PeriodicTask.next_run_at).where(PeriodicTask.name == task))
    if planned is None or planned <= soon:
        return False
    moved = session.execute(
        update(PeriodicTask)
        .where(PeriodicTask.name == task, PeriodicTask.next_run_at > soon)
        .values(next_run_at=soon)
    )
    return bool(getattr(moved, "rowcount", 0))


def _checked(
    session: Session, job_id: int, workspace_id: int | None, allowed: tuple[str, ...], verb: str
) -> Job:
    job = _job(session, job_id, workspace_id)
    if job.status not in allowed:
        raise Conflict(
            f"job {job_id} is {job.status}; only {' or '.join(allowed)} jobs can be {verb}", field="job_id"
        )
    return job


def retry(session: Session, job_id: int, *, workspace_id: int | None = None) -> Job:
    """Queue a failed or cancelled job again, now, with a fresh set of attempts."""
    job = _checked(session, job_id, workspace_id, ("failed", "cancelled"), "retried")
    job.status = "queued"
    job.run_after = utcnow()
    fresh = 1 if job.kind == REDELIVER_KIND else max(1, job.max_attempts - job.attempts)
    job.max_attempts = job.attempts + fresh
    job.finished_at = None
    job.locked_by = None
    return job


def cancel(session: Session, job_id: int, *, workspace_id: int | None = None) -> Job:
    """Cancel a queued (or failed) job; a running one cannot be stopped from outside."""
    job = _checked(session, job_id, workspace_id, ("queued", "failed"), "cancelled")
    job.status = "cancelled"
    job.finished_at = utcnow()
    return job


def _job(session: Session, job_id: int, workspace_id: int | None) -> Job:
    job = session.get(Job, job_id, with_for_update=_is_pg(session))
    if job is None or (workspace_id is not None and job.workspace_id not in (workspace_id, None)):
        raise NotFound(f"job {job_id} does not exist", field="job_id")
    return job


def list_jobs(
    session: Session,
    *,
    workspace_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> list[Job]:
    """The newest jobs first, filtered by status and kind (and workspace: its own and global ones)."""
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if workspace_id is not None:
        q = q.where((Job.workspace_id == workspace_id) | Job.workspace_id.is_(None))
    if status:
        q = q.where(Job.status == status)
    if kind:
        q = q.where(Job.kind == kind)
    return list(session.scalars(q))


def counts(session: Session, *, workspace_id: int | None = None) -> dict[str, int]:
    """How many jobs are in each status."""
    q = select(Job.status, func.count()).group_by(Job.status)
    if workspace_id is not None:
        q = q.where((Job.workspace_id == workspace_id) | Job.workspace_id.is_(None))
    return {str(s): int(n) for s, n in session.execute(q)}
