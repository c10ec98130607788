"""What the kill -9 tests share: a simulator that answers ``add_msg_template`` slowly
*after* creating the mass send (so a kill lands between WeCom's effect and siyu's record
of it), and real ``siyu worker`` processes pointed at it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from siyu.wecom.simulator import ServerThread, SimClock, SimConfig, Simulator
from siyu.wecom.simulator.handlers import HANDLERS

ROOT = Path(__file__).resolve().parents[2]
PATH = "externalcontact/add_msg_template"


@contextmanager
def slow_simulator(corp: str, secret: str, delay: float) -> Iterator[Simulator]:
    """A simulator served over HTTP (its address in ``sim.url``) whose mass-send calls
    take ``delay`` seconds to answer once the mass send exists."""
    sim = Simulator(SimConfig(corp_id=corp, secret=secret), SimClock())
    original = HANDLERS[PATH]

    def slow(state: Any, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
        answer = original(state, q, b)
        time.sleep(delay)  # the mass send exists; the answer is still on its way
        return answer

    HANDLERS[PATH] = slow
    server = ServerThread(sim.app).start()
    sim.url = server.url  # type: ignore[attr-defined]
    try:
        yield sim
    finally:
        HANDLERS[PATH] = original
        server.stop()


def start_worker(
    tmp_path: Path, name: str, sim: Simulator, corp: str, secret: str
) -> subprocess.Popen[bytes]:
    """A ``siyu worker`` process on the test database and the simulator; its output in
    ``tmp_path/<name>.log``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SIYU_WECOM_CORP_ID": corp,
        "SIYU_WECOM_SECRET": secret,
        "SIYU_WECOM_API_BASE": sim.url,  # type: ignore[attr-defined]
        # a killed worker's jobs are resumed after 6 s instead of the default 30
        "SIYU_WORKER_LEASE_SECONDS": "6",
    }
    siyu = Path(sys.executable).with_name("siyu")
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [str(siyu), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
    )
