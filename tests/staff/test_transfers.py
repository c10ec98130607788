"""Staff handovers (在职继承 / 离职继承) through the CLI against the WeCom simulator over HTTP.

The simulator enforces WeCom's rules (≤ 100 a call, twice per 90 days, 24 hours for the
customer, the takeover's limit, a message ≤ 200 characters); siyu checks them first,
calls WeCom in jobs, reads ``transfer_result`` and keeps who owned a customer when.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings, get_settings
from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import moved_clock, utcnow
from siyu.models import Customer, CustomerIdentity, CustomerTransfer, Follow, Group, Job, Staff
from siyu.wecom.simulator import Simulator
from siyu.wecom.simulator.transfers import refuse_transfer, resign
from tests.conftest import CliRun
from tests.wecom.sim_fixtures import simulator  # noqa: F401

DAY = 86_400


@pytest.fixture
def corp(env: Settings, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, cli: CliRun) -> dict[str, Any]:  # noqa: F811
    """alice (5 friends, one group), bob, carol (a small limit) and dan, synced into siyu."""
    monkeypatch.setenv("SIYU_WECOM_CORP_ID", simulator.config.corp_id)
    monkeypatch.setenv("SIYU_WECOM_SECRET", simulator.config.secret)
    monkeypatch.setenv("SIYU_WECOM_API_BASE", simulator.url)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    sc = simulator.scenario
    sc.add_staff("alice", "Alice", department="华东")
    sc.add_staff("bob", "Bob", department="华南")
    sc.add_staff("carol", "Carol", department="华东", customer_limit=3)
    sc.add_staff("dan", "Dan", department="华东")
    exts = [sc.new_customer(f"客户{i}") for i in range(5)]
    for ext in exts:
        sc.add_friend(ext, userid="alice")
    sc.add_friend(exts[0], userid="dan")
    chat = sc.create_group("alice", "老客群")
    cli("wecom", "sync", "--json")
    with session_scope() as s:
        for userid, dept in (("alice", "华东"), ("bob", "华南"), ("carol", "华东"), ("dan", "华东")):
            st = s.scalar(select(Staff).where(Staff.userid == userid))
            assert st is not None
            st.department = dept
            if userid == "carol":
                st.customer_limit = 3
    return {"exts": exts, "chat": chat, "sim": simulator}


def _cid(session: Session, ext: str) -> int:
    cid = session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.value == ext))
    assert cid is not None
    return int(cid)


def _follow_states(session: Session, userid: str) -> list[str]:
    session.expire_all()
    return sorted(
        session.scalars(
            select(Follow.state).join(Staff, Staff.id == Follow.staff_id).where(Staff.userid == userid)
        )
    )


def test_in_service_handover_by_hand_with_refusal_and_history(
    cli: CliRun, corp: dict[str, Any], session: Session
) -> None:
    sim: Simulator = corp["sim"]
    exts = corp["exts"]
    out = json.loads(
        cli(
            "staff",
            "transfer",
            "start",
            "--from",
            "alice",
            "--to",
            "bob",
            "--groups",
            "--message",
            "您好，我是新的专属顾问 Bob",
            "--now",
            "--json",
        ).stdout
    )
    assert (out["kind"], out["customers"], out["groups"], out["by_takeover"]) == ("onjob", 5, 1, {"bob": 5})
    assert out["sent"] == {"waiting": 5, "groups_done": 1}
    batch = out["batch"]
    # The group moved at once (WeCom answers at once for groups), in WeCom and in siyu.
    assert sim.state.groups[corp["chat"]].owner == "bob"
    session.expire_all()
    owner = session.scalar(select(Staff.userid).join(Group, Group.owner_staff_id == Staff.id))
    assert owner == "bob"
    # Nobody may start a second handover of these customers while they wait.
    err = cli("staff", "transfer", "start", "--from", "alice", "--to", "dan", expect=2).stderr
    assert "already waiting" in err
    # One customer refuses; the others' 24 hours pass.
    refuse_transfer(sim, exts[4])
    sim.scenario.advance(DAY + 60)
    assert sim.scenario.settle_transfers() == 4
    counts = json.loads(cli("staff", "transfer", "check", batch, "--json").stdout)
    assert counts == {"done": 4, "refused": 1}
    status = json.loads(cli("staff", "transfer", "status", batch, "--json").stdout)[0]
    assert status["customers"] == {"done": 4, "refused": 1}
    assert status["groups"] == {"done": 1}
    # The follows moved (without waiting for callbacks) and the history says when.
    assert _follow_states(session, "bob") == ["active"] * 4
    assert _follow_states(session, "alice") == ["active"] + ["transferred"] * 4
    history = json.loads(cli("staff", "transfer", "history", _cid(session, exts[0]), "--json").stdout)
    assert [(p["userid"], p["reason"]) for p in history] == [
        ("alice", "add"),
        ("dan", "add"),
        ("bob", "transfer"),
    ]
    assert history[0]["ended_at"] == history[2]["started_at"]
    assert history[2]["ended_at"] is None
    text = cli("staff", "transfer", "status").stdout
    assert batch in text


def test_rules_least_loaded_same_team_and_the_90_day_limit(
    cli: CliRun, corp: dict[str, Any], session: Session
) -> None:
    sim: Simulator = corp["sim"]
    # same_team: alice's team is 华东 (carol: 0 of 3, dan: 1 of 5,000); each customer goes to
    # the account with the most room for its limit, so carol gets one, then dan is emptier.
    out = json.loads(
        cli("staff", "transfer", "start", "--from", "alice", "--rule", "same_team", "--now", "--json").stdout
    )
    assert out["by_takeover"] == {"carol": 1, "dan": 4}
    sim.scenario.advance(DAY + 60)
    sim.scenario.settle_transfers()
    assert json.loads(cli("staff", "transfer", "check", out["batch"], "--json").stdout).get("done") == 5
    # A customer handed over twice in 90 days cannot move a third time.
    cid = _cid(session, corp["exts"][1])
    holder = session.scalar(
        select(Staff.userid)
        .join(Follow, Follow.staff_id == Staff.id)
        .where(Follow.customer_id == cid, Follow.state == "active", Staff.userid != "alice")
    )
    assert holder in ("carol", "dan")
    out2 = json.loads(
        cli(
            "staff",
            "transfer",
            "start",
            "--from",
            holder,
            "--to",
            "bob",
            "--customer",
            cid,
            "--now",
            "--json",
        ).stdout
    )
    assert out2["sent"] == {"waiting": 1}
    sim.scenario.advance(DAY + 60)
    sim.scenario.settle_transfers()
    cli("staff", "transfer", "check", out2["batch"])
    err = cli(
        "staff", "transfer", "start", "--from", "bob", "--to", "alice", "--customer", cid, expect=2
    ).stderr
    assert "twice in the last 90 days" in err
    history = json.loads(cli("staff", "transfer", "history", cid, "--json").stdout)
    assert [p["reason"] for p in history] == ["add", "transfer", "transfer"]


def test_bad_input_changes_nothing(cli: CliRun, corp: dict[str, Any], session: Session) -> None:
    cases = [
        (("--to", "bob", "--message", "好" * 201), "200"),
        (("--to", "nobody"), "nobody"),
        (("--to", "alice"), "another account"),
        (("--rule", "random"), "rule"),
        (("--to", "bob", "--customer", "999999"), "not friends of alice"),
        ((), "takeover"),
    ]
    for args, words in cases:
        err = cli("staff", "transfer", "start", "--from", "alice", *args, expect=2).stderr
        assert words in err, (args, err)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(CustomerTransfer)) == 0
    assert session.scalar(select(func.count()).select_from(Job).where(Job.kind == "staff.transfer")) == 0
    # carol has room for 3: handing her 5 by hand is refused before anything is sent.
    err = cli("staff", "transfer", "start", "--from", "alice", "--to", "carol", expect=2).stderr
    assert "customer limit" in err
    assert cli("staff", "transfer", "status", "nope", expect=2).stderr


def test_resigned_account_through_the_worker(cli: CliRun, corp: dict[str, Any], session: Session) -> None:
    from siyu.worker.service import Runner

    sim: Simulator = corp["sim"]
    resign(sim, "alice")
    with session_scope() as s:
        alice = s.scalar(select(Staff).where(Staff.userid == "alice"))
        assert alice is not None
        alice.status = "resigned"
    waiting = json.loads(cli("staff", "transfer", "unassigned", "--json").stdout)
    assert waiting["by_handover"] == {"alice": 5}
    err = cli(
        "staff", "transfer", "start", "--from", "alice", "--to", "bob", "--message", "hi", expect=2
    ).stderr
    assert "no message" in err
    out = json.loads(
        cli(
            "staff", "transfer", "start", "--from", "alice", "--rule", "least_loaded", "--groups", "--json"
        ).stdout
    )
    assert (out["kind"], out["customers"]) == ("resigned", 5)
    runner = Runner(session_factory(), periodic=False)
    runner.drain()
    assert json.loads(cli("staff", "transfer", "unassigned", "--json").stdout)["by_handover"] == {}
    assert sim.state.groups[corp["chat"]].owner != "alice"
    sim.scenario.advance(DAY + 60)
    sim.scenario.settle_transfers()
    # The result check is due an hour later.
    with moved_clock(utcnow() + timedelta(hours=2)):
        runner.drain()
    status = json.loads(cli("staff", "transfer", "status", out["batch"], "--json").stdout)[0]
    assert status["customers"] == {"done": 5}
    assert status["groups"] == {"done": 1}
    assert _follow_states(session, "alice") == ["transferred"] * 5
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Customer)) >= 5


def test_api_and_console(env: Settings, corp: dict[str, Any], session: Session, workspace_id: int) -> None:
    from fastapi.testclient import TestClient

    from siyu.web.app import create_app
    from siyu.web.auth import create_user
    from tests.web.api_world import assert_error, client
    from tests.web.test_console import PASSWORD, csrf_of, login

    with session_scope() as s:
        _, op = create_user(s, workspace_id=workspace_id, name="op", role="operator")
        create_user(s, workspace_id=workspace_id, name="boss", role="owner", password=PASSWORD)
        _, mine = create_user(s, workspace_id=workspace_id, name="bobby", role="staff", staff_userid="bob")
    api = client()
    h = {"Authorization": f"Bearer {op}"}
    bad = api.post(
        "/api/v1/transfers", headers=h, json={"handover": "alice", "takeover": "bob", "message": "好" * 201}
    )
    assert_error(bad, 422, field="message")
    assert_error(
        api.post("/api/v1/transfers", headers=h, json={"handover": "zed", "takeover": "bob"}),
        404,
        field="handover",
    )
    assert_error(
        api.post(
            "/api/v1/transfers",
            headers={"Authorization": f"Bearer {mine}"},
            json={"handover": "alice", "takeover": "bob"},
        ),
        403,
    )
    resp = api.post(
        "/api/v1/transfers",
        headers=h,
        json={"handover": "alice", "takeover": "bob", "customer_ids": [_cid(session, corp["exts"][2])]},
    )
    assert resp.status_code == 202, resp.text
    batch = resp.json()["batch"]
    listed = api.get("/api/v1/transfers", headers=h, params={"batch": batch}).json()
    assert listed[0]["customers"] == {"queued": 1}
    owners = api.get(f"/api/v1/transfers/customers/{_cid(session, corp['exts'][2])}", headers=h).json()
    assert [p["userid"] for p in owners] == ["alice"]
    assert_error(api.get("/api/v1/transfers/customers/999999", headers=h), 404)
    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        page = login(c).get("/transfers").text
        assert "客户转接" in page
        assert batch in page
        assert "待发送 1" in page
        res = c.post(
            "/transfers",
            data={
                "csrf_token": csrf_of(page),
                "handover": "alice",
                "rule": "hand",
                "takeover": "",
                "message": "",
            },
            follow_redirects=True,
        )
        assert "未能转接（接替成员）" in res.text
        res = c.post(
            "/transfers",
            data={
                "csrf_token": csrf_of(res.text),
                "handover": "alice",
                "rule": "same_team",
                "include_groups": "1",
            },
            follow_redirects=True,
        )
        assert "已提交转接：4 位客户、1 个客户群（在职继承）" in res.text, re.findall(
            r"role=.status.>([^<]*)", res.text
        )
        assert "跳过 1 位" in res.text


def test_a_transfer_fail_callback_settles_at_once(
    cli: CliRun, corp: dict[str, Any], session: Session
) -> None:
    from siyu.kit.events import record_event
    from siyu.worker.outbox import deliver

    out = json.loads(
        cli("staff", "transfer", "start", "--from", "alice", "--to", "bob", "--now", "--json").stdout
    )
    cid = _cid(session, corp["exts"][3])
    with session_scope() as s:
        bob = s.scalar(select(Staff.id).where(Staff.userid == "bob"))
        ws = s.scalar(select(Staff.workspace_id).where(Staff.userid == "bob"))
        assert bob is not None
        assert ws is not None
        record_event(
            s,
            workspace_id=ws,
            kind="friend.transfer_fail",
            occurred_at=utcnow(),
            source="wecom",
            customer_id=cid,
            staff_id=bob,
            payload={"fail_reason": "customer_limit_exceed"},
        )
    for _ in range(2):
        assert not deliver(session_factory(), names=["staff.transfer_fail"]).errors
    status = json.loads(cli("staff", "transfer", "status", out["batch"], "--json").stdout)[0]
    assert status["customers"] == {"waiting": 4, "receiver_full": 1}
