"""The customer search box: a name, a phone's last four digits or an audience expression.

Plain text never errors; expressions still work and still explain their mistakes.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.customers.schemas import IdentityInput
from siyu.customers.service import resolve_customer
from siyu.kit.db import session_scope
from siyu.models import CustomerIdentity, Follow, GroupMember
from tests.conftest import CliRun
from tests.web.api_world import PHONE_LI, PHONE_ZHANG, World, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    w = build_world()
    with session_scope() as s:
        liu = resolve_customer(
            s,
            workspace_id=w.ws,
            identities=[IdentityInput("phone", "13612345678")],
            source="test",
            name="刘敏",
        )
        w.customers["liu"] = liu.id
        s.execute(update(Follow).where(Follow.customer_id == w.customers["li"]).values(remark="老客户 李姐"))
        s.execute(
            update(GroupMember)
            .where(GroupMember.customer_id == w.customers["zhang"])
            .values(name="面霜达人小张")
        )
    return w


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def _names(api: TestClient, world: World, q: str, role: str = "admin") -> list[str]:
    resp = api.get("/customers", params={"q": q}, headers=world.h(role))
    assert resp.status_code == 200, (q, resp.text[:500])
    count = api.get("/customers/count", params={"q": q}, headers=world.h(role))
    assert count.status_code == 200, (q, count.text)
    names = [n for n in ("张三", "李四", "王五", "刘敏") if f">{n}</a>" in resp.text]
    assert count.json()["count"] == len(names), (q, names, count.json())
    return names


def test_plain_text_searches_name_remark_and_group_nickname(api: TestClient, world: World) -> None:
    assert _names(api, world, "刘敏") == ["刘敏"]
    assert _names(api, world, "刘") == ["刘敏"]
    assert _names(api, world, "李姐") == ["李四"]  # a staff member's remark on the friend
    assert _names(api, world, "面霜达人") == ["张三"]  # the nickname in a customer group
    assert _names(api, world, "没有这个人") == []
    # Text that is no expression never errors, whatever it holds.
    for text in ("VIP", "NOT 张", "(", "AND", "%", "1380013", "刘 敏"):
        _names(api, world, text)


def test_four_digits_search_the_phone_last_four(api: TestClient, world: World, session: Session) -> None:
    assert _names(api, world, "5678") == ["刘敏"]
    assert _names(api, world, PHONE_ZHANG[-4:]) == ["张三"]
    assert _names(api, world, PHONE_LI[-4:]) == ["李四"]
    assert _names(api, world, "0000") == []
    # A whole number still finds its owner, through its keyed hash.
    assert _names(api, world, PHONE_ZHANG) == ["张三"]
    # A staff user searches only their own customers: alice follows 张三, not 李四.
    assert _names(api, world, PHONE_LI[-4:], role="alice") == []
    assert _names(api, world, PHONE_ZHANG[-4:], role="alice") == ["张三"]
    # What is stored for it: the last four digits, never the whole number.
    stored = dict(
        session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.phone_last4).where(
                CustomerIdentity.kind == "phone"
            )
        ).all()
    )
    assert stored[world.customers["liu"]] == "5678"
    assert stored[world.customers["zhang"]] == "8000"
    others = session.scalars(
        select(CustomerIdentity.phone_last4).where(CustomerIdentity.kind != "phone")
    ).all()
    assert set(others) == {None}


def test_the_api_search_parameter_reads_the_same_way(api: TestClient, world: World) -> None:
    def names(search: str) -> list[str | None]:
        resp = api.get("/api/v1/customers", params={"search": search}, headers=world.h("operator"))
        assert resp.status_code == 200, resp.text
        return [c["name"] for c in resp.json()["items"]]

    assert names("刘敏") == ["刘敏"]
    assert names("5678") == ["刘敏"]
    assert names("李姐") == ["李四"]
    assert names("tag:VIP") == []  # the search parameter is never an expression (that is q)


def test_expressions_still_work_and_explain_mistakes(api: TestClient, world: World) -> None:
    assert _names(api, world, "tag:VIP") == ["张三"]
    assert _names(api, world, "标签：VIP") == ["张三"]  # full-width colon
    bad = api.get("/customers/count", params={"q": "tag:VIP AND"}, headers=world.h("admin"))
    assert bad.status_code == 422
    assert bad.json()["error"]["column"] == 12
    page = api.get("/customers", params={"q": "spent>="}, headers=world.h("admin"))
    assert page.status_code == 422


def test_imports_fill_the_last_four(cli: CliRun, tmp_path: object, session: Session) -> None:
    """An order import (OneID through the import pipeline) stores the last four too."""
    from pathlib import Path

    folder = Path(str(tmp_path))
    csv = folder / "orders.csv"
    csv.write_text(
        "order_id,paid_at,amount,phone,name\nG1,2026-01-05 10:00:00,99.00,13700001234,赵六\n",
        encoding="utf-8",
    )
    cli("import", "orders", csv, "--format", "generic")
    assert session.scalars(
        select(CustomerIdentity.phone_last4).where(CustomerIdentity.kind == "phone")
    ).all() == ["1234"]
