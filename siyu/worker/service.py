"""The runner: event delivery, due jobs and periodic tasks in one loop (ADR 0006).

``siyu worker`` runs :class:`Runner` in the foreground; ``siyu serve`` runs one in a
thread of its own process (the embedded mode ``make demo`` uses) unless ``--no-worker``.
Any number of runners may share a PostgreSQL database: jobs are claimed with SKIP
LOCKED, a subscriber's position is a locked row, and a periodic task's next run is
moved forward by a conditional UPDATE before it runs, so each tick runs once.

Periodic tasks are declared next to their domain (``siyu.kit.ops.periodic``); daily
times are in the workspace default zone (``SIYU_TIMEZONE``). Each one's last run, its
result or error, and its next run are stored in ``periodic_tasks``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import get_settings
from siyu.kit.db import local_write_lock
from siyu.kit.ops import Periodic, discover
from siyu.kit.timeutil import utcnow, zone
from siyu.models import PeriodicTask
from siyu.worker import outbox, queue

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0


def next_run(task: Periodic, after: datetime, tz: str | None = None) -> datetime:
    """The first time strictly after ``after`` at which ``task`` is due."""
    if task.every is not None:
        return after + timedelta(seconds=task.every)
    assert task.daily is not None
    local = after.astimezone(zone(tz))
    candidate = local.replace(hour=task.daily.hour, minute=task.daily.minute, second=0, microsecond=0)
    if candidate <= local:
        # The same wall-clock time tomorrow (zoneinfo keeps it right across DST days).
        candidate = (candidate.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone(tz))
    return candidate.astimezone(after.tzinfo)


def _ensure_rows(factory: sessionmaker[Session], tasks: Sequence[Periodic]) -> None:
    now = utcnow()
    tz = get_settings().timezone
    with local_write_lock(queue.engine_of(factory)), factory() as s:
        known = set(s.scalars(select(PeriodicTask.name)))
        missing = [t for t in tasks if t.name not in known]
        if not missing:
            return
        ins = (pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert)(PeriodicTask)
        # Interval tasks are due at once; daily ones at their next time of day.
        rows = [
            {"name": t.name, "next_run_at": now if t.every else next_run(t, now, tz), "updated_at": now}
            for t in missing
        ]
        s.execute(ins.on_conflict_do_nothing(index_elements=["name"]), rows)
        s.commit()


def claim_periodic(factory: sessionmaker[Session], task: Periodic, *, force: bool = False) -> bool:
    """Move ``task``'s next run forward if it is due (or ``force``); True when this caller won."""
    now = utcnow()
    with local_write_lock(queue.engine_of(factory)), factory() as s:
        row = s.get(PeriodicTask, task.name)
        if row is None:
            return False
        if not force and row.next_run_at > now:
            return False
        won = s.execute(
            update(PeriodicTask)
            .where(PeriodicTask.name == task.name, PeriodicTask.next_run_at == row.next_run_at)
            .values(next_run_at=next_run(task, now, get_settings().timezone), last_started_at=now)
        )
        s.commit()
        return bool(getattr(won, "rowcount", 0) == 1)


def run_periodic(factory: sessionmaker[Session], task: Periodic) -> dict[str, Any]:
    """Run a claimed periodic task now and record how it went."""
    status, result, error = "ok", None, None
    try:
        out = task.fn(factory)
        result = dict(out) if out else {}
    except Exception as exc:  # recorded on the task's row; the next tick tries again
        log.exception("periodic task %s failed", task.name)
        status, error = "error", f"{type(exc).__name__}: {exc}"[:2000]
    with local_write_lock(queue.engine_of(factory)), factory() as s:
        s.execute(
            update(PeriodicTask)
            .where(PeriodicTask.name == task.name)
            .values(
                last_finished_at=utcnow(), last_status=status, last_result=_jsonable(result), last_error=error
            )
        )
        s.commit()
    return {"status": status, "result": result, "error": error}


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str)) if value is not None else None


def periodic_status(session: Session) -> list[dict[str, Any]]:
    tasks = discover().periodic
    rows = {r.name: r for r in session.scalars(select(PeriodicTask))}
    out = []
    for t in tasks.values():
        r = rows.get(t.name)
        out.append(
            {
                "name": t.name,
                "schedule": t.schedule,
                "description": t.description,
                "next_run_at": r.next_run_at if r else None,
                "last_finished_at": r.last_finished_at if r else None,
                "last_status": r.last_status if r else None,
                "last_error": r.last_error if r else None,
            }
        )
    return out


