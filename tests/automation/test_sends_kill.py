"""``kill -9`` of the worker in the middle of a send's WeCom calls: no customer gets it twice.

A real ``siyu worker`` process plans and delivers a send to 1,200 customers over 40
staff accounts (40 ``add_msg_template`` calls) against the simulator. The simulator
answers each call slowly *after* creating the mass send, so the kill lands where the
call reached WeCom but the answer never came back. A new worker (two on PostgreSQL)
must look the batch up instead of calling again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from siyu.automation.sends.service import NewSend, create_send
from siyu.config import Settings
from siyu.kit.db import session_factory, session_scope
from siyu.models import Send, SendBatch, SendRecipient, Workspace
from siyu.wecom.client import RateLimiter, TokenCache, WeComClient
from siyu.wecom.simulator import Simulator
from siyu.wecom.sync.run import full_sync
from tests.automation.kill_helpers import slow_simulator, start_worker

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CORP, SECRET = "wwkilltest000001", "kill-test-secret"
STAFF, PER_STAFF = 40, 30


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    with slow_simulator(CORP, SECRET, 0.25) as sim:
        yield sim


def _worker(tmp_path: Path, name: str, sim: Simulator) -> subprocess.Popen[bytes]:
    return start_worker(tmp_path, name, sim, CORP, SECRET)


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_during_calls_sends_each_customer_once(
    env: Settings, session: Session, workspace_id: int, slow_sim: Simulator, tmp_path: Path
) -> None:
    sc = slow_sim.scenario
    for s in range(STAFF):
        sc.add_staff(f"staff{s:02d}")
        for c in range(PER_STAFF):
            ext = sc.new_customer(f"c{s}-{c}", external_userid=f"wm{s:02d}x{c:03d}")
            sc.add_friend(ext, userid=f"staff{s:02d}")
    client = WeComClient(
        corp_id=CORP,
        secret=SECRET,
        api_base=slow_sim.url,  # type: ignore[attr-defined]
        token_cache=TokenCache(),
        limiter=RateLimiter(),
    )
    full_sync(session_factory(), workspace_id=workspace_id, gateway=client)
    client.close()
    with session_scope() as s:
        ws = s.get(Workspace, workspace_id)
        assert ws is not None
        ws.settings = {**ws.settings, "outbound": {"quiet_hours": ""}}
        expr = " or ".join(f"staff:staff{i:02d}" for i in range(STAFF))
        send_id = create_send(
            s, workspace_id=workspace_id, new=NewSend(title="kill", text="hi", audience=expr), actor="test"
        ).id

    workers = [_worker(tmp_path, "w1", slow_sim)]
    _wait(lambda: len(slow_sim.state.mass_sends) >= 8, 90, "the first calls")
    os.kill(workers[0].pid, signal.SIGKILL)
    workers[0].wait()
    made_before = len(slow_sim.state.mass_sends)
    pg = env.database_url.startswith("postgresql")
    workers = [_worker(tmp_path, f"w{n}", slow_sim) for n in range(2, 4 if pg else 3)]
    try:

        def done() -> bool:
            session.expire_all()
            return session.scalar(select(Send.status).where(Send.id == send_id)) == "waiting"

        _wait(done, 150, "the send to be delivered after the restart")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=30)

    batches = list(session.scalars(select(SendBatch).where(SendBatch.send_id == send_id)))
    targeted = int(
        session.scalar(select(Send.counts).where(Send.id == send_id))["targeted"]  # type: ignore[index]
    )
    assert made_before < len(batches)
    # Exactly one WeCom mass send per batch, and each customer in exactly one of them.
    assert len(slow_sim.state.mass_sends) == len(batches)
    assert {b.msgid for b in batches} == set(slow_sim.state.mass_sends)
    got = Counter(e for m in slow_sim.state.mass_sends.values() for t in m.targets.values() for e in t)
    assert len(got) == targeted
    assert max(got.values()) == 1
    pending = session.scalars(
        select(SendRecipient.target).where(SendRecipient.send_id == send_id, SendRecipient.arm == "target")
    )
    assert set(pending) == set(got)


def _writing_recipients(url: str) -> bool:
    """Whether another connection is inside a transaction that writes ``send_recipients``
    (PostgreSQL: it holds the table's row-exclusive lock; SQLite: it holds the write lock)."""
    if url.startswith("postgresql"):
        with session_factory()() as s:
            return bool(
                s.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                        "WHERE c.relname = 'send_recipients' AND l.mode = 'RowExclusiveLock' "
                        "AND l.granted AND l.pid <> pg_backend_pid()"
                    )
                )
            )
    import sqlite3

    con = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:  # database is locked: the planner is writing
        return True
    finally:
        con.close()


def test_kill_during_planning_leaves_nothing_half_planned(
    env: Settings, session: Session, workspace_id: int, tmp_path: Path
) -> None:
    """``siyu sends plan`` killed mid-way: no recipient, no batch; a rerun plans it whole."""
    from sqlalchemy import func, insert

    from siyu.models import Customer, Follow, Staff

    n = 60_000
    with session_scope() as s:
        ws = s.get(Workspace, workspace_id)
        assert ws is not None
        ws.settings = {**ws.settings, "outbound": {"quiet_hours": "", "approval_over": 0}}
        staff = [Staff(workspace_id=workspace_id, userid=f"p{i:02d}", name=f"p{i}") for i in range(20)]
        s.add_all(staff)
        s.flush()
        first = int(s.scalar(select(func.coalesce(func.max(Customer.id), 0))) or 0) + 1
        s.execute(
            insert(Customer),
            [{"id": first + k, "workspace_id": workspace_id, "name": f"c{k}"} for k in range(n)],
        )
        s.execute(
            insert(Follow),
            [
                {
                    "workspace_id": workspace_id,
                    "staff_id": staff[k % 20].id,
                    "customer_id": first + k,
                    "external_userid": f"wmp{k}",
                    "state": "active",
                }
                for k in range(n)
            ],
        )
        send_id = create_send(
            s,
            workspace_id=workspace_id,
            new=NewSend(title="big", text="hi", audience=" or ".join(f"staff:p{i:02d}" for i in range(20))),
            actor="test",
        ).id
    siyu = Path(sys.executable).with_name("siyu")
    env_vars = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([str(siyu), "sends", "plan", str(send_id)], env=env_vars, cwd=tmp_path)
    # Kill it while its one transaction is writing the recipients (the planner is fast
    # enough that a fixed sleep lands after the commit on a quiet machine).
    deadline = time.monotonic() + 120
    still_planning = False
    while proc.poll() is None and time.monotonic() < deadline:
        if _writing_recipients(env.database_url):
            still_planning = True
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert still_planning, "the planner was never seen inside its transaction: the kill proves nothing"
    session.expire_all()
    assert session.scalar(select(Send.status).where(Send.id == send_id)) == "scheduled"
    assert session.scalar(select(func.count()).select_from(SendRecipient)) == 0
    assert session.scalar(select(func.count()).select_from(SendBatch)) == 0
    done = subprocess.run(
        [str(siyu), "sends", "plan", str(send_id), "--json"],
        env=env_vars,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    session.expire_all()
    assert done.returncode == 0, done.stderr
    assert session.scalar(select(Send.status).where(Send.id == send_id)) == "planned"
    assert session.scalar(select(func.count()).select_from(SendRecipient)) == n
    assert session.scalar(select(func.count(func.distinct(SendRecipient.customer_id)))) == n
