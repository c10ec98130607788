"""Order binding (包裹卡): a friend claims an imported order on the phone page, the CLI or the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.acquisition.binding import make_token
from siyu.config import Settings
from siyu.customers.follows import follow_added
from siyu.customers.schemas import IdentityInput
from siyu.customers.service import resolve_customer
from siyu.kit.db import session_scope
from siyu.kit.timeutil import moved_clock
from siyu.models import BindingAttempt, Customer, Event, Follow, Order, OrderBinding
from siyu.staff.service import ensure_staff
from siyu.web.auth import create_user
from tests.conftest import CliRun
from tests.web.api_world import assert_error, client

NOW = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)


def _world(ws: int) -> dict[str, Any]:
    with session_scope() as s:
        alice = ensure_staff(s, workspace_id=ws, userid="alice", name="Alice").id
        ids: dict[str, Any] = {}
        for ext in ("wm_a", "wm_b"):
            c = resolve_customer(
                s, workspace_id=ws, identities=[IdentityInput("external_userid", ext)], source="wecom"
            )
            f = follow_added(
                s,
                workspace_id=ws,
                staff_id=alice,
                customer_id=c.id,
                at=NOW - timedelta(days=3),
                external_userid=ext,
                live_code_state="parcel",
            )
            ids[ext] = c.id
        s.flush()
        ids["follow_a"] = s.scalar(select(Follow.id).where(Follow.external_userid == "wm_a"))
        ids["follow_b"] = s.scalar(select(Follow.id).where(Follow.external_userid == "wm_b"))
        buyer = resolve_customer(
            s, workspace_id=ws, identities=[IdentityInput("buyer_id", "tb_nick", "taobao")], source="import"
        )
        ids["buyer"] = buyer.id
        for platform, ext, cid, masked in (
            ("douyin", "4937201938475", None, None),
            ("taobao", "2002300400", buyer.id, "138****8000"),
        ):
            s.add(
                Order(
                    workspace_id=ws,
                    customer_id=cid,
                    platform=platform,
                    external_id=ext,
                    status="completed",
                    paid_at=NOW - timedelta(days=1),
                    paid_fen=9_900,
                    goods_fen=9_900,
                    item_count=1,
                    phone_masked=masked,
                )
            )
        assert f is not None
    return ids


@pytest.fixture
def world(env: Settings, workspace_id: int) -> dict[str, Any]:
    with moved_clock(NOW):
        return _world(workspace_id)


def test_the_phone_page_binds_a_douyin_order(
    world: dict[str, Any], workspace_id: int, session: Session
) -> None:
    api = client()
    token = make_token(workspace_id=workspace_id, follow_id=world["follow_a"])
    with moved_clock(NOW):
        page = api.get(f"/bind/{token}")
        assert page.status_code == 200
        assert "输入订单号" in page.text
        assert 'id="bind-form"' in page.text
        assert "script" not in page.text
        assert "https://" not in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        bad = api.get(f"/bind/{token[:-1]}x")
        assert bad.status_code == 404
        assert "链接无效" in bad.text
        wrong = api.post(f"/bind/{token}", data={"order_no": "123456789"})
        assert wrong.status_code == 422
        assert "没有找到这个订单号" in wrong.text
        ok = api.post(f"/bind/{token}", data={"order_no": " 4937201938475 "})
        assert ok.status_code == 200
        assert "绑定成功" in ok.text
    order = session.scalar(select(Order).where(Order.external_id == "4937201938475"))
    assert order is not None
    assert order.customer_id == world["wm_a"]
    b = session.scalar(select(OrderBinding))
    assert b is not None
    assert (b.customer_id, b.state, b.source) == (world["wm_a"], "parcel", "page")
    assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "order.binding")) == 1
    # Claiming it again is harmless; another friend cannot.
    with moved_clock(NOW):
        assert "绑定成功" in api.post(f"/bind/{token}", data={"order_no": "4937201938475"}).text
        other = make_token(workspace_id=workspace_id, follow_id=world["follow_b"])
        taken = api.post(f"/bind/{other}", data={"order_no": "4937201938475"})
        assert taken.status_code == 409
        assert "已被其他微信用户领取" in taken.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OrderBinding)) == 1


def test_last_four_digits_and_the_pause(world: dict[str, Any], workspace_id: int, session: Session) -> None:
    api = client()
    token = make_token(workspace_id=workspace_id, follow_id=world["follow_b"])
    with moved_clock(NOW) as advance:
        need = api.post(f"/bind/{token}", data={"order_no": "2002300400"})
        assert need.status_code == 422
        assert "需要验证收货手机号后四位" in need.text
        for _ in range(4):
            assert "不符" in api.post(f"/bind/{token}", data={"order_no": "2002300400", "last4": "1234"}).text
        paused = api.post(f"/bind/{token}", data={"order_no": "2002300400", "last4": "8000"})
        assert paused.status_code == 429
        assert "尝试次数过多" in paused.text
        advance(timedelta(minutes=31))
        ok = api.post(f"/bind/{token}", data={"order_no": "2002300400", "last4": "8000"})
        assert ok.status_code == 200
        assert "绑定成功" in ok.text
    # The friend was merged into the Taobao buyer (OneID): the follow now points at the buyer.
    session.expire_all()
    follow = session.get(Follow, world["follow_b"])
    assert follow is not None
    assert follow.customer_id == world["buyer"]
    merged = session.get(Customer, world["wm_b"])
    assert merged is not None
    assert merged.merged_into_id == world["buyer"]
    fails = session.scalar(
        select(func.count()).select_from(BindingAttempt).where(BindingAttempt.ok.is_(False))
    )
    assert fails == 5


def test_cli_and_api(world: dict[str, Any], workspace_id: int, cli: CliRun, session: Session) -> None:
    link = json.loads(cli("bind", "link", "--userid", "alice", "--external-userid", "wm_a", "--json").stdout)
    assert link["url"] == f"/bind/{link['token']}"
    err = cli("bind", "link", "--userid", "alice", "--external-userid", "wm_zzz", expect=2).stderr
    assert "not a friend" in err
    err = cli(
        "bind",
        "order",
        "--userid",
        "alice",
        "--external-userid",
        "wm_a",
        "--order",
        "2002300400",
        "--last4",
        "0000",
        expect=2,
    ).stderr
    assert "last4" in err
    out = json.loads(
        cli(
            "bind",
            "order",
            "--userid",
            "alice",
            "--external-userid",
            "wm_a",
            "--order",
            "4937201938475",
            "--json",
        ).stdout
    )
    assert out["platform"] == "douyin"
    assert out["already_bound"] is False
    listed = json.loads(cli("bind", "list", "--json").stdout)
    assert listed["total"] == 1
    assert listed["items"][0]["source"] == "operator"
    with session_scope() as s:
        _, op = create_user(s, workspace_id=workspace_id, name="op", role="operator")
    api = client()
    h = {"Authorization": f"Bearer {op}"}
    body = {"userid": "alice", "external_userid": "wm_b", "order_no": "2002300400", "last4": "8000"}
    resp = api.post("/api/v1/bindings", headers=h, json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["customer_id"] == world["buyer"]
    assert_error(
        api.post("/api/v1/bindings", headers=h, json={**body, "order_no": "nope!"}), 422, field="order_no"
    )
    assert api.get("/api/v1/bindings", headers=h).json()["total"] == 2
    got = api.get(
        "/api/v1/bindings/link", headers=h, params={"userid": "alice", "external_userid": "wm_a"}
    ).json()
    assert got["token"] == link["token"]