@dataclass
class PassSummary:
    delivered: int = 0
    parked: int = 0
    jobs: dict[str, int] = field(default_factory=dict)
    periodic: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.delivered or self.parked or any(self.jobs.values()))


class Runner:
    """Delivers events, runs due jobs and periodic tasks until stopped."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        only: Sequence[str] | None = None,
        worker_id: str = queue.WORKER_ID,
        idle: float = IDLE_SECONDS,
        periodic: bool = True,
    ) -> None:
        self.factory = factory
        self.periodic = periodic
        self.worker_id = worker_id
        self.idle = idle
        registry = discover()
        self.jobs = queue.handlers()
        self.tasks = [registry.periodic[n] for n in only] if only else list(registry.periodic.values())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._side = ThreadPoolExecutor(max_workers=2, thread_name_prefix="siyu-periodic")
        self._running: dict[str, Future[Any]] = {}
        self._heartbeat: queue.Heartbeat | None = None
        self._thread: threading.Thread | None = None
        self._last_reap = 0.0

    # -- one pass ----------------------------------------------------------------------

    def run_pass(self, *, periodic: bool = True, force: bool = False) -> PassSummary:
        """Deliver what is pending, run due jobs, start due periodic tasks (``force``: all, now)."""
        out = PassSummary()
        delivery = outbox.deliver(self.factory)
        out.delivered, out.parked = delivery.delivered, delivery.parked
        out.errors += delivery.errors
        jobs = queue.dispatch(self.factory, limit=1000, handlers=self.jobs)
        out.jobs = {"done": jobs.done, "retried": jobs.retried, "failed": jobs.failed}
        out.errors += jobs.errors
        if periodic:
            out.periodic = self._periodic(force=force)
        return out

    def _periodic(self, *, force: bool) -> dict[str, Any]:
        _ensure_rows(self.factory, self.tasks)
        ran: dict[str, Any] = {}
        for task in self.tasks:
            future = self._running.get(task.name)
            if future is not None and not future.done():
                continue  # its previous run is still going
            if not claim_periodic(self.factory, task, force=force):
                continue
            if task.long and self._thread is not None:
                self._running[task.name] = self._side.submit(run_periodic, self.factory, task)
                ran[task.name] = "started"
            else:
                ran[task.name] = run_periodic(self.factory, task)
        return ran

    def drain(self, *, max_passes: int = 50) -> PassSummary:
        """Passes until nothing is left to deliver or run (no periodic tasks); the total."""
        total = PassSummary()
        for _ in range(max_passes):
            one = self.run_pass(periodic=False)
            total.delivered += one.delivered
            total.parked += one.parked
            for k, v in one.jobs.items():
                total.jobs[k] = total.jobs.get(k, 0) + v
            total.errors += one.errors
            if not one.busy:
                break
        return total

    # -- the loop ----------------------------------------------------------------------

    def wake(self) -> None:
        """Run the next pass now (a job was just queued in this process)."""
        self._wake.set()

    def loop(self) -> None:
        import time

        self._heartbeat = queue.Heartbeat(self.factory, self.worker_id).start()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now - self._last_reap > queue.heartbeat_seconds():
                    self._last_reap = now
                    try:
                        queue.requeue_orphans(self.factory)
                    except Exception:
                        log.exception("could not requeue orphaned jobs")
                try:
                    summary = self.run_pass(periodic=self.periodic)
                except Exception:  # the database went away for a moment: try again
                    log.exception("runner pass failed")
                    summary = PassSummary()
                for error in summary.errors:
                    log.warning("%s", error)
                if not summary.busy:
                    self._wake.wait(self.idle)
                    self._wake.clear()
        finally:
            self._heartbeat.stop()

    def start(self) -> Runner:
        """Run the loop in a daemon thread of this process."""
        self._thread = threading.Thread(target=self.loop, name="siyu-runner", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._side.shutdown(wait=False, cancel_futures=True)


_in_process: Runner | None = None


def start_in_process(factory: sessionmaker[Session]) -> Runner:
    """The embedded runner of ``siyu serve`` (one per process)."""
    global _in_process
    if _in_process is None:
        _in_process = Runner(factory).start()
    return _in_process


def wake_in_process() -> None:
    """Nudge this process's embedded runner, if it has one (after queueing a job)."""
    if _in_process is not None:
        _in_process.wake()


def summary_json(summary: PassSummary) -> Mapping[str, Any]:
    return asdict(summary)
