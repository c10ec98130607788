"""``kill -9`` of a worker mid-batch loses nothing and changes nothing twice.

Real ``siyu worker`` processes run the test subscriber and job handlers of
``tests.worker.fixture_tasks`` (effects that would show a double run as a second row).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.kit.events import record_event
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import utcnow
from siyu.models import Event, Job

ROOT = Path(__file__).resolve().parents[2]
PINGS = 1200
JOBS = 1200


def _start_worker(tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SIYU_EXTRA_TASK_MODULES": "tests.worker.fixture_tasks",
        "SIYU_TEST_TASK_PAUSE": "0.003",
        "PYTHONPATH": str(ROOT),
    }
    siyu = Path(sys.executable).with_name("siyu")
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [str(siyu), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
    )


def _progress(session: Session) -> tuple[int, int]:
    session.expire_all()
    echoed = session.scalar(select(func.count()).select_from(Event).where(Event.kind == "test.echoed")) or 0
    done = session.scalar(
        select(func.count()).select_from(Job).where(Job.kind == "test.work", Job.status == "done")
    )
    return int(echoed), int(done or 0)


def _wait(
    session: Session, until: tuple[int, int], timeout: float, workers: list[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        echoed, done = _progress(session)
        if echoed >= until[0] and done >= until[1]:
            return
        for w in workers:
            assert w.poll() is None, f"a worker exited early ({w.returncode})"
        time.sleep(0.05)
    raise AssertionError(f"worker did not get to {until} in {timeout}s; at {_progress(session)}")


def _seed(workspace_id: int) -> None:
    with session_scope() as s:
        for n in range(PINGS):
            record_event(
                s,
                workspace_id=workspace_id,
                kind="test.ping",
                occurred_at=utcnow(),
                source="system",
                payload={"n": n},
            )
        for n in range(JOBS):
            enqueue(s, kind="test.work", workspace_id=workspace_id, payload={"n": n})


def _check_exactly_once(session: Session) -> None:
    session.expire_all()
    pings = set(session.scalars(select(Event.id).where(Event.kind == "test.ping")))
    echoed = Counter(
        int(p["of"]) for p in session.scalars(select(Event.payload).where(Event.kind == "test.echoed"))
    )
    assert set(echoed) == pings, "every event delivered"
    assert max(echoed.values()) == 1, (
        f"events delivered twice in effect: {[k for k, v in echoed.items() if v > 1][:5]}"
    )
    jobs = set(session.scalars(select(Job.id).where(Job.kind == "test.work")))
    worked = Counter(
        int(p["job"]) for p in session.scalars(select(Event.payload).where(Event.kind == "test.worked"))
    )
    assert set(worked) == jobs, "every job ran"
    assert max(worked.values()) == 1, (
        f"jobs run twice in effect: {[k for k, v in worked.items() if v > 1][:5]}"
    )
    statuses = set(session.scalars(select(Job.status).where(Job.kind == "test.work")))
    assert statuses == {"done"}


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=15)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()


def test_kill_9_mid_batch_loses_nothing_and_doubles_nothing(
    env: Settings, session: Session, workspace_id: int, tmp_path: Path
) -> None:
    _seed(workspace_id)
    first = _start_worker(tmp_path, "first")
    try:
        # Part-way through both the deliveries and the jobs, with a batch in flight.
        _wait(session, (150, 150), timeout=90, workers=[first])
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        echoed, done = _progress(session)
        assert echoed < PINGS or done < JOBS, "the kill came too late to prove anything"
        second = _start_worker(tmp_path, "second")
        _wait(session, (PINGS, JOBS), timeout=120, workers=[second])
        _stop([second])
    finally:
        _stop([first])
    _check_exactly_once(session)


def test_two_workers_on_postgresql_never_run_one_job_twice(
    env: Settings, session: Session, workspace_id: int, tmp_path: Path, db_url: str
) -> None:
    import pytest

    if not db_url.startswith("postgresql"):
        pytest.skip("several workers share one queue on PostgreSQL; SQLite runs one")
    _seed(workspace_id)
    workers = [_start_worker(tmp_path, "a"), _start_worker(tmp_path, "b")]
    try:
        _wait(session, (150, 150), timeout=90, workers=workers)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        _wait(session, (PINGS, JOBS), timeout=120, workers=workers[1:])
    finally:
        _stop(workers)
    _check_exactly_once(session)
