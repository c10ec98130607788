"""``/api/v1/channels/-/stores``, link and store channels, welcome defaults: role rules and
bad input refused whole."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import Channel, Store, WelcomeDefault
from tests.web.api_world import World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def test_stores_store_and_link_channels_and_defaults(api: TestClient, world: World, session: Session) -> None:
    op = world.h("operator")
    body = {
        "name": "静安店",
        "city": "上海",
        "lat": 31.229,
        "lng": 121.448,
        "staff_ids": [world.staff["alice"]],
    }
    for bad, field in (
        ({**body, "lat": -90.5}, "lat"),
        ({**body, "lng": 181}, "lng"),
        ({**body, "staff_ids": [999_999]}, "staff_ids"),
        ({**body, "staff_ids": []}, "staff_ids"),
        ({**body, "city": " "}, "city"),
    ):
        assert_error(api.post("/api/v1/channels/-/stores", json=bad, headers=op), 422, field=field)
    assert session.scalar(select(func.count()).select_from(Store)) == 0
    # staff users read, never write
    assert api.post("/api/v1/channels/-/stores", json=body, headers=world.h("alice")).status_code == 403
    made = api.post("/api/v1/channels/-/stores", json=body, headers=op)
    assert made.status_code == 201, made.text
    store = made.json()
    assert_error(api.post("/api/v1/channels/-/stores", json=body, headers=op), 409, field="name")
    moved = api.patch(f"/api/v1/channels/-/stores/{store['id']}", json={"lat": 31.3}, headers=op)
    assert moved.json()["lat"] == 31.3
    listed = api.get("/api/v1/channels/-/stores", headers=world.h("alice")).json()
    assert [s["name"] for s in listed] == ["静安店"]

    # A store channel: its state leaves room for ~<store id>; stores must exist.
    ch = {"name": "门店导流", "kind": "store", "store_ids": [store["id"]]}
    assert_error(api.post("/api/v1/channels", json={**ch, "state": "s" * 21}, headers=op), 422, field="state")
    assert_error(
        api.post("/api/v1/channels", json={**ch, "store_ids": [999]}, headers=op), 422, field="store_ids"
    )
    made_ch = api.post("/api/v1/channels", json={**ch, "state": "stores"}, headers=op)
    assert made_ch.status_code == 201, made_ch.text
    assert made_ch.json()["store_ids"] == [store["id"]]
    # No state may contain the store separator.
    assert_error(
        api.post("/api/v1/channels", headers=op,
                 json={"name": "x", "state": "a~1", "pool": {"staff_ids": [world.staff["alice"]]}}),
        422, field="state",
    )  # fmt: skip

    # A link channel: pool like a live code; no landing page.
    link = {"name": "短信", "kind": "link", "pool": {"staff_ids": [world.staff["alice"]]}}
    assert_error(
        api.post("/api/v1/channels", json={**link, "pool": {**link["pool"], "landing": True}}, headers=op),
        422,
        field="pool",
    )
    made_link = api.post("/api/v1/channels", json=link, headers=op)
    assert made_link.status_code == 201
    assert (made_link.json()["kind"], made_link.json()["link_url"]) == ("link", None)
    assert session.scalar(select(func.count()).select_from(Channel)) == 2

    # Default welcomes by level.
    dept = api.put(
        "/api/v1/channels/-/welcome-defaults",
        json={"department": "华东/上海", "welcome": {"text": "上海"}},
        headers=op,
    )
    assert dept.json()["level"] == "department"
    assert_error(
        api.put("/api/v1/channels/-/welcome-defaults", headers=op,
                json={"department": "华东", "staff_id": world.staff["alice"], "welcome": {"text": "x"}}),
        422, field="department",
    )  # fmt: skip
    assert [d["department"] for d in api.get("/api/v1/channels/-/welcome-defaults", headers=op).json()] == [
        "华东/上海"
    ]
    assert session.scalar(select(func.count()).select_from(WelcomeDefault)) == 1
    # The quota: answered in words when WeCom is not set up (never a 500).
    quota = api.get("/api/v1/channels/-/acquisition-quota", headers=op)
    assert quota.status_code == 200
    assert quota.json()["error"]
