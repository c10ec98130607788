"""API tokens expire (90 days by default), show their last use and can be rotated."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.timeutil import utcnow
from siyu.models import ApiToken
from tests.conftest import CliRun
from tests.web.api_world import World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


def _days_left(iso: str) -> float:
    return (datetime.fromisoformat(iso) - utcnow()).total_seconds() / 86400


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_expire_after_the_chosen_lifetime_90_days_by_default(
    world: World, cli: CliRun, session: Session
) -> None:
    api = client()
    default = api.post("/api/v1/auth/tokens", headers=world.h("operator"), json={"name": "bi"}).json()
    assert 89.9 < _days_left(default["info"]["expires_at"]) <= 90
    week = api.post(
        "/api/v1/auth/tokens", headers=world.h("operator"), json={"name": "tmp", "expires_in_days": 7}
    ).json()
    assert 6.9 < _days_left(week["info"]["expires_at"]) <= 7
    for bad in (0, 4000):
        assert_error(
            api.post("/api/v1/auth/tokens", headers=world.h("operator"), json={"expires_in_days": bad}), 422
        )
    # The first token of a user, and tokens made by the CLI, expire too.
    initial = session.scalar(select(ApiToken).where(ApiToken.user_id == world.users["alice"]))
    assert initial is not None
    assert initial.expires_at is not None
    assert 89.9 < (initial.expires_at - utcnow()).total_seconds() / 86400 <= 90
    result = cli("users", "token", "alice", "--label", "script", "--expires-in-days", "30")
    assert "it expires on" in result.stderr
    plain = result.stdout.strip().splitlines()[-1]
    listed = json.loads(cli("users", "tokens", "alice", "--json").stdout)
    script = next(t for t in listed if t["label"] == "script")
    assert script["prefix"] == plain[:12]
    assert 29.9 < _days_left(script["expires_at"]) <= 30
    assert "--expires-in-days" in cli("users", "token", "alice", "--expires-in-days", "0", expect=2).stderr


def test_an_expired_token_gets_401_with_a_clear_message(world: World, session: Session, cli: CliRun) -> None:
    api = client()
    assert api.get("/api/v1/auth/me", headers=world.h("alice")).status_code == 200
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == world.users["alice"])
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    session.commit()
    resp = api.get("/api/v1/customers", headers=world.h("alice"))
    err = assert_error(resp, 401, "unauthenticated")
    assert f"the API token {world.tokens['alice'][:12]}… expired on" in err["message"]
    assert "UTC" in err["message"]
    assert resp.headers["www-authenticate"].startswith("Bearer")
    listed = json.loads(cli("users", "tokens", "alice", "--json").stdout)
    assert [t["state"] for t in listed] == ["expired"]
    # `users list` shows only tokens that still work.
    alice = next(u for u in json.loads(cli("users", "list", "--json").stdout) if u["name"] == "alice")
    assert alice["tokens"] == []
    # Unknown and revoked tokens say so too.
    assert "unknown" in assert_error(api.get("/api/v1/auth/me", headers=_bearer("siyu_nope")), 401)["message"]
    cli("users", "revoke", "bob")
    revoked = assert_error(api.get("/api/v1/auth/me", headers=world.h("bob")), 401)
    assert "was revoked" in revoked["message"]


def test_tokens_show_their_last_use(world: World, session: Session, cli: CliRun) -> None:
    api = client()
    made = api.post("/api/v1/auth/tokens", headers=world.h("operator"), json={"name": "bi"}).json()
    listed = api.get("/api/v1/auth/tokens", headers=world.h("operator")).json()
    assert next(t for t in listed if t["name"] == "bi")["last_used_at"] is None
    before = utcnow()
    assert api.get("/api/v1/customers", headers=_bearer(made["token"])).status_code == 200
    listed = api.get("/api/v1/auth/tokens", headers=world.h("operator")).json()
    used = next(t for t in listed if t["name"] == "bi")["last_used_at"]
    assert used is not None
    assert datetime.fromisoformat(used) >= before - timedelta(seconds=1)
    cli_listed = json.loads(cli("users", "tokens", "operator", "--json").stdout)
    assert next(t for t in cli_listed if t["label"] == "bi")["last_used_at"] is not None
    assert "never" in cli("users", "tokens", "admin").stdout  # the admin's token was not used


def test_rotating_a_token_replaces_it_at_once(world: World, session: Session, cli: CliRun) -> None:
    api = client()
    made = api.post(
        "/api/v1/auth/tokens", headers=world.h("operator"), json={"name": "bi", "expires_in_days": 7}
    ).json()
    old_id, old = made["info"]["id"], made["token"]
    rotated = api.post(f"/api/v1/auth/tokens/{old_id}/rotate", headers=_bearer(old))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["token"] != old
    assert new["info"]["name"] == "bi"
    assert new["info"]["rotated_from_id"] == old_id
    assert 6.9 < _days_left(new["info"]["expires_at"]) <= 7  # as long as the old one lived
    assert "was revoked" in assert_error(api.get("/api/v1/auth/me", headers=_bearer(old)), 401)["message"]
    assert api.get("/api/v1/auth/me", headers=_bearer(new["token"])).status_code == 200
    # A revoked token is not rotated; someone else's is not found (admins may).
    assert_error(api.post(f"/api/v1/auth/tokens/{old_id}/rotate", headers=world.h("operator")), 409)
    new_id = new["info"]["id"]
    assert_error(api.post(f"/api/v1/auth/tokens/{new_id}/rotate", headers=world.h("alice")), 404)
    # An expired token can be rotated (by another valid token of the user, or an admin).
    session.execute(
        update(ApiToken).where(ApiToken.id == new_id).values(expires_at=utcnow() - timedelta(days=1))
    )
    session.commit()
    again = api.post(
        f"/api/v1/auth/tokens/{new_id}/rotate", headers=world.h("admin"), json={"expires_in_days": 30}
    )
    assert again.status_code == 201
    assert 29.9 < _days_left(again.json()["info"]["expires_at"]) <= 30
    assert (
        api.get("/api/v1/auth/me", headers=_bearer(again.json()["token"])).json()["user"]["name"]
        == "operator"
    )
    # The CLI rotates too, and prints the new token once.
    result = cli("users", "rotate", "alice", "--token", world.tokens["alice"][:12])
    fresh = result.stdout.strip().splitlines()[-1]
    assert fresh.startswith("siyu_")
    assert "revoked now" in result.stderr
    assert_error(api.get("/api/v1/auth/me", headers=world.h("alice")), 401)
    assert api.get("/api/v1/auth/me", headers=_bearer(fresh)).status_code == 200
    assert "no unrevoked token" in cli("users", "rotate", "alice", "--token", "siyu_nothere", expect=2).stderr
