"""SOP plans and task lists over HTTP: the same services as the console and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import Group, SopEnrollment, SopPlan, StaffTask
from tests.web.api_world import World, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def test_plan_from_template_activate_with_existing_and_enrollments(
    api: TestClient, world: World, session: Session
) -> None:
    h = world.h("operator")
    resp = api.post("/api/v1/sop/plans/from-template", headers=h, json={"template": "onboarding"})
    assert resp.status_code == 201, resp.text
    plan = resp.json()
    dry = api.post(
        f"/api/v1/sop/plans/{plan['id']}/activate", headers=h, json={"enroll_existing": True, "dry_run": True}
    ).json()
    assert dry["already_matching"] == 2  # 张三 (alice) and 李四 (bob) are friends now
    act = api.post(
        f"/api/v1/sop/plans/{plan['id']}/activate", headers=h, json={"enroll_existing": True}
    ).json()
    assert act["enrolled"] == 2
    assert act["status"] == "active"
    zhang = world.customers["zhang"]
    rows = api.get(f"/api/v1/sop/customers/{zhang}/enrollments", headers=world.h("alice")).json()
    assert rows[0]["plan"] == "新好友承接"
    assert rows[0]["status"] == "active"
    # bob cannot read alice's customer
    assert api.get(f"/api/v1/sop/customers/{zhang}/enrollments", headers=world.h("bob")).status_code == 404
    shown = api.get(f"/api/v1/sop/plans/{plan['id']}", headers=h).json()
    assert shown["preview"]["steps"][0]["reach_now"] == 2
    # Replacing the parts (a body without "template") keeps where the plan came from.
    body = {k: shown[k] for k in ("name", "trigger", "steps", "audience", "exits", "subject")}
    put = api.put(f"/api/v1/sop/plans/{plan['id']}", headers=h, json={**body, "name": "新好友承接 v2"})
    assert put.status_code == 200, put.text
    assert (put.json()["name"], put.json()["template"]) == ("新好友承接 v2", "onboarding")
    # staff may not create plans
    assert (
        api.post(
            "/api/v1/sop/plans/from-template", headers=world.h("alice"), json={"template": "svip"}
        ).status_code
        == 403
    )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(SopEnrollment)) == 2


def test_bad_plan_is_refused_with_the_field_and_nothing_saved(
    api: TestClient, world: World, session: Session
) -> None:
    resp = api.post(
        "/api/v1/sop/plans",
        headers=world.h("operator"),
        json={
            "name": "x",
            "trigger": {"kind": "tag_added", "tag": "VIP"},
            "steps": [{"day": 0, "action": "tag", "add_tags": ["VIP"]}],
        },
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["field"] == "steps[0]"
    assert session.scalar(select(func.count()).select_from(SopPlan)) == 0


def test_staff_see_and_complete_their_own_tasks_boss_sees_completion(
    api: TestClient, world: World, session: Session
) -> None:
    h = world.h("operator")
    due = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    a = api.post(
        "/api/v1/tasks",
        headers=h,
        json={
            "staff_id": world.staff["alice"],
            "title": "回访张三",
            "due_at": due,
            "customer_id": world.customers["zhang"],
        },
    )
    b = api.post(
        "/api/v1/tasks", headers=h, json={"staff_id": world.staff["bob"], "title": "回访李四", "due_at": due}
    )
    assert a.status_code == 201
    assert b.status_code == 201
    mine = api.get("/api/v1/tasks", headers=world.h("alice")).json()
    assert [t["title"] for t in mine] == ["回访张三"]
    assert mine[0]["customer"]["name"] is not None
    assert (
        api.post(f"/api/v1/tasks/{b.json()['id']}/done", headers=world.h("alice"), json={}).status_code == 404
    )
    done = api.post(
        f"/api/v1/tasks/{a.json()['id']}/done", headers=world.h("alice"), json={"how": "operator"}
    ).json()
    assert done["done_how"] == "self_reported"
    comp = api.get("/api/v1/tasks/completion", headers=h).json()
    by = {r["staff"]: r for r in comp["accounts"]}
    assert by["Alice"]["done"] == 1
    assert by["Bob"]["done"] == 0
    session.expire_all()
    assert session.scalar(select(StaffTask.status).where(StaffTask.id == a.json()["id"])) == "done"


def test_group_plan_over_http_enrolls_groups_and_shows_a_groups_enrollments(
    api: TestClient, world: World, session: Session
) -> None:
    h = world.h("operator")
    plan = {
        "name": "新群启动",
        "subject": "group",
        "trigger": {"kind": "group_created", "owner": "alice"},
        "steps": [{"day": 0, "action": "group_message", "body": "欢迎"}, {"day": 3, "action": "task"}],
    }
    bad = api.post("/api/v1/sop/plans", headers=h, json={**plan, "exits": ["bought"]})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "exits[0].kind"
    made = api.post("/api/v1/sop/plans", headers=h, json=plan)
    assert made.status_code == 201, made.text
    assert made.json()["subject"] == "group"
    act = api.post(
        f"/api/v1/sop/plans/{made.json()['id']}/activate", headers=h, json={"enroll_existing": True}
    ).json()
    assert (act["already_matching"], act["enrolled"]) == (1, 1)
    gid = session.scalar(select(Group.id).where(Group.chat_id == "wrGROUP1"))
    rows = api.get(f"/api/v1/sop/groups/{gid}/enrollments", headers=world.h("alice")).json()
    assert [(r["group"], r["plan"], r["status"], r["next_step"]) for r in rows] == [
        ("面霜复购群", "新群启动", "active", "群发消息")
    ]
    # bob does not see alice's group
    assert api.get(f"/api/v1/sop/groups/{gid}/enrollments", headers=world.h("bob")).status_code == 404
