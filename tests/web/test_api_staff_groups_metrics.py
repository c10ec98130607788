"""Staff capacity, groups and the metrics summary over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.kit.timeutil import local_day, utcnow
from siyu.models import CustomerScore
from tests.web.api_world import World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def test_staff_friends_against_the_limit(api: TestClient, world: World) -> None:
    page = api.get("/api/v1/staff", headers=world.h("operator")).json()
    assert page["total"] == 2
    by_userid = {s["userid"]: s for s in page["items"]}
    alice = by_userid["alice"]
    # 王五 deleted alice: one active friend out of a limit of two.
    assert (alice["friends"], alice["customer_limit"], alice["usage"], alice["near_full"]) == (
        1,
        2,
        0.5,
        False,
    )
    assert by_userid["bob"]["friends"] == 1
    assert page["items"][0]["userid"] == "alice"  # fullest first
    mine = api.get("/api/v1/staff", headers=world.h("bob")).json()
    assert [s["userid"] for s in mine["items"]] == ["bob"]
    assert_error(api.get(f"/api/v1/staff/{world.staff['alice']}", headers=world.h("bob")), 404)
    assert api.get(f"/api/v1/staff/{world.staff['alice']}", headers=world.h("admin")).json()["friends"] == 1
    assert_error(
        api.get("/api/v1/staff", headers=world.h("operator"), params={"status": "asleep"}),
        422,
        field="status",
    )


def test_groups_and_members(api: TestClient, world: World) -> None:
    groups = api.get("/api/v1/groups", headers=world.h("operator")).json()
    assert [(g["name"], g["owner_name"], g["customers"]) for g in groups["items"]] == [
        ("面霜复购群", "Alice", 1)
    ]
    found = api.get("/api/v1/groups", headers=world.h("operator"), params={"search": "复购"}).json()
    assert found["total"] == 1
    assert api.get("/api/v1/groups", headers=world.h("operator"), params={"search": "%"}).json()["total"] == 0
    members = api.get(f"/api/v1/groups/{world.group_id}/members", headers=world.h("alice")).json()
    assert [(m["member_type"], m["customer_id"]) for m in members["items"]] == [
        ("customer", world.customers["zhang"]),
        ("staff", None),
    ]
    # Bob owns no group; the other workspace sees none.
    assert api.get("/api/v1/groups", headers=world.h("bob")).json()["total"] == 0
    assert_error(api.get(f"/api/v1/groups/{world.group_id}/members", headers=world.h("bob")), 404)
    assert_error(api.get(f"/api/v1/groups/{world.group_id}", headers=world.h("other")), 404)


def test_metrics_summary(api: TestClient, world: World) -> None:
    with session_scope() as s:
        s.add(
            CustomerScore(
                customer_id=world.customers["zhang"],
                workspace_id=world.ws,
                layer_tier="vip",
                rfm_segment="champions",
                rfm8="111",
            )
        )
        s.add(
            CustomerScore(
                customer_id=world.customers["li"],
                workspace_id=world.ws,
                layer_tier="regular",
                rfm_segment="hibernating",
            )
        )
    resp = api.get("/api/v1/metrics/summary", headers=world.h("owner"), params={"days": 7})
    assert resp.status_code == 200, resp.text
    m = resp.json()
    t = m["totals"]
    assert (t["customers"], t["buyers"], t["friends"], t["follows"], t["staff_accounts"]) == (3, 1, 2, 2, 2)
    assert (t["orders"], t["paid_fen"], t["refunded_fen"], t["net_fen"]) == (1, 24900, 5000, 19900)
    # 张三 (a friend of alice) brought all the revenue; 2 of 3 customers are friends.
    assert (t["friend_share"], t["friends_net_fen"], t["friends_revenue_share"]) == (0.6667, 19900, 1.0)
    assert m["layers"]["tier"] == {"regular": 1, "vip": 1}
    assert m["rfm"] == {"champions": 1, "hibernating": 1}
    assert m["rfm8"] == {"111": 1}
    assert len(m["orders_per_day"]) == 7
    assert len(m["new_friends_per_day"]) == 7
    today = local_day(utcnow(), "Asia/Shanghai")
    assert m["end"] == today.isoformat()
    paid_day = local_day(utcnow() - timedelta(days=2), "Asia/Shanghai").isoformat()
    day = next(d for d in m["orders_per_day"] if d["day"] == paid_day)
    assert (day["orders"], day["net_fen"]) == (1, 19900)
    # The fully refunded order: money in, money out, no order counted.
    assert m["window"]["orders"] == 1
    assert m["window"]["net_fen"] == 19900
    # Friends added in the window: 张三 (3 days ago) and 李四 (2 days ago); 王五 10 days ago.
    assert m["window"]["new_friends"] == 2
    # Bob's figures are his own customers'.
    bob = api.get("/api/v1/metrics/summary", headers=world.h("bob")).json()
    assert (bob["staff_id"], bob["totals"]["customers"], bob["totals"]["net_fen"]) == (
        world.staff["bob"],
        1,
        0,
    )
    assert bob["rfm"] == {"hibernating": 1}
    other = api.get("/api/v1/metrics/summary", headers=world.h("other")).json()
    assert other["totals"]["customers"] == 1
    assert other["rfm"] == {}
    for days in (0, 367, "week"):
        assert_error(
            api.get("/api/v1/metrics/summary", headers=world.h("owner"), params={"days": days}),
            422,
            field="days",
        )
