"""Auth: password login, session cookies, CSRF, rate limit, tokens, roles, the users CLI."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.timeutil import utcnow
from siyu.models import ApiToken, AuditLog, LoginThrottle, User
from siyu.web.auth import SESSION_COOKIE
from tests.conftest import CliRun
from tests.web.api_world import PASSWORD, World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def _login(api: TestClient, name: str = "operator", password: str = PASSWORD, **extra: str) -> httpx.Response:
    return api.post("/api/v1/auth/login", json={"name": name, "password": password, **extra})


def test_login_sets_a_safe_session_cookie(api: TestClient, world: World, session: Session) -> None:
    resp = _login(api)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user"]["role"] == "operator"
    assert body["via"] == "session"
    assert body["csrf_token"]
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie
    me = api.get("/api/v1/auth/me")
    assert me.json()["user"]["name"] == "operator"
    assert me.json()["csrf_token"] == body["csrf_token"]
    user = session.scalar(select(User).where(User.name == "operator", User.workspace_id == world.ws))
    assert user is not None
    assert user.last_login_at is not None


def test_secure_cookie_flag_when_configured(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    from siyu.config import get_settings

    monkeypatch.setenv("SIYU_SESSION_COOKIE_SECURE", "true")
    get_settings.cache_clear()
    resp = _login(client())
    assert "Secure" in resp.headers["set-cookie"]


def test_wrong_password_unknown_user_and_workspace_all_look_the_same(api: TestClient, world: World) -> None:
    answers = [
        _login(api, password="wrong password"),
        _login(api, name="nobody"),
        _login(api, workspace="no-such-brand"),
    ]
    for resp in answers:
        err = assert_error(resp, 401, "unauthenticated", "password")
        assert err["message"] == "wrong user name or password"
    assert SESSION_COOKIE not in api.cookies
    assert_error(api.get("/api/v1/auth/me"), 401, "unauthenticated")


def test_other_workspace_user_logs_in_to_their_own(api: TestClient, world: World) -> None:
    resp = _login(api, name="owner", workspace="other")
    assert resp.status_code == 200
    assert resp.json()["workspace"] == "other"
    customers = api.get("/api/v1/customers").json()
    assert [c["id"] for c in customers["items"]] == [world.other_customer]


def test_five_failures_lock_the_account_from_every_address(world: World, session: Session) -> None:
    api = client()
    for _ in range(5):
        assert_error(_login(api, password="guess"), 401)
    # Even the right password is refused now, with a Retry-After.
    resp = _login(api)
    err = assert_error(resp, 429, "rate_limited", "name")
    assert "too many failed logins for 'operator'" in err["message"]
    assert "try again in 15 minute(s)" in err["message"]
    assert 0 < int(resp.headers["retry-after"]) <= 15 * 60
    # The limit is the account's: from another address too (a guesser cannot spread out).
    elsewhere = TestClient(api.app, base_url="http://localhost", client=("203.0.113.9", 40000))
    assert_error(_login(elsewhere), 429, "rate_limited")
    # Another user from the same address still gets in.
    assert _login(api, name="admin").status_code == 200
    failures = session.scalars(select(AuditLog).where(AuditLog.action == "auth.login_failed")).all()
    assert len(failures) == 5
    assert all(f.detail["name"] == "operator" for f in failures)
    assert all(
        "password" not in json.dumps(f.detail) or PASSWORD not in json.dumps(f.detail) for f in failures
    )
    # When the window has passed, the account may try again.
    session.execute(update(LoginThrottle).values(window_start=utcnow() - timedelta(minutes=16)))
    session.commit()
    assert _login(elsewhere).status_code == 200


def test_failures_from_one_address_are_limited_across_accounts(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    from siyu.config import get_settings

    monkeypatch.setenv("SIYU_LOGIN_MAX_FAILURES_PER_ADDRESS", "3")
    get_settings.cache_clear()
    api = client()
    for name in ("operator", "admin", "nobody"):
        assert_error(_login(api, name=name, password="guess"), 401)
    err = assert_error(_login(api, name="alice"), 429, "rate_limited", "name")
    assert "too many failed logins from this address" in err["message"]
    # The same account from another address is fine: alice made no mistake.
    elsewhere = TestClient(api.app, base_url="http://localhost", client=("203.0.113.9", 40000))
    assert _login(elsewhere, name="alice").status_code == 200


def test_success_resets_the_failure_count(world: World) -> None:
    api = client()
    for _ in range(4):
        assert_error(_login(api, password="guess"), 401)
    assert _login(api).status_code == 200
    for _ in range(4):
        assert_error(_login(api, password="guess"), 401)
    assert _login(api).status_code == 200


def test_cookie_writes_need_the_csrf_token(api: TestClient, world: World) -> None:
    token = _login(api, name="alice").json()["csrf_token"]
    li_free = world.customers["zhang"]
    path = f"/api/v1/customers/{li_free}/opt-out"
    err = assert_error(api.put(path, json={"opt_out": True}), 403, "csrf_failed")
    assert "reload the page" in err["message"]
    assert_error(
        api.put(path, json={"opt_out": True}, headers={"X-CSRF-Token": "0" * 64}), 403, "csrf_failed"
    )
    ok = api.put(path, json={"opt_out": True}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200, ok.text
    # Reads need no token.
    assert api.get(f"/api/v1/customers/{li_free}").status_code == 200
    # A token from another session does not fit this one.
    other = client()
    other_token = _login(other, name="alice").json()["csrf_token"]
    assert other_token != token
    assert_error(api.put(path, json={"opt_out": False}, headers={"X-CSRF-Token": other_token}), 403)


def test_csrf_token_in_a_form_field(api: TestClient, world: World) -> None:
    # A console form posts the token as a hidden field; the import upload is such a form.
    token = _login(api, name="operator").json()["csrf_token"]
    files = {"files": ("orders.csv", b"not,a,known\nexport,file,at all\n", "text/csv")}
    assert_error(api.post("/api/v1/imports", files=files), 403, "csrf_failed")
    resp = api.post("/api/v1/imports", files=files, data={"csrf_token": token})
    # Past the CSRF check: now the file itself is refused, in plain words.
    assert_error(resp, 422, field="file")


def test_bearer_requests_need_no_csrf_token(api: TestClient, world: World) -> None:
    resp = api.put(
        f"/api/v1/customers/{world.customers['zhang']}/opt-out",
        headers=world.h("alice"),
        json={"opt_out": True},
    )
    assert resp.status_code == 200


def test_logout_ends_the_session(api: TestClient, world: World) -> None:
    token = _login(api).json()["csrf_token"]
    assert api.get("/api/v1/auth/me").status_code == 200
    resp = api.post("/api/v1/auth/logout", headers={"X-CSRF-Token": token})
    assert resp.status_code == 204
    assert f'{SESSION_COOKIE}=""' in resp.headers["set-cookie"] or "Max-Age=0" in resp.headers["set-cookie"]
    assert_error(api.get("/api/v1/auth/me"), 401)


def test_tampered_or_foreign_cookies_are_refused(api: TestClient, world: World) -> None:
    _login(api)
    value = api.cookies[SESSION_COOKIE]
    body, _, mac = value.partition(".")
    api.cookies.set(SESSION_COOKIE, body[:-2] + "xx." + mac)
    assert_error(api.get("/api/v1/auth/me"), 401)
    api.cookies.set(SESSION_COOKIE, "garbage")
    assert_error(api.get("/api/v1/auth/me"), 401)


def test_password_change_and_disable_end_sessions(api: TestClient, world: World, cli: CliRun) -> None:
    _login(api, name="alice")
    assert api.get("/api/v1/auth/me").status_code == 200
    cli("users", "password", "alice", "--password-stdin", input="a brand new password\n")
    assert_error(api.get("/api/v1/auth/me"), 401)
    assert _login(api, name="alice", password="a brand new password").status_code == 200
    cli("users", "disable", "alice")
    assert_error(api.get("/api/v1/auth/me"), 401)
    assert_error(api.get("/api/v1/auth/me", headers=world.h("alice")), 401, "unauthenticated")
    assert_error(_login(api, name="alice", password="a brand new password"), 401)
    cli("users", "enable", "alice")
    assert api.get("/api/v1/auth/me", headers=world.h("alice")).status_code == 200


def test_bad_authorization_headers(api: TestClient, world: World) -> None:
    for header in ("Basic abc", "Bearer", "Bearer siyu_not-a-real-token", "Bearer " + "x" * 500):
        resp = api.get("/api/v1/customers", headers={"Authorization": header})
        assert_error(resp, 401, "unauthenticated")
        assert resp.headers["www-authenticate"].startswith("Bearer")
    assert_error(api.get("/api/v1/customers"), 401)


def test_tokens_create_list_revoke(api: TestClient, world: World, session: Session) -> None:
    created = api.post("/api/v1/auth/tokens", headers=world.h("operator"), json={"name": "bi-export"})
    assert created.status_code == 201
    new = created.json()
    assert new["token"].startswith("siyu_")
    stored = session.get(ApiToken, new["info"]["id"])
    assert stored is not None
    assert new["token"] not in stored.token_hash  # only the hash is kept
    own = {"Authorization": f"Bearer {new['token']}"}
    assert api.get("/api/v1/auth/me", headers=own).json()["via"] == "token"
    listed = api.get("/api/v1/auth/tokens", headers=own).json()
    assert [t["name"] for t in listed] == ["initial", "bi-export"]
    assert all("token" not in t for t in listed)
    # Someone else's token: not found for an operator; revocable by an admin.
    assert_error(api.delete(f"/api/v1/auth/tokens/{new['info']['id']}", headers=world.h("alice")), 404)
    revoked = api.delete(f"/api/v1/auth/tokens/{new['info']['id']}", headers=world.h("admin"))
    assert revoked.json()["revoked_at"] is not None
    assert_error(api.get("/api/v1/auth/me", headers=own), 401, "unauthenticated")
    # The operator's first token still works.
    assert api.get("/api/v1/auth/me", headers=world.h("operator")).status_code == 200
    # No revoking across workspaces.
    assert_error(api.delete(f"/api/v1/auth/tokens/{new['info']['id']}", headers=world.h("other")), 404)


def test_user_management_roles(api: TestClient, world: World) -> None:
    assert_error(api.get("/api/v1/users", headers=world.h("operator")), 403, "forbidden")
    assert [u["name"] for u in api.get("/api/v1/users", headers=world.h("admin")).json()] == [
        "owner",
        "admin",
        "operator",
        "alice",
        "bob",
    ]
    # Admins cannot make owners; owners can.
    assert_error(
        api.post("/api/v1/users", headers=world.h("admin"), json={"name": "boss2", "role": "owner"}),
        403,
        field="role",
    )
    made = api.post("/api/v1/users", headers=world.h("owner"), json={"name": "boss2", "role": "owner"})
    assert made.status_code == 201
    assert (
        api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {made.json()['token']}"}).status_code
        == 200
    )
    assert_error(
        api.post("/api/v1/users", headers=world.h("admin"), json={"name": "carol", "role": "staff"}),
        422,
        field="staff",
    )
    assert_error(
        api.post(
            "/api/v1/users",
            headers=world.h("admin"),
            json={"name": "carol", "role": "staff", "staff_userid": "ghost"},
        ),
        404,
        field="staff",
    )
    assert_error(
        api.post("/api/v1/users", headers=world.h("admin"), json={"name": "x", "role": "god"}),
        422,
        field="role",
    )
    assert_error(
        api.post("/api/v1/users", headers=world.h("admin"), json={"name": "alice", "role": "operator"}),
        409,
        field="name",
    )
    assert_error(
        api.post(
            "/api/v1/users",
            headers=world.h("admin"),
            json={"name": "dan", "role": "operator", "password": "short"},
        ),
        422,
        field="password",
    )
    # Promote bob's user to operator: he then sees every customer.
    bob = world.users["bob"]
    assert (
        api.patch(f"/api/v1/users/{bob}", headers=world.h("admin"), json={"role": "operator"}).status_code
        == 200
    )
    assert api.get("/api/v1/customers", headers=world.h("bob")).json()["total"] == 3
    # Relinking alice's user to bob's account changes what she sees; unlinking a staff user is refused.
    alice = world.users["alice"]
    relinked = api.patch(f"/api/v1/users/{alice}", headers=world.h("admin"), json={"staff_userid": "bob"})
    assert relinked.json()["staff_userid"] == "bob"
    assert [c["id"] for c in api.get("/api/v1/customers", headers=world.h("alice")).json()["items"]] == [
        world.customers["li"]
    ]
    assert_error(
        api.patch(f"/api/v1/users/{alice}", headers=world.h("admin"), json={"staff_userid": ""}),
        422,
        field="staff_userid",
    )
    assert_error(
        api.patch(f"/api/v1/users/{alice}", headers=world.h("admin"), json={"staff_userid": "ghost"}),
        404,
        field="staff_userid",
    )
    # The last active owner cannot be demoted or disabled... but with two owners, one can.
    owner = world.users["owner"]
    assert (
        api.patch(f"/api/v1/users/{owner}", headers=world.h("owner"), json={"role": "admin"}).status_code
        == 200
    )
    boss2 = made.json()["info"]["user_id"]
    assert_error(
        api.patch(
            f"/api/v1/users/{boss2}",
            headers={"Authorization": f"Bearer {made.json()['token']}"},
            json={"role": "admin"},
        ),
        409,
    )
    assert_error(api.patch(f"/api/v1/users/{owner}", headers=world.h("other"), json={"disabled": True}), 404)


def test_cli_users_create_prints_a_working_token_once(cli: CliRun, world: World, session: Session) -> None:
    result = cli(
        "users",
        "create",
        "dora",
        "--role",
        "staff",
        "--staff",
        "bob",
        "--password-stdin",
        input="dora's password\n",
    )
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("siyu_")
    assert "shown once" in result.stderr
    api = client()
    seen = api.get("/api/v1/customers", headers={"Authorization": f"Bearer {token}"}).json()
    assert [c["id"] for c in seen["items"]] == [world.customers["li"]]
    assert _login(api, name="dora", password="dora's password").status_code == 200
    listing = json.loads(cli("users", "list", "--json").stdout)
    dora = next(u for u in listing if u["name"] == "dora")
    assert dora["role"] == "staff"
    assert dora["staff"] == "bob"
    assert dora["tokens"] == [token[:12]]
    assert token not in json.dumps(listing)
    second = cli("users", "token", "dora", "--label", "script").stdout.strip().splitlines()[-1]
    assert second != token
    cli("users", "revoke", "dora", "--token", token[:12])
    assert_error(api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}), 401)
    assert api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("users", "create", "x1", "--role", "god"), None, "unknown role 'god'"),
        (("users", "create", "x2", "--role", "staff"), None, "must be linked to a staff account"),
        (("users", "create", "x3", "--role", "staff", "--staff", "ghost"), None, "no staff account"),
        (("users", "create", "x4", "--role", "operator", "--password-stdin"), "short\n", "too short"),
        (("users", "create", "x5", "--role", "operator", "--password-stdin"), "\n", "no password"),
        (("users", "create", "operator", "--role", "operator"), None, "already exists"),
        (("users", "create", "has space", "--role", "operator"), None, "contains spaces"),
        (("users", "token", "ghost"), None, "no user named 'ghost'"),
        (("users", "password", "alice"), None, "--password-stdin"),
    ],
)
def test_cli_users_bad_input(
    cli: CliRun, world: World, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    result = cli(*args, expect=2, input=stdin)
    assert message in result.stderr
    assert "siyu_" not in result.stdout


def test_stale_login_counters_and_old_sessions_are_pruned(world: World, session: Session) -> None:
    from siyu.models import UserSession
    from siyu.web.auth.login import prune_stale

    api = client()
    assert_error(_login(api, password="guess"), 401)
    assert _login(api, name="admin").status_code == 200
    assert _login(api, name="alice").status_code == 200
    # One counter and one session become old; the others stay.
    session.execute(update(LoginThrottle).values(window_start=utcnow() - timedelta(minutes=20)))
    old_session = session.scalars(select(UserSession).order_by(UserSession.id)).first()
    assert old_session is not None
    old_session.expires_at = utcnow() - timedelta(days=31)
    session.commit()
    counters = session.scalar(select(func.count()).select_from(LoginThrottle))
    assert prune_stale(session, window=timedelta(minutes=15)) == (counters, 1)
    session.commit()
    assert session.scalar(select(func.count()).select_from(LoginThrottle)) == 0
    assert session.scalar(select(func.count()).select_from(UserSession)) == 1
