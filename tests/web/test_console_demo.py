"""The demo's console login: printed once, works, re-keyed on re-run, never hijacks a real admin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.models import User
from siyu.web.auth import create_user
from tests.conftest import CliRun
from tests.web.test_console import csrf_of

ARGS = ("demo", "--no-serve", "--customers", 40, "--seed", 3, "--as-of", "2026-11-23")


@pytest.fixture
def client(env: Settings) -> Iterator[TestClient]:
    from siyu.web.app import create_app

    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        yield c


def _password(stdout: str) -> str:
    found = re.search(r"user\s+admin\s+password\s+(\S+)", stdout)
    assert found, stdout
    return found.group(1)


def _login(client: TestClient, password: str) -> int:
    page = client.get("/login")
    res = client.post(
        "/login",
        data={"name": "admin", "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    return res.status_code


def test_demo_prints_a_working_owner_login(cli: CliRun, client: TestClient, tmp_path: Path) -> None:
    first = cli(*ARGS, "--out", tmp_path / "d1")
    assert "http://127.0.0.1:8000/" in first.stdout
    password = _password(first.stdout)
    assert _login(client, password) == 303
    assert "数据看板" in client.get("/").text

    second = cli(*ARGS, "--out", tmp_path / "d2")
    new_password = _password(second.stdout)
    assert new_password != password
    client.cookies.clear()
    assert _login(client, password) == 401
    assert _login(client, new_password) == 303
    with session_scope() as s:
        user = s.scalar(select(User).where(User.name == "admin"))
        assert user is not None
        assert user.role == "owner"


def test_demo_leaves_a_real_admin_alone(cli: CliRun, workspace_id: int, tmp_path: Path) -> None:
    with session_scope() as s:
        real, _ = create_user(
            s, workspace_id=workspace_id, name="admin", role="owner", password="real-secret-99"
        )
        before = real.password_hash
    out = cli(*ARGS, "--out", tmp_path / "d")
    assert "already exists and is not the demo's" in out.stdout
    with session_scope() as s:
        user = s.scalar(select(User).where(User.name == "admin"))
        assert user is not None
        assert user.password_hash == before
