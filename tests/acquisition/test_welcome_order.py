"""The welcome order: referral campaign > channel > staff > nearest department > workspace."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition import welcome
from siyu.acquisition.channels import ChannelInput, create_channel, update_channel
from siyu.kit.db import session_factory, session_scope
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import moved_clock
from siyu.models import Channel, WelcomeSend
from siyu.staff.service import ensure_staff
from tests.acquisition.test_welcome import TUESDAY_10, TUESDAY_23, FakeGateway, _add
from tests.conftest import CliRun


def _world(workspace_id: int) -> dict[str, Any]:
    with session_scope() as s:
        zs = ensure_staff(s, workspace_id=workspace_id, userid="zs", name="张三", department="华东/上海/徐汇")
        ls = ensure_staff(s, workspace_id=workspace_id, userid="ls", name="李四", department="华东/杭州")
        ww = ensure_staff(s, workspace_id=workspace_id, userid="ww", name="王五", department="华南")
        ch = create_channel(
            s,
            workspace_id=workspace_id,
            data=ChannelInput(
                name="老带新",
                state="refer",
                pool={"staff_ids": [zs.id, ls.id, ww.id]},
                welcome={"text": "渠道欢迎语"},
                campaign={
                    "name": "12 月老带新",
                    "starts_on": "2026-12-01",
                    "ends_on": "2026-12-31",
                    "welcome": {
                        "text": "活动欢迎语：{员工姓名}送您新客礼",
                        "variants": {"night": {"text": "活动夜间"}},
                    },
                },
            ),
            actor="test",
        )
        plain = create_channel(
            s,
            workspace_id=workspace_id,
            data=ChannelInput(name="无欢迎语", state="bare", pool={"staff_ids": [zs.id]}),
            actor="test",
        )
        welcome.set_default(s, workspace_id=workspace_id, staff_id=None, welcome={"text": "企业默认"})
        welcome.set_default(
            s, workspace_id=workspace_id, staff_id=None, department="华东", welcome={"text": "华东默认"}
        )
        welcome.set_default(
            s,
            workspace_id=workspace_id,
            staff_id=None,
            department=" 华东 / 上海 ",
            welcome={"text": "上海默认"},
        )
        return {"zs": zs.id, "ls": ls.id, "ww": ww.id, "refer": ch.id, "bare": plain.id}


def _sent(session: Session, gw: FakeGateway) -> list[tuple[str | None, str]]:
    rows = session.scalars(select(WelcomeSend).order_by(WelcomeSend.id)).all()
    texts = [r.text.content if r.text else "" for r in gw.sent]
    return [(r.source, t) for r, t in zip(rows, texts, strict=True)]


def test_each_level_in_its_place(session: Session, workspace_id: int) -> None:
    ids = _world(workspace_id)
    f = session_factory()
    gw = FakeGateway()
    with moved_clock(TUESDAY_10):
        # campaign running: before the channel's own welcome (variables filled)
        welcome.greet(f, workspace_id, _add(userid="zs", state="refer"), gateway=gw)
        # no channel welcome: zs has no own default → nearest department up 华东/上海/徐汇 = 华东/上海
        welcome.greet(f, workspace_id, _add(userid="zs", state="bare"), gateway=gw)
        # ls in 华东/杭州 (no default) → 华东
        welcome.greet(f, workspace_id, _add(userid="ls"), gateway=gw)
        # ww in 华南: no department default → the workspace's
        welcome.greet(f, workspace_id, _add(userid="ww"), gateway=gw)
    with moved_clock(TUESDAY_23):
        # the campaign's night variant
        welcome.greet(f, workspace_id, _add(userid="ls", state="refer", at=TUESDAY_23), gateway=gw)
    with session_scope() as s:
        welcome.set_default(s, workspace_id=workspace_id, staff_id=ids["zs"], welcome={"text": "张三自己的"})
    with moved_clock(TUESDAY_10):
        # the staff member's own default now comes before any department's
        welcome.greet(f, workspace_id, _add(userid="zs", state="bare"), gateway=gw)
    assert _sent(session, gw) == [
        ("campaign", "活动欢迎语：张三送您新客礼"),
        ("department", "上海默认"),
        ("department", "华东默认"),
        ("workspace", "企业默认"),
        ("campaign", "活动夜间"),
        ("staff", "张三自己的"),
    ]


def test_campaign_only_while_it_runs_then_the_channel(session: Session, workspace_id: int) -> None:
    ids = _world(workspace_id)
    with session_scope() as s:
        from siyu.acquisition.channels import ChannelInput as CI

        update_channel(
            s,
            workspace_id=workspace_id,
            channel_id=ids["refer"],
            data=CI(campaign={"name": "已结束", "ends_on": "2026-11-30", "welcome": {"text": "旧活动"}}),
            actor="test",
        )
    f = session_factory()
    gw = FakeGateway()
    with moved_clock(TUESDAY_10):
        welcome.greet(f, workspace_id, _add(userid="zs", state="refer"), gateway=gw)
    with session_scope() as s:
        update_channel(s, workspace_id=workspace_id, channel_id=ids["refer"], data=ChannelInput(campaign={}),
                       actor="test")  # fmt: skip
        ch = s.get(Channel, ids["refer"])
        assert ch is not None
        assert "campaign" not in ch.settings
    assert _sent(session, gw) == [("channel", "渠道欢迎语")]


def test_bad_campaign_and_department_input_is_refused(session: Session, workspace_id: int) -> None:
    ids = _world(workspace_id)
    with session_scope() as s:
        for bad, words in (
            ({"name": "x", "welcome": {}}, "needs a text"),
            ({"name": "x", "welcome": {"text": "a"}, "starts_on": "2026-13-01"}, "not a date"),
            (
                {"name": "x", "welcome": {"text": "a"}, "starts_on": "2026-12-02", "ends_on": "2026-12-01"},
                "after",
            ),
            ({"name": "", "welcome": {"text": "a"}}, "empty"),
        ):
            with pytest.raises(Invalid, match=words):
                update_channel(s, workspace_id=workspace_id, channel_id=ids["bare"],
                               data=ChannelInput(campaign=bad),
                               actor="test")  # fmt: skip
        with pytest.raises(Invalid, match="not both"):
            welcome.set_default(s, workspace_id=workspace_id, staff_id=ids["zs"], department="华东",
                                welcome={"text": "x"})  # fmt: skip
        with pytest.raises(Invalid, match="empty"):
            welcome.set_default(
                s, workspace_id=workspace_id, staff_id=None, department=" / ", welcome={"text": "x"}
            )
    assert [d["department"] for d in welcome.list_defaults(session, workspace_id=workspace_id)] == [
        None,
        "华东",
        "华东/上海",
    ]


def test_department_default_and_campaign_from_the_cli(
    cli: CliRun, session: Session, workspace_id: int
) -> None:
    ids = _world(workspace_id)
    out = json.loads(
        cli("channels", "welcome-default", "--department", "华南", "--text", "华南默认", "--json").stdout
    )
    assert (out["department"], out["welcome"]["text"]) == ("华南", "华南默认")
    levels = json.loads(cli("channels", "welcome-defaults", "--json").stdout)
    assert [(d["level"], d["department"]) for d in levels][-1] == ("department", "华南")
    edited = json.loads(
        cli("channels", "edit", ids["bare"], "--campaign", "春季老带新", "--campaign-welcome", "春季活动",
            "--campaign-until", "2027-03-31", "--json").stdout
    )  # fmt: skip
    assert edited["campaign"] == {
        "name": "春季老带新",
        "ends_on": "2027-03-31",
        "welcome": {"text": "春季活动", "attachments": [], "variants": {}},
    }
    f = session_factory()
    gw = FakeGateway()
    with moved_clock(TUESDAY_10):
        welcome.greet(f, workspace_id, _add(userid="ww", state="bare"), gateway=gw)
        welcome.greet(f, workspace_id, _add(userid="ww"), gateway=gw)
    assert _sent(session, gw) == [("campaign", "春季活动"), ("department", "华南默认")]
    cleared = json.loads(cli("channels", "edit", ids["bare"], "--campaign", "", "--json").stdout)
    assert cleared["campaign"] is None
