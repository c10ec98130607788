"""Staff users read their own slice of acquisition; operators and admins edit.

One small shop (tests.acquisition.test_funnel's): alice and bob took adds through the
parcel card and the live room, wang is a friend of both (a matrix duplicate), a store
channel routes to alice as store staff, carol shares a duplicate with bob. Read through
the HTTP API and the console as each role.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.acquisition import leads
from siyu.config import Settings
from siyu.execution.service import NewTask, create_tasks
from siyu.kit.db import session_scope
from siyu.kit.timeutil import moved_clock
from siyu.models import AuditLog, Channel, CustomerTransfer, StaffTask, Store
from siyu.staff.service import ensure_staff
from siyu.web.auth import create_user
from tests.acquisition.test_funnel import NOW, Shop, _at, _deliver
from tests.conftest import CliRun
from tests.web.api_world import assert_error
from tests.web.test_console import PASSWORD, csrf_of, login

ROLES = ("owner", "operator", "alice", "bob", "carol", "dan")


@dataclass
class Town:
    ws: int
    staff: dict[str, int] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    store_channel: int = 0
    parcel: int = 0

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _town(ws: int) -> Town:
    with session_scope() as s:
        shop = Shop(s, ws)
        carol = ensure_staff(s, workspace_id=ws, userid="carol", name="Carol").id
        ensure_staff(s, workspace_id=ws, userid="dan", name="Dan")
        t = Town(ws, staff={"alice": shop.alice, "bob": shop.bob, "carol": carol})
        shop.add("zhang", shop.alice, "parcel", _at(1))
        shop.order("zhang", _at(5), 10_000, cost=4_000)
        shop.add("li", shop.alice, "parcel", _at(1, 3))
        shop.lose("li", shop.alice, _at(3))
        shop.add("wang", shop.bob, "live", _at(2))
        shop.add("wang", shop.alice, "parcel", _at(10))  # a duplicate of bob and alice
        shop.order("wang", _at(15), 20_000, cost=8_000)  # the live room's (first add)
        shop.add("zhao", shop.bob, "parcel", _at(25))
        shop.add("sun", shop.bob, "live", _at(4))
        shop.add("sun", carol, "live", _at(6))  # a duplicate of bob and carol
        t.customers = dict(shop.customers)
        store = Store(
            workspace_id=ws, name="西湖店", city="杭州", lat=30.25, lng=120.15, staff_ids=[shop.alice]
        )
        s.add(store)
        s.flush()
        ch = Channel(workspace_id=ws, name="门店码", state="store1", slug="store1", kind="store",
                     settings={"store_ids": [store.id]})  # fmt: skip
        s.add(ch)
        s.flush()
        t.store_channel = ch.id
        t.parcel = int(
            s.scalar(select(Channel.id).where(Channel.workspace_id == ws, Channel.state == "parcel"))
        )
        create_tasks(
            s,
            workspace_id=ws,
            tasks=[
                NewTask(
                    staff_id=sid,
                    kind=leads.KIND,
                    title="添加客户为企业微信好友",
                    due_at=NOW + timedelta(days=1),
                    customer_id=t.customers[name],
                    source="lead_pool",
                    dedup_key=f"lead:{name}",
                    extra={"phone_masked": "138****0000"},
                )
                for sid, name in ((shop.alice, "zhao"), (shop.bob, "li"), (shop.bob, "zhang"))
            ],
        )
        for batch, giver, taker, names in (
            ("b-alice", shop.alice, shop.bob, ("zhang",)),
            ("b-bob", shop.bob, carol, ("zhao", "sun")),
        ):
            s.add_all(
                CustomerTransfer(
                    workspace_id=ws,
                    batch=batch,
                    kind="onjob",
                    handover_staff_id=giver,
                    takeover_staff_id=taker,
                    customer_id=t.customers[n],
                    external_userid=f"wm_{n}",
                    status="waiting",
                    rule="hand",
                )
                for n in names
            )
        for role in ("owner", "operator"):
            _, t.tokens[role] = create_user(s, workspace_id=ws, name=role, role=role, password=PASSWORD)
        for name in ("alice", "bob", "carol", "dan"):
            _, t.tokens[name] = create_user(
                s, workspace_id=ws, name=name, role="staff", password=PASSWORD, staff_userid=name
            )
    _deliver()
    return t


@pytest.fixture
def town(env: Settings, workspace_id: int) -> Iterator[Town]:
    with moved_clock(NOW):
        yield _town(workspace_id)


@pytest.fixture
def api(env: Settings) -> TestClient:
    from siyu.web.app import create_app

    return TestClient(create_app(env), base_url="http://localhost")


def _funnel(api: TestClient, who: str, town: Town, **params: str) -> dict[str, Any]:
    resp = api.get("/api/v1/channels/funnel", headers=town.h(who), params={"start": "2026-03-01", **params})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _states(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["state"]: c["total"] for c in data["channels"]}


def test_staff_read_the_funnel_of_their_own_adds(api: TestClient, town: Town) -> None:
    everyone = _states(_funnel(api, "operator", town))
    assert everyone["parcel"]["adds"] == 4
    assert everyone["parcel"]["cost_fen"] == 10_000
    assert {"parcel", "live", "store1"} <= set(everyone)

    alice = _funnel(api, "alice", town)
    mine = _states(alice)
    # Her three parcel adds (李四 lost), 张三's order; 王五's order is the live room's (bob's).
    assert set(mine) == {"parcel", "store1"}  # the store channel routes to her as store staff
    p = mine["parcel"]
    assert (p["adds"], p["lost"], p["buyers"], p["net_fen"], p["gross_fen"]) == (3, 1, 1, 10_000, 6_000)
    assert p["cost_fen"] == 7_500  # her share: 10,000 × 3 of the channel's 4 adds
    assert mine["store1"]["adds"] == 0
    assert alice["total"]["net_fen"] == 10_000
    # She cannot ask for bob's slice: the parameter is ignored for staff users.
    assert _funnel(api, "alice", town, staff="bob")["channels"] == alice["channels"]

    bob = _states(_funnel(api, "bob", town))
    assert set(bob) == {"parcel", "live"}
    assert (bob["live"]["adds"], bob["live"]["net_fen"]) == (2, 20_000)
    assert (bob["parcel"]["adds"], bob["parcel"]["cost_fen"]) == (1, 2_500)
    # The shares add up to the channel's cost.
    assert bob["parcel"]["cost_fen"] + p["cost_fen"] == everyone["parcel"]["cost_fen"]

    # An operator can look at one account's slice; an unknown account is named.
    assert _states(_funnel(api, "operator", town, staff="alice")) == mine
    assert_error(
        api.get("/api/v1/channels/funnel", headers=town.h("operator"), params={"staff": "zed"}),
        404,
        field="staff",
    )
    # An account with no adds and no channel sees an empty funnel, nothing of the others.
    dan = _funnel(api, "dan", town)
    assert dan["channels"] == []
    assert dan["total"]["adds"] == 0


def test_store_staff_see_the_store_channel(api: TestClient, town: Town) -> None:
    names = {c["name"] for c in api.get("/api/v1/channels", headers=town.h("alice")).json()}
    assert names == {"门店码"}
    assert api.get("/api/v1/channels", headers=town.h("bob")).json() == []
    assert api.get(f"/api/v1/channels/{town.store_channel}", headers=town.h("alice")).status_code == 200
    assert_error(api.get(f"/api/v1/channels/{town.store_channel}", headers=town.h("bob")), 404)
    assert len(api.get("/api/v1/channels", headers=town.h("operator")).json()) == 3


def test_staff_read_the_duplicates_of_their_own_account(api: TestClient, town: Town) -> None:
    def get(who: str, **params: Any) -> dict[str, Any]:
        resp = api.get("/api/v1/dedup", headers=town.h(who), params=params)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    assert get("operator")["customers"] == 2
    alice = get("alice")
    assert alice["customers"] == 1
    assert [c["customer_id"] for c in alice["sample"]] == [town.customers["wang"]]
    assert [s["userid"] for s in alice["staff"]] == ["alice"]
    assert alice["staff"][0]["as_second"] == 1
    # Channels: the one the duplicate came through, and hers (the store channel) at zero.
    assert {c["state"] for c in alice["channels"]} == {"parcel", "store1"}
    assert get("bob")["customers"] == 2
    carol = get("carol", staff="bob")  # the staff filter is hers, whatever she asks
    assert [c["customer_id"] for c in carol["sample"]] == [town.customers["sun"]]
    assert [s["userid"] for s in carol["staff"]] == ["carol"]
    assert get("dan")["customers"] == 0


def test_staff_read_their_own_lead_tasks_and_conversion(api: TestClient, town: Town) -> None:
    everyone = api.get("/api/v1/leads", headers=town.h("operator")).json()
    assert isinstance(everyone["pool"], int)
    assert {r["userid"]: r["leads"] for r in everyone["staff"]} == {"alice": 1, "bob": 2}
    assert "tasks" not in everyone
    alice = api.get("/api/v1/leads", headers=town.h("alice"), params={"staff": "bob"}).json()
    assert alice["pool"] is None
    assert [(r["userid"], r["leads"], r["open"]) for r in alice["staff"]] == [("alice", 1, 1)]
    assert [t["customer_id"] for t in alice["tasks"]] == [town.customers["zhao"]]
    assert alice["tasks"][0]["phone_masked"] == "138****0000"
    bob = api.get("/api/v1/leads", headers=town.h("operator"), params={"staff": "bob"}).json()
    assert sorted(t["customer_id"] for t in bob["tasks"]) == sorted(
        [town.customers["li"], town.customers["zhang"]]
    )
    dan = api.get("/api/v1/leads", headers=town.h("dan")).json()
    assert (dan["staff"], dan["tasks"]) == ([], [])


def test_staff_read_transfers_from_or_to_their_account(api: TestClient, town: Town) -> None:
    def batches(who: str) -> dict[str, list[int]]:
        resp = api.get("/api/v1/transfers", headers=town.h(who))
        assert resp.status_code == 200, resp.text
        return {b["batch"]: sorted(r["customer_id"] for r in b["rows"]) for b in resp.json()}

    c = town.customers
    assert batches("operator") == {"b-alice": [c["zhang"]], "b-bob": sorted([c["zhao"], c["sun"]])}
    assert batches("alice") == {"b-alice": [c["zhang"]]}
    assert batches("bob") == batches("operator")
    assert batches("carol") == {"b-bob": sorted([c["zhao"], c["sun"]])}
    assert batches("dan") == {}
    assert_error(api.get("/api/v1/transfers", headers=town.h("alice"), params={"batch": "b-bob"}), 404)
    # Who owned a customer: hers only.
    owners = api.get(f"/api/v1/transfers/customers/{c['zhang']}", headers=town.h("alice"))
    assert owners.status_code == 200
    assert [p["userid"] for p in owners.json()] == ["alice"]
    assert_error(api.get(f"/api/v1/transfers/customers/{c['zhao']}", headers=town.h("alice")), 404)


def test_every_write_is_refused_to_staff(api: TestClient, town: Town, session: Session) -> None:
    h = town.h("alice")
    ch = town.store_channel
    writes = [
        ("post", "/api/v1/channels", {"name": "新码", "pool": {"staff_ids": [town.staff["alice"]]}}),
        ("patch", f"/api/v1/channels/{ch}", {"name": "改名"}),
        ("delete", f"/api/v1/channels/{ch}", None),
        ("post", f"/api/v1/channels/{ch}/retry", None),
        ("post", "/api/v1/channels/-/stores", {"name": "新店", "city": "杭州", "lat": 30, "lng": 120}),
        ("put", "/api/v1/channels/-/welcome-defaults", {"text": "你好"}),
        ("put", "/api/v1/dedup/policy", {"channel": "parcel", "policy": "task"}),
        ("post", "/api/v1/leads/assign", {}),
        ("post", "/api/v1/leads/upload", {"phones": ["13800138000"]}),
        ("post", "/api/v1/transfers", {"handover": "alice", "takeover": "bob"}),
    ]
    audits = session.scalar(select(func.count()).select_from(AuditLog))
    tasks = session.scalar(select(func.count()).select_from(StaffTask))
    for method, url, body in writes:
        resp = api.request(method.upper(), url, headers=h, json=body)
        assert_error(resp, 403)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditLog)) == audits
    assert session.scalar(select(func.count()).select_from(StaffTask)) == tasks
    assert session.get(Channel, ch).name == "门店码"  # type: ignore[union-attr]
    # The setup check is admins' own, and says so.
    for who in ("alice", "operator"):
        err = assert_error(api.get("/api/v1/wecom/doctor", headers=town.h(who)), 403)
        assert "admin" in err["message"]


def test_console_pages_for_a_staff_user(env: Settings, town: Town) -> None:
    from siyu.web.app import create_app

    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        login(c, "alice")
        home = c.get("/").text
        for label in ("渠道漏斗", "客户转接", "矩阵去重", "客户公海", "渠道活码"):
            assert label in home
        assert "接入检查" not in home
        page = c.get("/funnel?start=2026-03-01&end=2026-03-31&grain=month")
        assert page.status_code == 200
        table = page.text.split('id="funnel-table"')[1]
        assert 'data-state="parcel"' in table
        assert "直播间" not in table
        assert "¥75.00" in page.text  # her share of the parcel card's cost
        assert 'id="funnel-own"' in page.text
        dedup = c.get("/dedup").text
        assert 'action="/dedup/policy"' not in dedup
        assert f"#{town.customers['wang']}" in dedup
        assert f"#{town.customers['sun']}" not in dedup
        lead_page = c.get("/leads").text
        assert 'id="leads-tasks"' in lead_page
        assert "138****0000" in lead_page
        assert 'id="leads-assign"' not in lead_page
        assert 'id="kpi-pool"' not in lead_page
        tr = c.get("/transfers").text
        assert 'id="transfer-form"' not in tr
        assert "b-alice" in tr
        assert "b-bob" not in tr
        assert "门店码" in c.get("/channels").text
        doctor = c.get("/wecom/doctor")
        assert doctor.status_code == 403
        assert "接入检查是管理员的企业微信设置工具" in doctor.text
        csrf = csrf_of(home)
        for url, data in (
            ("/dedup/policy", {"channel": "parcel", "policy": "task"}),
            ("/leads/assign", {"limit": "10"}),
            ("/leads/upload", {"phones": "13800138000"}),
            ("/transfers", {"handover": "alice", "takeover": "bob"}),
        ):
            resp = c.post(url, data={**data, "csrf_token": csrf}, follow_redirects=False)
            assert resp.status_code == 403, url
            assert "没有权限" in resp.text, url  # the role, not a stale form
    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        login(c, "operator")
        assert 'action="/dedup/policy"' in c.get("/dedup").text
        assert 'id="transfer-form"' in c.get("/transfers").text
        assert 'id="leads-assign"' in c.get("/leads").text
        assert "接入检查" not in c.get("/").text


def test_cli_reads_one_accounts_slice(cli: CliRun, town: Town) -> None:
    data = json.loads(cli("funnel", "--json", "--from", "2026-03-01", "--staff", "alice").stdout)
    parcel = _states(data)["parcel"]
    assert (parcel["adds"], parcel["cost_fen"]) == (3, 7_500)
    stats = json.loads(cli("leads", "stats", "--json", "--staff", "alice").stdout)
    assert [r["userid"] for r in stats["staff"]] == ["alice"]
    assert [t["customer_id"] for t in stats["tasks"]] == [town.customers["zhao"]]
    bad = cli("funnel", "--json", "--staff", "zed", expect=2)
    assert "zed" in bad.stdout + bad.stderr


def test_a_staff_users_dedup_channel_filter_answers_unknown_and_not_theirs_alike(
    api: TestClient, town: Town
) -> None:
    def get(who: str, channel: str) -> Any:
        return api.get("/api/v1/dedup", headers=town.h(who), params={"channel": channel})

    # dan's account has no channel and no friend: a real name and a made-up one read the same.
    real, made_up = get("dan", "live"), get("dan", "nosuch")
    assert real.status_code == made_up.status_code == 404
    assert real.json()["error"]["message"].replace("live", "X") == made_up.json()["error"][
        "message"
    ].replace("nosuch", "X")
    # carol: the live room brought her a friend, so she may filter by it; not by the parcel card.
    assert get("carol", "live").status_code == 200
    assert get("carol", "parcel").status_code == 404
    # alice: her store channel (she is its store's staff) and the parcel card (her adds).
    assert get("alice", "store1").status_code == 200
    assert get("alice", "parcel").json()["customers"] == 1
    # Operators: any channel; an unknown one is still 404.
    assert get("operator", "live").status_code == 200
    assert get("operator", "nosuch").status_code == 404


def test_staff_see_only_their_own_capacity_alert_on_the_channels_page(env: Settings, town: Town) -> None:
    from siyu.models import Staff
    from siyu.web.app import create_app

    with session_scope() as s:
        for sid in (town.staff["alice"], town.staff["bob"]):
            row = s.get(Staff, sid)
            assert row is not None
            row.customer_limit = 2  # both at or past 90 % of their limit
    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        login(c, "alice")
        alerts = c.get("/channels").text.split('id="capacity-alerts"')[1].split("</div>")[0]
        assert "Alice" in alerts
        assert "Bob" not in alerts
        login(c, "dan")
        assert 'id="capacity-alerts"' not in c.get("/channels").text
    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        login(c, "operator")
        alerts = c.get("/channels").text.split('id="capacity-alerts"')[1].split("</div>")[0]
        assert "Alice" in alerts
        assert "Bob" in alerts
