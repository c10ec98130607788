# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters by name)
"""The chat sidebar in Chromium, opened the way WeCom opens it: OAuth2 through the
simulator, the JS-SDK stand-in checking siyu's signature, a chat context, one-tap send."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from siyu.automation.content import create_content
from siyu.config import get_settings
from siyu.execution.service import NewTask, create_task
from siyu.kit.db import session_scope
from siyu.kit.timeutil import utcnow
from siyu.wecom import jssdk
from siyu.wecom.simulator import Simulator
from siyu.wecom.simulator.sidebar import JSSDK
from tests.web.api_world import World, build_world
from tests.wecom.sim_fixtures import CORP_ID, SECRET, simulator  # noqa: F401

Open = Callable[..., Any]


@pytest.fixture
def wecom_env(env: Any, simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("SIYU_WECOM_CORP_ID", CORP_ID)
    monkeypatch.setenv("SIYU_WECOM_SECRET", SECRET)
    monkeypatch.setenv("SIYU_WECOM_AGENT_ID", "1000002")
    monkeypatch.setenv("SIYU_WECOM_API_BASE", simulator.url)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    jssdk.shared_tickets().clear()
    simulator.scenario.add_staff("alice")
    world = build_world()
    with session_scope() as s:
        create_task(
            s,
            workspace_id=world.ws,
            task=NewTask(
                world.staff["alice"], "manual", "回访张三", utcnow(), customer_id=world.customers["zhang"]
            ),
        )
        create_content(s, workspace_id=world.ws, kind="script", title="发货话术", text="亲，今天已发货哦")
    return world


@pytest.fixture
def open_sidebar(wecom_env: World, page: Any, server: str, simulator: Simulator) -> Open:
    sim_url: str = simulator.url  # type: ignore[attr-defined]

    def go(context: dict[str, Any], mode: str = "ww", userid: str = "alice") -> Any:
        body = {
            **context,
            "userid": userid,
            "trusted_host": context.get("trusted_host", urlsplit(server).netloc),
        }
        httpx.post(f"{sim_url}/_sim/jssdk/context", json=body).raise_for_status()
        prelude = f"window.__SIM_BASE__ = {json.dumps(sim_url)}; window.__SIM_MODE__ = {json.dumps(mode)};\n"
        script = prelude + JSSDK.read_text(encoding="utf-8")
        page.route(
            "**/static/vendor/wecom/jssdk.js",
            lambda route: route.fulfill(status=200, content_type="application/javascript", body=script),
        )
        page.context.add_cookies([{"name": "sim_userid", "value": userid, "url": sim_url}])
        page.set_viewport_size({"width": 380, "height": 800})
        page.goto(f"{server}/sidebar/default/")
        return page

    return go


def test_staff_opens_the_sidebar_in_a_chat_and_sends_a_script(
    open_sidebar: Open, simulator: Simulator, artifacts_dir: Path
) -> None:
    page = open_sidebar({"entry": "single_chat_tools", "external_userid": "wmZ"})
    page.wait_for_selector("#sidebar[data-ready='1']")
    assert page.get_attribute("#sidebar", "data-api") == "ww"
    assert page.inner_text("#sb-customer .name") == "张三"
    assert "VIP" in page.inner_text("#sb-customer .tags")
    page.fill("#sb-customer .add-tag input", "想要小样")
    page.click("#sb-customer .add-tag button")
    page.wait_for_selector("#sb-customer .tags li:has-text('想要小样')")
    page.click("#sb-customer .tasks button")
    page.wait_for_selector("#sb-customer .tasks li:has-text('回访张三')", state="detached")
    page.click("#sb-scripts button[data-script]")
    page.wait_for_selector("#sb-scripts .sent-note:not([hidden])")
    sent = httpx.get(f"{simulator.url}/_sim/jssdk/sent").json()["sent"]  # type: ignore[attr-defined]
    assert sent == [{"msgtype": "text", "text": {"content": "亲，今天已发货哦"}}]
    # no sideways scrolling on a phone-wide sidebar
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifacts_dir / "sidebar-customer.png"), full_page=True)


def test_classic_wx_agent_config_in_a_group_chat(open_sidebar: Open, artifacts_dir: Path) -> None:
    page = open_sidebar({"entry": "group_chat_tools", "chat_id": "wrGROUP1"}, mode="wx")
    page.wait_for_selector("#sidebar[data-ready='1']")
    assert page.get_attribute("#sidebar", "data-api") == "wx"
    assert page.inner_text("#sb-group .name") == "面霜复购群"
    assert "张三（我的好友）" in page.inner_text("#sb-group .members")
    page.screenshot(path=str(artifacts_dir / "sidebar-group.png"), full_page=True)


def test_an_untrusted_domain_is_named_on_the_page(open_sidebar: Open) -> None:
    page = open_sidebar(
        {"entry": "single_chat_tools", "external_userid": "wmZ", "trusted_host": "scrm.example.com"}
    )
    page.wait_for_selector("#sb-error:not([hidden])")
    assert page.get_attribute("#sb-error", "data-step") == "domain"
    assert "可信域名" in page.inner_text("#sb-error .step")


def test_a_customer_of_someone_else_is_a_permission_error(open_sidebar: Open) -> None:
    page = open_sidebar({"entry": "single_chat_tools", "external_userid": "wmSOMEONEELSE"})
    page.wait_for_selector("#sb-error:not([hidden])")
    assert page.get_attribute("#sb-error", "data-step") == "permission"
