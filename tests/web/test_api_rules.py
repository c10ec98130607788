"""Auto-tag rules over HTTP: the same service as the console editor and the CLI."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import AuditLog, CustomerTag, Tag
from tests.web.api_world import World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def _rule_tagged(session: Session, name: str) -> set[int]:
    session.expire_all()
    return set(
        session.scalars(
            select(CustomerTag.customer_id)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(Tag.name == name, CustomerTag.source == "rule")
        )
    )


def test_create_change_apply_and_delete_a_rule(api: TestClient, world: World, session: Session) -> None:
    h = world.h("operator")
    resp = api.post(
        "/api/v1/rules",
        headers=h,
        json={"name": "大客户", "expression": "spent>=100", "add": ["大客户"], "apply_now": True},
    )
    assert resp.status_code == 201, resp.text
    rule = resp.json()
    assert rule["applied"]["added"] == 1
    assert _rule_tagged(session, "大客户") == {world.customers["zhang"]}

    # A new version: nobody spends that much; applying takes the rule's tag off again.
    resp = api.put(
        f"/api/v1/rules/{rule['id']}",
        headers=h,
        json={"name": "大客户", "expression": "spent>=100000", "add": ["大客户"], "apply_now": True},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["applied"]["removed"] == 1
    assert _rule_tagged(session, "大客户") == set()
    assert [r["expression"] for r in api.get("/api/v1/rules", headers=h).json()] == ["spent>=100000"]

    assert api.delete(f"/api/v1/rules/{rule['id']}", headers=h).status_code == 204
    assert api.get("/api/v1/rules", headers=h).json() == []
    actions = set(session.scalars(select(AuditLog.action).where(AuditLog.target_type == "auto_tag_rule")))
    assert actions == {"auto_tag_rule.add", "auto_tag_rule.update", "auto_tag_rule.delete"}


def test_rules_are_for_operators_and_checked(api: TestClient, world: World) -> None:
    body = {"name": "x", "expression": "spent>=1", "add": ["x"]}
    assert_error(api.post("/api/v1/rules", headers=world.h("bob"), json=body), 403)
    assert_error(
        api.post("/api/v1/rules", headers=world.h("owner"), json={**body, "add": []}), 422, field="add"
    )
    assert_error(
        api.post("/api/v1/rules", headers=world.h("owner"), json={**body, "expression": "spent>="}), 422
    )
    assert_error(api.post("/api/v1/rules/999999/apply", headers=world.h("owner")), 404)
