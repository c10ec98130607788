"""The ``route_back`` dedup policy rides on WeCom's ``is_exclusive``: a customer already
served by one of the brand's accounts who scans the channel's code reaches that account
again instead of adding a second one (同一外部企业客户只能添加同一个员工)."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.models import Channel, Follow
from tests.acquisition.conftest import Stack
from tests.conftest import CliRun


def _channel(session: Session, channel_id: int) -> Channel:
    session.expire_all()
    ch = session.get(Channel, channel_id)
    assert ch is not None
    return ch


def test_route_back_sets_is_exclusive_and_returning_customers_reach_their_account(
    stack: Stack, cli: CliRun, session: Session
) -> None:
    sc = stack.sim.scenario
    sc.add_staff("zs", "张三")
    sc.add_staff("ls", "李四")
    known = sc.new_customer("老客户")
    sc.add_friend(known, userid="zs")  # already zs's friend (added by search)
    cli("wecom", "sync", "--json")
    made = json.loads(cli("channels", "create", "--name", "门店台卡", "--staff", "ls", "--json").stdout)
    stack.drain()
    ch = _channel(session, made["id"])
    assert ch.sync_status == "ok", ch.sync_error
    assert stack.sim.state.contact_ways[ch.config_id or ""]["is_exclusive"] is False

    out = json.loads(cli("dedup", "policy", ch.state, "route_back", "--json").stdout)
    assert out["policy"] == "route_back"
    stack.drain()
    ch = _channel(session, made["id"])
    assert ch.sync_status == "ok", ch.sync_error
    assert stack.sim.state.contact_ways[ch.config_id or ""]["is_exclusive"] is True

    # The returning customer scans ls's code and lands on zs: no second account added.
    userid, code = sc.add_friend(known, config_id=ch.config_id)
    assert (userid, code) == ("zs", None)
    assert ("ls", known) not in stack.sim.state.follows
    stack.drain()
    session.expire_all()
    assert (
        session.scalar(select(func.count()).select_from(Follow).where(Follow.external_userid == known)) == 1
    )
    # A new customer is routed as usual.
    fresh = sc.new_customer("新客户")
    assert sc.add_friend(fresh, config_id=ch.config_id)[0] == "ls"

    # Back to allow: the code is no longer exclusive, and the old customer may add ls.
    cli("dedup", "policy", ch.state, "allow")
    stack.drain()
    assert stack.sim.state.contact_ways[ch.config_id or ""]["is_exclusive"] is False
    assert sc.add_friend(known, config_id=ch.config_id)[0] == "ls"
