"""The SOP plan editor and the task pages in the console (phone-sized cards)."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.execution import tracking
from siyu.kit.db import session_scope
from siyu.kit.timeutil import utcnow
from siyu.models import SopPlan, Staff, StaffTask
from tests.web.test_console import client, csrf_of, login, seeded

_ = (client, seeded)


def test_plan_from_template_edit_refused_then_activated(
    client: TestClient,
    seeded: int,
    session: Session,
) -> None:
    login(client)
    page = client.get("/sop")
    assert page.status_code == 200
    assert "新好友承接" in page.text
    res = client.post(
        "/sop/from-template",
        data={"name": "onboarding", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert res.status_code == 303
    url = res.headers["location"]
    editor = client.get(url)
    assert "时间线" in editor.text
    assert "此刻触达" in editor.text
    assert 'id="already-matching">1<' in editor.text  # 王芳 is 小美's friend
    # a loop is refused at save, with the field, and nothing changes
    plan = json.loads(
        editor.text.split('<textarea name="plan" rows="24" class="mono">')[1]
        .split("</textarea>")[0]
        .replace("&#34;", '"')
        .replace("&quot;", '"')
    )
    plan["trigger"] = {"kind": "tag_added", "tag": "新客培育完成"}
    bad = client.post(
        url, data={"plan": json.dumps(plan, ensure_ascii=False), "csrf_token": csrf_of(editor.text)}
    )
    assert bad.status_code == 422
    assert "steps[3]" in bad.text
    session.expire_all()
    assert session.scalar(select(SopPlan.version)) == 1
    act = client.post(
        f"{url}/activate", data={"existing": "1", "csrf_token": csrf_of(editor.text)}, follow_redirects=True
    )
    assert "计划已启动" in act.text
    session.expire_all()
    assert session.scalar(select(SopPlan.status)) == "active"


def test_staff_sees_own_tasks_on_a_card_and_marks_one_done(
    client: TestClient,
    seeded: int,
    session: Session,
) -> None:
    due = utcnow().replace(hour=18, minute=30, second=0, microsecond=0)
    with session_scope() as s:
        sid = s.scalar(select(Staff.id).where(Staff.userid == "xiaomei"))
        assert sid is not None
        tid = tracking.add_manual(
            s,
            workspace_id=seeded,
            staff_id=sid,
            title="点赞王芳的朋友圈",
            due_at=due,
        )
    login(client, "mei")
    page = client.get("/tasks")
    assert page.status_code == 200
    assert "点赞王芳的朋友圈" in page.text
    assert "我已完成" in page.text
    # Due times read in the workspace's zone (Shanghai): 18:30 UTC is 02:30 the next day.
    assert f"截止 {(due + timedelta(days=1)):%Y-%m-%d} 02:30" in page.text
    assert "UTC" not in page.text
    res = client.post(f"/tasks/{tid}/done", data={"csrf_token": csrf_of(page.text)}, follow_redirects=True)
    assert "员工自报" in res.text
    session.expire_all()
    assert session.scalar(select(StaffTask.done_how).where(StaffTask.id == tid)) == "self_reported"
    assert client.get("/tasks/completion").status_code == 403
    login(client)
    comp = client.get("/tasks/completion")
    assert comp.status_code == 200
    assert "小美" in comp.text
    assert "100%" in comp.text


def test_a_draft_becomes_a_group_plan_in_the_json_editor(
    client: TestClient,
    seeded: int,
    session: Session,
) -> None:
    login(client)
    page = client.get("/sop")
    res = client.post(
        "/sop/from-template",
        data={"name": "group_onboarding", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    url = res.headers["location"]
    editor = client.get(url)
    plan = json.loads(
        editor.text.split('<textarea name="plan" rows="24" class="mono">')[1]
        .split("</textarea>")[0]
        .replace("&#34;", '"')
        .replace("&quot;", '"')
    )
    assert plan["subject"] == "customer"
    plan["subject"] = "group"
    bad = client.post(
        url, data={"plan": json.dumps(plan, ensure_ascii=False), "csrf_token": csrf_of(editor.text)}
    )
    assert bad.status_code == 422
    assert "trigger.kind" in bad.text  # joined_group is a customer trigger
    plan["trigger"] = {"kind": "group_created"}
    plan["exits"] = ["dismissed"]
    saved = client.post(
        url,
        data={"plan": json.dumps(plan, ensure_ascii=False), "csrf_token": csrf_of(editor.text)},
        follow_redirects=True,
    )
    assert saved.status_code == 200
    assert "新建客户群" in saved.text
    assert "&#34;subject&#34;: &#34;group&#34;" in saved.text or '"subject": "group"' in saved.text
    session.expire_all()
    assert session.scalar(select(SopPlan.subject)) == "group"


def test_profile_says_a_sop_ended_because_the_members_group_was_dismissed(
    client: TestClient,
    seeded: int,
    session: Session,
) -> None:
    from siyu.automation.sop import service
    from siyu.automation.sop.service import PlanInput
    from siyu.community.groups import group_dismissed
    from siyu.models import Customer, Group

    with session_scope() as s:
        wang = s.scalar(select(Customer.id).where(Customer.name == "王芳"))
        assert wang is not None
        group = Group(workspace_id=seeded, chat_id="wrconsole", name="体验群")
        s.add(group)
        s.flush()
        plan = service.create_plan(
            s,
            workspace_id=seeded,
            data=PlanInput(
                name="进群承接",
                trigger={"kind": "joined_group"},
                steps=[{"day": 1, "action": "task", "title": "群内回访"}],
            ),
        )
        service.activate(s, workspace_id=seeded, plan_id=plan.id, enroll_existing=False)
        assert (
            service.enroll_event(s, plan, customer_id=wang, key="group:x", at=utcnow(), group_id=group.id)
            == 1
        )
        group_dismissed(s, workspace_id=seeded, chat_id="wrconsole", at=utcnow())
        assert service.exit_dismissed(s, workspace_id=seeded, group_id=group.id, at=utcnow()) == 1
    login(client)
    html = client.get(f"/customers/{wang}").text
    assert "进群承接" in html
    assert "已退出" in html
    assert "退出原因：所在群已解散" in html
