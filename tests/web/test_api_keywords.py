"""Keyword rules, sensitive words and alerts over HTTP (the same services as the CLI)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.automation.keywords.engine import process_new
from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.models import AuditLog, KeywordRule
from tests.automation import kw_helpers as h
from tests.web.api_world import World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def test_rules_words_and_alerts_over_http(api: TestClient, world: World, session: Session) -> None:
    op = world.h("operator")
    body = {"name": "退款", "match": "regex", "keywords": ["退(款|货)"], "tags": ["售后"], "priority": 3}
    resp = api.post("/api/v1/keyword-rules", headers=op, json=body)
    assert resp.status_code == 201, resp.text
    rule = resp.json()
    assert rule["actions"] == {"tags": ["售后"]}
    err = assert_error(
        api.post("/api/v1/keyword-rules", headers=op, json={**body, "keywords": ["ok", "[未闭合"]}),
        422,
        field="keywords[1]",
    )
    assert "position 0" in err["message"]
    assert_error(api.post("/api/v1/keyword-rules", headers=world.h("alice"), json=body), 403)
    assert api.get("/api/v1/keyword-rules", headers=op).json()[0]["name"] == "退款"
    resp = api.put(f"/api/v1/keyword-rules/{rule['id']}", headers=op, json={**body, "enabled": False})
    assert resp.json()["enabled"] is False
    assert api.post("/api/v1/sensitive-words", headers=op, json={"words": ["投诉"]}).json() == {
        "added": ["投诉"]
    }
    assert_error(api.post("/api/v1/sensitive-words", headers=op, json={"words": [""]}), 422, field="words[0]")

    with session_scope() as s:
        h.message(
            s, world.ws, "我要投诉", customer_id=world.customers["zhang"], staff_id=world.staff["alice"]
        )
    with session_scope() as s:
        assert process_new(s, workspace_id=world.ws)["alerts"] == 1
    alerts = api.get("/api/v1/alerts?open_only=true", headers=op).json()
    assert [a["kind"] for a in alerts] == ["sensitive_word"]
    assert_error(api.post(f"/api/v1/alerts/{alerts[0]['id']}/ack", headers=op, json={}), 403)
    assert (
        api.post(f"/api/v1/alerts/{alerts[0]['id']}/ack", headers=world.h("owner"), json={}).status_code
        == 200
    )
    assert api.get("/api/v1/alerts?open_only=true", headers=op).json() == []
    assert api.get("/api/v1/alerts", headers=world.h("other")).json() == []

    assert api.delete(f"/api/v1/keyword-rules/{rule['id']}", headers=op).status_code == 204
    assert api.get("/api/v1/keyword-rules", headers=op).json() == []
    assert session.scalar(select(func.count()).select_from(KeywordRule)) == 1  # soft-deleted
    actions = set(session.scalars(select(AuditLog.action).where(AuditLog.target_type == "keyword_rule")))
    assert actions == {"keyword_rule.create", "keyword_rule.update", "keyword_rule.delete"}


def test_profile_fields_over_http(api: TestClient, world: World) -> None:
    body = {"key": "skin", "label": "肤质", "kind": "choice", "options": ["油皮", "干皮"]}
    assert_error(api.post("/api/v1/profile-fields", headers=world.h("operator"), json=body), 403)
    assert api.post("/api/v1/profile-fields", headers=world.h("admin"), json=body).status_code == 201
    assert_error(
        api.post("/api/v1/profile-fields", headers=world.h("admin"), json={**body, "key": "1x"}),
        422,
        field="key",
    )
    assert [f["key"] for f in api.get("/api/v1/profile-fields", headers=world.h("operator")).json()] == [
        "skin"
    ]
