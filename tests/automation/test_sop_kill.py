"""A SOP step runs once per enrolled customer, with ``kill -9`` between planning and
executing, and with two workers on PostgreSQL.

Real ``siyu worker`` processes plan the due steps (the ``automation.sop_plan``
periodic task queues ``automation.sop_steps`` jobs) and run them; one is killed with
SIGKILL part-way, another finishes. The plan's second step is a 1:1 send through the
send engine against the WeCom simulator (served over HTTP, answering each
``add_msg_template`` slowly after creating the mass send): the kill -9 test kills a
second worker while those calls are under way. No customer is in two WeCom mass sends.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from siyu.automation.sop import service
from siyu.automation.sop.service import PlanInput
from siyu.config import Settings
from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import utcnow
from siyu.models import (
    CustomerTag,
    Follow,
    Send,
    SendBatch,
    SopEnrollment,
    SopStepRun,
    StaffTask,
    Tag,
    Workspace,
)
from siyu.wecom.client import RateLimiter, TokenCache, WeComClient
from siyu.wecom.simulator import Simulator
from siyu.wecom.sync.run import full_sync
from tests.automation.kill_helpers import slow_simulator, start_worker

N = 1200
STAFF = 12
STEPS = 3
CORP, SECRET = "wwsopkill0000001", "sop-kill-secret"


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    with slow_simulator(CORP, SECRET, 0.3) as sim:
        yield sim


def _start(tmp_path: Path, name: str, sim: Simulator) -> subprocess.Popen[bytes]:
    return start_worker(tmp_path, name, sim, CORP, SECRET)


def _seed(workspace_id: int, sim: Simulator) -> None:
    """N customers over STAFF accounts in the simulator, mirrored into siyu by a full sync
    (the workers sync from it too); each enrolled at step 0 of a task / send / tag plan."""
    now = utcnow()
    for k in range(STAFF):
        sim.scenario.add_staff(f"k{k:02d}")
    for n in range(N):
        ext = sim.scenario.new_customer(f"客户{n}", external_userid=f"wmk{n:05d}")
        sim.scenario.add_friend(ext, userid=f"k{n % STAFF:02d}")
    client = WeComClient(
        corp_id=CORP,
        secret=SECRET,
        api_base=sim.url,  # type: ignore[attr-defined]
        token_cache=TokenCache(),
        limiter=RateLimiter(),
    )
    full_sync(session_factory(), workspace_id=workspace_id, gateway=client)
    client.close()
    with session_scope() as s:
        ws = s.get(Workspace, workspace_id)
        assert ws is not None
        ws.settings = {  # no quiet hours: run at once
            **ws.settings,
            "quiet_hours": {"start": "00:00", "end": "00:00"},
            "outbound": {"quiet_hours": ""},
        }
        plan = service.create_plan(
            s,
            workspace_id=workspace_id,
            data=PlanInput(
                name="批量承接",
                trigger={"kind": "tag_added", "tag": "新客"},
                steps=[
                    {"day": 0, "action": "task", "title": "问候"},
                    {"day": 0, "action": "send", "title": "新人礼", "body": "送您一张新人券"},
                    {"day": 0, "action": "tag", "add_tags": ["已问候"]},
                ],
            ),
        )
        service.activate(s, workspace_id=workspace_id, plan_id=plan.id, enroll_existing=False)
        follows = s.execute(
            select(Follow.customer_id, Follow.staff_id).where(Follow.workspace_id == workspace_id)
        ).all()
        assert len(follows) == N
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
                for cid, sid in follows
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


def _delivered(session: Session) -> bool:
    statuses = set(session.scalars(select(Send.status)))
    return bool(statuses) and statuses <= {"waiting", "settled"}


def _wait(
    session: Session,
    runs: int,
    timeout: float,
    workers: list[subprocess.Popen[bytes]],
    done: int = 0,
    delivered: bool = False,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _progress(session)
        if got[0] >= runs and got[1] >= done and (not delivered or _delivered(session)):
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


def _check_once(session: Session, sim: Simulator) -> None:
    session.expire_all()
    runs = Counter(session.execute(select(SopStepRun.enrollment_id, SopStepRun.step_index)).all())
    assert len(runs) == STEPS * N
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
    # the send step: every customer in exactly one WeCom mass send, one per batch
    sent = session.execute(
        select(SopStepRun.outcome, SopStepRun.detail).where(SopStepRun.action == "send")
    ).all()
    assert len(sent) == N
    assert {o for o, _ in sent} == {"done"}
    batches = list(session.scalars(select(SendBatch)))
    assert len(sim.state.mass_sends) == len(batches) >= STAFF
    assert {b.msgid for b in batches} == set(sim.state.mass_sends)
    got = Counter(e for m in sim.state.mass_sends.values() for t in m.targets.values() for e in t)
    assert len(got) == N
    assert max(got.values()) == 1


def test_kill_9_between_planning_and_executing_runs_each_step_once(
    env: Settings, session: Session, workspace_id: int, tmp_path: Path, slow_sim: Simulator
) -> None:
    _seed(workspace_id, slow_sim)
    first = _start(tmp_path, "first", slow_sim)
    second = third = None
    try:
        _wait(session, 300, timeout=120, workers=[first])
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        runs, _ = _progress(session)
        assert runs < STEPS * N, "the kill came too late to prove anything"
        second = _start(tmp_path, "second", slow_sim)
        # the second dies while the send step's add_msg_template calls are under way
        deadline = time.monotonic() + 240
        while len(slow_sim.state.mass_sends) < 3:
            assert time.monotonic() < deadline, "the send step's calls did not start"
            assert second.poll() is None, "the second worker exited early"
            time.sleep(0.05)
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=10)
        assert len(slow_sim.state.mass_sends) < STAFF, "the kill came too late to prove anything"
        third = _start(tmp_path, "third", slow_sim)
        _wait(session, STEPS * N, timeout=300, workers=[third], done=N, delivered=True)
        _stop([third])
    finally:
        _stop([w for w in (first, second, third) if w is not None])
    _check_once(session, slow_sim)


def test_two_workers_on_postgresql_run_each_step_once(
    env: Settings, session: Session, workspace_id: int, tmp_path: Path, db_url: str, slow_sim: Simulator
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers share one queue on PostgreSQL; SQLite runs one")
    _seed(workspace_id, slow_sim)
    workers = [_start(tmp_path, "a", slow_sim), _start(tmp_path, "b", slow_sim)]
    try:
        _wait(session, 300, timeout=120, workers=workers)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        workers.append(_start(tmp_path, "c", slow_sim))
        _wait(session, STEPS * N, timeout=300, workers=workers[1:], done=N, delivered=True)
    finally:
        _stop(workers)
    _check_once(session, slow_sim)
