"""The API behind a real HTTP server on 127.0.0.1: cookies, CSRF and tokens on the wire."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from siyu.config import Settings
from siyu.web.app import create_app
from tests.web.api_world import PASSWORD, World, build_world


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


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


def test_console_session_over_http(base_url: str, world: World) -> None:
    with httpx.Client(base_url=base_url) as http:
        login = http.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        token = login.json()["csrf_token"]
        zhang = world.customers["zhang"]
        refused = http.post(f"/api/v1/customers/{zhang}/reveal-phone")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
        revealed = http.post(f"/api/v1/customers/{zhang}/reveal-phone", headers={"X-CSRF-Token": token})
        assert revealed.json()["phones"] == ["+8613800138000"]
        assert http.post("/api/v1/auth/logout").status_code == 403  # a write: CSRF applies
        assert http.get("/api/v1/auth/me").status_code == 200
        assert http.post("/api/v1/auth/logout", headers={"X-CSRF-Token": token}).status_code == 204
        assert http.get("/api/v1/auth/me").status_code == 401


def test_bearer_token_over_http(base_url: str, world: World) -> None:
    with httpx.Client(base_url=base_url, headers=world.h("alice")) as http:
        resp = http.get("/api/v1/customers")
        assert resp.status_code == 200
        assert [c["id"] for c in resp.json()["items"]] == [world.customers["zhang"]]
        spec = http.get("/api/openapi.json").json()
        assert "/api/v1/customers/{customer_id}/reveal-phone" in spec["paths"]
        assert http.get("/api/docs").status_code == 200
