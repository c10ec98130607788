"""Console sessions end on the server: logout, disable, password and role change, admins."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import UserSession
from siyu.web.auth import SESSION_COOKIE
from tests.conftest import CliRun
from tests.web.api_world import PASSWORD, World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


def _login(api: TestClient, name: str = "alice", password: str = PASSWORD) -> str:
    resp = api.post("/api/v1/auth/login", json={"name": name, "password": password})
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["csrf_token"]
    return token


def _copy_of(api: TestClient) -> TestClient:
    """Another browser holding a copy of ``api``'s session cookie."""
    thief = client()
    thief.cookies.set(SESSION_COOKIE, api.cookies[SESSION_COOKIE])
    return thief


def test_logout_ends_the_session_on_the_server(world: World, session: Session) -> None:
    api = client()
    token = _login(api)
    copy = _copy_of(api)
    assert copy.get("/api/v1/auth/me").status_code == 200
    # Logout is a write: the CSRF rule applies to it as to every cookie write.
    assert_error(api.post("/api/v1/auth/logout"), 403, "csrf_failed")
    assert api.get("/api/v1/auth/me").status_code == 200
    resp = api.post("/api/v1/auth/logout", headers={"X-CSRF-Token": token})
    assert resp.status_code == 204
    assert "Max-Age=0" in resp.headers["set-cookie"] or f'{SESSION_COOKIE}=""' in resp.headers["set-cookie"]
    # The copy of the cookie no longer works, though it is signed and unexpired.
    assert_error(copy.get("/api/v1/auth/me"), 401, "unauthenticated")
    row = session.scalars(select(UserSession)).one()
    assert row.ended_at is not None
    assert row.ended_reason == "logout"
    # Without a session, logout only clears the cookie.
    assert client().post("/api/v1/auth/logout").status_code == 204


def test_console_logout_ends_the_session_on_the_server(world: World) -> None:
    api = client()
    _login(api)
    copy = _copy_of(api)
    page = api.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    out = api.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert_error(copy.get("/api/v1/auth/me"), 401)


def test_reenabling_a_user_does_not_revive_old_sessions(world: World, cli: CliRun) -> None:
    api = client()
    _login(api)
    cli("users", "disable", "alice")
    cli("users", "enable", "alice")
    assert_error(api.get("/api/v1/auth/me"), 401)
    # A fresh login works; her API token works again too.
    _login(api)
    assert api.get("/api/v1/auth/me").status_code == 200
    assert api.get("/api/v1/auth/me", headers=world.h("alice")).status_code == 200


def test_disable_role_and_password_changes_through_the_api_end_sessions(world: World) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    bob = world.users["bob"]
    for patch in ({"disabled": True}, {"role": "operator"}, {"password": "another long password"}):
        api = client()
        if patch == {"role": "operator"}:
            assert (
                client().patch(f"/api/v1/users/{bob}", headers=admin, json={"disabled": False}).status_code
                == 200
            )
        _login(api, name="bob")
        assert api.get("/api/v1/auth/me").status_code == 200
        changed = client().patch(f"/api/v1/users/{bob}", headers=admin, json=patch)
        assert changed.status_code == 200, changed.text
        assert_error(api.get("/api/v1/auth/me"), 401)
    # A display-name change ends nothing.
    api = client()
    _login(api, name="bob", password="another long password")
    assert (
        client().patch(f"/api/v1/users/{bob}", headers=admin, json={"display_name": "Bob"}).status_code == 200
    )
    assert api.get("/api/v1/auth/me").status_code == 200


