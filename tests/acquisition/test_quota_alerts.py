"""WeCom's 获客助手 quota callbacks (customer_acquisition: balance_low, balance_exhausted,
balance_increased): the simulator sends them as the paid quota crosses its thresholds,
siyu records them, and the console, ``siyu channels quota`` and the API show the alert."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition.quota import EVENT
from siyu.kit.db import session_scope
from siyu.models import Channel, Event, WeComCallback
from siyu.web.auth import create_user
from tests.acquisition.conftest import Stack
from tests.conftest import CliRun
from tests.web.test_console import PASSWORD, login

pytestmark = pytest.mark.slow


def _quota_events(session: Session, stack: Stack, n: int) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        stack.drain()
        session.expire_all()
        rows = session.scalars(select(Event).where(Event.kind == EVENT).order_by(Event.id)).all()
        if len(rows) >= n or time.monotonic() > deadline:
            return [str(r.payload["change_type"]) for r in rows]
        time.sleep(0.05)


def test_quota_callbacks_become_alerts_on_every_door(stack: Stack, cli: CliRun, session: Session) -> None:
    sc = stack.sim.scenario
    sc.add_staff("zhangsan", "张三")
    cli("wecom", "sync", "--json")
    made = json.loads(
        cli("channels", "create", "--kind", "link", "--name", "抖音信息流", "--staff", "zhangsan",
            "--json").stdout
    )  # fmt: skip
    stack.drain()
    session.expire_all()
    ch = session.get(Channel, made["id"])
    assert ch is not None
    assert ch.link_url
    assert json.loads(cli("channels", "quota", "--json").stdout)["alert"] is None
    # 20 units left: the first new customer takes the balance below 20 (WeCom: balance_low).
    stack.sim.state.config.acquisition_quota = 20
    sc.add_friend_via_link(sc.new_customer("甲"), ch.link_url)
    assert _quota_events(session, stack, 1) == ["balance_low"]
    stored = session.scalars(
        select(WeComCallback.status).where(WeComCallback.event == "customer_acquisition")
    )
    assert list(stored) == ["processed"]  # handled, not stored as ignored
    low = json.loads(cli("channels", "quota", "--json").stdout)
    assert (low["balance"], low["alert"]["level"]) == (19, "low")
    assert "ALERT" in cli("channels", "quota").stdout
    # The last unit: balance_exhausted; link channels say they get no new customers.
    stack.sim.state.acquisition_used = 19
    sc.add_friend_via_link(sc.new_customer("乙"), ch.link_url)
    assert _quota_events(session, stack, 2) == ["balance_low", "balance_exhausted"]
    out = cli("channels", "quota").stdout
    assert "used up" in out
    assert "抖音信息流" in out
    with session_scope() as s:
        _, token = create_user(s, workspace_id=ch.workspace_id, name="op", role="operator", password=PASSWORD)
    from siyu.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        api = c.get("/api/v1/channels/-/acquisition-quota", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 200, api.text
        alert = api.json()["alert"]
        assert (alert["level"], alert["change_type"], alert["link_channels"]) == (
            "exhausted", "balance_exhausted", ["抖音信息流"],
        )  # fmt: skip
        login(c, "op")
        listing = c.get("/channels").text
        assert "获客助手使用量已用完" in listing.split('id="quota-alert"')[1]
        assert "不再获得新客户" in listing.split('id="channels-table"')[1]
        page = c.get(f"/channels/{ch.id}").text
        assert "本渠道在购买前不会再获得新客户" in page
    # Bought more: balance_increased clears the alert.
    sc.buy_acquisition_quota(100)
    assert _quota_events(session, stack, 3)[-1] == "balance_increased"
    assert json.loads(cli("channels", "quota", "--json").stdout)["alert"] is None
