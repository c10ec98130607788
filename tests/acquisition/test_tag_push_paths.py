"""Every way siyu changes a customer's tags ends in ``mark_tag`` on each WeCom relation of
the customer, exactly once (one ``tag.changed`` event → one push); a change that came
from WeCom is not pushed back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.models import Event, Follow, Job, Tag
from siyu.wecom.simulator.handlers import HANDLERS
from tests.acquisition.conftest import Stack
from tests.conftest import CliRun

MARK = "externalcontact/mark_tag"


@pytest.fixture
def marks(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every mark_tag body the simulator accepted."""
    seen: list[dict[str, Any]] = []
    real = HANDLERS[MARK]

    def spy(state: Any, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
        out = real(state, q, b)
        seen.append(dict(b))
        return out

    monkeypatch.setitem(HANDLERS, MARK, spy)
    return seen


def _world(stack: Stack, cli: CliRun, session: Session) -> tuple[int, int, str]:
    sc = stack.sim.scenario
    sc.add_staff("zs", "张三")
    sc.add_staff("ls", "李四")
    ext = sc.new_customer("两位导购的客户")
    sc.add_friend(ext, userid="zs")
    sc.add_friend(ext, userid="ls")
    cli("wecom", "sync", "--json")
    stack.drain()
    follow = session.scalar(select(Follow).where(Follow.external_userid == ext))
    assert follow is not None
    return follow.workspace_id, follow.customer_id, ext


def _wecom_id(session: Session, ws: int, name: str) -> str:
    session.expire_all()
    tag = session.scalar(select(Tag).where(Tag.workspace_id == ws, Tag.name == name))
    assert tag is not None
    assert tag.wecom_tag_id, f"{name} has no WeCom id"
    return str(tag.wecom_tag_id)


def _expect(stack: Stack, marks: list[dict[str, Any]], wid: str, ext: str, *, added: bool) -> None:
    """Exactly one mark_tag per relation carried the tag, and the relations hold it (or not)."""
    key = "add_tag" if added else "remove_tag"
    calls = sorted(m["userid"] for m in marks if wid in (m.get(key) or []) and m["external_userid"] == ext)
    assert calls == ["ls", "zs"], calls
    for u in ("zs", "ls"):
        assert (wid in stack.sim.state.follows[(u, ext)].tags) is added
    marks.clear()


def test_every_path_pushes_once_onto_every_relation(
    stack: Stack, cli: CliRun, session: Session, marks: list[dict[str, Any]]
) -> None:
    from siyu.automation.keywords.engine import process_new
    from siyu.automation.sop import service as sop
    from siyu.customers import card
    from siyu.kit.timeutil import moved_clock
    from siyu.segments.rules import add_rule, apply_rules
    from siyu.staff.service import find_staff
    from siyu.web.auth import create_user
    from tests.automation.kw_helpers import message
    from tests.web.api_world import client

    ws, cid, ext = _world(stack, cli, session)

    # API: POST /api/v1/customers/{id}/tags, then DELETE (operator's token).
    with session_scope() as s:
        _, token = create_user(
            s, workspace_id=ws, name="op", role="operator", password="correct horse battery"
        )
    h = {"Authorization": f"Bearer {token}"}
    api = client()
    r = api.post(
        f"/api/v1/customers/{cid}/tags", json={"tags": [{"name": "接口标", "group": "运营"}]}, headers=h
    )
    assert r.status_code == 200, r.text
    stack.drain()
    wid = _wecom_id(session, ws, "接口标")
    _expect(stack, marks, wid, ext, added=True)
    tag_id = session.scalar(select(Tag.id).where(Tag.name == "接口标"))
    assert api.delete(f"/api/v1/customers/{cid}/tags/{tag_id}", headers=h).status_code == 200
    # the tag-centred endpoint too (it used to push directly as well: now once, not twice)
    assert (
        api.post(f"/api/v1/tags/{tag_id}/customers", json={"customer_ids": [cid]}, headers=h).status_code
        == 200
    )
    stack.drain()
    calls = [m for m in marks if m["external_userid"] == ext]
    # removal then re-add, both pushed once per relation; the relations end with the tag
    assert sorted(m["userid"] for m in calls if wid in (m.get("remove_tag") or [])) in (["ls", "zs"], [])
    assert sorted(m["userid"] for m in calls if wid in (m.get("add_tag") or [])) == ["ls", "zs"]
    assert all(wid in stack.sim.state.follows[(u, ext)].tags for u in ("zs", "ls"))
    marks.clear()

    # Bulk: the whole result of an expression (CLI → selection.bulk_tag).
    with session_scope() as s:
        from siyu.customers.tags import ensure_tag

        ensure_tag(s, workspace_id=ws, name="批量标")
    cli("customers", "tag", "--tag", "批量标", "--where", "NOT tag:批量标")
    stack.drain()
    _expect(stack, marks, _wecom_id(session, ws, "批量标"), ext, added=True)
    cli("customers", "untag", "--tag", "批量标", "--where", "tag:批量标")
    stack.drain()
    _expect(stack, marks, _wecom_id(session, ws, "批量标"), ext, added=False)

    # Auto-tag rule: apply adds; editing the world so it no longer matches removes.
    with session_scope() as s:
        add_rule(s, workspace_id=ws, name="全体", expression="NOT tag:不存在的标", add=["规则标"])
        apply_rules(s, workspace_id=ws)
    stack.drain()
    _expect(stack, marks, _wecom_id(session, ws, "规则标"), ext, added=True)
    with session_scope() as s:
        from siyu.segments.rules import delete_rule

        delete_rule(s, workspace_id=ws, name="全体")
    stack.drain()
    _expect(stack, marks, _wecom_id(session, ws, "规则标"), ext, added=False)

    # SOP tag step (at 10:00 Shanghai, outside quiet hours).
    t0 = datetime(2026, 3, 31, 2, 0, tzinfo=UTC)
    with moved_clock(t0), session_scope() as s:
        plan = sop.create_plan(
            s,
            workspace_id=ws,
            data=sop.PlanInput(
                name="打标",
                trigger={"kind": "friend_added"},
                steps=[{"day": 0, "action": "tag", "add_tags": ["SOP标"]}],
            ),
        )
        sop.activate(s, workspace_id=ws, plan_id=plan.id, enroll_existing=False)
        assert sop.enroll_event(s, plan, customer_id=cid, key="t", at=t0)
        sop.plan_due(s)
        for job in s.scalars(select(Job).where(Job.kind == sop.STEP_JOB, Job.status == "queued")).all():
            assert sop.run_steps(s, workspace_id=ws, pairs=job.payload["pairs"]).ran == 1
            job.status = "done"
    stack.drain()
    _expect(stack, marks, _wecom_id(session, ws, "SOP标"), ext, added=True)

    # Keyword rule: a customer's message hits it.
    cli("keywords", "add", "问价", "-k", "多少钱", "--tag", "关键词标")
    with session_scope() as s:
        zs = find_staff(s, workspace_id=ws, userid="zs")
        assert zs is not None
        message(
            s, ws, "这个多少钱", customer_id=cid, staff_id=zs.id, sent_at=datetime.now(UTC) - timedelta(1)
        )
        process_new(s, workspace_id=ws)
    stack.drain()
    _expect(stack, marks, _wecom_id(session, ws, "关键词标"), ext, added=True)

    # Chat sidebar: the staff member adds a tag by name, then removes it.
    with session_scope() as s:
        zs = find_staff(s, workspace_id=ws, userid="zs")
        assert zs is not None
        card.change_tags(s, workspace_id=ws, staff_id=zs.id, customer_id=cid, add=["侧边栏标"], remove=[])
    stack.drain()
    wid = _wecom_id(session, ws, "侧边栏标")
    _expect(stack, marks, wid, ext, added=True)
    with session_scope() as s:
        zs = find_staff(s, workspace_id=ws, userid="zs")
        sid_tag = s.scalar(select(Tag.id).where(Tag.name == "侧边栏标"))
        assert zs is not None
        assert sid_tag is not None
        card.change_tags(s, workspace_id=ws, staff_id=zs.id, customer_id=cid, add=[], remove=[sid_tag])
    stack.drain()
    _expect(stack, marks, wid, ext, added=False)

    # Re-running the worker pushes nothing more: one event, one push.
    stack.drain()
    assert marks == []
    kinds = session.scalars(select(Event.source).where(Event.kind == "tag.changed")).all()
    assert {"manual", "rule", "keyword"} <= set(kinds)


def test_a_change_from_wecom_is_not_pushed_back(
    stack: Stack, cli: CliRun, session: Session, marks: list[dict[str, Any]]
) -> None:
    ws, cid, ext = _world(stack, cli, session)
    sc = stack.sim.scenario
    wid = sc.admin_add_tag("导购", "客户端标")
    sc.edit_follow("zs", ext, add_tags=[wid])  # the callback refetches the contact
    stack.drain()
    cli("wecom", "sync", "--json")
    stack.drain()
    session.expire_all()
    tag = session.scalar(select(Tag).where(Tag.workspace_id == ws, Tag.wecom_tag_id == wid))
    assert tag is not None
    from siyu.customers.tags import customer_tags

    assert tag.id in {t.id for t, _, _ in customer_tags(session, workspace_id=ws, customer_id=cid)}
    ev = session.scalars(select(Event).where(Event.kind == "tag.changed")).all()
    assert ev
    assert all(e.source == "sync" for e in ev)
    assert marks == []  # not echoed onto zs, nor copied onto ls's relation
    assert wid not in stack.sim.state.follows[("ls", ext)].tags


def test_a_refused_push_is_left_failed_on_the_job(
    stack: Stack, cli: CliRun, session: Session, marks: list[dict[str, Any]]
) -> None:
    from siyu.customers.tags import add_tags, ensure_tag

    ws, cid, _ = _world(stack, cli, session)

    def refuse(state: Any, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
        from siyu.wecom.simulator.state import SimError

        raise SimError(48002, "api forbidden")

    HANDLERS[MARK] = refuse  # the fixture puts the real one back
    with session_scope() as s:
        tag = ensure_tag(s, workspace_id=ws, name="推不上去")
        add_tags(s, workspace_id=ws, customer_ids=[cid], tag_ids=[tag.id], source="manual")
    for _ in range(6):
        stack.drain()
        with session_scope() as s:
            s.execute(
                update(Job)
                .where(Job.kind == "acquisition.tag_push")
                .values(run_after=datetime(2000, 1, 1, tzinfo=UTC))
            )
    session.expire_all()
    job = session.scalar(select(Job).where(Job.kind == "acquisition.tag_push"))
    assert job is not None
    assert job.status == "failed"
    assert "标签推送到企业微信失败" in (job.last_error or "")
    assert "48002" in (job.last_error or "")
    cli_out = cli("jobs", "list", "--status", "failed", "--json").stdout
    assert "acquisition.tag_push" in cli_out


def test_a_oneid_merge_pushes_the_tags_the_survivor_gains(
    stack: Stack, cli: CliRun, session: Session, marks: list[dict[str, Any]]
) -> None:
    """A buyer known by phone, tagged in siyu, is merged into a WeCom friend: the tags the
    friend gains reach both of its relations (tag.changed → acquisition.tag_push)."""
    from siyu.customers.schemas import IdentityInput
    from siyu.customers.service import merge_customers, resolve_customer
    from siyu.customers.tags import add_tags, ensure_tag

    ws, cid, ext = _world(stack, cli, session)
    with session_scope() as s:
        buyer = resolve_customer(
            s, workspace_id=ws, identities=[IdentityInput("phone", "13800138000")], source="test"
        ).id
        had = ensure_tag(s, workspace_id=ws, name="老客", group_name="客户").id
        gained = ensure_tag(s, workspace_id=ws, name="高价值", group_name="客户").id
        add_tags(s, workspace_id=ws, customer_ids=[cid], tag_ids=[had], source="manual")
        add_tags(s, workspace_id=ws, customer_ids=[buyer], tag_ids=[had, gained], source="manual")
    stack.drain()
    stack.drain()
    _expect(stack, marks, _wecom_id(session, ws, "老客"), ext, added=True)
    with session_scope() as s:
        merge_customers(s, workspace_id=ws, survivor_id=cid, merged_id=buyer, reason="test")
    stack.drain()
    stack.drain()
    ev = session.scalars(select(Event).where(Event.kind == "tag.changed", Event.source == "merge")).all()
    assert [(e.payload["customer_ids"], e.payload["added"]) for e in ev] == [([cid], [gained])]
    _expect(stack, marks, _wecom_id(session, ws, "高价值"), ext, added=True)
    assert not [m for m in marks if _wecom_id(session, ws, "老客") in (m.get("add_tag") or [])]


def test_a_merge_pushes_the_survivors_tags_onto_the_relations_that_came_over(
    stack: Stack, cli: CliRun, session: Session, marks: list[dict[str, Any]]
) -> None:
    """Two WeCom friends found to be one person: the survivor's tags (which did not change
    in siyu) reach the merged profile's relations, one mark_tag each, and a SOP plan on
    those tags does not enroll the survivor again (no tag.changed for them)."""
    from siyu.automation.sop import service as sop
    from siyu.automation.sop.service import PlanInput
    from siyu.customers.service import merge_customers
    from siyu.customers.tags import add_tags, ensure_tag
    from siyu.models import SopEnrollment

    sc = stack.sim.scenario
    sc.add_staff("zs", "张三")
    sc.add_staff("ls", "李四")
    sc.add_staff("ww", "王五")
    old = sc.new_customer("老号")
    new = sc.new_customer("新号")
    sc.add_friend(old, userid="zs")
    sc.add_friend(new, userid="ls")
    sc.add_friend(new, userid="ww")
    cli("wecom", "sync", "--json")
    stack.drain()
    follows = {f.external_userid: f for f in session.scalars(select(Follow))}
    ws, survivor, merged = follows[old].workspace_id, follows[old].customer_id, follows[new].customer_id
    assert survivor != merged
    with session_scope() as s:
        had = [ensure_tag(s, workspace_id=ws, name=n, group_name="客户").id for n in ("老客", "高价值")]
        add_tags(s, workspace_id=ws, customer_ids=[survivor], tag_ids=had, source="manual")
        plan = sop.create_plan(
            s, workspace_id=ws,
            data=PlanInput(name="老客关怀", trigger={"kind": "tag_added", "tag": "老客"},
                           steps=[{"day": 0, "action": "task", "title": "跟进"}]),
        )  # fmt: skip
    stack.drain()
    stack.drain()
    wids = sorted(_wecom_id(session, ws, n) for n in ("老客", "高价值"))
    with session_scope() as s:
        sop.activate(s, workspace_id=ws, plan_id=plan.id, enroll_existing=False)
    enrolled = select(SopEnrollment.id, SopEnrollment.status).where(SopEnrollment.customer_id == survivor)
    before = session.execute(enrolled).all()  # the survivor held 老客 already: marked skipped
    assert all(st == "skipped" for _, st in before)
    marks.clear()
    with session_scope() as s:
        merge_customers(s, workspace_id=ws, survivor_id=survivor, merged_id=merged, reason="test")
    stack.drain()
    stack.drain()
    calls = sorted((m["userid"], m["external_userid"], sorted(m.get("add_tag") or [])) for m in marks)
    assert calls == [("ls", new, wids), ("ww", new, wids)], calls
    for u in ("ls", "ww"):
        assert set(wids) <= set(stack.sim.state.follows[(u, new)].tags)
    session.expire_all()
    changed = select(Event).where(Event.kind == "tag.changed", Event.source == "merge")
    assert not session.scalars(changed).all()  # nothing changed in siyu: no SOP trigger
    assert session.execute(enrolled).all() == before
