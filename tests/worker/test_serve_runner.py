"""``siyu serve`` runs scheduled work itself (the embedded mode ``make demo`` uses);
``--no-worker`` leaves it to ``siyu worker`` processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.kit.events import record_event
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import utcnow
from siyu.models import Event, Job

ROOT = Path(__file__).resolve().parents[2]


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "SIYU_EXTRA_TASK_MODULES": "tests.worker.fixture_tasks",
        "PYTHONPATH": str(ROOT),
        "SIYU_LOG_LEVEL": "WARNING",
    }
    siyu = str(Path(sys.executable).with_name("siyu"))
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [siyu, "serve", "--port", str(port), *extra],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("siyu serve did not start:\n" + (tmp_path / "serve.log").read_text())
        time.sleep(0.2)


def _queue_work(workspace_id: int) -> int:
    with session_scope() as s:
        job_id = enqueue(
            s, kind="test.work", workspace_id=workspace_id, run_after=utcnow() + timedelta(seconds=1)
        )
        record_event(s, workspace_id=workspace_id, kind="test.ping", occurred_at=utcnow(), source="system")
    assert job_id is not None
    return job_id


def _state(session: Session, job_id: int) -> tuple[str, int]:
    session.expire_all()
    status = session.scalar(select(Job.status).where(Job.id == job_id))
    echoed = len(session.scalars(select(Event.id).where(Event.kind == "test.echoed")).all())
    return str(status), echoed


@pytest.mark.parametrize("worker", [True, False], ids=["embedded", "no-worker"])
def test_serve_runs_due_jobs_and_delivers_events_by_itself(
    env: Settings, session: Session, workspace_id: int, tmp_path: Path, worker: bool
) -> None:
    proc, _url = _serve(tmp_path, *([] if worker else ["--no-worker"]))
    try:
        job_id = _queue_work(workspace_id)
        deadline = time.monotonic() + (30 if worker else 4)
        while time.monotonic() < deadline and _state(session, job_id) != ("done", 1):
            time.sleep(0.2)
        assert _state(session, job_id) == (("done", 1) if worker else ("queued", 0))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
