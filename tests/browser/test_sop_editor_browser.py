"""The SOP plan's form editor in Chromium on a phone screen: add a tag step through the
form, save it, see a server error on the step and field it names, and the 高级 JSON
kept in sync both ways."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from siyu.customers.tags import ensure_tag
from siyu.kit.db import session_scope
from siyu.models import SopPlan
from tests.browser.test_console_browser import log_in, seeded  # noqa: F401  (fixture)


def test_add_a_tag_step_through_the_form_and_save(
    page: Any,
    seeded: int,  # noqa: F811
    artifacts_dir: Path,
) -> None:
    with session_scope() as s:
        ensure_tag(s, workspace_id=seeded, name="新客七日")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/sop")
    log_in(page)
    page.goto("/sop")
    page.locator("form:has(input[name=name][value=onboarding]) button").click()
    page.wait_for_selector("#step-editor:not([hidden])")
    expect(page.locator(".sop-step")).to_have_count(4)
    expect(page.locator(".sop-step").first).to_contain_text("此刻触达 1 位")
    # a group plan offers only group triggers and actions
    page.select_option("select[name=f-subject]", "group")
    triggers = page.locator("select[name=f-trigger] option").all_inner_texts()
    assert triggers == ["新建客户群", "群类型", "建群满 N 天"]
    page.select_option("select[name=f-subject]", "customer")
    page.select_option("select[name=f-trigger]", "friend_added")

    # moving a step keeps its reach now with it; a new step's is counted once saved
    first = page.locator('.sop-step[data-step="0"]')
    reach0 = first.locator(".reach").inner_text()
    page.locator('.sop-step[data-step="1"]').get_by_role("button", name="↑").click()
    expect(page.locator('.sop-step[data-step="1"] .reach')).to_have_text(reach0)
    page.locator('.sop-step[data-step="1"]').get_by_role("button", name="↑").click()
    expect(page.locator('.sop-step[data-step="0"] .reach')).to_have_text(reach0)
    page.click("#add-step")
    row = page.locator('.sop-step[data-step="4"]')
    expect(row.locator(".reach")).to_have_text("保存后计算触达人数")
    row.locator("input[name=f-title]").fill("标记七日新客")
    row.locator("select[name=f-action]").select_option("tag")
    row.locator("select.tag-pick").select_option("新客七日")
    row.get_by_role("button", name="打上").click()
    expect(row).to_contain_text("新客七日")
    written = json.loads(page.locator("textarea[name=plan]").input_value())
    assert written["steps"][4] == {
        "day": 8,
        "at": "20:00",
        "action": "tag",
        "title": "标记七日新客",
        "add_tags": ["新客七日"],
        "remove_tags": [],
    }
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=artifacts_dir / "console-sop-editor-phone.png", full_page=True)
    page.click("#plan-form > button.primary")
    expect(page.locator("body")).to_contain_text("已保存")
    with session_scope() as s:
        plan = s.scalars(select(SopPlan)).one()
        assert plan.version == 2
        assert plan.steps[4]["add_tags"] == ["新客七日"]
        assert plan.template == "onboarding"

    # a send step without content: the server's error lands on that step's content field
    page.click("#add-step")
    row = page.locator('.sop-step[data-step="5"]')
    row.locator("select[name=f-action]").select_option("send")
    page.click("#plan-form > button.primary")
    expect(page.locator("#plan-error")).to_contain_text("第 6 步 · 内容")
    bad = page.locator('.sop-step[data-step="5"] [data-f="content_id"]')
    expect(bad).to_have_class("sop-field field-error")
    expect(bad.locator(".step-error")).to_be_visible()
    with session_scope() as s:
        assert s.scalar(select(SopPlan.version)) == 2

    # the 高级 JSON drives the form too
    page.locator("#plan-advanced summary").click()
    plan_json = json.loads(page.locator("textarea[name=plan]").input_value())
    plan_json["name"] = "七日承接"
    plan_json["steps"].pop()
    page.locator("textarea[name=plan]").fill(json.dumps(plan_json, ensure_ascii=False))
    expect(page.locator("input[name=f-name]")).to_have_value("七日承接")
    expect(page.locator(".sop-step")).to_have_count(5)
