"""PIPL: export everything about a person, anonymise on request, the audit log."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import AuditLog, Customer, CustomerIdentity, CustomerStats, Event, Follow, GroupMember, Order
from tests.web.api_world import PHONE_ZHANG, World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def test_export_holds_everything_and_is_audited(api: TestClient, world: World, session: Session) -> None:
    zhang = world.customers["zhang"]
    resp = api.get(f"/api/v1/customers/{zhang}/export", headers=world.h("admin"))
    assert resp.status_code == 200, resp.text
    assert "attachment" in resp.headers["content-disposition"]
    assert resp.headers["cache-control"] == "no-store"
    data = resp.json()
    assert data["format"] == "siyu.privacy.export/1"
    assert data["customer"]["name"] == "张三"
    # The person gets their own phone number in full, and no internal hashes.
    phones = [i["value"] for i in data["identities"] if i["kind"] == "phone"]
    assert phones == ["+8613800138000"]
    assert all("value_hash" not in i and "value_enc" not in i for i in data["identities"])
    assert {o["external_id"] for o in data["orders"]} == {"T1", "T2"}
    assert data["orders"][0]["items"][0]["title"] == "玻尿酸面霜"
    assert [t["name"] for t in data["tags"]] == ["VIP"]
    assert [f["staff_userid"] for f in data["follows"]] == ["alice"]
    assert [g["group_name"] for g in data["groups"]] == ["面霜复购群"]
    assert any(e["kind"] == "message.in" for e in data["events"])
    assert data["stats"]["net_fen"] == 19900
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "privacy.export"))
    assert entry is not None
    assert entry.actor == f"user:{world.users['admin']}"
    assert entry.target_id == str(zhang)
    assert PHONE_ZHANG not in json.dumps(entry.detail)


@pytest.mark.parametrize("role", ["operator", "alice"])
def test_export_and_anonymise_are_for_owner_and_admin(api: TestClient, world: World, role: str) -> None:
    zhang = world.customers["zhang"]
    assert_error(api.get(f"/api/v1/customers/{zhang}/export", headers=world.h(role)), 403, "forbidden")
    assert_error(
        api.post(f"/api/v1/customers/{zhang}/anonymise", headers=world.h(role), json={"confirm": True}),
        403,
        "forbidden",
    )


def test_anonymise_removes_pii_and_keeps_the_books(api: TestClient, world: World, session: Session) -> None:
    zhang = world.customers["zhang"]
    before = session.get(CustomerStats, zhang)
    assert before is not None
    net_before = before.net_fen
    assert_error(api.post(f"/api/v1/customers/{zhang}/anonymise", headers=world.h("owner"), json={}), 422)
    assert_error(
        api.post(f"/api/v1/customers/{zhang}/anonymise", headers=world.h("owner"), json={"confirm": False}),
        422,
    )
    resp = api.post(
        f"/api/v1/customers/{zhang}/anonymise",
        headers=world.h("owner"),
        json={"confirm": True, "reason": "工单 #42：本人要求删除"},
    )
    assert resp.status_code == 200, resp.text
    counts = resp.json()["counts"]
    assert counts["identities"] == 3
    assert counts["orders"] == 2
    session.expire_all()
    customer = session.get(Customer, zhang)
    assert customer is not None
    assert customer.name is None
    assert customer.anonymised_at is not None
    assert customer.opt_out is True
    assert session.scalars(select(CustomerIdentity).where(CustomerIdentity.customer_id == zhang)).all() == []
    orders = session.scalars(select(Order).where(Order.customer_id == zhang).order_by(Order.id)).all()
    assert [(o.external_id, o.paid_fen, o.refunded_fen) for o in orders] == [
        ("T1", 19900, 0),
        ("T2", 5000, 5000),
    ]
    for o in orders:
        assert (o.buyer_id, o.buyer_name, o.phone_masked, o.city, o.district, o.buyer_note) == (None,) * 6
        assert o.extra == {}
        assert o.province == "浙江省"  # coarse region stays for regional accounting
    stats = session.get(CustomerStats, zhang)
    assert stats is not None
    assert stats.net_fen == net_before
    follow = session.scalar(select(Follow).where(Follow.customer_id == zhang))
    assert follow is not None
    assert follow.external_userid is None
    member = session.scalar(select(GroupMember).where(GroupMember.customer_id == zhang))
    assert member is not None
    assert member.name is None
    assert "wmZHANG" not in member.userid
    event = session.scalar(select(Event).where(Event.customer_id == zhang))
    assert event is not None
    assert event.payload == {}
    # Nothing about the person is readable any more, and phone search finds nobody.
    profile = api.get(f"/api/v1/customers/{zhang}", headers=world.h("owner")).json()
    assert profile["identities"] == []
    assert profile["phone_masked"] is None
    assert profile["anonymised_at"] is not None
    found = api.get("/api/v1/customers", headers=world.h("owner"), params={"search": PHONE_ZHANG}).json()
    assert found["total"] == 0
    listed = api.get("/api/v1/customers", headers=world.h("owner")).json()
    assert zhang not in [c["id"] for c in listed["items"]]
    assert_error(
        api.post(f"/api/v1/customers/{zhang}/reveal-phone", headers=world.h("owner")), 404, field="phone"
    )
    # Twice is a conflict, and opting back in is refused.
    assert_error(
        api.post(f"/api/v1/customers/{zhang}/anonymise", headers=world.h("owner"), json={"confirm": True}),
        409,
    )
    assert_error(
        api.put(f"/api/v1/customers/{zhang}/opt-out", headers=world.h("owner"), json={"opt_out": False}), 409
    )
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "privacy.anonymise"))
    assert entry is not None
    assert entry.detail["reason"] == "工单 #42：本人要求删除"
    # Other customers are untouched.
    li = session.get(Customer, world.customers["li"])
    assert li is not None
    assert li.name == "李四"


def test_anonymised_customer_leaves_audiences(api: TestClient, world: World) -> None:
    zhang = world.customers["zhang"]
    assert (
        api.post("/api/v1/segments/count", headers=world.h("owner"), json={"q": "tag:VIP"}).json()["count"]
        == 1
    )
    api.post(f"/api/v1/customers/{zhang}/anonymise", headers=world.h("owner"), json={"confirm": True})
    assert (
        api.post("/api/v1/segments/count", headers=world.h("owner"), json={"q": "tag:VIP"}).json()["count"]
        == 0
    )


def test_audit_log_listing(api: TestClient, world: World) -> None:
    zhang = world.customers["zhang"]
    api.post(f"/api/v1/customers/{zhang}/reveal-phone", headers=world.h("admin"))
    api.get(f"/api/v1/customers/{zhang}/export", headers=world.h("owner"))
    assert_error(api.get("/api/v1/audit", headers=world.h("operator")), 403)
    everything = api.get("/api/v1/audit", headers=world.h("owner")).json()
    assert everything["total"] >= 2
    assert everything["items"][0]["action"] == "privacy.export"  # newest first
    reveals = api.get("/api/v1/audit", headers=world.h("owner"), params={"action": "phone.reveal"}).json()
    assert [(e["actor"], e["target_id"]) for e in reveals["items"]] == [
        (f"user:{world.users['admin']}", str(zhang))
    ]
    mine = api.get(
        "/api/v1/audit", headers=world.h("owner"), params={"target_type": "customer", "target_id": str(zhang)}
    ).json()
    assert {e["action"] for e in mine["items"]} == {"phone.reveal", "privacy.export"}
    future = api.get("/api/v1/audit", headers=world.h("owner"), params={"since": "2999-01-01T00:00:00+08:00"})
    assert future.json()["total"] == 0
    assert_error(
        api.get("/api/v1/audit", headers=world.h("owner"), params={"since": "2026-01-01T00:00:00"}),
        422,
        field="since",
    )
    # The other workspace sees none of it.
    theirs = api.get("/api/v1/audit", headers=world.h("other"), params={"action": "phone.reveal"}).json()
    assert theirs["total"] == 0
