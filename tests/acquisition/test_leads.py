"""Lead pool (客户公海): buyers with phones and no friend → add-a-friend tasks → detected adds."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.acquisition import leads
from siyu.config import Settings
from siyu.customers.follows import follow_added
from siyu.customers.schemas import IdentityInput
from siyu.customers.service import resolve_customer
from siyu.kit.db import session_scope
from siyu.kit.timeutil import moved_clock, utcnow
from siyu.models import Customer, CustomerIdentity, Event, StaffTask
from siyu.staff.service import ensure_staff
from siyu.web.auth import create_user
from tests.conftest import CliRun
from tests.web.api_world import assert_error, client


def _c(s: Session, ws: int, *ids: IdentityInput) -> int:
    return resolve_customer(s, workspace_id=ws, identities=list(ids), source="import").id


@pytest.fixture
def world(env: Settings, workspace_id: int) -> dict[str, Any]:
    ws = workspace_id
    with session_scope() as s:
        alice = ensure_staff(s, workspace_id=ws, userid="alice", name="Alice").id
        ensure_staff(s, workspace_id=ws, userid="bob", name="Bob")
        b1 = _c(s, ws, IdentityInput("phone", "13800138001"))
        _c(s, ws, IdentityInput("phone", "13800138002"))
        b3 = _c(s, ws, IdentityInput("phone", "13800138003"), IdentityInput("external_userid", "wm_b3"))
        follow_added(s, workspace_id=ws, staff_id=alice, customer_id=b3, at=utcnow(), external_userid="wm_b3")
        _c(s, ws, IdentityInput("buyer_id", "nick4", "taobao"))  # no phone: not a lead
    return {"b1": b1, "alice": alice}


def test_pool_upload_assign_and_detected_adds(
    cli: CliRun, world: dict[str, Any], session: Session, tmp_path: Path
) -> None:
    assert json.loads(cli("leads", "pool", "--json").stdout) == {"leads": 2}
    bad = tmp_path / "bad.csv"
    bad.write_text("phone\n13900139001\n12345\n", encoding="utf-8")
    before = session.scalar(select(func.count()).select_from(Customer))
    err = cli("leads", "upload", bad, expect=2).stderr
    assert "lines 3" in err
    assert "nothing was added" in err
    assert session.scalar(select(func.count()).select_from(Customer)) == before
    good = tmp_path / "list.csv"
    good.write_text("phone,name\n13900139001,王小\n139 0013 9002\n13800138003\n", encoding="utf-8")
    out = json.loads(cli("leads", "upload", good, "--json").stdout)
    assert out == {"rows": 3, "leads": 2, "already_friends": 1, "errors": []}
    # Phones are never stored in plain text.
    assert not session.scalar(
        select(func.count()).select_from(CustomerIdentity).where(CustomerIdentity.value.like("%139001%"))
    )
    assert json.loads(cli("leads", "pool", "--json").stdout) == {"leads": 4}
    first = json.loads(cli("leads", "assign", "--limit", 3, "--json").stdout)
    assert first["tasks"] == 3
    assert set(first["by_staff"]) == {"alice", "bob"}
    assert first["left_in_pool"] == 1
    second = json.loads(cli("leads", "assign", "--json").stdout)
    assert (second["tasks"], second["left_in_pool"]) == (1, 0)
    session.expire_all()
    tasks = list(session.scalars(select(StaffTask).where(StaffTask.kind == "lead_add")))
    assert len(tasks) == 4
    assert all("*" in t.title for t in tasks)  # masked phone only
    # 138 0013 8001 adds alice; she types the phone into the remark: OneID joins the two.
    with session_scope() as s:
        ws = s.scalar(select(Customer.workspace_id).where(Customer.id == world["b1"]))
        assert ws is not None
        x = _c(s, ws, IdentityInput("external_userid", "wm_new"))
        follow_added(
            s,
            workspace_id=ws,
            staff_id=world["alice"],
            customer_id=x,
            at=utcnow() + timedelta(seconds=1),
            external_userid="wm_new",
        )
        _c(s, ws, IdentityInput("external_userid", "wm_new"), IdentityInput("phone", "13800138001"))
    stats = json.loads(cli("leads", "stats", "--json").stdout)
    assert stats["pool"] == 0
    assert sum(r["added"] for r in stats["staff"]) == 1
    assert sum(r["open"] for r in stats["staff"]) == 3
    assert sum(r["leads"] for r in stats["staff"]) == 4
    # Reading the figures wrote nothing: the merge (no event names it) is completed by the
    # 15-minute sweep.
    session.expire_all()
    is_done = select(StaffTask).where(StaffTask.kind == "lead_add", StaffTask.status == "done")
    assert not session.scalar(is_done)
    cli("worker", "--once", "--only", "acquisition.leads")
    assert json.loads(cli("leads", "stats", "--json").stdout) == stats
    session.expire_all()
    done = session.scalar(select(StaffTask).where(StaffTask.kind == "lead_add", StaffTask.status == "done"))
    assert done is not None
    assert done.done_how == "detected"
    # The others are overdue two days later: high priority, one reminder event per account.
    with session_scope() as s, moved_clock(utcnow() + timedelta(days=2)):
        assert leads.remind(s, workspace_id=done.workspace_id) == 3
    session.expire_all()
    assert {t.priority for t in session.scalars(select(StaffTask).where(StaffTask.status == "open"))} == {1}
    assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "lead.reminder")) == 2
    text = cli("leads", "stats").stdout
    assert "overdue" in text
    assert "rule" in cli("leads", "assign", "--rule", "random", expect=2).stderr
    assert "shop" in cli("leads", "assign", "--rule", "shop", expect=2).stderr
    assert "nobody" in cli("leads", "assign", "--staff", "nobody", expect=2).stderr


def test_api_and_console(env: Settings, world: dict[str, Any], workspace_id: int) -> None:
    from fastapi.testclient import TestClient

    from siyu.web.app import create_app
    from tests.web.test_console import PASSWORD, csrf_of, login

    with session_scope() as s:
        _, op = create_user(s, workspace_id=workspace_id, name="op", role="operator")
        create_user(s, workspace_id=workspace_id, name="boss", role="owner", password=PASSWORD)
    api = client()
    h = {"Authorization": f"Bearer {op}"}
    assert api.get("/api/v1/leads", headers=h).json() == {"pool": 2, "staff": []}
    assert_error(api.post("/api/v1/leads/upload", headers=h, json={"phones": ["1"]}), 422, field="file")
    assert api.post("/api/v1/leads/upload", headers=h, json={"phones": ["13700137000"]}).json()["leads"] == 1
    assert_error(api.post("/api/v1/leads/assign", headers=h, json={"rule": "x"}), 422)
    assert api.post("/api/v1/leads/assign", headers=h, json={"staff": ["bob"]}).json()["by_staff"] == {
        "bob": 3
    }
    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        page = login(c).get("/leads").text
        assert "客户公海" in page
        assert 'id="leads-table"' in page
        res = c.post(
            "/leads/upload",
            data={"csrf_token": csrf_of(page), "phones": "13600136000\n"},
            follow_redirects=True,
        )
        assert "已导入 1 个手机号：1 位进入公海" in res.text
        res = c.post(
            "/leads/assign", data={"csrf_token": csrf_of(res.text), "limit": "10"}, follow_redirects=True
        )
        assert "个加好友任务，公海剩余 0 位" in res.text


def test_the_leads_page_is_read_only_and_counts_a_lead_added_since_the_last_detection(
    env: Settings, world: dict[str, Any], workspace_id: int, session: Session
) -> None:
    """An operator's visit to 客户公海 writes nothing; a buyer who became a friend through a
    OneID merge (no event) shows as added on the page before the sweep completes the task."""
    from fastapi.testclient import TestClient

    from siyu.models import AuditLog
    from siyu.web.app import create_app
    from tests.web.test_console import PASSWORD, login

    ws = workspace_id
    with session_scope() as s:
        create_user(s, workspace_id=ws, name="boss", role="owner", password=PASSWORD)
        leads.assign(s, workspace_id=ws, limit=10)
    with session_scope() as s:  # b1 adds alice as a friend; OneID joins the two later
        x = _c(s, ws, IdentityInput("external_userid", "wm_new"))
        follow_added(s, workspace_id=ws, staff_id=world["alice"], customer_id=x,
                     at=utcnow() + timedelta(seconds=1), external_userid="wm_new")  # fmt: skip
        _c(s, ws, IdentityInput("external_userid", "wm_new"), IdentityInput("phone", "13800138001"))

    def snapshot() -> list[Any]:
        session.expire_all()
        rows = session.scalars(select(StaffTask).where(StaffTask.kind == "lead_add").order_by(StaffTask.id))
        tasks = [(t.id, t.status, t.done_how, t.done_at, dict(t.extra or {})) for t in rows]
        counts = [session.scalar(select(func.count()).select_from(m)) for m in (Event, AuditLog)]
        return [tasks, counts]

    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        login(c)
        before = snapshot()
        assert [t[1] for t in before[0]] == ["open", "open"]
        page = c.get("/leads").text
        row = page.split('id="leads-table"')[1].split("</table>")[0]
        added = [c.split("<")[0] for c in row.split('data-label="已添加">')[1:]]
        waiting = [c.split("<")[0] for c in row.split('data-label="待添加">')[1:]]
        assert (sorted(added), sorted(waiting)) == (["0", "1"], ["0", "1"]), row
        assert snapshot() == before  # the visit wrote nothing
        with session_scope() as s:
            assert leads.detect_added(s, workspace_id=ws) == 1  # the sweep's work
        assert c.get("/leads").text.split('id="leads-table"')[1].split("</table>")[0] == row
