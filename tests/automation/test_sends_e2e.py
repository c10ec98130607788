"""End to end in the simulator: plan a send, confirm it for some staff, see results and the lift."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.sends import tasks as send_tasks
from siyu.automation.sends.planner import holdout_hash
from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, Follow, Order, Send, SendBatch, SendRecipient, StaffTask, Workspace
from siyu.privacy.service import set_opt_out
from siyu.wecom.client import WeComClient
from siyu.wecom.simulator import Simulator
from siyu.wecom.sync.run import full_sync
from tests.conftest import CliRun
from tests.wecom.sim_fixtures import simulator, wecom  # noqa: F401

STAFF = ("amy", "bob", "cat")


def _js(result: Any) -> Any:
    return json.loads(result.stdout)


@pytest.fixture
def corp(simulator: Simulator, wecom: WeComClient, workspace_id: int) -> Iterator[dict[str, Any]]:  # noqa: F811
    """60 customers over 3 staff (10 of them friends of two), mirrored into siyu by a full sync."""
    sc = simulator.scenario
    for u in STAFF:
        sc.add_staff(u, u.title())
    exts = []
    for i in range(60):
        ext = sc.new_customer(f"客户{i}", external_userid=f"wmcust{i:03d}")
        sc.add_friend(ext, userid=STAFF[i % 3])
        if i < 10:
            sc.advance(1)
            sc.add_friend(ext, userid=STAFF[(i + 1) % 3])
        exts.append(ext)
    full_sync(session_factory(), workspace_id=workspace_id, gateway=wecom)
    with session_scope() as s:
        ws = s.get(Workspace, workspace_id)
        assert ws is not None
        ws.settings = {**ws.settings, "outbound": {"quiet_hours": ""}}
    send_tasks.GATEWAY.append(lambda _s, _w: wecom)
    yield {"exts": exts, "sim": simulator}
    send_tasks.GATEWAY.pop()


def _customer(session: Session, ext: str) -> int:
    return int(session.scalar(select(Follow.customer_id).where(Follow.external_userid == ext)))  # type: ignore[arg-type]


def test_send_end_to_end(cli: CliRun, session: Session, workspace_id: int, corp: dict[str, Any]) -> None:
    sim: Simulator = corp["sim"]
    # One customer opts out just before the freeze.
    with session_scope() as s:
        set_opt_out(
            s, workspace_id=workspace_id, customer_id=_customer(s, "wmcust005"), opt_out=True, actor="t"
        )
    sim.config.quota_mode = "day1"

    created = _js(
        cli(
            "sends",
            "create",
            "--title",
            "双12 预告",
            "--text",
            "您好，我是{员工姓名}",
            "--audience",
            "staff:amy or staff:bob or staff:cat",
            "--holdout",
            "20",
            "--json",
        )
    )
    assert created["status"] == "scheduled"
    assert created["counts"]["live_count"] == 60
    planned = _js(cli("sends", "plan", created["id"], "--json"))
    assert planned["status"] == "planned"
    assert planned["audience"] == 60
    assert planned["removed"]["opt_out"] == 1
    assert planned["holdout"] + planned["targeted"] == 59
    assert planned["calls"] == planned["min_calls"] == 3

    session.expire_all()
    recipients = list(session.scalars(select(SendRecipient).where(SendRecipient.send_id == created["id"])))
    assert len(recipients) == 60
    # The holdout is exactly the reproducible draw from the send's stored seed (20 %: a
    # random share, 0.5 % of seeds hold out fewer than 5 of 59), and at least one is kept.
    seed = int(session.scalar(select(Send.holdout_seed).where(Send.id == created["id"])) or 0)
    kept = [r.customer_id for r in recipients if r.arm != "removed"]
    drawn = {c for c in kept if holdout_hash(c, seed) < 2000}
    assert {r.customer_id for r in recipients if r.arm == "holdout"} == drawn
    assert planned["holdout"] == len(drawn) >= 1
    opted = _customer(session, "wmcust005")
    assert {r.arm for r in recipients if r.customer_id == opted} == {"removed"}
    # Each customer once; a customer with two staff gets it from one of them only.
    assert len({r.customer_id for r in recipients}) == 60

    delivered = _js(cli("sends", "deliver", created["id"], "--json"))
    assert delivered["status"] == "waiting"
    assert delivered["calls"] == 3
    msgs = list(sim.state.mass_sends.values())
    assert len(msgs) == 3
    got = Counter(ext for m in msgs for targets in m.targets.values() for ext in targets)
    assert max(got.values()) == 1
    assert "wmcust005" not in got
    assert all(m.text and m.text["content"].startswith("您好，我是") for m in msgs)
    # A second delivery run makes no call.
    again = _js(cli("sends", "deliver", created["id"], "--json"))
    assert again.get("calls", 0) == 0
    assert len(sim.state.mass_sends) == 3

    # Staff see the sends waiting for them, as tasks too.
    waiting = _js(cli("sends", "waiting", "--staff", "amy", "--json"))
    assert [w["send_id"] for w in waiting] == [created["id"]]
    session.expire_all()
    assert (
        session.scalar(select(StaffTask.kind).where(StaffTask.source_ref == str(created["id"])))
        == "send_confirm"
    )

    # amy and bob confirm; cat does not. remind works 3 times a day, then stops.
    by_user = {u: m.msgid for m in msgs for u in m.targets}
    # One of amy's customers already got a mass message today elsewhere (day1 quota):
    # WeCom answers status 3 for them, which siyu counts as "quota".
    used = sorted(sim.state.mass_sends[by_user["amy"]].targets["amy"])[0]
    key, _ = sim.state.quota_period(sim.state.now())
    sim.state.quota_used[(used, key)] = 1
    sim.scenario.confirm_mass_send(by_user["amy"], "amy")
    sim.scenario.confirm_mass_send(by_user["bob"], "bob")
    cli("sends", "follow", "--json")
    for _ in range(3):
        assert _js(cli("sends", "remind", created["id"], "--json"))["reminded"] == 1
    assert _js(cli("sends", "remind", created["id"], "--json"))["at_limit"] == 1
    shown = _js(cli("sends", "show", created["id"], "--json"))
    assert shown["status"] == "waiting"
    assert {s["userid"]: s["confirmed_at"] is not None for s in shown["staff"]} == {
        "amy": True,
        "bob": True,
        "cat": False,
    }
    assert shown["results"]["quota"] == 1

    # cat never confirms: after confirm_hours the send settles, cat's customers unconfirmed.
    session.expire_all()
    send = session.get(Send, created["id"])
    assert send is not None
    with session_scope() as s:
        row = s.get(Send, created["id"])
        assert row is not None
        row.delivered_at = utcnow() - timedelta(hours=80)
    cli("sends", "follow", "--json")
    shown = _js(cli("sends", "show", created["id"], "--json"))
    assert shown["status"] == "settled"
    res = shown["results"]
    assert res.get("unconfirmed", 0) > 0
    assert res.get("sent", 0) > 0
    assert sum(res.values()) == planned["targeted"]

    # Orders after the send: targeted customers buy, the holdout does not.
    with session_scope() as s:
        plan_at = s.get(Send, created["id"]).planned_at  # type: ignore[union-attr]
        for n, r in enumerate(
            s.scalars(
                select(SendRecipient).where(
                    SendRecipient.send_id == created["id"], SendRecipient.arm != "removed"
                )
            )
        ):
            if r.arm == "target" and n % 2 == 0:
                s.add(
                    Order(
                        workspace_id=workspace_id,
                        customer_id=r.customer_id,
                        platform="tmall",
                        external_id=f"o{n}",
                        status="paid",
                        paid_at=plan_at + timedelta(hours=2),
                        paid_fen=10000,
                        cost_fen=6000,
                    )
                )
    lift = _js(cli("sends", "lift", created["id"], "--json"))
    week = next(w for w in lift["windows"] if w["days"] == 7)
    assert week["net_fen"]["holdout_mean"] == 0
    assert week["net_fen"]["target_mean"] > 0
    assert week["net_fen"]["ci_low"] > 0
    assert week["gross_profit_fen"]["diff"] == pytest.approx(week["net_fen"]["diff"] * 0.4, rel=1e-3)


def test_bad_input_names_the_field(cli: CliRun, session: Session, workspace_id: int) -> None:
    r = cli("sends", "create", "--title", "x", "--text", "hi {客户昵称}", "--audience", "layer:vip", expect=2)
    assert "(text)" in r.stderr
    r = cli("sends", "create", "--title", "x", "--text", "a" * 4001, "--audience", "layer:vip", expect=2)
    assert "4000 bytes" in r.stderr
    r = cli("sends", "create", "--title", "x", "--text", "hi", "--audience", "layer:(", expect=2)
    assert "(audience)" in r.stderr
    r = cli(
        "sends",
        "create",
        "--title",
        "x",
        "--text",
        "hi",
        "--audience",
        "layer:vip",
        "--at",
        "2026-12-01T23:30+08:00",
        expect=2,
    )
    assert "quiet hours" in r.stderr
    assert session.scalar(select(Send.id)) is None
    assert session.scalar(select(SendBatch.id)) is None
    assert session.scalar(select(Customer.id)) is None
