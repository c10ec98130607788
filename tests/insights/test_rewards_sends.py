"""The reward ledger in the P&L, and the P&L of sends and campaigns, against hand-computed figures.

World (world.py, test_profit.py's orders, price list: SKU-A ¥30 until 14 Nov then ¥40,
taobao 5 %) plus an order of c4: 6000 on 12 Nov (cost 3000, fee 300 → gross 2700).

Rewards of November: c1 red packet ¥8.88 on 12 Nov (owner alice; linked to the send),
c1 ¥1 on 13 Nov paid by bob (stated), c8 coupon ¥5 on 21 Nov through channel code1,
c9 gift ¥20 on 16 Nov (no one's friend: outside; in 面霜群 since 4 Nov); c11 ¥3 on
30 Oct is October's. P&L of November:
- alice 18500 + 2700 (c4) − 888 − 500 = 19812 (rewards 1388); bob 3000 − 100 = 2900;
  outside: c9's 4550 − 2000 = 2550.
- channel 包裹卡: 5500 − 500 = 5000, contribution 5000 − 200 = 4800;
- group 面霜群: c8 5500 + c9 4550 − 500 − 2000 = 7550.

Send 1 planned Mon 9 Nov 10:00 (fixed cost ¥10 per send): target c1, c2, c3, c8; holdout
c4, c5. After 7 days: target c1 (13000 gross), holdout c4 (2700): incremental
(13000/4 − 2700/2) × 4 = 7600; cost 888 + 1000 = 1888 → profit 11112, incremental 5712.
After 30 days: + c8 5500 (c2's order refunded in full: an order, no buyer) → gross 18500,
buyers 2/4, incremental (18500/4 − 1350) × 4 = 13100 → 11212. After 1 day: nothing,
profit −1000. Run 2 of the campaign (16 Nov, target c11, no holdout): profit −1000.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.kit.timeutil import moved_clock
from siyu.models import Reward, Send, SendRecipient
from siyu.web.auth import create_user
from tests.conftest import CliRun
from tests.insights.world import W, at, build, order
from tests.web.api_world import client
from tests.web.test_console import PASSWORD

PRICES = "sku,cost,valid_from,valid_to\nSKU-A,30,2026-10-01,2026-11-14\nSKU-A,40,2026-11-15,\n"


@pytest.fixture
def world(env: Settings, workspace_id: int, cli: CliRun, tmp_path: Path) -> W:
    with session_scope() as s:
        w = build(s, workspace_id)
        order(s, w, "c1", "o-c1", at(11, 10, 12, 0), 20000, qty=2)
        order(s, w, "c11", "o-c11", at(11, 12, 12, 0), 5000, sku="SKU-B", platform="douyin", cost=2000)
        order(s, w, "c9", "o-c9", at(11, 15, 12, 0), 9000)
        order(s, w, "c2", "o-c2", at(11, 16, 12, 0), 10000, refunded=10000)
        order(s, w, "c4", "o-c4", at(11, 12, 12, 0), 6000)
        first = Send(workspace_id=workspace_id, title="双十一预热", status="settled", holdout_pct=30,
                     planned_at=at(11, 9, 10, 0), recurrence="weekly")  # fmt: skip
        s.add(first)
        s.flush()
        second = Send(workspace_id=workspace_id, title="双十一预热", status="settled", holdout_pct=0,
                      planned_at=at(11, 16, 10, 0), parent_id=first.id)  # fmt: skip
        s.add(second)
        s.flush()
        for send, arm, cust in (
            *((first, "target", c) for c in ("c1", "c2", "c3", "c8")),
            *((first, "holdout", c) for c in ("c4", "c5")),
            (second, "target", "c11"),
        ):
            s.add(SendRecipient(workspace_id=workspace_id, send_id=send.id, customer_id=w.c[cust], arm=arm,
                                staff_id=w.staff["bob" if cust == "c11" else "alice"]))  # fmt: skip
        w.sends = [first.id, second.id]  # type: ignore[attr-defined]
    prices = tmp_path / "prices.csv"
    prices.write_text(PRICES, encoding="utf-8")
    cli("insights", "costs", "import", prices)
    cli("insights", "costs", "fee", "taobao", "0.05")
    return w


def _rewards_csv(w: W, send_id: int) -> str:
    c = w.c
    return (
        "customer_id,amount,kind,paid_at,send_id,channel,staff,ref,note\n"
        f"{c['c1']},8.88,红包,2026-11-12 10:00,{send_id},,,RP1,预热红包\n"
        f"{c['c1']},1,red_packet,2026-11-13 10:00,,,bob,RP2,\n"
        f"{c['c8']},5,coupon,2026-11-21 10:00,,code1,,RP3,\n"
        f"{c['c9']},20,gift,2026-11-16T10:00:00+08:00,,,,RP4,\n"
        f"{c['c11']},3,red_packet,2026-10-30 10:00,,,,RP5,\n"
    )


def test_rewards_csv_errors_per_row_then_idempotent(
    cli: CliRun, world: W, tmp_path: Path, session: Session
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "customer_id,amount,kind,paid_at,send_id,channel,ref\n"
        f"{world.c['c1']},8.88,红包,2026-11-12 10:00,,,RP1\n"
        "999999,1,gift,2026-11-12 10:00,,,X1\n"
        f"{world.c['c1']},-2,gift,2026-11-12 10:00,,,X2\n"
        f"{world.c['c1']},2,cash,2026-11-32 10:00,,,X3\n"
        f"{world.c['c1']},2,gift,2026-11-12 10:00,424242,nope,X4\n"
        f"{world.c['c1']},2,gift,2026-11-12 10:00,,,RP1\n",
        encoding="utf-8",
    )
    res = cli("insights", "rewards", "import", bad, "--json", expect=2)
    errors = json.loads(res.stdout[: res.stdout.rindex("}") + 1])["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (3, "customer_id"),
        (4, "amount"),
        (5, "kind"),
        (5, "paid_at"),
        (6, "send_id"),
        (6, "channel"),
        (7, "ref"),
    ]
    assert "nothing imported" in res.stderr
    assert session.scalar(select(func.count()).select_from(Reward)) == 0
    good = tmp_path / "good.csv"
    good.write_text(_rewards_csv(world, world.sends[0]), encoding="utf-8")  # type: ignore[attr-defined]
    assert "recorded 5 rewards (0 already" in cli("insights", "rewards", "import", good).stdout
    again = json.loads(cli("insights", "rewards", "import", good, "--json").stdout)
    assert (again["written"], again["duplicates"]) == (0, 5)
    added = cli("insights", "rewards", "add", "3.5", "礼品", "--customer", world.c["c2"], "--paid-at",
                "2026-11-25 10:00", "--staff", "alice", "--json").stdout  # fmt: skip
    assert (json.loads(added)["amount_fen"], json.loads(added)["kind"]) == (350, "gift")
    assert "kind must be one of" in cli("insights", "rewards", "add", "1", "cash", "--customer",
                                        world.c["c2"], expect=2).stderr  # fmt: skip
    listed = json.loads(cli("insights", "rewards", "list", "--on", "2026-11", "--json").stdout)
    assert (len(listed["rewards"]), listed["total_fen"]) == (5, 888 + 100 + 500 + 2000 + 350)
    first = listed["rewards"][0]
    assert (first["kind"], first["amount_fen"], first["paid_at"]) == (
        "red_packet",
        888,
        "2026-11-12 02:00:00+00:00",
    )


def test_rewards_come_off_gross_profit_per_account_channel_group(
    cli: CliRun, world: W, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(_rewards_csv(world, world.sends[0]), encoding="utf-8")  # type: ignore[attr-defined]
    cli("insights", "rewards", "import", good)
    data = json.loads(cli("insights", "pnl", "--on", "2026-11", "--json").stdout)
    alice = next(a for a in data["accounts"] if a["userid"] == "alice")
    assert (alice["rewards_fen"], alice["gross_profit_fen"]) == (1388, 18500 + 2700 - 1388)
    bob = next(a for a in data["accounts"] if a["userid"] == "bob")
    assert (bob["rewards_fen"], bob["gross_profit_fen"]) == (100, 2900)
    assert (data["outside"]["rewards_fen"], data["outside"]["gross_profit_fen"]) == (2000, 2550)
    assert data["total"]["rewards_fen"] == 3488
    assert data["total"]["gross_profit_fen"] == 19812 + 2900 + 2550
    (ch,) = data["channels"]
    assert (ch["rewards_fen"], ch["gross_profit_fen"], ch["contribution_fen"]) == (500, 5000, 4800)
    (g,) = data["groups"]
    assert (g["rewards_fen"], g["gross_profit_fen"]) == (2500, 7550)
    october = json.loads(cli("insights", "pnl", "--on", "2026-10", "--json").stdout)
    assert october["total"]["rewards_fen"] == 300


def test_send_and_campaign_pnl_with_holdout(cli: CliRun, world: W, tmp_path: Path) -> None:
    first, second = world.sends  # type: ignore[attr-defined]
    good = tmp_path / "good.csv"
    good.write_text(_rewards_csv(world, first), encoding="utf-8")
    cli("insights", "rewards", "import", good)
    cli("insights", "costs", "send", "10")
    with moved_clock(datetime(2026, 12, 20, tzinfo=UTC)):
        data = json.loads(cli("insights", "sends", "--json").stdout)
    assert [s["send_id"] for s in data["sends"]] == [second, first]
    one = data["sends"][1]
    w1, w7, w30 = one["windows"]
    assert (w1["orders"], w1["profit_fen"], w1["incremental_profit_fen"]) == (0, -1000, -1000)
    assert (w7["targeted"], w7["buyers"], w7["holdout"], w7["holdout_buyers"]) == (4, 1, 2, 1)
    assert (w7["net_fen"], w7["gross_profit_fen"], w7["rewards_fen"], w7["cost_fen"]) == (
        20000,
        13000,
        888,
        1888,
    )
    assert (w7["profit_fen"], w7["incremental_gross_profit_fen"], w7["incremental_profit_fen"]) == (
        11112,
        7600,
        5712,
    )
    assert (w30["orders"], w30["net_fen"], w30["gross_profit_fen"]) == (3, 30000, 18500)
    assert (w30["buyers"], w30["conversion"], w30["holdout_conversion"]) == (2, 0.5, 0.5)
    assert (w30["incremental_gross_profit_fen"], w30["incremental_profit_fen"]) == (13100, 11212)
    assert w30["conversion_lift"]["diff"] == 0.0
    two = data["sends"][0]["windows"][2]
    assert (two["targeted"], two["buyers"], two["profit_fen"], two["incremental_profit_fen"]) == (
        1,
        0,
        -1000,
        None,
    )
    (camp,) = data["campaigns"]
    assert (camp["campaign_id"], camp["runs"]) == (first, 2)
    c30 = camp["windows"][2]
    assert (c30["targeted"], c30["buyers"], c30["profit_fen"], c30["incremental_profit_fen"]) == (
        5,
        2,
        15612,
        11212,
    )
    only = json.loads(cli("insights", "sends", "--send", str(second), "--json").stdout)
    assert [s["send_id"] for s in only["sends"]] == [second]
    assert "not found" in cli("insights", "sends", "--send", "987654", expect=2).stderr
    assert "campaign" in cli("insights", "sends", "--send", str(first)).stdout


def test_send_pnl_api_and_reward_api(world: W, workspace_id: int) -> None:
    with session_scope() as s:
        _, boss = create_user(s, workspace_id=workspace_id, name="boss", role="owner", password=PASSWORD)
        _, mine = create_user(s, workspace_id=workspace_id, name="alice", role="staff", password=PASSWORD,
                              staff_userid="alice")  # fmt: skip
    api = client()
    h = {"Authorization": f"Bearer {boss}"}
    first = world.sends[0]  # type: ignore[attr-defined]
    body = {"customer_id": world.c["c1"], "amount": "8.88", "kind": "red_packet",
            "paid_at": "2026-11-12 10:00", "send_id": first, "ref": "RP1"}  # fmt: skip
    got = api.post("/api/v1/insights/rewards", json=body, headers=h)
    assert got.status_code == 201, got.text
    assert got.json()["amount_fen"] == 888
    dup = api.post("/api/v1/insights/rewards", json=body, headers=h)
    assert dup.status_code == 422
    assert "already recorded" in dup.text
    bad = api.post(
        "/api/v1/insights/rewards/import",
        content=f"customer_id,amount,kind,paid_at\n{world.c['c1']},0,gift,2026-11-12\n".encode(),
        headers=h | {"Content-Type": "text/csv"},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "line 2: amount"
    assert "1 wrong row(s), nothing imported: line 2, amount '0'" in bad.json()["error"]["message"]
    nul = api.post("/api/v1/insights/rewards/import", content=b"customer_id,amount\0\n", headers=h)
    assert nul.status_code == 422
    ok = api.post(
        "/api/v1/insights/rewards/import",
        content=f"customer_id,amount,kind,paid_at,ref\n{world.c['c8']},5,coupon,2026-11-21,RP3\n".encode(),
        headers=h | {"Content-Type": "text/csv"},
    )
    assert ok.status_code == 200
    assert ok.json()["written"] == 1
    denied = api.post(
        "/api/v1/insights/rewards", json=body | {"ref": "X"}, headers={"Authorization": f"Bearer {mine}"}
    )
    assert denied.status_code == 403
    pnl = api.get("/api/v1/insights/sends", params={"send_id": first}, headers=h).json()
    w7 = pnl["sends"][0]["windows"][1]
    assert (w7["gross_profit_fen"], w7["rewards_fen"], w7["incremental_profit_fen"]) == (
        13000,
        888,
        7600 - 888,
    )
    staff_view = api.get(
        "/api/v1/insights/sends",
        params={"send_id": world.sends[1]},
        headers={"Authorization": f"Bearer {mine}"},  # type: ignore[attr-defined]
    ).json()
    assert staff_view["sends"][0]["windows"][2]["targeted"] == 0  # c11 is bob's recipient


def test_console_pnl_shows_sends_and_metrics_show_send_conversion(world: W, workspace_id: int) -> None:
    from fastapi.testclient import TestClient

    from siyu.web.app import create_app
    from tests.web.test_console import login

    with session_scope() as s:
        create_user(s, workspace_id=workspace_id, name="boss", role="owner", password=PASSWORD)
    with TestClient(create_app(), base_url="http://localhost") as c:
        login(c, "boss")
        page = c.get("/insights/pnl", params={"on": "2026-11"})
        assert page.status_code == 200
        assert "pnl-sends-table" in page.text
        assert "双十一预热" in page.text
        assert "¥131.00" in page.text  # send 1, 30 days: incremental gross 13100 − no cost
        assert "pnl-campaigns" in page.text
        metrics_page = c.get("/insights", params={"on": "2026-11-15"})
        assert metrics_page.status_code == 200
        # sends of November: 5 targeted (4 + 1), buyers c1 and c8 within 30 days; holdout 1/2
        assert "kpi-send-conversion" in metrics_page.text
        assert "2/5 目标客户" in metrics_page.text
        assert "50.0%（1/2）" in metrics_page.text


def test_a_merged_customers_rewards_follow_the_survivor(world: W, workspace_id: int) -> None:
    from siyu.customers.service import merge_customers
    from siyu.insights.rewards import record_reward

    c = world.c
    with session_scope() as s:
        r = record_reward(
            s,
            workspace_id=workspace_id,
            fields={"customer_id": c["c3"], "amount": "2", "kind": "gift", "paid_at": "2026-11-20 10:00",
                    "referred_customer_id": c["c3"]},
        )  # fmt: skip
        rid = r.id
        merge_customers(s, workspace_id=workspace_id, survivor_id=c["c1"], merged_id=c["c3"])
    with session_scope() as s:
        moved = s.get(Reward, rid)
        assert moved is not None
        assert (moved.customer_id, moved.referred_customer_id) == (c["c1"], c["c1"])


def _statements(session: Session, call: Any) -> tuple[int, Any]:
    from sqlalchemy import event

    engine = session.get_bind()
    seen: list[str] = []

    def count(*_a: Any) -> None:
        seen.append(_a[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen), result


@pytest.mark.parametrize("staff", [None, "alice"])
def test_send_pnl_and_conversion_take_a_bounded_number_of_statements(
    world: W, workspace_id: int, session: Session, tmp_path: Path, cli: CliRun, staff: str | None
) -> None:
    """3 and 30 sends cost the same number of statements; each copy of send 1 (same plan,
    same recipients) keeps send 1's hand-computed figures, alone or among the others."""
    from siyu.insights.send_profit import send_conversion, send_pnl

    first, second = world.sends  # type: ignore[attr-defined]
    good = tmp_path / "good.csv"
    good.write_text(_rewards_csv(world, first), encoding="utf-8")
    cli("insights", "rewards", "import", good)
    cli("insights", "costs", "send", "10")
    staff_id = world.staff[staff] if staff else None

    def add_copies(n: int) -> None:
        with session_scope() as s:
            for _ in range(n):
                copy = Send(workspace_id=workspace_id, title="复制", status="settled", holdout_pct=30,
                            planned_at=at(11, 9, 10, 0))  # fmt: skip
                s.add(copy)
                s.flush()
                for arm, cust in (*(("target", c) for c in ("c1", "c2", "c3", "c8")),
                                  *(("holdout", c) for c in ("c4", "c5"))):  # fmt: skip
                    s.add(SendRecipient(workspace_id=workspace_id, send_id=copy.id, customer_id=world.c[cust],
                                        arm=arm, staff_id=world.staff["alice"]))  # fmt: skip

    since, until = at(11, 1, 0, 0), at(12, 1, 0, 0)

    def run() -> tuple[int, dict[str, Any], int, dict[str, Any]]:
        session.expire_all()
        with moved_clock(datetime(2026, 12, 20, tzinfo=UTC)):
            n_pnl, pnl = _statements(session, lambda: send_pnl(
                session, workspace_id=workspace_id, staff_id=staff_id, since=since, until=until))  # fmt: skip
            n_conv, conv = _statements(session, lambda: send_conversion(
                session, workspace_id=workspace_id, since=since, until=until, staff_id=staff_id))  # fmt: skip
        return n_pnl, pnl, n_conv, conv

    add_copies(1)
    n3, pnl3, c3, conv3 = run()
    add_copies(27)
    n30, pnl30, c30, conv30 = run()
    assert len(pnl30["sends"]) == 30
    assert (n30, c30) == (n3, c3)
    assert n3 <= 10
    assert c3 <= 8
    by_id = {s["send_id"]: s for s in pnl30["sends"]}
    ones = [s for s in pnl30["sends"] if s["send_id"] not in (first, second)]
    # The rewards belong to send 1; its copies carry the fixed cost only.
    w7 = by_id[first]["windows"][1]
    assert (w7["gross_profit_fen"], w7["cost_fen"], w7["incremental_profit_fen"]) == (13000, 1888, 5712)
    for line in ones:
        w1, w7c, w30 = line["windows"]
        assert (w7c["targeted"], w7c["buyers"], w7c["gross_profit_fen"]) == (4, 1, 13000)
        assert w7c["cost_fen"] == 1000
        assert (w30["orders"], w30["net_fen"], w30["gross_profit_fen"]) == (3, 30000, 18500)
        assert w30["incremental_gross_profit_fen"] == 13100
        assert w1["orders"] == 0
    # Each line is the one the send gets alone.
    with moved_clock(datetime(2026, 12, 20, tzinfo=UTC)):
        for sid in (first, second, ones[0]["send_id"], ones[-1]["send_id"]):
            alone = send_pnl(session, workspace_id=workspace_id, send_id=sid, staff_id=staff_id)
            assert alone["sends"][0]["windows"] == by_id[sid]["windows"]
    assert pnl3["sends"][-1]["windows"] == by_id[first]["windows"]
    # Conversion: send 1 and its copies target 4 alice customers each, 2 buy within 30 days;
    # the campaign's run 2 targets bob's c11 (no buyer).
    bob_run = 0 if staff else 1
    assert (conv3["sends"], conv3["targeted"], conv3["buyers"]) == (2 + bob_run, 8 + bob_run, 4)
    assert (conv30["sends"], conv30["targeted"], conv30["buyers"]) == (29 + bob_run, 116 + bob_run, 58)
    assert (conv30["holdout"], conv30["holdout_buyers"]) == (58, 29)
