"""The content library and sends over HTTP: create, approve over the size limit, errors name the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.models import ContentItem, Job, Send, Workspace
from tests.web.api_world import World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    w = build_world()
    with session_scope() as s:
        ws = s.scalar(select(Workspace).where(Workspace.slug == "default"))
        assert ws is not None
        ws.settings = {**ws.settings, "outbound": {"approval_over": 1, "quiet_hours": ""}}
    return w


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def test_content_library(api: TestClient, world: World, session: Session) -> None:
    made = api.post(
        "/api/v1/content",
        json={
            "kind": "link",
            "title": "双12 会场",
            "folder": "活动",
            "body": {"url": "https://shop.example/1212"},
        },
        headers=world.h("operator"),
    )
    assert made.status_code == 201, made.text
    bad = api.post(
        "/api/v1/content",
        json={"kind": "link", "title": "x", "body": {"url": "ftp://x"}},
        headers=world.h("operator"),
    )
    assert_error(bad, 422, field="url")
    listed = api.get("/api/v1/content?folder=活动", headers=world.h("operator")).json()
    assert [i["title"] for i in listed] == ["双12 会场"]
    assert api.delete(f"/api/v1/content/{made.json()['id']}", headers=world.h("operator")).status_code == 204
    session.expire_all()
    assert session.scalar(select(ContentItem.deleted_at)) is not None


def test_send_over_the_size_limit_needs_an_admin(api: TestClient, world: World, session: Session) -> None:
    body = {"title": "会员日", "text": "您好，我是{员工姓名}", "audience": "staff:alice or staff:bob"}
    made = api.post("/api/v1/sends", json=body, headers=world.h("operator"))
    assert made.status_code == 201, made.text
    send = made.json()
    assert send["status"] == "pending_approval"
    assert session.scalar(select(Job.id).where(Job.kind == "sends.plan")) is None
    assert_error(
        api.post(f"/api/v1/sends/{send['id']}/approve", headers=world.h("operator")), 403, field="role"
    )
    ok = api.post(f"/api/v1/sends/{send['id']}/approve", headers=world.h("admin"))
    assert ok.json()["status"] == "scheduled"
    session.expire_all()
    assert session.scalar(select(Job.kind).where(Job.kind == "sends.plan")) == "sends.plan"
    shown = api.get(f"/api/v1/sends/{send['id']}", headers=world.h("operator")).json()
    assert shown["status"] == "scheduled"
    bad = api.post("/api/v1/sends", json={**body, "text": "hi {客户昵称}"}, headers=world.h("operator"))
    assert_error(bad, 422, field="text")
    assert session.scalar(select(Send.id).where(Send.title != "会员日")) is None
