"""``/api/v1/channels`` and ``/c/{slug}``: role rules, bad input refused whole, QR downloads."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.models import Channel, Job
from tests.web.api_world import World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def _make(api: TestClient, world: World, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "包裹卡",
        "group_name": "电商",
        "cost_fen": 50_000,
        "pool": {"staff_ids": [world.staff["alice"]]},
    }
    resp = api.post("/api/v1/channels", json={**body, **extra}, headers=world.h("operator"))
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_operators_edit_staff_read_their_own(api: TestClient, world: World, session: Session) -> None:
    made = _make(api, world)
    assert (made["sync_status"], made["cost_fen"], made["kind"]) == ("pending", 50_000, "contact_way")
    assert len(made["state"]) <= 30
    jobs = session.scalars(select(Job.kind).where(Job.kind == "acquisition.channel_sync")).all()
    assert jobs == ["acquisition.channel_sync"]
    # alice is in the pool: she reads it; bob is not: he sees nothing; staff cannot edit.
    assert [c["id"] for c in api.get("/api/v1/channels", headers=world.h("alice")).json()] == [made["id"]]
    assert api.get("/api/v1/channels", headers=world.h("bob")).json() == []
    assert_error(api.get(f"/api/v1/channels/{made['id']}", headers=world.h("bob")), 404)
    assert_error(
        api.patch(f"/api/v1/channels/{made['id']}", json={"name": "x"}, headers=world.h("alice")), 403
    )
    assert_error(api.post("/api/v1/channels", json={"name": "x"}, headers=world.h("bob")), 403)
    # The other workspace does not see it.
    assert_error(api.get(f"/api/v1/channels/{made['id']}", headers=world.h("other")), 404)
    changed = api.patch(
        f"/api/v1/channels/{made['id']}",
        json={
            "cost_fen": None,
            "pool": {"staff_ids": [world.staff["alice"], world.staff["bob"]], "strategy": "weighted"},
        },
        headers=world.h("admin"),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["cost_fen"] is None
    assert changed.json()["pool"]["strategy"] == "weighted"
    routing = api.get(f"/api/v1/channels/{made['id']}/routing", headers=world.h("operator")).json()
    assert {a["userid"] for a in routing["accounts"]} == {"alice", "bob"}
    assert api.delete(f"/api/v1/channels/{made['id']}", headers=world.h("operator")).status_code == 204
    assert api.get("/api/v1/channels", headers=world.h("operator")).json() == []


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"state": "x" * 31}, "state"),
        ({"pool": {"staff_ids": [999_999]}}, "pool"),
        ({"pool": {"staff_ids": []}}, "pool"),
        ({"welcome": {"text": "好" * 1334}}, "welcome"),  # 4,002 bytes in UTF-8
        ({"welcome": {"text": "hi", "attachments": [{"msgtype": "link", "link": {}}] * 10}}, "welcome"),
        ({"cost_fen": -1}, "cost_fen"),
        ({"pool": {"staff_ids": [1], "strategy": "fastest"}}, "pool"),
        ({"pool": {"staff_ids": [1], "threshold": 1.5}}, "pool"),
        ({"tag_ids": [999_999]}, "tag_ids"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    api: TestClient, world: World, session: Session, extra: dict[str, Any], field: str
) -> None:
    body: dict[str, Any] = {"name": "抖音", "pool": {"staff_ids": [world.staff["alice"]]}, **extra}
    if "pool" in extra and extra["pool"].get("staff_ids") == [1]:
        body["pool"]["staff_ids"] = [world.staff["alice"]]
    err = assert_error(api.post("/api/v1/channels", json=body, headers=world.h("operator")), 422, field=field)
    assert err["message"]
    assert session.scalar(select(func.count()).select_from(Channel)) == 0
    assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_refused_edit_changes_nothing(api: TestClient, world: World, session: Session) -> None:
    made = _make(api, world)
    bad = api.patch(
        f"/api/v1/channels/{made['id']}",
        json={"name": "新名字", "welcome": {"text": "a" * 4001}},
        headers=world.h("operator"),
    )
    assert_error(bad, 422, field="welcome")
    session.expire_all()
    assert session.get(Channel, made["id"]).name == "包裹卡"  # type: ignore[union-attr]


def test_qr_png_and_svg_are_made_locally(api: TestClient, world: World) -> None:
    made = _make(api, world)
    assert_error(api.get(f"/api/v1/channels/{made['id']}/qr.png", headers=world.h("operator")), 404)
    with session_scope() as s:
        ch = s.get(Channel, made["id"])
        assert ch is not None
        ch.qr_url = "https://wework.qpic.cn/wwpic/sim/abc/0"
    png = api.get(f"/api/v1/channels/{made['id']}/qr.png", headers=world.h("alice"))
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = api.get(f"/api/v1/channels/{made['id']}/qr.svg", headers=world.h("operator"))
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content


def test_landing_page_picks_one_account_per_visit(api: TestClient, world: World) -> None:
    made = _make(
        api,
        world,
        pool={"staff_ids": [world.staff["alice"], world.staff["bob"]], "strategy": "wecom", "landing": True},
    )
    with session_scope() as s:
        ch = s.get(Channel, made["id"])
        assert ch is not None
        ch.qr_url = "https://wework.qpic.cn/wwpic/sim/multi/0"
        ch.settings = {
            "staff_codes": {
                str(world.staff["alice"]): {"config_id": "a", "qr_code": "https://q/alice"},
                str(world.staff["bob"]): {"config_id": "b", "qr_code": "https://q/bob"},
            }
        }
    seen = set()
    for _ in range(30):
        page = api.get(f"/c/{made['slug']}")
        assert page.status_code == 200
        assert "<svg" in page.text
        assert "<script" not in page.text
        seen.add("Alice" if "Alice" in page.text else "Bob" if "Bob" in page.text else "?")
    # alice is at 1 of 2 friends: under the default 90 % threshold only for wecom routing.
    assert seen == {"Alice", "Bob"}
    assert api.get("/c/nothere").status_code == 404