def test_admins_list_and_end_sessions(world: World, cli: CliRun) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    laptop, phone = client(), client()
    _login(laptop)
    _login(phone)
    listed = client().get("/api/v1/sessions", headers=admin).json()
    mine = [s for s in listed if s["user_name"] == "alice"]
    assert len(mine) == 2
    assert all(s["ip"] == "testclient" and s["expires_at"] for s in mine)
    assert_error(client().get("/api/v1/sessions", headers=world.h("operator")), 403, "forbidden")
    # End one: that browser is out, the other stays in.
    ended = client().delete(f"/api/v1/sessions/{mine[0]['id']}", headers=admin)
    assert ended.json() == {"ended": 1}
    assert_error(phone.get("/api/v1/auth/me"), 401)  # newest first: mine[0] is the phone's
    assert laptop.get("/api/v1/auth/me").status_code == 200
    assert [
        s["id"]
        for s in client().get(f"/api/v1/sessions?user_id={world.users['alice']}", headers=admin).json()
    ] == [mine[1]["id"]]
    # End all of a user's sessions; another workspace cannot.
    assert_error(
        client().post(f"/api/v1/users/{world.users['alice']}/sessions/end", headers=world.h("other")), 404
    )
    assert client().post(f"/api/v1/users/{world.users['alice']}/sessions/end", headers=admin).json() == {
        "ended": 1
    }
    assert_error(laptop.get("/api/v1/auth/me"), 401)
    # An admin may not end an owner's sessions.
    boss = client()
    _login(boss, name="owner")
    owner_session = next(
        s for s in client().get("/api/v1/sessions", headers=admin).json() if s["user_name"] == "owner"
    )
    assert_error(client().delete(f"/api/v1/sessions/{owner_session['id']}", headers=admin), 403)
    # The CLI lists and ends them too.
    listing = json.loads(cli("users", "sessions", "--json").stdout)
    assert [s["user"] for s in listing] == ["owner"]
    assert "ended 1 session(s) of owner" in cli("users", "end-sessions", "owner").stdout
    assert_error(boss.get("/api/v1/auth/me"), 401)


def test_console_sessions_page_lists_and_ends_sessions(world: World) -> None:
    other = client()
    _login(other, name="operator")
    admin = client()
    _login(admin, name="admin")
    page = admin.get("/sessions")
    assert page.status_code == 200
    assert "登录会话" in page.text
    assert "结束会话" in page.text
    assert "当前会话" in page.text
    ids = re.findall(r'action="/sessions/(\d+)/end"', page.text)
    assert len(ids) == 2
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    operator_id = min(int(i) for i in ids)  # the operator logged in first
    done = admin.post(
        f"/sessions/{operator_id}/end", data={"csrf_token": csrf.group(1)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert_error(other.get("/api/v1/auth/me"), 401)
    # Without the CSRF token nothing ends; operators may not open the page.
    assert admin.post(f"/sessions/{ids[0]}/end", data={}, follow_redirects=False).status_code == 403
    assert other.get("/sessions", follow_redirects=False).status_code in (303, 307)
    _login(other, name="operator")
    assert other.get("/sessions").status_code == 403


@pytest.mark.parametrize(
    ("base", "headers", "setting", "secure"),
    [
        ("http://localhost", {}, None, False),
        ("http://127.0.0.1:8000", {}, None, False),
        ("http://[::1]:8000", {}, None, False),
        ("http://siyu.example.com", {}, None, True),
        ("http://192.168.1.20:8000", {}, None, True),
        ("https://siyu.example.com", {}, None, True),
        ("http://localhost", {"X-Forwarded-Proto": "https"}, None, True),
        ("http://siyu.example.com", {}, "false", False),
        ("http://localhost", {}, "true", True),
    ],
)
def test_secure_cookie_flag_is_on_unless_served_on_localhost(
    monkeypatch: pytest.MonkeyPatch,
    world: World,
    base: str,
    headers: dict[str, str],
    setting: str | None,
    secure: bool,
) -> None:
    from siyu.config import get_settings
    from siyu.web.app import create_app

    if setting is not None:
        monkeypatch.setenv("SIYU_SESSION_COOKIE_SECURE", setting)
    get_settings.cache_clear()
    api = TestClient(create_app(), base_url=base)
    resp = api.post("/api/v1/auth/login", json={"name": "alice", "password": PASSWORD}, headers=headers)
    assert resp.status_code == 200
    assert ("; secure" in resp.headers["set-cookie"].lower()) is secure
    # The login form's pre-login cookie follows the same rule.
    form = TestClient(create_app(), base_url=base).get("/login", headers=headers)
    assert ("; secure" in form.headers["set-cookie"].lower()) is secure
