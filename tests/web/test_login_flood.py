"""A login flood is answered 429 cheaply and does not take the console down for others."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import AuditLog
from siyu.web.app import create_app
from tests.web.api_world import PASSWORD, World, build_world

GUESS = "a wrong guess"
FLOOD = 200
# Test runs hash with minimal Argon2 cost; a production hash takes tens of milliseconds
# of a thread. Each check sleeps that long here, so that a request holding a database
# connection across the check holds it as long as it would in production.
HASH_SECONDS = 0.05


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many password checks ran, per password tried."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    real_verify = PasswordHasher.verify

    def verify(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> Any:
        with lock:
            seen[password if isinstance(password, str) else password.decode()] += 1
        time.sleep(HASH_SECONDS)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    return seen


@pytest.fixture
def base_url(world: World) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_parallel_login_flood_hashes_five_times_and_others_keep_working(
    base_url: str, world: World, hashes: Counter[str], session: Session
) -> None:
    # Another user, logged in before the flood, keeps loading pages during it.
    other = httpx.Client(base_url=base_url, timeout=60)
    assert other.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD}).status_code == 200
    pages: list[int] = []
    flooding = threading.Event()
    done = threading.Event()

    def browse() -> None:
        flooding.wait()
        while not done.is_set() or len(pages) < 4:
            for path in ("/api/v1/customers", "/", "/api/v1/auth/me"):
                pages.append(other.get(path).status_code)

    start = threading.Barrier(FLOOD)

    def guess(_: int) -> int:
        with httpx.Client(base_url=base_url, timeout=120) as http:
            start.wait()
            flooding.set()
            return http.post("/api/v1/auth/login", json={"name": "operator", "password": GUESS}).status_code

    browser = threading.Thread(target=browse)
    browser.start()
    with ThreadPoolExecutor(max_workers=FLOOD) as pool:
        answers = Counter(pool.map(guess, range(FLOOD)))
    done.set()
    browser.join(120)
    other.close()

    # Five tries were checked (401); the rest were refused before hashing (429).
    assert answers == Counter({401: 5, 429: FLOOD - 5}), answers
    assert hashes[GUESS] <= 5
    failed = session.scalar(select(func.count()).where(AuditLog.action == "auth.login_failed"))
    assert failed == 5
    # The other user was served throughout: no 5xx, every page answered.
    assert pages
    assert all(code == 200 for code in pages), Counter(pages)


@pytest.mark.slow
def test_the_limit_holds_across_worker_processes(
    env: Settings, world: World, session: Session, tmp_path: Path
) -> None:
    """`siyu serve --workers 2`: parallel tries spread over two processes still hash five times."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    child_env = {
        **os.environ,
        "SIYU_DATABASE_URL": env.database_url,
        "SIYU_SECRET_KEY": env.secret_key,
        "SIYU_ENV": "test",
        "SIYU_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "siyu.cli.main",
            "serve",
            "--port",
            str(port),
            "--no-migrate",
            "--workers",
            "2",
        ],
        env=child_env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "siyu serve did not start"
        tries = 60
        start = threading.Barrier(tries)

        def guess(_: int) -> int:
            # A new connection each: the supervisor's workers share the listening socket.
            with httpx.Client(base_url=base, timeout=120) as http:
                start.wait()
                return http.post(
                    "/api/v1/auth/login", json={"name": "operator", "password": GUESS}
                ).status_code

        with ThreadPoolExecutor(max_workers=tries) as pool:
            answers = Counter(pool.map(guess, range(tries)))
    finally:
        proc.terminate()
        proc.wait(30)
    assert answers == Counter({401: 5, 429: tries - 5}), answers
    failed = session.scalar(select(func.count()).where(AuditLog.action == "auth.login_failed"))
    assert failed == 5
