"""The SOP plan's form editor: what it offers (each subject's triggers and actions, the
content library, tags, each step's reach now) and the console POST of the JSON it writes,
with a server error that names the step and field in the form's words."""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.content import create_content
from siyu.automation.sop.service import preview
from siyu.customers.tags import ensure_tag
from siyu.kit.db import session_scope
from siyu.models import SopPlan
from tests.web.test_console import client, csrf_of, login, seeded

_ = (client, seeded)


def _editor_data(page: str) -> dict[str, Any]:
    raw = page.split('<script type="application/json" id="sop-editor-data">')[1].split("</script>")[0]
    data: dict[str, Any] = json.loads(raw)
    return data


def _plan_json(page: str) -> dict[str, Any]:
    raw = page.split('<textarea name="plan" rows="24" class="mono">')[1].split("</textarea>")[0]
    data: dict[str, Any] = json.loads(html.unescape(raw))
    return data


def _save(client: TestClient, url: str, plan: dict[str, Any], page: str) -> Any:
    """POST what the form writes (the plan's JSON) as the console's form does."""
    return client.post(url, data={"plan": json.dumps(plan, ensure_ascii=False), "csrf_token": csrf_of(page)})


def _from_template(client: TestClient, name: str) -> str:
    page = client.get("/sop")
    res = client.post(
        "/sop/from-template", data={"name": name, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert res.status_code == 303, res.text
    return str(res.headers["location"])


def test_form_output_with_library_content_and_a_tag_step_is_saved(
    client: TestClient, seeded: int, session: Session
) -> None:
    with session_scope() as s:
        cid = create_content(
            s, workspace_id=seeded, kind="text", title="新品上市话术", text="新品到了，给您留了一份～"
        ).id
        ensure_tag(s, workspace_id=seeded, name="已推新品")
    login(client)
    url = _from_template(client, "onboarding")
    editor = client.get(url)
    assert editor.status_code == 200
    assert "/static/console/sop_editor.js" in editor.text
    data = _editor_data(editor.text)
    opts = data["options"]
    # the pickers: the library item and the tag; each subject's own triggers and actions
    assert {"id": cid, "kind": "text", "title": "新品上市话术"} in opts["contents"]
    assert "已推新品" in opts["tags"]
    assert "group_created" not in opts["subjects"]["customer"]["triggers"]
    assert opts["subjects"]["group"]["triggers"] == ["group_created", "group_type", "group_age"]
    assert opts["subjects"]["group"]["actions"] == ["task", "group_message"]
    # each saved step's reach now, from the same preview the API serves (王芳 already matches)
    assert len(data["reach"]) == data["saved_steps"] == 4
    assert data["reach"][0] == 1
    with session_scope() as s:
        same = preview(s, workspace_id=seeded, plan_id=int(url.rsplit("/", 1)[1]))  # what the API returns
    assert [st["reach_now"] for st in same["steps"]] == data["reach"]

    # what the form writes: the template's steps, moved and extended, as JSON
    plan = _plan_json(editor.text)
    plan["steps"][1], plan["steps"][2] = plan["steps"][2], plan["steps"][1]  # out of order: refused
    bad = _save(client, url, plan, editor.text)
    assert bad.status_code == 422
    assert 'data-field="steps[2].day"' in bad.text
    assert "第 3 步 · 第几天" in bad.text
    plan["steps"][1], plan["steps"][2] = plan["steps"][2], plan["steps"][1]
    plan["steps"].append({"day": 8, "at": "10:00", "action": "send", "title": "推荐新品", "content_id": cid})
    tag_step = {"day": 9, "at": "10:00", "action": "tag", "title": "标记已推", "add_tags": ["已推新品"]}
    plan["steps"].append({**tag_step, "remove_tags": []})
    saved = client.post(
        url,
        data={"plan": json.dumps(plan, ensure_ascii=False), "csrf_token": csrf_of(editor.text)},
        follow_redirects=True,
    )
    assert saved.status_code == 200
    assert "已保存" in saved.text
    session.expire_all()
    row = session.scalars(select(SopPlan)).one()
    assert row.version == 2
    assert row.template == "onboarding"  # saving from the editor keeps where the plan came from
    assert [s["action"] for s in row.steps] == ["task", "task", "task", "tag", "send", "tag"]
    assert row.steps[4]["content_id"] == cid
    assert row.steps[5]["add_tags"] == ["已推新品"]
    after = _editor_data(saved.text)
    assert after["saved_steps"] == 6
    assert len(after["reach"]) == 6


def test_a_server_error_names_the_step_and_field_and_saves_nothing(
    client: TestClient, seeded: int, session: Session
) -> None:
    login(client)
    url = _from_template(client, "onboarding")
    editor = client.get(url)
    plan = _plan_json(editor.text)
    plan["steps"].append({"day": 8, "at": "10:00", "action": "send", "title": "没有内容的发送"})
    bad = _save(client, url, plan, editor.text)
    assert bad.status_code == 422
    assert 'data-field="steps[4].content_id"' in bad.text
    assert "第 5 步 · 内容" in bad.text
    # the page keeps what was typed, so the form shows the unsaved step with its error
    assert len(_plan_json(bad.text)["steps"]) == 5
    assert _editor_data(bad.text)["error_field"] == "steps[4].content_id"
    # content that is not in the library
    plan["steps"][4]["content_id"] = 987654
    bad = _save(client, url, plan, editor.text)
    assert bad.status_code == 422
    assert "第 5 步 · 内容" in bad.text
    session.expire_all()
    assert session.scalar(select(SopPlan.version)) == 1
    assert len(session.scalars(select(SopPlan)).one().steps) == 4


def test_group_plans_have_their_own_template_and_refuse_customer_actions(
    client: TestClient, seeded: int, session: Session
) -> None:
    login(client)
    page = client.get("/sop")
    group_part = page.text.split('id="templates-group"')[1]
    assert "新群承接" in group_part
    assert "新好友承接" not in group_part  # customer templates are offered under 客户计划
    url = _from_template(client, "group_launch")
    editor = client.get(url)
    assert "客户群计划" in editor.text
    plan = _plan_json(editor.text)
    assert plan["subject"] == "group"
    assert plan["trigger"] == {"kind": "group_created"}
    plan["steps"].append({"day": 5, "at": "10:00", "action": "tag", "title": "打标签", "add_tags": ["x"]})
    bad = _save(client, url, plan, editor.text)
    assert bad.status_code == 422
    assert 'data-field="steps[3].action"' in bad.text
    assert "第 4 步 · 动作" in bad.text
    plan["steps"][3] = {"day": 5, "at": "10:00", "action": "task", "title": "检查群活跃"}
    ok = client.post(
        url,
        data={"plan": json.dumps(plan, ensure_ascii=False), "csrf_token": csrf_of(editor.text)},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    session.expire_all()
    row = session.scalars(select(SopPlan)).one()
    assert row.subject == "group"
    assert row.template == "group_launch"
    assert [s["action"] for s in row.steps] == ["group_message", "task", "group_message", "task"]
