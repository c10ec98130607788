"""No accepted callback is lost: crashes between accept and processing, and kill -9."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.config import Settings
from siyu.models import Event, Follow, WeComCallback
from tests.wecom.fixtures.callbacks import AES_KEY, CORP_ID, TOKEN, WeComSender, crypto, payload, wecom

__all__ = ["wecom"]

T0 = 1_763_800_000


def _statuses(session: Session) -> dict[str, int]:
    session.expire_all()
    rows = session.execute(select(WeComCallback.status, func.count()).group_by(WeComCallback.status))
    return dict(rows.all())  # type: ignore[arg-type]


def _process_cli(*args: str, expect: int = 0) -> str:
    """`siyu wecom process-callbacks ARGS` through the real CLI root."""
    from siyu.cli.main import app

    result = CliRunner().invoke(app, ["wecom", "process-callbacks", *args])
    assert result.exit_code == expect, result.output
    return result.output


def test_crash_after_accept_is_completed_by_process_pending(
    wecom: WeComSender, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import siyu.wecom.endpoints as endpoints

    # The process dies right after answering 200: the background processing never runs.
    monkeypatch.setattr(endpoints, "drain", lambda *_a, **_k: None)
    for i in range(5):
        wecom.send("add_external_contact", create_time=T0 + i, external_userid=f"wmCRASH{i:04d}")
    wecom.send("del_follow_user", create_time=T0 + 100, external_userid="wmCRASH0000")
    assert _statuses(session) == {"pending": 6}
    assert session.scalar(select(func.count()).select_from(Follow)) == 0

    out = _process_cli("--json", "--limit", "4")  # more than one pass
    assert '"processed": 6' in out
    assert _statuses(session) == {"processed": 6}
    follows = {f.external_userid: f.state for f in session.scalars(select(Follow))}
    assert follows == {
        "wmCRASH0000": "deleted_by_customer",
        **{f"wmCRASH{i:04d}": "active" for i in range(1, 5)},
    }
    # Running the worker again finds nothing to do and changes nothing.
    assert '"processed": 0' in _process_cli("--json")
    assert session.scalar(select(func.count()).select_from(Event)) == 6


def test_a_failing_handler_is_retried_then_marked_failed(
    wecom: WeComSender, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.wecom.callbacks import handlers

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(handlers.HANDLERS, "change_external_chat", boom)
    wecom.send("chat_create")
    session.expire_all()
    row = session.scalars(select(WeComCallback)).one()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "database hiccup" in (row.error or "")
    for _ in range(3):
        _process_cli()
    out = _process_cli(expect=1)  # the fifth attempt gives up
    assert "failed" in out
    assert _statuses(session) == {"failed": 1}

    monkeypatch.undo()  # the cause is fixed
    _process_cli("--retry-failed")
    assert _statuses(session) == {"processed": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(env: Settings, port: int, log: Path, *options: str) -> subprocess.Popen[bytes]:
    child_env = {
        **os.environ,
        "SIYU_DATABASE_URL": env.database_url,
        "SIYU_SECRET_KEY": env.secret_key,
        "SIYU_ENV": "test",
        "SIYU_WECOM_CORP_ID": CORP_ID,
        "SIYU_WECOM_TOKEN": TOKEN,
        "SIYU_WECOM_AES_KEY": AES_KEY,
        "SIYU_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli.main", "serve", "--port", str(port), "--no-migrate", *options],
        env=child_env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("siyu serve did not start:\n" + log.read_text(errors="replace")[-3000:])


@pytest.mark.slow
def test_kill_9_loses_no_accepted_callback(env: Settings, session: Session, tmp_path: Path) -> None:
    """Fire callbacks at a real `siyu serve`, SIGKILL it mid-stream, restart, recover."""
    log = tmp_path / "serve.log"
    port = _free_port()
    proc = _start_server(env, port, log)
    accepted: set[str] = set()
    lock = threading.Lock()
    c = crypto()

    def fire(worker: int) -> None:
        # Several connections at once, so requests are in flight when the kill lands.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            sender = WeComSender(client, c)
            for i in range(worker, 400, 4):
                ext = f"wmKILL{i:05d}"
                xml = payload("add_external_contact", create_time=T0 + i, external_userid=ext)
                try:
                    resp = sender.post(xml)
                except httpx.HTTPError:
                    return  # the server is gone
                if resp.status_code == 200:
                    with lock:
                        accepted.add(ext)

    threads = [threading.Thread(target=fire, args=(w,)) for w in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(accepted) < 150 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no cleanup, mid-stream
        for t in threads:
            t.join(timeout=30)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert 150 <= len(accepted) < 400, len(accepted)

    proc = _start_server(env, _free_port(), log)  # a restart serves again
    proc.kill()
    proc.wait(timeout=10)
    _process_cli()
    session.expire_all()
    stored = {f.external_userid for f in session.scalars(select(Follow))}
    assert accepted <= stored, f"lost: {sorted(accepted - stored)[:5]}"
    assert _statuses(session).get("pending", 0) == 0


def test_one_broken_callback_does_not_hold_back_its_batch(
    wecom: WeComSender, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import siyu.wecom.endpoints as endpoints

    monkeypatch.setattr(endpoints, "drain", lambda *_a, **_k: None)
    wecom.send("add_external_contact", external_userid="wmGOOD0001")
    broken = payload("add_external_contact", create_time=T0 + 1).replace(
        "<ExternalUserID><![CDATA[wmAJ2GCAAAXtWyujaWJHDDGi0mACAAAA]]></ExternalUserID>", ""
    )
    assert wecom.post(broken).status_code == 200
    wecom.send("add_external_contact", create_time=T0 + 2, external_userid="wmGOOD0002")
    out = _process_cli(expect=1)
    assert "has no ExternalUserID" in out
    assert _statuses(session) == {"processed": 2, "failed": 1}
    assert {f.external_userid for f in session.scalars(select(Follow))} == {"wmGOOD0001", "wmGOOD0002"}


def test_inbox_listing_shows_counts_and_errors_without_bodies(wecom: WeComSender, cli: Any) -> None:
    wecom.send("add_external_contact", state="secret_state_value")
    wecom.send("unknown_event")
    out = json.loads(cli("wecom", "callbacks", "--json").stdout)
    assert out["counts"] == {"processed": 1, "ignored": 1}
    assert {c["change_type"] for c in out["callbacks"]} == {"add_external_contact", "update_user"}
    assert "secret_state_value" not in json.dumps(out)  # bodies stay in the database
    bad = cli("wecom", "callbacks", "--status", "done", expect=2)
    assert "--status 'done' is not pending, processed, failed or ignored" in bad.stderr


def test_ingest_only_web_leaves_processing_to_the_worker(
    env: Settings, monkeypatch: pytest.MonkeyPatch, session: Session
) -> None:
    from fastapi.testclient import TestClient

    from siyu.web.app import create_app
    from tests.wecom.fixtures.callbacks import configure_wecom

    monkeypatch.setenv("SIYU_WECOM_PROCESS_AFTER_ACCEPT", "false")
    settings = configure_wecom(monkeypatch)
    with TestClient(create_app(settings)) as client:
        sender = WeComSender(client, crypto())
        sender.send("add_external_contact")
        sender.send("chat_create")
    assert _statuses(session) == {"pending": 2}
    assert '"processed": 2' in _process_cli("--json")
    assert session.scalar(select(func.count()).select_from(Follow)) == 1


@pytest.mark.slow
def test_two_server_processes_store_every_callback_once(
    env: Settings, session: Session, tmp_path: Path
) -> None:
    """`siyu serve --workers 2`: two writers on one database, every 200 stored, repeats not."""
    log = tmp_path / "serve.log"
    port = _free_port()
    proc = _start_server(env, port, log, "--workers", "2")
    c = crypto()
    bodies = [
        payload("add_external_contact", create_time=T0 + i, external_userid=f"wmTWO{i:04d}")
        for i in range(240)
    ]
    statuses: list[int] = []
    lock = threading.Lock()

    def fire(worker: int) -> None:
        # A client (connection) per thread: the kernel hands connections to both processes.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            sender = WeComSender(client, c)
            for i in range(worker, len(bodies), 8):
                codes = [sender.post(bodies[i]).status_code]
                if i % 4 == 0:  # WeCom repeats some: the same content again
                    codes.append(sender.post(bodies[i]).status_code)
                with lock:
                    statuses.extend(codes)

    threads = [threading.Thread(target=fire, args=(w,)) for w in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert statuses == [200] * (240 + 60)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(WeComCallback)) == 240
