# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters by name)
"""The chat sidebar's server side: signature, the cached agent ticket, OAuth2 sign-in,
the customer and group cards (a staff member sees only their own), and the writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.content import create_content
from siyu.automation.sop import service as sop
from siyu.automation.sop.templates import template as sop_template
from siyu.automation.sop.triggers import Match
from siyu.config import Settings, get_settings
from siyu.customers.fields import define_field
from siyu.execution.service import NewTask, create_task
from siyu.kit.db import session_scope
from siyu.kit.timeutil import utcnow
from siyu.models import CustomerFieldValue, CustomerNote, CustomerTag, OrderBinding, StaffTask, Tag
from siyu.web.sidebar import COOKIE, TOKEN_HEADER
from siyu.wecom import jssdk
from siyu.wecom.simulator import Simulator
from siyu.wecom.simulator.sidebar import sidebar_state
from tests.web.api_world import World, assert_error, build_world, client
from tests.wecom.sim_fixtures import CORP_ID, SECRET, simulator  # noqa: F401

AGENT = "1000002"


def test_signature_matches_the_published_example() -> None:
    # WeChat's JS-SDK documentation example (附录 1), the same scheme WeCom uses.
    ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    sig = jssdk.sign(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value#frag")
    assert sig == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


@pytest.fixture
def world(env: Settings, simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("SIYU_WECOM_CORP_ID", CORP_ID)
    monkeypatch.setenv("SIYU_WECOM_SECRET", SECRET)
    monkeypatch.setenv("SIYU_WECOM_AGENT_ID", AGENT)
    monkeypatch.setenv("SIYU_WECOM_API_BASE", simulator.url)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    jssdk.shared_tickets().clear()
    for userid in ("alice", "bob"):
        simulator.scenario.add_staff(userid)
    return build_world()


@pytest.fixture
def api(world: World) -> Iterator[TestClient]:
    with client() as c:
        yield c


def sign_in(api: TestClient, sim: Simulator, userid: str, slug: str = "default") -> str:
    """Open the sidebar as ``userid``: siyu → WeCom OAuth2 → back with a code → cookie."""
    first = api.get(f"/sidebar/{slug}/", follow_redirects=False)
    assert first.status_code == 302
    auth = first.headers["location"]
    q = parse_qs(urlsplit(auth).query)
    assert q["scope"] == ["snsapi_base"]
    assert q["appid"] == [CORP_ID]
    assert q["agentid"] == [AGENT]
    assert auth.endswith("#wechat_redirect")
    back = httpx.get(auth.split("#")[0] + f"&sim_userid={userid}", follow_redirects=False)
    assert back.status_code == 302
    landing = api.get(back.headers["location"].replace("http://localhost", ""), follow_redirects=False)
    assert landing.status_code == 302, landing.text
    page = api.get(f"/sidebar/{slug}/")
    assert page.status_code == 200
    assert "/static/sidebar/sidebar.js" in page.text
    return page.text.split('data-csrf="', 1)[1].split('"', 1)[0]


def test_sign_in_config_and_the_ticket_is_fetched_once(
    api: TestClient, world: World, simulator: Simulator
) -> None:
    sign_in(api, simulator, "alice")
    url = "http://localhost/sidebar/default/?from=chat"
    a = api.get("/sidebar/default/api/config", params={"url": url + "#x"}).json()
    b = api.get("/sidebar/default/api/config", params={"url": url}).json()
    assert sidebar_state(simulator.state).ticket_calls == 1
    (ticket,) = sidebar_state(simulator.state).tickets
    assert a["signature"] == jssdk.sign(ticket, a["nonceStr"], a["timestamp"], url)
    assert b["corpid"] == CORP_ID
    assert b["agentid"] == AGENT
    err = assert_error(
        api.get("/sidebar/default/api/config", params={"url": "https://evil.example/sidebar/default/"}), 403
    )
    assert err["field"] == "domain"


def test_ticket_cache_refreshes_before_it_expires(simulator: Simulator) -> None:
    from tests.wecom.sim_fixtures import client_for

    now = [0.0]
    cache = jssdk.TicketCache(clock=lambda: now[0])
    with client_for(simulator) as c:
        first = cache.get("k", c)
        now[0] = 7200 - 301
        assert cache.get("k", c) == first
        now[0] = 7200 - 299
        assert cache.get("k", c) != first
    assert cache.fetches == 2


def test_oauth_failures_name_their_step(api: TestClient, world: World, simulator: Simulator) -> None:
    bad = api.get("/sidebar/default/?code=forged", follow_redirects=False)
    assert bad.status_code == 403
    assert 'data-step="oauth"' in bad.text
    simulator.scenario.add_staff("carol")  # a WeCom member siyu has no staff account for
    first = api.get("/sidebar/default/", follow_redirects=False)
    back = httpx.get(first.headers["location"].split("#")[0] + "&sim_userid=carol", follow_redirects=False)
    page = api.get(back.headers["location"].replace("http://localhost", ""), follow_redirects=False)
    assert 'data-step="permission"' in page.text
    assert_error(api.get("/sidebar/default/api/customer", params={"external_userid": "wmZ"}), 403)
    missing = api.get("/sidebar/nosuch/")
    assert missing.status_code == 404
    assert 'data-step="config"' in missing.text


def test_staff_see_and_edit_only_their_own_customers(
    api: TestClient, world: World, simulator: Simulator, session: Session
) -> None:
    with session_scope() as s:
        define_field(s, workspace_id=world.ws, key="birthday", label="生日", kind="date")
        define_field(
            s, workspace_id=world.ws, key="skin", label="肤质", kind="choice", options=["油皮", "干皮"]
        )
        task_id = create_task(
            s,
            workspace_id=world.ws,
            task=NewTask(
                world.staff["alice"], "manual", "回访张三", utcnow(), customer_id=world.customers["zhang"]
            ),
        )
        create_content(s, workspace_id=world.ws, kind="script", title="发货话术", text="亲，今天发货哦")
    token = sign_in(api, simulator, "alice")
    card = api.get("/sidebar/default/api/customer", params={"external_userid": "wmZ"}).json()
    zhang = world.customers["zhang"]
    assert card["customer"]["id"] == zhang
    assert [t["name"] for t in card["tags"]] == ["VIP"]
    assert [t["title"] for t in card["tasks"]] == ["回访张三"]
    assert card["sop"] == []
    # enrolled in the onboarding plan: the card shows the plan and its next step
    with session_scope() as s:
        plan = sop.create_plan(
            s, workspace_id=world.ws, data=sop.PlanInput.from_dict(sop_template("onboarding"))
        )
        sop.activate(s, workspace_id=world.ws, plan_id=plan.id, enroll_existing=False)
        sop.enroll(s, plan, [Match(customer_id=world.customers["zhang"], key="t1", at=utcnow())])
        first_step = plan.steps[0]["title"]
    enrolled = api.get("/sidebar/default/api/customer", params={"external_userid": "wmZ"}).json()["sop"]
    assert [(r["plan"], r["step"]) for r in enrolled] == [(plan.name, first_step)]
    assert [f["key"] for f in card["fields"]] == ["birthday", "skin"]
    assert card["stats"]["orders"] >= 1
    scripts = api.get("/sidebar/default/api/scripts").json()
    assert [s["title"] for s in scripts] == ["发货话术"]

    h = {TOKEN_HEADER: token}
    base = f"/sidebar/default/api/customers/{zhang}"
    assert_error(api.post(f"{base}/notes", json={"text": "x"}), 403)  # no token: refused
    tags = api.post(f"{base}/tags", headers=h, json={"add": ["敏感肌"], "remove": [world.tags["vip"]]}).json()
    assert [t["name"] for t in tags] == ["敏感肌"]
    err = assert_error(
        api.post(f"{base}/fields", headers=h, json={"values": {"birthday": "1990-13-01"}}), 422
    )
    assert err["field"] == "birthday"
    assert api.post(
        f"{base}/fields", headers=h, json={"values": {"birthday": "1990-05-20", "skin": "油皮"}}
    ).is_success
    assert api.post(f"{base}/notes", headers=h, json={"text": "想要小样"}).status_code == 201
    assert (
        api.post(f"{base}/orders", headers=h, json={"order_no": "T1"}).json()["order_id"]
        == world.orders["paid"]
    )
    # an order siyu has not imported cannot be bound (nothing to join the friend to)
    assert (
        assert_error(api.post(f"{base}/orders", headers=h, json={"order_no": "X999"}), 422)["field"]
        == "order_no"
    )
    assert api.post(f"/sidebar/default/api/tasks/{task_id}/done", headers=h).json()["done_how"] == "operator"

    # li is bob's friend, not alice's; wang deleted alice: both out of her reach
    li = world.customers["li"]
    err = assert_error(
        api.post(f"/sidebar/default/api/customers/{li}/notes", headers=h, json={"text": "x"}), 403
    )
    assert_error(api.get("/sidebar/default/api/customer", params={"external_userid": "wmNOBODY"}), 403)

    session.expire_all()
    assert session.scalar(select(CustomerNote.text)) == "想要小样"
    values = dict(session.execute(select(CustomerFieldValue.value, CustomerFieldValue.source)).all())
    assert values == {"1990-05-20": "sidebar", "油皮": "sidebar"}
    assert session.scalar(select(StaffTask.status).where(StaffTask.id == task_id)) == "done"
    assert {b.order_id for b in session.scalars(select(OrderBinding))} == {world.orders["paid"]}
    names = set(
        session.scalars(
            select(Tag.name)
            .join(CustomerTag, CustomerTag.tag_id == Tag.id)
            .where(CustomerTag.customer_id == zhang)
        )
    )
    assert names == {"敏感肌"}


def test_group_card_shows_customers_to_the_owner_only(
    api: TestClient, world: World, simulator: Simulator
) -> None:
    sign_in(api, simulator, "alice")
    g = api.get("/sidebar/default/api/group", params={"chat_id": "wrGROUP1"}).json()
    assert g["group"]["owner_is_me"] is True
    assert [(m["name"], m["my_friend"]) for m in g["customers"]] == [("张三", True)]
    assert g["sop"] == []
    # 张三 joined through the group onboarding plan: the group's SOP shows it and its step
    with session_scope() as s:
        from siyu.models import Group

        gid = s.scalar(select(Group.id).where(Group.chat_id == "wrGROUP1"))
        plan = sop.create_plan(
            s, workspace_id=world.ws, data=sop.PlanInput.from_dict(sop_template("group_onboarding"))
        )
        sop.activate(s, workspace_id=world.ws, plan_id=plan.id, enroll_existing=False)
        sop.enroll(s, plan, [Match(world.customers["zhang"], "group:t1", utcnow(), None, gid)])
        first_step = plan.steps[0]["title"]
    g = api.get("/sidebar/default/api/group", params={"chat_id": "wrGROUP1"}).json()
    assert [(r["plan"], r["step"], r["members"]) for r in g["sop"]] == [("社群新人承接", first_step, 1)]
    api.cookies.delete(COOKIE)
    sign_in(api, simulator, "bob")
    err = assert_error(api.get("/sidebar/default/api/group", params={"chat_id": "wrGROUP1"}), 403)
    assert err["field"] == "permission"


def test_domain_verification_file_and_the_page_url(cli: Any, env: Settings, tmp_path: Path) -> None:
    f = tmp_path / "WW_verify_AbC123xyz.txt"
    f.write_text("kq8Zp1sD9QwE\n", encoding="utf-8")
    cli("sidebar", "verify-file", f)
    bad = tmp_path / "verify.txt"
    bad.write_text("x", encoding="utf-8")
    assert "not a WeCom verification file name" in cli("sidebar", "verify-file", bad, expect=2).stderr
    with client() as c:
        got = c.get("/WW_verify_AbC123xyz.txt")
        assert got.status_code == 200
        assert got.text == "kq8Zp1sD9QwE"
        assert c.get("/WW_verify_other.txt").status_code == 404
    out = json.loads(cli("sidebar", "url", "https://scrm.example.com", "--json").stdout)
    assert out["page_url"] == "https://scrm.example.com/sidebar/default/"
    assert out["trusted_domain"] == "scrm.example.com"
    cli("sidebar", "url", "http://scrm.example.com", expect=2)
