"""The channel funnel: adds, kept after 7 / 30 days, buyers after the add, profit, cost per head.

Built through the real services (OneID, follows, events), kept current by the
``acquisition.funnel`` subscriber, read through the CLI and the HTTP API.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.acquisition import funnel
from siyu.config import Settings
from siyu.customers.follows import follow_added, follow_ended
from siyu.customers.schemas import IdentityInput
from siyu.customers.service import resolve_customer
from siyu.kit.db import session_factory, session_scope
from siyu.kit.events import record_event
from siyu.kit.timeutil import moved_clock
from siyu.models import Channel, ChannelFriend, ChannelFunnelDay, Order
from siyu.staff.service import ensure_staff
from siyu.web.auth import create_user
from siyu.worker.outbox import deliver
from tests.conftest import CliRun
from tests.web.api_world import assert_error, client

NOW = datetime(2026, 3, 31, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def _at(day: int, hour: int = 2, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


class Shop:
    """A workspace with two channels and four customers (see the module tests)."""

    def __init__(self, session: Session, ws: int) -> None:
        self.s, self.ws = session, ws
        self.alice = ensure_staff(session, workspace_id=ws, userid="alice", name="Alice").id
        self.bob = ensure_staff(session, workspace_id=ws, userid="bob", name="Bob").id
        session.add_all(
            [
                Channel(
                    workspace_id=ws,
                    name="包裹卡",
                    group_name="电商",
                    state="parcel",
                    slug="parcel",
                    cost_fen=10_000,
                ),
                Channel(workspace_id=ws, name="直播间", group_name="抖音", state="live", slug="live"),
            ]
        )
        self.customers: dict[str, int] = {}
        self.n = 0

    def customer(self, name: str) -> int:
        c = resolve_customer(
            self.s,
            workspace_id=self.ws,
            identities=[IdentityInput(kind="external_userid", value=f"wm_{name}")],
            source="wecom",
        )
        self.customers[name] = c.id
        return c.id

    def add(self, name: str, staff: int, state: str, at: datetime) -> None:
        cid = self.customers.get(name) or self.customer(name)
        follow_added(self.s, workspace_id=self.ws, staff_id=staff, customer_id=cid, at=at,
                     external_userid=f"wm_{name}", live_code_state=state)  # fmt: skip
        record_event(self.s, workspace_id=self.ws, kind="friend.add", occurred_at=at, source="test",
                     customer_id=cid, staff_id=staff)  # fmt: skip

    def lose(self, name: str, staff: int, at: datetime) -> None:
        cid = self.customers[name]
        follow_ended(
            self.s, workspace_id=self.ws, staff_id=staff, customer_id=cid, at=at, deleted_by="customer"
        )
        record_event(self.s, workspace_id=self.ws, kind="friend.delete_by_customer", occurred_at=at,
                     source="test", customer_id=cid, staff_id=staff)  # fmt: skip

    def order(
        self, name: str, at: datetime, paid: int, *, cost: int | None = None, refunded: int = 0
    ) -> None:
        self.n += 1
        cid = self.customers.get(name) or self.customer(name)
        self.s.add(
            Order(
                workspace_id=self.ws,
                customer_id=cid,
                platform="douyin",
                external_id=f"o{self.n}",
                status="refunded" if refunded >= paid else "completed",
                ordered_at=at,
                paid_at=at,
                paid_fen=paid,
                goods_fen=paid,
                refunded_fen=refunded,
                cost_fen=cost,
                item_count=1,
            )
        )
        self.s.flush()
        record_event(self.s, workspace_id=self.ws, kind="stats.refreshed", occurred_at=at, source="test",
                     payload={"customer_ids": [cid]})  # fmt: skip


def _build(ws: int) -> None:
    with session_scope() as s:
        shop = Shop(s, ws)
        # 张三: parcel card on 1 March; an order before the add does not count, two after do.
        shop.order("zhang", _at(20, month=2), 5_000, cost=2_000)
        shop.add("zhang", shop.alice, "parcel", _at(1))
        shop.order("zhang", _at(5), 10_000, cost=4_000)
        shop.order("zhang", _at(20), 6_000)  # no cost of goods known
        # 李四: parcel card on 1 March, deleted the account two days later.
        shop.add("li", shop.alice, "parcel", _at(1, 3))
        shop.lose("li", shop.alice, _at(3))
        # 王五: came through the live room first, added bob through the parcel card later:
        # the order counts for the live room only.
        shop.add("wang", shop.bob, "live", _at(2))
        shop.add("wang", shop.alice, "parcel", _at(10))
        shop.order("wang", _at(15), 20_000, cost=8_000)
        # 赵六: parcel card on 25 March (not 7 days old yet), a fully refunded order.
        shop.add("zhao", shop.bob, "parcel", _at(25))
        shop.order("zhao", _at(26), 3_000, refunded=3_000)


def _by_state(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["state"]: c for c in data["channels"]}


def _days(session: Session) -> list[tuple[Any, ...]]:
    d = ChannelFunnelDay
    rows = session.execute(select(d.state, d.day, d.adds, d.lost, d.buyers, d.net_fen, d.cogs_fen))
    return sorted(tuple(r) for r in rows)


def _deliver() -> None:
    summary = deliver(session_factory(), names=["acquisition.funnel"])
    assert not summary.errors, summary.errors


def test_funnel_per_channel_through_the_cli(cli: CliRun, workspace_id: int, session: Session) -> None:
    with moved_clock(NOW):
        _build(workspace_id)
        _deliver()
        out = cli("funnel", "--json", "--from", "2026-03-01", "--to", "2026-03-31", "--by", "month")
    data = json.loads(out.stdout)
    parcel, live = _by_state(data)["parcel"], _by_state(data)["live"]
    t = parcel["total"]
    assert (parcel["name"], parcel["group_name"]) == ("包裹卡", "电商")
    assert (t["adds"], t["lost"], t["kept"]) == (4, 1, 3)
    # Cohorts of 1 and 10 March are 7 days old (李四 lost within 7 days); of 1 March 30 days old.
    assert (t["matured_7d"], t["kept_7d"], t["matured_30d"], t["kept_30d"]) == (3, 2, 2, 1)
    # 张三 only: 王五's order belongs to the live room, 赵六's was refunded in full.
    assert (t["buyers"], t["repeat_buyers"], t["orders"]) == (1, 1, 2)
    assert (t["net_fen"], t["cogs_fen"], t["gross_fen"], t["uncosted_orders"]) == (16_000, 4_000, 12_000, 1)
    assert (t["cost_fen"], t["cost_per_kept_fen"], t["cost_per_buyer_fen"]) == (10_000, 3_333, 10_000)
    assert t["avg_days_to_first"] == 4.0
    assert t["roi"] == 1.2
    assert [p["period"] for p in parcel["periods"]] == ["2026-03"]
    lt = live["total"]
    assert (lt["adds"], lt["buyers"], lt["net_fen"], lt["gross_fen"], lt["cost_fen"]) == (
        1,
        1,
        20_000,
        12_000,
        None,
    )
    assert data["total"]["net_fen"] == 36_000
    assert data["total"]["adds"] == 5
    # The most profitable channel first.
    assert [c["state"] for c in data["channels"]] == ["parcel", "live"]
    # The table form reads too.
    text = cli("funnel", "--from", "2026-03-01", "--to", "2026-03-31").stdout
    assert "包裹卡" in text
    assert "直播间" in text
    assert "total" in text


def test_maintained_rows_match_a_rebuild(cli: CliRun, workspace_id: int, session: Session) -> None:
    with moved_clock(NOW):
        _build(workspace_id)
        _deliver()
        weekly = json.loads(cli("funnel", "--json", "--from", "2026-03-01", "--by", "week").stdout)
        kept = _days(session)
        assert json.loads(cli("funnel", "rebuild", "--json").stdout) == {"friends": 5}
        session.expire_all()
        assert _days(session) == kept
        again = json.loads(cli("funnel", "--json", "--from", "2026-03-01", "--by", "week").stdout)
        assert {**again, "updated_at": None} == {**weekly, "updated_at": None}
    parcel = _by_state(weekly)["parcel"]
    assert [p["period"] for p in parcel["periods"]] == ["2026-W09", "2026-W11", "2026-W13"]
    assert sum(p["adds"] for p in parcel["periods"]) == 4
    # The cost is spread over the adds: 2 of 4 adds in the week of 1 March.
    assert parcel["periods"][0]["cost_fen"] == 5_000
    # A re-delivery (or a second refresh) changes nothing.
    with session_scope() as s, moved_clock(NOW):
        ids = list(s.scalars(select(ChannelFriend.customer_id)))
        funnel.refresh_customers(s, workspace_id=workspace_id, customer_ids=ids)
    assert session.scalar(select(func.count()).select_from(ChannelFriend)) == 5


def test_a_late_order_moves_the_funnel(cli: CliRun, workspace_id: int) -> None:
    with moved_clock(NOW):
        _build(workspace_id)
        _deliver()
        with session_scope() as s:
            shop = Shop.__new__(Shop)
            shop.s, shop.ws, shop.n = s, workspace_id, 100
            shop.customers = {"li": int(s.scalar(select(ChannelFriend.customer_id).where(
                ChannelFriend.state == "parcel", ChannelFriend.lost == 1)) or 0)}  # fmt: skip
            shop.order("li", _at(28), 9_900, cost=1_000)
        _deliver()
        data = json.loads(cli("funnel", "--json", "--from", "2026-03-01", "--channel", "包裹卡").stdout)
    assert [c["state"] for c in data["channels"]] == ["parcel"]
    t = data["channels"][0]["total"]
    assert (t["buyers"], t["net_fen"], t["gross_fen"]) == (2, 25_900, 20_900)


def test_bad_input_is_refused(cli: CliRun, workspace_id: int) -> None:
    err = cli("funnel", "--from", "March", expect=2).stderr
    assert "--from" in err
    err = cli("funnel", "--by", "year", expect=2).stderr
    assert "grain" in err
    err = cli("funnel", "--from", "2026-03-10", "--to", "2026-03-01", expect=2).stderr
    assert "start" in err


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def test_funnel_over_http(api: TestClient, workspace_id: int) -> None:
    with moved_clock(NOW):
        _build(workspace_id)
        _deliver()
        with session_scope() as s:
            _, op = create_user(s, workspace_id=workspace_id, name="运营", role="operator")
            ensure_staff(s, workspace_id=workspace_id, userid="carol", name="Carol")
            _, staff = create_user(
                s, workspace_id=workspace_id, name="Carol", role="staff", staff_userid="carol"
            )
        h = {"Authorization": f"Bearer {op}"}
        resp = api.get("/api/v1/channels/funnel", headers=h, params={"start": "2026-03-01", "grain": "day"})
        assert resp.status_code == 200, resp.text
        data = resp.json()
        parcel = _by_state(data)["parcel"]
        assert parcel["total"]["adds"] == 4
        assert parcel["total"]["gross_fen"] == 12_000
        assert [p["period"] for p in parcel["periods"]] == ["2026-03-01", "2026-03-10", "2026-03-25"]
        grouped = api.get(
            "/api/v1/channels/funnel", headers=h, params={"start": "2026-03-01", "group": "抖音"}
        )
        assert [c["state"] for c in grouped.json()["channels"]] == ["live"]
        assert_error(
            api.get("/api/v1/channels/funnel", headers=h, params={"grain": "year"}), 422, field="grain"
        )
        assert_error(
            api.get(
                "/api/v1/channels/funnel", headers=h, params={"start": "2026-03-10", "end": "2026-03-01"}
            ),
            422,
            field="start",
        )
        # A staff user reads their own adds only (Carol has none): tests/acquisition/test_staff_views.py
        own = api.get("/api/v1/channels/funnel", headers={"Authorization": f"Bearer {staff}"})
        assert own.status_code == 200, own.text
        assert own.json()["channels"] == []


def test_console_page_shows_each_channel_as_a_card(env: Settings, workspace_id: int) -> None:
    from siyu.web.app import create_app
    from tests.web.test_console import PASSWORD, login

    with moved_clock(NOW):
        _build(workspace_id)
        _deliver()
        with session_scope() as s:
            create_user(s, workspace_id=workspace_id, name="boss", role="owner", password=PASSWORD)
            ensure_staff(s, workspace_id=workspace_id, userid="mei", name="小美")
            create_user(s, workspace_id=workspace_id, name="mei", role="staff", password=PASSWORD,
                        staff_userid="mei")  # fmt: skip
        with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
            html = login(c).get("/funnel?start=2026-03-01&end=2026-03-31&grain=month").text
            assert "渠道漏斗" in html
            assert 'id="funnel-table"' in html
            assert 'data-state="parcel"' in html
            assert "包裹卡" in html
            assert "直播间" in html
            assert "¥120.00" in html  # parcel gross profit
            assert "¥33.33" in html  # parcel cost per kept friend
            assert '"2026-03"' in html  # the chart's periods
            bad = c.get("/funnel?start=2026-03-31&end=2026-03-01").text
            assert "开始日期不能晚于结束日期" in bad
            assert "包裹卡" in c.get("/funnel?group=电商&start=2026-03-01").text
            assert (
                "直播间"
                not in c.get("/funnel?group=电商&start=2026-03-01").text.split('id="funnel-table"')[1]
            )
        with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
            login(c, "mei")
            own = c.get("/funnel?start=2026-03-01&end=2026-03-31")
            assert own.status_code == 200  # her own adds (none), not the shop's
            assert "包裹卡" not in own.text.split('id="funnel-table"')[1]
            assert "渠道漏斗" in c.get("/").text
