"""Matrix dedup: friends of two or more accounts, per channel and account, and the policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.customers.follows import follow_added
from siyu.customers.schemas import IdentityInput
from siyu.customers.service import resolve_customer
from siyu.kit.db import session_factory, session_scope
from siyu.kit.events import record_event
from siyu.models import AuditLog, Channel, StaffTask
from siyu.staff.service import ensure_staff
from siyu.web.auth import create_user
from siyu.worker.outbox import deliver
from tests.conftest import CliRun
from tests.web.api_world import assert_error, client

T0 = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)


def _add(s: Session, ws: int, staff: int, cid: int, ext: str, state: str, at: datetime) -> None:
    follow_added(
        s, workspace_id=ws, staff_id=staff, customer_id=cid, at=at, external_userid=ext, live_code_state=state
    )
    record_event(
        s, workspace_id=ws, kind="friend.add", occurred_at=at, source="test", customer_id=cid, staff_id=staff
    )


def _customer(s: Session, ws: int, *ids: IdentityInput) -> int:
    return resolve_customer(s, workspace_id=ws, identities=list(ids), source="wecom").id


@pytest.fixture
def world(env: Settings, workspace_id: int) -> dict[str, Any]:
    ws = workspace_id
    with session_scope() as s:
        alice, bob, carol = (
            ensure_staff(s, workspace_id=ws, userid=u, name=n).id
            for u, n in (("alice", "小艾"), ("bob", "小博"), ("carol", "小卡"))
        )
        s.add_all(
            [
                Channel(
                    workspace_id=ws,
                    name="包裹卡",
                    state="parcel",
                    slug="parcel",
                    settings={"dedup_policy": "task"},
                ),
                Channel(
                    workspace_id=ws,
                    name="直播间",
                    state="live",
                    slug="live",
                    settings={"dedup_policy": "route_back"},
                ),
                Channel(workspace_id=ws, name="门店", state="store", slug="store"),
            ]
        )
        # 张三: the same WeChat user adds alice (live room), then bob (parcel card).
        c1 = _customer(s, ws, IdentityInput("external_userid", "wm_1"))
        _add(s, ws, alice, c1, "wm_1", "live", T0)
        _add(s, ws, bob, c1, "wm_1", "parcel", T0 + timedelta(days=2))
        # 李四: two WeChat ids (alice at the store, carol by the parcel card), one phone: OneID joins them.
        c2 = _customer(s, ws, IdentityInput("external_userid", "wm_2a"))
        _add(s, ws, alice, c2, "wm_2a", "store", T0)
        c2b = _customer(
            s, ws, IdentityInput("external_userid", "wm_2b"), IdentityInput("phone", "13800138000")
        )
        _add(s, ws, carol, c2b, "wm_2b", "parcel", T0 + timedelta(days=1))
        _customer(s, ws, IdentityInput("external_userid", "wm_2a"), IdentityInput("phone", "13800138000"))
        # 王五: alice only.
        c3 = _customer(s, ws, IdentityInput("external_userid", "wm_3"))
        _add(s, ws, alice, c3, "wm_3", "parcel", T0)
    return {"c1": c1, "c2": c2, "bob": bob, "carol": carol}


def test_report_policies_and_the_task(cli: CliRun, world: dict[str, Any], session: Session) -> None:
    data = json.loads(cli("dedup", "report", "--json").stdout)
    assert (data["customers"], data["by_external_userid"], data["by_oneid"]) == (2, 1, 1)
    channels = {c["state"]: c for c in data["channels"]}
    assert (channels["parcel"]["duplicates"], channels["parcel"]["policy"]) == (2, "task")
    assert (channels["live"]["duplicates"], channels["live"]["policy"]) == (0, "route_back")
    assert channels["store"]["policy"] == "allow"
    staff = {s["userid"]: (s["as_first"], s["as_second"]) for s in data["staff"]}
    assert staff == {"alice": (2, 0), "bob": (0, 1), "carol": (0, 1)}
    sample = {c["customer_id"]: c for c in data["sample"]}
    assert [a["userid"] for a in sample[world["c1"]]["accounts"]] == ["alice", "bob"]
    only_bob = json.loads(cli("dedup", "report", "--staff", "bob", "--json").stdout)
    assert only_bob["customers"] == 1
    # The parcel card's policy is "task": the second accounts (bob; carol, whose add OneID
    # joined to alice's friend before the event was handled) are told, once each.
    for _ in range(2):
        assert not deliver(session_factory(), names=["acquisition.dedup"]).errors
    tasks = list(session.scalars(select(StaffTask).where(StaffTask.kind == "matrix_duplicate")))
    assert sorted(t.staff_id for t in tasks) == sorted([world["bob"], world["carol"]])
    bobs = next(t for t in tasks if t.staff_id == world["bob"])
    assert bobs.customer_id == world["c1"]
    assert "小艾" in bobs.title
    # Changing the policy is audited; a wrong one or an unknown channel changes nothing.
    out = json.loads(cli("dedup", "policy", "包裹卡", "allow", "--json").stdout)
    assert out == {"channel": "parcel", "name": "包裹卡", "policy": "allow"}
    assert "policy" in cli("dedup", "policy", "parcel", "block", expect=2).stderr
    assert "channel" in cli("dedup", "policy", "nowhere", "task", expect=2).stderr
    session.expire_all()
    row = session.scalar(select(Channel).where(Channel.state == "parcel"))
    assert row is not None
    assert row.settings["dedup_policy"] == "allow"
    assert session.scalar(select(AuditLog.action).where(AuditLog.action == "channel.dedup_policy"))


def test_api_and_console(env: Settings, world: dict[str, Any], workspace_id: int) -> None:
    from fastapi.testclient import TestClient

    from siyu.web.app import create_app
    from tests.web.test_console import PASSWORD, csrf_of, login

    with session_scope() as s:
        _, op = create_user(s, workspace_id=workspace_id, name="op", role="operator")
        create_user(s, workspace_id=workspace_id, name="boss", role="owner", password=PASSWORD)
    api = client()
    h = {"Authorization": f"Bearer {op}"}
    got = api.get("/api/v1/dedup", headers=h, params={"channel": "parcel"}).json()
    assert got["customers"] == 2
    assert_error(api.get("/api/v1/dedup", headers=h, params={"channel": "nope"}), 404, field="channel")
    assert_error(api.put("/api/v1/dedup/policy", headers=h, json={"channel": "parcel", "policy": "x"}), 422)
    ok = api.put("/api/v1/dedup/policy", headers=h, json={"channel": "store", "policy": "task"})
    assert ok.json()["policy"] == "task"
    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        page = login(c).get("/dedup").text
        assert "矩阵去重" in page
        assert 'id="dedup-channels"' in page
        assert "OneID 合并" in page
        res = c.post(
            "/dedup/policy",
            data={"csrf_token": csrf_of(page), "channel": "live", "policy": "allow"},
            follow_redirects=True,
        )
        assert "渠道「直播间」的去重策略已改为：允许（不处理）" in res.text
