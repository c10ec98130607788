"""End to end: a live code made through siyu, scanned in the simulator, routed by the
channel's strategy, greeted inside WeCom's 20 s window, tagged on both sides."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import Channel, CustomerTag, Follow, Tag, WelcomeSend
from tests.acquisition.conftest import Stack
from tests.conftest import CliRun

pytestmark = pytest.mark.slow


def _channel(session: Session, channel_id: int) -> Channel:
    session.expire_all()
    ch = session.get(Channel, channel_id)
    assert ch is not None
    return ch


def _welcomes(session: Session, n: int) -> list[WelcomeSend]:
    deadline = time.monotonic() + 10
    while True:
        session.expire_all()
        rows = list(
            session.scalars(
                select(WelcomeSend).where(WelcomeSend.status != "sending").order_by(WelcomeSend.id)
            )
        )
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_scan_routes_greets_and_tags_both_sides(stack: Stack, cli: CliRun, session: Session) -> None:
    sc = stack.sim.scenario
    sc.add_staff("zhangsan", "张三")
    sc.add_staff("lisi", "李四")
    cli("wecom", "sync", "--json")
    made = json.loads(
        cli(
            "channels", "create", "--name", "抖音直播间", "--group", "线上", "--cost", "1200",
            "--staff", "zhangsan", "--staff", "lisi", "--strategy", "least_loaded",
            "--tag", "渠道/抖音直播", "--json",
            "--welcome", "{客户昵称}您好，我是{员工姓名}，直播间福利已备好",
        ).stdout
    )  # fmt: skip
    assert made["sync_status"] == "pending"
    assert made["cost_fen"] == 120000
    stack.drain()
    ch = _channel(session, made["id"])
    assert ch.sync_status == "ok", ch.sync_error
    way = stack.sim.state.contact_ways[ch.config_id or ""]
    # least_loaded: both empty, the first account holds the code; a multi-person code
    # (type 2) because the pool has two accounts.
    assert (way["type"], way["state"], way["user"]) == (2, ch.state, ["zhangsan"])

    ext = sc.new_customer("王小花")
    userid, code = sc.add_friend(ext, config_id=ch.config_id)
    assert userid == "zhangsan"
    # The welcome went out on the callback path (after its 200), before the worker ran.
    sent = _welcomes(session, 1)
    assert [(w.status, w.source, w.userid) for w in sent] == [("sent", "channel", "zhangsan")]
    assert sent[0].latency_ms is not None
    assert sent[0].latency_ms < 20_000
    assert stack.sim.state.welcome_codes[code or ""][1] is True  # used, once

    stack.drain()  # processing's events: entry tags, tag push, re-routing
    stack.drain()
    tag = session.scalar(select(Tag).where(Tag.name == "抖音直播"))
    assert tag is not None
    assert tag.wecom_tag_id
    follow = session.scalar(select(Follow).where(Follow.external_userid == ext))
    assert follow is not None
    assert follow.live_code_state == ch.state
    ct = session.scalar(select(CustomerTag).where(CustomerTag.customer_id == follow.customer_id))
    assert ct is not None
    assert (ct.tag_id, ct.source) == (tag.id, "channel")
    assert tag.wecom_tag_id in stack.sim.state.follows[("zhangsan", ext)].tags
    # zhangsan has one friend now: the code moved to lisi.
    assert stack.sim.state.contact_ways[ch.config_id or ""]["user"] == ["lisi"]
    userid2, _ = sc.add_friend(sc.new_customer("赵大"), config_id=ch.config_id)
    assert userid2 == "lisi"

    # The same customer adding a second account the same day is not greeted twice.
    sc.add_friend(ext, userid="lisi")
    _welcomes(session, 3)
    outcomes = cli("channels", "welcomes", "--json").stdout
    counts = json.loads(outcomes)["counts"]
    assert counts == {"sent": 2, "skipped:greeted_today": 1}


def test_wecom_refusal_shows_on_the_channel_and_retry_fixes_it(
    stack: Stack, cli: CliRun, session: Session
) -> None:
    sc = stack.sim.scenario
    sc.add_staff("zhangsan", "张三")
    cli("wecom", "sync", "--json")
    # The corp's 500,000 ways (contact + join codes together) are used up.
    stack.sim.state.contact_ways.update({f"old{i}": {} for i in range(500_000)})
    made = json.loads(cli("channels", "create", "--name", "包裹卡", "--staff", "zhangsan", "--json").stdout)
    stack.drain()
    ch = _channel(session, made["id"])
    assert ch.sync_status == "error"
    assert ch.config_id is None
    assert "50 万" in (ch.sync_error or "")
    assert "41062" in (ch.sync_error or "")
    listed = json.loads(cli("channels", "list", "--json").stdout)
    assert listed[0]["sync_error"] == ch.sync_error
    stack.sim.state.contact_ways.clear()
    cli("channels", "retry", made["id"])
    stack.drain()
    ch = _channel(session, made["id"])
    assert (ch.sync_status, ch.sync_error) == ("ok", None)
    assert ch.config_id
    # Deleting the channel removes its code from WeCom.
    cli("channels", "delete", made["id"])
    stack.drain()
    assert _channel(session, made["id"]).sync_status == "deleted"
    assert stack.sim.state.contact_ways == {}


def test_the_worker_greets_what_the_callback_path_did_not(
    stack: Stack, cli: CliRun, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import siyu.wecom.endpoints

    sc = stack.sim.scenario
    sc.add_staff("zhangsan", "张三")
    cli("wecom", "sync", "--json")
    cli("channels", "welcome-default", "--text", "你好，我是{员工姓名}")
    # As if the process died between the 200 and the welcome.
    monkeypatch.setattr(siyu.wecom.endpoints, "_wants_welcome", lambda ev: False)
    ext = sc.new_customer("晚到的客户")
    _, code = sc.add_friend(ext, userid="zhangsan")
    time.sleep(0.5)
    assert session.scalars(select(WelcomeSend)).all() == []
    stack.drain()
    stack.drain()
    (row,) = _welcomes(session, 1)
    assert (row.status, row.via, row.source) == ("sent", "worker", "workspace")
    assert stack.sim.state.welcome_codes[code or ""][1] is True


def test_landing_codes_follow_the_pool(stack: Stack, cli: CliRun, session: Session) -> None:
    import httpx

    sc = stack.sim.scenario
    sc.add_staff("zhangsan", "张三")
    sc.add_staff("lisi", "李四")
    cli("wecom", "sync", "--json")
    made = json.loads(
        cli("channels", "create", "--name", "朋友圈广告", "--staff", "zhangsan", "--staff", "lisi",
            "--landing", "--json").stdout
    )  # fmt: skip
    stack.drain()
    assert len(stack.sim.state.contact_ways) == 3  # the channel's code + one per account
    page = httpx.get(f"{stack.siyu_url}/c/{made['slug']}")
    assert page.status_code == 200
    assert "<svg" in page.text
    assert "张三" in page.text or "李四" in page.text
    cli("channels", "edit", made["id"], "--staff", "zhangsan")
    stack.drain()
    ways = stack.sim.state.contact_ways.values()
    assert sorted(len(w["user"]) for w in ways) == [1, 1]  # lisi's own code is gone
    assert all(w["user"] == ["zhangsan"] for w in ways)
    assert "张三" in httpx.get(f"{stack.siyu_url}/c/{made['slug']}").text
