"""A SOP step runs once per enrolled customer, with ``kill -9`` between planning and
executing, and with two workers on PostgreSQL.

Real ``siyu worker`` processes plan the due steps (the ``automation.sop_plan``
periodic task queues ``automation.sop_steps`` jobs) and run them; one is killed with
SIGKILL part-way, another finishes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from siyu.automation.sop import service
from siyu.automation.sop.service import PlanInput
from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, CustomerTag, SopEnrollment, SopStepRun, StaffTask, Tag, Workspace
from tests.automation.factory import staff

ROOT = Path(__file__).resolve().parents[2]
N = 1200


def _start(tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    siyu = Path(sys.executable).with_name("siyu")
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [str(siyu), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
    )


def _seed(workspace_id: int) -> None:
    now = utcnow()
    with session_scope() as s:
        sid = staff(s, workspace_id, "amy")
        ws = s.get(Workspace, workspace_id)
        assert ws is not None
        ws.settings = {**ws.settings, "quiet_hours": {"start": "00:00", "end": "00:00"}}  # none: run at once
        plan = service.create_plan(
            s,
            workspace_id=workspace_id,
            data=PlanInput(
                name="批量承接",
                trigger={"kind": "tag_added", "tag": "新客"},
                steps=[
                    {"day": 0, "action": "task", "title": "问候"},
                    {"day": 0, "action": "tag", "add_tags": ["已问候"]},
                ],
            ),
        )
        service.activate(s, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        ids = [
            r[0]
            for r in s.execute(
                insert(Customer).returning(Customer.id),
                [
                    {"workspace_id": workspace_id, "name": f"客户{n}", "created_at": now, "updated_at": now}
                    for n in range(N)
                ],
            )
        ]
        s.execute(
            insert(SopEnrollment),
            [
                {
                    "workspace_id": workspace_id,
                    "plan_id": plan.id,
                    "customer_id": cid,
                    "staff_id": sid,
                    "trigger_key": "seed",
                    "status": "active",
                    "entered_at": now,
                    "current_step": 0,
                    "next_due_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for cid in ids
            ],
        )


def _progress(session: Session) -> tuple[int, int]:
    session.expire_all()
    runs = session.scalar(select(func.count()).select_from(SopStepRun)) or 0
    done = (
        session.scalar(
            select(func.count()).select_from(SopEnrollment).where(SopEnrollment.status == "completed")
        )
        or 0
    )
    return int(runs), int(done)


def _wait(
    session: Session, runs: int, timeout: float, workers: list[subprocess.Popen[bytes]], done: int = 0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _progress(session)
        if got[0] >= runs and got[1] >= done:
            return
        for w in workers:
            assert w.poll() is None, f"a worker exited early ({w.returncode})"
        time.sleep(0.05)
    raise AssertionError(f"workers did not get to {runs} step runs in {timeout}s; at {_progress(session)}")


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


def _check_once(session: Session) -> None:
    session.expire_all()
    runs = Counter(session.execute(select(SopStepRun.enrollment_id, SopStepRun.step_index)).all())
    assert len(runs) == 2 * N
    assert max(runs.values()) == 1
    assert (
        session.scalar(
            select(func.count()).select_from(SopEnrollment).where(SopEnrollment.status != "completed")
        )
        == 0
    )
    tasks = Counter(session.scalars(select(StaffTask.customer_id).where(StaffTask.kind == "sop_step")))
    assert len(tasks) == N
    assert max(tasks.values()) == 1
    tagged = session.scalar(
        select(func.count())
        .select_from(CustomerTag)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .where(Tag.name == "已问候")
    )
    assert tagged == N


def test_kill_9_between_planning_and_executing_runs_each_step_once(
    env: Settings, session: Session, workspace_id: int, tmp_path: Path
) -> None:
    _seed(workspace_id)
    first = _start(tmp_path, "first")
    try:
        _wait(session, 300, timeout=120, workers=[first])
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        runs, _ = _progress(session)
        assert runs < 2 * N, "the kill came too late to prove anything"
        second = _start(tmp_path, "second")
        _wait(session, 2 * N, timeout=240, workers=[second], done=N)
        _stop([second])
    finally:
        _stop([first])
    _check_once(session)


def test_two_workers_on_postgresql_run_each_step_once(
    env: Settings, session: Session, workspace_id: int, tmp_path: Path, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers share one queue on PostgreSQL; SQLite runs one")
    _seed(workspace_id)
    workers = [_start(tmp_path, "a"), _start(tmp_path, "b")]
    try:
        _wait(session, 300, timeout=120, workers=workers)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        _wait(session, 2 * N, timeout=240, workers=workers[1:], done=N)
    finally:
        _stop(workers)
    _check_once(session)
