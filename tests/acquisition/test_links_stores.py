"""End to end through the simulator: 获客助手 link channels (quota, customer_channel as the
state, errors on the channel) and store channels (landing page, nearest store, credit
per store in the funnel)."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition import funnel
from siyu.models import Channel, CustomerTag, Follow, Tag, WelcomeSend
from siyu.wecom.simulator import SimError
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


def test_link_channel_made_added_through_attributed_welcomed_and_quota_used(
    stack: Stack, cli: CliRun, session: Session
) -> None:
    sc = stack.sim.scenario
    sc.add_staff("zhangsan", "张三")
    cli("wecom", "sync", "--json")
    made = json.loads(
        cli(
            "channels", "create", "--kind", "link", "--name", "抖音信息流", "--state", "dy_feed",
            "--staff", "zhangsan", "--tag", "渠道/抖音投放", "--cost", "500",
            "--welcome", "{客户昵称}您好，我是{员工姓名}，投放福利已备好", "--json",
        ).stdout
    )  # fmt: skip
    assert (made["kind"], made["sync_status"]) == ("link", "pending")
    stack.drain()
    ch = _channel(session, made["id"])
    assert ch.sync_status == "ok", ch.sync_error
    link = stack.sim.state.acquisition_links[ch.config_id or ""]
    assert (link["link_name"], link["range"]["user_list"]) == ("抖音信息流", ["zhangsan"])
    # The link to publish carries the state as customer_channel; its QR is of the link.
    assert ch.link_url is not None
    assert ch.link_url.startswith(link["url"])
    assert parse_qs(urlsplit(ch.link_url).query)["customer_channel"] == ["dy_feed"]
    assert ch.qr_url == ch.link_url
    shown = json.loads(cli("channels", "show", str(ch.id), "--json").stdout)
    assert shown["link_url"] == ch.link_url
    assert shown["acquisition_quota"]["balance"] == 1000
    assert json.loads(cli("channels", "quota", "--json").stdout)["total"] == 1000

    ext = sc.new_customer("王小花")
    userid, code = sc.add_friend_via_link(ext, ch.link_url)
    assert userid == "zhangsan"
    sent = _welcomes(session, 1)
    assert [(w.status, w.source, w.channel_id) for w in sent] == [("sent", "channel", ch.id)]
    assert stack.sim.state.welcome_codes[code or ""][1] is True
    stack.drain()
    stack.drain()
    follow = session.scalar(select(Follow).where(Follow.external_userid == ext))
    assert follow is not None
    assert follow.live_code_state == "dy_feed"  # mapped back exactly like a live code's state
    tag = session.scalar(select(Tag).where(Tag.name == "抖音投放"))
    assert tag is not None
    ct = session.scalar(select(CustomerTag).where(CustomerTag.customer_id == follow.customer_id))
    assert ct is not None
    assert ct.tag_id == tag.id
    # A new customer used one unit of the paid quota.
    assert json.loads(cli("channels", "quota", "--json").stdout)["balance"] == 999

    # Edit and delete follow in WeCom (update_link / delete_link).
    cli("channels", "edit", str(ch.id), "--name", "抖音信息流-春季")
    stack.drain()
    assert stack.sim.state.acquisition_links[ch.config_id or ""]["link_name"] == "抖音信息流-春季"
    cli("channels", "delete", str(ch.id))
    stack.drain()
    assert _channel(session, ch.id).sync_status == "deleted"
    assert stack.sim.state.acquisition_links == {}


def test_link_refusals_in_plain_words_and_quota_exhausted(
    stack: Stack, cli: CliRun, session: Session
) -> None:
    sc = stack.sim.scenario
    sc.add_staff("zhangsan", "张三")
    cli("wecom", "sync", "--json")
    # A customer_channel longer than WeCom keeps (64 bytes) is refused before anything is written.
    long_state = "渠" * 22  # 22 characters, 66 bytes
    bad = cli("channels", "create", "--kind", "link", "--name", "x", "--state", long_state,
              "--staff", "zhangsan",
              expect=2)  # fmt: skip
    assert "64" in bad.output
    assert session.scalar(select(Channel)) is None
    # WeCom refuses a member without customer-contact permission: shown on the channel.
    stack.sim.state.staff["zhangsan"].has_permission = False
    made = json.loads(cli("channels", "create", "--kind", "link", "--name", "短信", "--staff", "zhangsan",
                          "--json").stdout)  # fmt: skip
    stack.drain()
    ch = _channel(session, made["id"])
    assert ch.sync_status == "error"
    assert "客户联系" in (ch.sync_error or "")
    assert "60011" in (ch.sync_error or "")
    stack.sim.state.staff["zhangsan"].has_permission = True
    cli("channels", "retry", str(ch.id))
    stack.drain()
    ch = _channel(session, made["id"])
    assert (ch.sync_status, ch.sync_error) == ("ok", None)
    # The quota runs out: the link adds nobody new (WeCom's own limit).
    stack.sim.state.acquisition_used = stack.sim.state.config.acquisition_quota
    with pytest.raises(SimError):
        sc.add_friend_via_link(sc.new_customer("晚来的"), ch.link_url or "")
    assert json.loads(cli("channels", "quota", "--json").stdout)["balance"] == 0


def test_store_channel_routes_to_the_nearest_store_and_credits_it(
    stack: Stack, cli: CliRun, session: Session
) -> None:
    sc = stack.sim.scenario
    for userid, name in (("sh1", "上海一号"), ("sh2", "上海二号"), ("bj1", "北京一号")):
        sc.add_staff(userid, name)
    cli("wecom", "sync", "--json")
    # Validation: a latitude out of range, an unknown staff account.
    bad = cli("channels", "stores", "create", "--name", "x", "--city", "上海", "--lat", "91", "--lng", "121",
              "--staff", "sh1", expect=2)  # fmt: skip
    assert "lat" in bad.output
    bad = cli("channels", "stores", "create", "--name", "x", "--city", "上海", "--lat", "31", "--lng", "121",
              "--staff", "nobody", expect=2)  # fmt: skip
    assert "nobody" in bad.output
    sh = json.loads(cli("channels", "stores", "create", "--name", "静安店", "--city", "上海",
                        "--lat", "31.2290",
                        "--lng", "121.4480", "--staff", "sh1", "--staff", "sh2", "--address", "南京西路 1 号",
                        "--json").stdout)  # fmt: skip
    bj = json.loads(cli("channels", "stores", "create", "--name", "国贸店", "--city", "北京",
                        "--lat", "39.9087",
                        "--lng", "116.4600", "--staff", "bj1", "--json").stdout)  # fmt: skip
    made = json.loads(cli("channels", "create", "--kind", "store", "--name", "门店导流", "--state", "stores",
                          "--welcome", "欢迎来到门店", "--cost", "100", "--json").stdout)  # fmt: skip
    stack.drain()
    ch = _channel(session, made["id"])
    assert ch.sync_status == "ok", ch.sync_error
    codes = ch.settings["store_codes"]
    assert set(codes) == {str(sh["id"]), str(bj["id"])}
    for store_id, per in codes.items():
        for code in per.values():
            assert stack.sim.state.contact_ways[code["config_id"]]["state"] == f"stores~{store_id}"

    page = httpx.get(f"{stack.siyu_url}/c/{ch.slug}")
    assert page.status_code == 200
    # Works without script: a plain GET form with the stores' cities.
    assert re.search(r'<form method="get"><select name="city"', page.text)
    assert '<option value="北京">' in page.text
    assert '<option value="上海">' in page.text
    assert "navigator.geolocation" in page.text  # optional, behind a nonce
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce is not None
    assert f'nonce="{nonce.group(1)}"' in page.text
    # Location near Beijing → the Beijing store; the city select → that city's store.
    near_bj = httpx.get(f"{stack.siyu_url}/c/{ch.slug}", params={"lat": "39.95", "lng": "116.40"})
    assert "国贸店" in near_bj.text
    assert "<svg" in near_bj.text
    in_sh = httpx.get(f"{stack.siyu_url}/c/{ch.slug}", params={"city": "上海"})
    assert "静安店" in in_sh.text
    assert "南京西路" in in_sh.text

    # A friend through the Shanghai store's code is credited to the store and welcomed.
    sh_code = next(iter(codes[str(sh["id"])].values()))
    ext = sc.new_customer("李雷")
    sc.add_friend(ext, config_id=sh_code["config_id"])
    sent = _welcomes(session, 1)
    assert [(w.status, w.source, w.channel_id) for w in sent] == [("sent", "channel", ch.id)]
    stack.drain()
    stack.drain()
    follow = session.scalar(select(Follow).where(Follow.external_userid == ext))
    assert follow is not None
    assert follow.live_code_state == f"stores~{sh['id']}"
    funnel.rebuild(session, workspace_id=ch.workspace_id)
    session.commit()
    rep = funnel.report(session, workspace_id=ch.workspace_id, grain="total", channel="门店导流")
    rows = {c.store_id: (c.name, c.channel_id, c.total.adds) for c in rep.channels}
    assert rows[sh["id"]] == ("门店导流 · 静安店", ch.id, 1)
    assert None not in rows  # no empty row for the store channel itself
    assert next(c for c in rep.channels if c.store_id == sh["id"]).total.cost_fen == 10000  # its one add

    # A store's staff change re-syncs its codes; deleting the store removes them.
    cli("channels", "stores", "edit", str(sh["id"]), "--staff", "sh2")
    stack.drain()
    ch = _channel(session, ch.id)
    assert list(ch.settings["store_codes"][str(sh["id"])]) == [
        str(next(s for s in json.loads(cli("staff", "list", "--json").stdout) if s["userid"] == "sh2")["id"])
    ]
    cli("channels", "stores", "delete", str(bj["id"]))
    stack.drain()
    ch = _channel(session, ch.id)
    assert str(bj["id"]) not in ch.settings["store_codes"]
