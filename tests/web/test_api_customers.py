"""Customers API: list, search, audience filter, profile, scope, phone reveal, tags, opt-out."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import AuditLog, Customer, CustomerTag
from tests.web.api_world import PHONE_ZHANG, World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def test_list_is_a_page_envelope_with_masked_phones(api: TestClient, world: World) -> None:
    resp = api.get(
        "/api/v1/customers", headers=world.h("operator"), params={"page_size": 2, "sort": "oldest"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) >= {"items", "total", "page", "page_size"}
    assert body["total"] == 3
    assert body["page"] == 1
    assert body["page_size"] == 2
    assert [c["name"] for c in body["items"]] == ["张三", "李四"]
    zhang = body["items"][0]
    assert zhang["phone_masked"] == "138****8000"
    assert PHONE_ZHANG not in resp.text
    assert zhang["tags"] == ["VIP"]
    assert zhang["net_fen"] == 19900
    assert zhang["effective_orders_count"] == 1
    page2 = api.get(
        "/api/v1/customers", headers=world.h("operator"), params={"page_size": 2, "page": 2, "sort": "oldest"}
    )
    assert [c["name"] for c in page2.json()["items"]] == ["王五"]


def test_search_by_full_phone_uses_the_hash(api: TestClient, world: World) -> None:
    for spelling in (PHONE_ZHANG, "+86 138-0013-8000", "8613800138000"):
        resp = api.get("/api/v1/customers", headers=world.h("operator"), params={"search": spelling})
        assert [c["id"] for c in resp.json()["items"]] == [world.customers["zhang"]], spelling
    # A partial number cannot be searched (only hashes are stored): no match, and a note
    # saying why (plain text never errors).
    resp = api.get("/api/v1/customers", headers=world.h("operator"), params={"search": "1380013"})
    assert resp.status_code == 200
    assert resp.json()["total"] == 0
    assert any("whole number" in w for w in resp.json()["warnings"])


def test_search_by_name(api: TestClient, world: World) -> None:
    resp = api.get("/api/v1/customers", headers=world.h("operator"), params={"search": "李"})
    assert [c["name"] for c in resp.json()["items"]] == ["李四"]
    # LIKE wildcards are literal characters.
    resp = api.get("/api/v1/customers", headers=world.h("operator"), params={"search": "%"})
    assert resp.json()["total"] == 0


def test_audience_filter_and_syntax_errors(api: TestClient, world: World) -> None:
    resp = api.get("/api/v1/customers", headers=world.h("operator"), params={"q": "tag:VIP"})
    assert resp.status_code == 200, resp.text
    assert [c["id"] for c in resp.json()["items"]] == [world.customers["zhang"]]
    err = assert_error(
        api.get("/api/v1/customers", headers=world.h("operator"), params={"q": "tag:VIP AND ("}),
        422,
        field="q",
    )
    assert "column" in err["message"].lower() or "expected" in err["message"].lower()


def test_staff_see_only_customers_they_follow(api: TestClient, world: World) -> None:
    alice = api.get("/api/v1/customers", headers=world.h("alice")).json()
    # 王五 deleted alice: no longer hers to see.
    assert [c["id"] for c in alice["items"]] == [world.customers["zhang"]]
    bob = api.get("/api/v1/customers", headers=world.h("bob")).json()
    assert [c["id"] for c in bob["items"]] == [world.customers["li"]]
    assert (
        api.get(f"/api/v1/customers/{world.customers['zhang']}", headers=world.h("alice")).status_code == 200
    )
    for path in ("", "/orders", "/timeline"):
        assert_error(
            api.get(f"/api/v1/customers/{world.customers['zhang']}{path}", headers=world.h("bob")),
            404,
            "not_found",
        )
    assert_error(api.get(f"/api/v1/customers/{world.customers['wang']}", headers=world.h("alice")), 404)
    # Tagging and opt-out are scoped too.
    assert_error(
        api.post(
            f"/api/v1/customers/{world.customers['zhang']}/tags",
            headers=world.h("bob"),
            json={"tag_ids": [world.tags["new"]]},
        ),
        404,
    )
    assert_error(
        api.put(
            f"/api/v1/customers/{world.customers['zhang']}/opt-out",
            headers=world.h("bob"),
            json={"opt_out": True},
        ),
        404,
    )


def test_nothing_crosses_workspaces(api: TestClient, world: World) -> None:
    other = world.h("other")
    listing = api.get("/api/v1/customers", headers=other).json()
    assert [c["id"] for c in listing["items"]] == [world.other_customer]
    zhang = world.customers["zhang"]
    for method, path, body in (
        ("GET", f"/api/v1/customers/{zhang}", None),
        ("GET", f"/api/v1/customers/{zhang}/orders", None),
        ("POST", f"/api/v1/customers/{zhang}/reveal-phone", None),
        ("GET", f"/api/v1/customers/{zhang}/export", None),
        ("PUT", f"/api/v1/customers/{zhang}/opt-out", {"opt_out": True}),
        ("POST", f"/api/v1/customers/{zhang}/tags", {"tag_ids": [world.other_tag]}),
        ("DELETE", f"/api/v1/tags/{world.tags['vip']}", None),
        ("GET", f"/api/v1/groups/{world.group_id}", None),
        ("GET", f"/api/v1/staff/{world.staff['alice']}", None),
    ):
        assert_error(api.request(method, path, headers=other, json=body), 404)
    # And A cannot use B's tag on its own customer.
    assert_error(
        api.post(
            f"/api/v1/customers/{zhang}/tags", headers=world.h("owner"), json={"tag_ids": [world.other_tag]}
        ),
        404,
        field="tag_ids",
    )


def test_profile_has_everything_with_phones_masked(api: TestClient, world: World) -> None:
    zhang = world.customers["zhang"]
    resp = api.get(f"/api/v1/customers/{zhang}", headers=world.h("alice"))
    assert resp.status_code == 200, resp.text
    p = resp.json()
    assert p["name"] == "张三"
    assert p["phone_masked"] == "138****8000"
    assert PHONE_ZHANG not in resp.text.replace("我的手机号是 13800138000", "")
    kinds = {i["kind"]: i["value"] for i in p["identities"]}
    assert kinds["phone"] == "138****8000"
    # Staff see other ids shortened; the full WeCom id is for owners and admins.
    assert kinds["external_userid"] != "wmZHANGexternal0001"
    assert kinds["external_userid"].startswith("wmZH")
    assert [t["name"] for t in p["tags"]] == ["VIP"]
    assert [f["staff_userid"] for f in p["follows"]] == ["alice"]
    assert p["stats"]["net_fen"] == 19900
    assert p["stats"]["refunded_fen"] == 5000
    assert p["orders_total"] == 2
    assert {o["external_id"] for o in p["orders"]} == {"T1", "T2"}
    assert p["timeline_total"] >= 1
    assert p["timeline"][0]["kind"] == "message.in"
    assert p["can_reveal_phone"] is False
    admin = api.get(f"/api/v1/customers/{zhang}", headers=world.h("admin")).json()
    assert {i["kind"]: i["value"] for i in admin["identities"]}["external_userid"] == "wmZHANGexternal0001"
    assert admin["can_reveal_phone"] is True


def test_orders_and_timeline_pages(api: TestClient, world: World) -> None:
    zhang = world.customers["zhang"]
    orders = api.get(
        f"/api/v1/customers/{zhang}/orders", headers=world.h("operator"), params={"page_size": 1}
    ).json()
    assert orders["total"] == 2
    assert len(orders["items"]) == 1
    assert orders["items"][0]["external_id"] == "T2"  # newest first
    timeline = api.get(
        f"/api/v1/customers/{zhang}/timeline", headers=world.h("operator"), params={"kind": "order."}
    )
    assert timeline.status_code == 200
    assert all(e["kind"].startswith("order.") for e in timeline.json()["items"])


def test_reveal_phone_is_for_owner_and_admin_and_audited(
    api: TestClient, world: World, session: Session
) -> None:
    zhang = world.customers["zhang"]
    for role in ("operator", "alice"):
        assert_error(
            api.post(f"/api/v1/customers/{zhang}/reveal-phone", headers=world.h(role)), 403, "forbidden"
        )
    resp = api.post(f"/api/v1/customers/{zhang}/reveal-phone", headers=world.h("admin"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["phones"] == ["+8613800138000"]
    entries = session.scalars(select(AuditLog).where(AuditLog.action == "phone.reveal")).all()
    assert [(e.actor, e.target_id) for e in entries] == [(f"user:{world.users['admin']}", str(zhang))]
    # Customer without a phone: a clear 404, and no audit entry.
    assert_error(
        api.post(f"/api/v1/customers/{world.customers['wang']}/reveal-phone", headers=world.h("owner")),
        404,
        field="phone",
    )


def test_tag_and_untag_a_customer(api: TestClient, world: World, session: Session) -> None:
    zhang = world.customers["zhang"]
    resp = api.post(
        f"/api/v1/customers/{zhang}/tags",
        headers=world.h("alice"),
        json={"tag_ids": [world.tags["new"]], "tags": [{"name": "VIP", "group": "等级"}]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["added"] == 1  # VIP was already there
    row = session.scalar(
        select(CustomerTag).where(CustomerTag.customer_id == zhang, CustomerTag.tag_id == world.tags["new"])
    )
    assert row is not None
    assert row.source == "manual"
    assert row.staff_id == world.staff["alice"]
    # Staff cannot invent tags; operators can (created on the fly).
    assert_error(
        api.post(
            f"/api/v1/customers/{zhang}/tags", headers=world.h("alice"), json={"tags": [{"name": "乱写"}]}
        ),
        404,
        field="tags",
    )
    ok = api.post(
        f"/api/v1/customers/{zhang}/tags", headers=world.h("operator"), json={"tags": [{"name": "敏感肌"}]}
    )
    assert ok.json()["added"] == 1
    resp = api.delete(f"/api/v1/customers/{zhang}/tags/{world.tags['new']}", headers=world.h("alice"))
    assert resp.json()["removed"] == 1
    session.expire_all()
    names = api.get(f"/api/v1/customers/{zhang}", headers=world.h("alice")).json()["tags"]
    assert sorted(t["name"] for t in names) == ["VIP", "敏感肌"]
    assert_error(
        api.post(
            f"/api/v1/customers/{zhang}/tags",
            headers=world.h("operator"),
            json={"tags": [{"name": "x" * 31}]},
        ),
        422,
    )


def test_opt_out_round_trip_is_audited(api: TestClient, world: World, session: Session) -> None:
    li = world.customers["li"]
    resp = api.put(
        f"/api/v1/customers/{li}/opt-out",
        headers=world.h("bob"),
        json={"opt_out": True, "reason": "客户要求"},
    )
    assert resp.json() == {"customer_id": li, "opt_out": True}
    customer = session.get(Customer, li)
    assert customer is not None
    assert customer.opt_out
    assert customer.opt_out_at is not None
    listed = api.get("/api/v1/customers", headers=world.h("bob")).json()["items"][0]
    assert listed["opt_out"] is True
    api.put(f"/api/v1/customers/{li}/opt-out", headers=world.h("bob"), json={"opt_out": False})
    actions = session.scalars(
        select(AuditLog.action)
        .where(AuditLog.target_type == "customer", AuditLog.target_id == str(li))
        .order_by(AuditLog.id)
    ).all()
    assert actions == ["privacy.opt_out", "privacy.opt_in"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page_size": 201}, "page_size"),
        ({"page_size": "many"}, "page_size"),
        ({"sort": "sideways"}, "sort"),
        ({"tag_id": -1}, "tag_id"),
    ],
)
def test_bad_list_parameters_are_422(
    api: TestClient, world: World, params: dict[str, object], field: str
) -> None:
    assert_error(
        api.get("/api/v1/customers", headers=world.h("operator"), params=params), 422, "invalid", field
    )


def test_bad_ids_are_4xx_not_500(api: TestClient, world: World) -> None:
    h = world.h("operator")
    assert_error(api.get("/api/v1/customers/abc", headers=h), 422, field="customer_id")
    assert_error(api.get(f"/api/v1/customers/{2**63}", headers=h), 422, field="customer_id")
    assert_error(api.get(f"/api/v1/customers/{2**62}", headers=h), 404, "not_found")
    assert_error(api.get("/api/v1/no-such-thing", headers=h), 404, "not_found")
    assert_error(api.put("/api/v1/customers", headers=h), 405, "method_not_allowed")
    assert_error(
        api.put(f"/api/v1/customers/{world.customers['li']}/opt-out", headers=h, content=b"{not json"), 422
    )


def test_sort_orders(api: TestClient, world: World) -> None:
    def ids(sort: str) -> list[int]:
        resp = api.get("/api/v1/customers", headers=world.h("operator"), params={"sort": sort})
        return [c["id"] for c in resp.json()["items"]]

    c = world.customers
    assert ids("newest") == [c["wang"], c["li"], c["zhang"]]
    assert ids("oldest") == [c["zhang"], c["li"], c["wang"]]
    assert ids("net_desc")[0] == c["zhang"]
    assert ids("last_paid_desc")[0] == c["zhang"]


def test_tag_filter(api: TestClient, world: World) -> None:
    resp = api.get("/api/v1/customers", headers=world.h("operator"), params={"tag_id": world.tags["vip"]})
    assert [c["id"] for c in resp.json()["items"]] == [world.customers["zhang"]]
    # Another workspace's tag id filters to nothing rather than leaking.
    resp = api.get("/api/v1/customers", headers=world.h("operator"), params={"tag_id": world.other_tag})
    assert resp.json()["total"] == 0


def test_merged_ids_lead_to_the_surviving_profile(api: TestClient, world: World) -> None:
    from siyu.customers.service import merge_customers
    from siyu.kit.db import session_scope

    zhang, wang = world.customers["zhang"], world.customers["wang"]
    with session_scope() as s:
        merge_customers(s, workspace_id=world.ws, survivor_id=zhang, merged_id=wang, actor="test")
    resp = api.get(f"/api/v1/customers/{wang}", headers=world.h("operator"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == zhang
    listed = api.get("/api/v1/customers", headers=world.h("operator")).json()
    assert wang not in [c["id"] for c in listed["items"]]
    # The tombstone of another workspace's id space is still a plain 404 there.
    assert_error(api.get(f"/api/v1/customers/{wang}", headers=world.h("other")), 404)
