"""A small two-workspace world for the API tests, built through the real services.

Workspace ``default``: staff accounts alice and bob; customers 张三 (alice's friend,
phone, tagged, two orders), 李四 (bob's friend, phone), 王五 (used to be alice's friend,
deleted her); one user per role with a bearer token. Workspace ``other``: one customer
and an owner. Tests read ids and tokens off the returned ``World``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from siyu.customers.follows import follow_added, follow_ended
from siyu.customers.schemas import IdentityInput
from siyu.customers.service import refresh_stats, resolve_customer
from siyu.customers.tags import add_tags, ensure_tag
from siyu.kit.db import session_scope
from siyu.kit.events import record_event
from siyu.kit.scope import ensure_workspace
from siyu.kit.timeutil import utcnow
from siyu.models import Group, GroupMember, Order, OrderItem
from siyu.staff.service import ensure_staff
from siyu.web.auth import create_user

PHONE_ZHANG = "13800138000"
PHONE_LI = "13900139000"
PASSWORD = "correct horse battery"


@dataclass
class World:
    ws: int
    other_ws: int
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    staff: dict[str, int] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    group_id: int = 0
    other_customer: int = 0
    other_tag: int = 0

    def h(self, role: str) -> dict[str, str]:
        """Authorization headers of a user (owner, admin, operator, alice, bob, other)."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _order(
    session: Any, ws: int, customer_id: int, ext: str, paid_fen: int, refunded: int, at: datetime
) -> int:
    order = Order(
        workspace_id=ws,
        customer_id=customer_id,
        platform="taobao",
        external_id=ext,
        shop="旗舰店",
        status="completed" if not refunded else "refunded",
        ordered_at=at,
        paid_at=at,
        paid_fen=paid_fen,
        goods_fen=paid_fen,
        refunded_fen=refunded,
        item_count=1,
        title="玻尿酸面霜",
        buyer_id="tb_zhang_nick",
        buyer_name="张三",
        phone_masked="138****8000",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        buyer_note="请放门卫",
        extra={"address": "浙江省杭州市西湖区文三路 1 号"},
    )
    session.add(order)
    session.flush()
    session.add(
        OrderItem(
            workspace_id=ws,
            order_id=order.id,
            line_key="1",
            title="玻尿酸面霜",
            category="面霜",
            quantity=1,
            unit_price_fen=paid_fen,
            amount_fen=paid_fen,
        )
    )
    return order.id


def build_world() -> World:
    """Create both workspaces and everything in them (committed)."""
    now = utcnow()
    with session_scope() as s:
        ws = ensure_workspace(s, "default").id
        other = ensure_workspace(s, "other").id
        w = World(ws=ws, other_ws=other)
        alice = ensure_staff(s, workspace_id=ws, userid="alice", name="Alice", customer_limit=2)
        bob = ensure_staff(s, workspace_id=ws, userid="bob", name="Bob", customer_limit=5000)
        w.staff = {"alice": alice.id, "bob": bob.id}
        zhang = resolve_customer(
            s,
            workspace_id=ws,
            identities=[
                IdentityInput("phone", PHONE_ZHANG),
                IdentityInput("external_userid", "wmZHANGexternal0001"),
                IdentityInput("buyer_id", "tb_zhang_nick", "taobao"),
            ],
            source="test",
            name="张三",
        )
        li = resolve_customer(
            s, workspace_id=ws, identities=[IdentityInput("phone", PHONE_LI)], source="test", name="李四"
        )
        wang = resolve_customer(
            s,
            workspace_id=ws,
            identities=[IdentityInput("external_userid", "wmWANGexternal0003")],
            source="test",
            name="王五",
        )
        w.customers = {"zhang": zhang.id, "li": li.id, "wang": wang.id}
        day = timedelta(days=1)
        follow_added(
            s,
            workspace_id=ws,
            staff_id=alice.id,
            customer_id=zhang.id,
            at=now - 3 * day,
            external_userid="wmZ",
        )
        follow_added(s, workspace_id=ws, staff_id=bob.id, customer_id=li.id, at=now - 2 * day)
        follow_added(s, workspace_id=ws, staff_id=alice.id, customer_id=wang.id, at=now - 10 * day)
        follow_ended(
            s, workspace_id=ws, staff_id=alice.id, customer_id=wang.id, at=now - day, deleted_by="customer"
        )
        w.orders["paid"] = _order(s, ws, zhang.id, "T1", 19900, 0, now - 2 * day)
        w.orders["refunded"] = _order(s, ws, zhang.id, "T2", 5000, 5000, now - day)
        refresh_stats(s, workspace_id=ws, customer_ids=[zhang.id, li.id, wang.id])
        vip = ensure_tag(s, workspace_id=ws, name="VIP", group_name="等级")
        new = ensure_tag(s, workspace_id=ws, name="新客", group_name="等级")
        w.tags = {"vip": vip.id, "new": new.id}
        add_tags(s, workspace_id=ws, customer_ids=[zhang.id], tag_ids=[vip.id], source="manual")
        record_event(
            s,
            workspace_id=ws,
            kind="message.in",
            occurred_at=now - day,
            source="wecom",
            customer_id=zhang.id,
            staff_id=alice.id,
            payload={"text": "我的手机号是 13800138000，面霜什么时候发货？"},
        )
        group = Group(
            workspace_id=ws, chat_id="wrGROUP1", name="面霜复购群", owner_staff_id=alice.id, member_count=2
        )
        s.add(group)
        s.flush()
        w.group_id = group.id
        s.add_all(
            [
                GroupMember(
                    workspace_id=ws, group_id=group.id, userid="alice", member_type=1, staff_id=alice.id
                ),
                GroupMember(
                    workspace_id=ws,
                    group_id=group.id,
                    userid="wmZHANGexternal0001",
                    member_type=2,
                    customer_id=zhang.id,
                    name="张三",
                    join_time=now - 2 * day,
                ),
            ]
        )
        for role in ("owner", "admin", "operator"):
            user, token = create_user(s, workspace_id=ws, name=role, role=role, password=PASSWORD)
            w.tokens[role], w.users[role] = token, user.id
        for name in ("alice", "bob"):
            user, token = create_user(
                s, workspace_id=ws, name=name, role="staff", password=PASSWORD, staff_userid=name
            )
            w.tokens[name], w.users[name] = token, user.id
        other_customer = resolve_customer(
            s,
            workspace_id=other,
            identities=[IdentityInput("phone", "13700137000")],
            source="test",
            name="外人",
        )
        w.other_customer = other_customer.id
        w.other_tag = ensure_tag(s, workspace_id=other, name="外部").id
        user, token = create_user(s, workspace_id=other, name="owner", role="owner", password=PASSWORD)
        w.tokens["other"], w.users["other"] = token, user.id
    return w


def client() -> TestClient:
    """A client of a fresh app on the test settings (no network: in-process ASGI)."""
    from siyu.web.app import create_app

    return TestClient(create_app(), base_url="http://localhost", raise_server_exceptions=True)


def assert_error(resp: Any, status: int, code: str | None = None, field: str | None = None) -> dict[str, Any]:
    """The response is a ``status`` with the standard error body (and the code / field)."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.text}"
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "field"}, err
    assert err["message"], err
    if code is not None:
        assert err["code"] == code, err
    if field is not None:
        assert err["field"] == field, err
    return dict(err)


__all__ = ["PASSWORD", "PHONE_LI", "PHONE_ZHANG", "UTC", "World", "assert_error", "build_world", "client"]
