"""Tags (CRUD, bulk tagging) and segments (count, preview, save, list, delete) over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import AuditLog, CustomerTag, Segment, Tag
from tests.web.api_world import World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def test_list_tags_by_group_with_scoped_counts(api: TestClient, world: World) -> None:
    groups = api.get("/api/v1/tags", headers=world.h("operator")).json()
    assert [g["name"] for g in groups] == ["等级"]
    assert [(t["name"], t["customers"]) for t in groups[0]["tags"]] == [("VIP", 1), ("新客", 0)]
    # Bob does not follow 张三: the VIP count he sees is his share.
    bob = api.get("/api/v1/tags", headers=world.h("bob")).json()
    assert [(t["name"], t["customers"]) for t in bob[0]["tags"]] == [("VIP", 0), ("新客", 0)]
    other = api.get("/api/v1/tags", headers=world.h("other")).json()
    assert [t["name"] for g in other for t in g["tags"]] == ["外部"]


def test_create_rename_delete_tag(api: TestClient, world: World, session: Session) -> None:
    h = world.h("operator")
    made = api.post("/api/v1/tags", headers=h, json={"name": "敏感肌", "group": "肤质"})
    assert made.status_code == 201, made.text
    tag = made.json()
    assert tag["group"] == "肤质"
    assert_error(
        api.post("/api/v1/tags", headers=h, json={"name": "敏感肌", "group": "肤质"}), 409, field="name"
    )
    assert_error(api.post("/api/v1/tags", headers=h, json={"name": "", "group": "肤质"}), 422, field="name")
    assert_error(api.post("/api/v1/tags", headers=h, json={"name": "长" * 31}), 422, field="name")
    assert_error(api.post("/api/v1/tags", headers=world.h("alice"), json={"name": "x"}), 403)
    renamed = api.patch(f"/api/v1/tags/{tag['id']}", headers=h, json={"name": "油皮", "group": "等级"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["group"]) == ("油皮", "等级")
    assert_error(api.patch(f"/api/v1/tags/{tag['id']}", headers=h, json={"name": "VIP"}), 409)
    # Deleting takes the tag off every customer.
    vip = world.tags["vip"]
    assert api.delete(f"/api/v1/tags/{vip}", headers=h).status_code == 204
    assert session.scalars(select(CustomerTag).where(CustomerTag.tag_id == vip)).all() == []
    deleted = session.get(Tag, vip)
    assert deleted is not None
    assert deleted.deleted_at is not None
    assert_error(api.delete(f"/api/v1/tags/{vip}", headers=h), 404)
    profile = api.get(f"/api/v1/customers/{world.customers['zhang']}", headers=h).json()
    assert profile["tags"] == []
    # A deleted tag's name can be used again.
    assert api.post("/api/v1/tags", headers=h, json={"name": "VIP", "group": "等级"}).status_code == 201
    actions = session.scalars(
        select(AuditLog.action).where(AuditLog.target_type == "tag").order_by(AuditLog.id)
    ).all()
    assert actions[:3] == ["tag.create", "tag.update", "tag.delete"]


def test_bulk_tagging_respects_scope(api: TestClient, world: World, session: Session) -> None:
    new = world.tags["new"]
    zhang, li = world.customers["zhang"], world.customers["li"]
    ok = api.post(
        f"/api/v1/tags/{new}/customers", headers=world.h("operator"), json={"customer_ids": [zhang, li]}
    )
    assert ok.json() == {"tag_id": new, "customers": 2, "changed": 2}
    again = api.post(
        f"/api/v1/tags/{new}/customers", headers=world.h("operator"), json={"customer_ids": [zhang]}
    )
    assert again.json()["changed"] == 0
    # Alice may not touch 李四; nothing is written when one id is out of scope.
    assert_error(
        api.post(
            f"/api/v1/tags/{new}/customers/remove",
            headers=world.h("alice"),
            json={"customer_ids": [zhang, li]},
        ),
        404,
        field="customer_ids",
    )
    assert len(session.scalars(select(CustomerTag).where(CustomerTag.tag_id == new)).all()) == 2
    removed = api.post(
        f"/api/v1/tags/{new}/customers/remove", headers=world.h("alice"), json={"customer_ids": [zhang]}
    )
    assert removed.json()["changed"] == 1
    assert_error(
        api.post(f"/api/v1/tags/{new}/customers", headers=world.h("operator"), json={"customer_ids": []}), 422
    )
    assert_error(
        api.post(
            f"/api/v1/tags/{new}/customers",
            headers=world.h("other"),
            json={"customer_ids": [world.other_customer]},
        ),
        404,
        field="tag_id",
    )


def test_count_and_preview(api: TestClient, world: World) -> None:
    resp = api.post(
        "/api/v1/segments/count", headers=world.h("operator"), json={"q": "tag:VIP OR spent>=100"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["count"] == 1
    buyers = api.post("/api/v1/segments/count", headers=world.h("operator"), json={"q": "orders>=1"}).json()
    assert buyers["count"] == 1
    vip = api.post("/api/v1/segments/count", headers=world.h("operator"), json={"q": "tag:VIP"}).json()
    assert vip == {"count": 1, "warnings": [], "answered_by": "index"}
    preview = api.post(
        "/api/v1/segments/preview", headers=world.h("operator"), json={"q": "tag:VIP", "limit": 5}
    ).json()
    assert preview["count"] == 1
    assert [r["name"] for r in preview["items"]] == ["张三"]
    assert preview["items"][0]["phone_masked"] == "138****8000"
    # A staff user counts only their own customers.
    assert (
        api.post("/api/v1/segments/count", headers=world.h("bob"), json={"q": "tag:VIP"}).json()["count"] == 0
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"q": "tag:VIP AND"}, "q"),
        ({"q": "nosuchfield:1"}, "q"),
        ({"q": ""}, "q"),
        ({}, "q"),
        ({"q": "x" * 10_001}, "q"),
    ],
)
def test_bad_expressions_are_422_with_the_field(
    api: TestClient, world: World, body: dict[str, str], field: str
) -> None:
    err = assert_error(
        api.post("/api/v1/segments/count", headers=world.h("operator"), json=body), 422, field=field
    )
    assert err["code"] in ("invalid", "audience_syntax")


def test_syntax_error_says_where(api: TestClient, world: World) -> None:
    err = assert_error(
        api.post("/api/v1/segments/count", headers=world.h("operator"), json={"q": "tag:VIP AND ("}),
        422,
        "audience_syntax",
        "q",
    )
    assert err["message"].startswith("第 14 列")  # 1-based column where a term was expected


def test_save_list_get_delete_segment(api: TestClient, world: World, session: Session) -> None:
    h = world.h("operator")
    made = api.post(
        "/api/v1/segments", headers=h, json={"name": "VIP 客户", "q": "tag:VIP", "description": "高价值"}
    )
    assert made.status_code == 201, made.text
    seg = made.json()
    assert seg["count"] == 1
    assert seg["last_count"] == 1
    assert seg["expression_json"]
    assert seg["created_by"] == f"user:{world.users['operator']}"
    assert_error(
        api.post("/api/v1/segments", headers=h, json={"name": "VIP 客户", "q": "tag:VIP"}), 409, field="name"
    )
    assert_error(api.post("/api/v1/segments", headers=h, json={"name": "坏的", "q": "tag:("}), 422, field="q")
    assert_error(
        api.post("/api/v1/segments", headers=world.h("alice"), json={"name": "mine", "q": "tag:VIP"}), 403
    )
    assert [s["name"] for s in api.get("/api/v1/segments", headers=world.h("alice")).json()] == ["VIP 客户"]
    # Staff read a segment through their scope.
    assert api.get(f"/api/v1/segments/{seg['id']}", headers=world.h("bob")).json()["count"] == 0
    members = api.get(f"/api/v1/segments/{seg['id']}/customers", headers=world.h("alice")).json()
    assert [c["name"] for c in members["items"]] == ["张三"]
    assert api.get("/api/v1/segments", headers=world.h("other")).json() == []
    assert_error(api.get(f"/api/v1/segments/{seg['id']}", headers=world.h("other")), 404)
    assert_error(api.delete(f"/api/v1/segments/{seg['id']}", headers=world.h("alice")), 403)
    assert api.delete(f"/api/v1/segments/{seg['id']}", headers=h).status_code == 204
    assert session.get(Segment, seg["id"]) is None
    assert_error(api.get(f"/api/v1/segments/{seg['id']}", headers=h), 404, "not_found")


@pytest.mark.parametrize(
    ("q", "problem"),
    [
        ("orders>99999999999999999999", "orders must be from 0 to 1,000,000,000"),
        ("tag:VIP AND spent>=1e30", "spent must be from 0 to 10,000,000,000 yuan"),
        ("last_order_days<=100000", "last_order_days must be from 0 to 73,000 days"),
    ],
)
def test_out_of_range_numbers_are_422_naming_the_term_and_the_range(
    api: TestClient, world: World, session: Session, q: str, problem: str
) -> None:
    h = world.h("operator")
    for path in ("/api/v1/segments/count", "/api/v1/segments/preview"):
        err = assert_error(api.post(path, headers=h, json={"q": q}), 422, "audience_syntax", "q")
        assert problem in err["message"]
    # Saving validates: nothing is stored.
    err = assert_error(api.post("/api/v1/segments", headers=h, json={"name": "大单", "q": q}), 422, field="q")
    assert problem in err["message"]
    assert session.scalar(select(Segment).where(Segment.name == "大单")) is None
    assert_error(api.get("/api/v1/customers", headers=h, params={"q": q}), 422)


def test_a_saved_segment_holding_an_out_of_range_number_shows_the_error(
    api: TestClient, world: World, session: Session
) -> None:
    """Saved before numbers had bounds: the list loads, reading it says what is wrong."""
    h = world.h("operator")
    bad = Segment(
        workspace_id=world.ws, name="旧的", expression="orders>99999999999999999999", expression_json={}
    )
    session.add(bad)
    session.commit()
    listed = api.get("/api/v1/segments", headers=h)
    assert listed.status_code == 200
    assert [s["name"] for s in listed.json()] == ["旧的"]
    for path in (f"/api/v1/segments/{bad.id}", f"/api/v1/segments/{bad.id}/customers"):
        err = assert_error(api.get(path, headers=h), 422)
        assert "orders must be from 0 to 1,000,000,000" in err["message"]
    # Another expression that builds on it names the segment.
    err = assert_error(api.post("/api/v1/segments/count", headers=h, json={"q": "segment:旧的"}), 422)
    assert "saved segment '旧的' cannot be read" in err["message"]
    assert "orders must be from 0 to 1,000,000,000" in err["message"]
    # It can be deleted and saved again with a valid expression.
    assert api.delete(f"/api/v1/segments/{bad.id}", headers=h).status_code == 204
    made = api.post("/api/v1/segments", headers=h, json={"name": "旧的", "q": "orders>=1000"})
    assert made.status_code == 201, made.text
