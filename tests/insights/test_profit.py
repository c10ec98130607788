"""Price list, gross profit per order and the monthly P&L against hand-computed figures.

November 2026 (world.py plus these orders), SKU-A costs ¥30 until 14 Nov and ¥40 after,
taobao takes 5 %, alice costs ¥100 a month:
- alice owns c1 (20000 fen, 2 × SKU-A on 10 Nov: cost 6000, fee 1000 → 13000), c8 (10000,
  20 Nov: 4000 + 500 → 5500) and c2 (refunded in full → 0): GMV 40000, net 30000, gross
  18500; contribution 18500 − 10000 = 8500 over 8 friends → 1062 fen per friend. In
  October she sold 10000 at 65 % margin: GMV up, margin down (61.7 %) → flagged.
- bob owns c11 (douyin 5000, line cost 2000, no fee rate → 3000).
- c9 is no one's friend: 9000 on 15 Nov (4000 + 450 → 4550) is outside the private domain.
- channel 包裹卡 (¥2 per add, 1 add): c8's 5500 − 200 = 5300; group 面霜群: c8 + c9 = 10050.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.models import SkuCost, Workspace
from tests.conftest import CliRun
from tests.insights.world import W, at, build, order

GOOD = "sku,cost,valid_from,valid_to\nSKU-A,30,2026-10-01,2026-11-14\nSKU-A,40,2026-11-15,\n"
BAD = (
    "sku,cost,valid_from,valid_to\n"
    "SKU-A,30,2026-10-01,2026-11-14\n"
    "SKU-A,40,2026-11-15,\n"
    "SKU-A,35,2026-11-01,2026-11-30\n"
    "NOPE,10,2026-01-01,\n"
    "SKU-B,-5,2026-01-01,\n"
    "SKU-B,5,2026-13-01,\n"
    "SKU-B,5,2026-02-01,2026-01-01\n"
)


@pytest.fixture
def world(env: Settings, workspace_id: int) -> W:
    with session_scope() as s:
        w = build(s, workspace_id)
        order(s, w, "c1", "o-c1-oct", at(10, 10, 12, 0), 10000)
        order(s, w, "c1", "o-c1", at(11, 10, 12, 0), 20000, qty=2)
        order(s, w, "c11", "o-c11", at(11, 12, 12, 0), 5000, sku="SKU-B", platform="douyin", cost=2000)
        order(s, w, "c9", "o-c9", at(11, 15, 12, 0), 9000)
        order(s, w, "c2", "o-c2", at(11, 16, 12, 0), 10000, refunded=10000)
        return w


def test_price_list_errors_per_row_and_nothing_written(
    cli: CliRun, world: W, tmp_path: Path, session: Session
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, encoding="utf-8")
    res = cli("insights", "costs", "import", bad, "--json", expect=2)
    errors = json.loads(res.stdout[: res.stdout.rindex("}") + 1])["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (4, "valid_from"),
        (5, "sku"),
        (6, "cost"),
        (7, "valid_from"),
        (8, "valid_to"),
    ]
    assert "overlaps line 2" in errors[0]["message"]
    assert "unknown SKU" in errors[1]["message"]
    assert "negative" in errors[2]["message"]
    assert "nothing imported" in res.stderr
    assert session.scalar(select(func.count()).select_from(SkuCost)) == 0
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    assert "imported 2" in cli("insights", "costs", "import", good).stdout
    again = cli("insights", "costs", "import", good, expect=2)
    assert "stored cost" in again.stdout
    cli("insights", "costs", "import", good, "--replace")
    assert session.scalar(select(func.count()).select_from(SkuCost)) == 2
    missing = tmp_path / "missing.csv"
    missing.write_text("sku,price\nSKU-A,3\n", encoding="utf-8")
    assert "cost" in cli("insights", "costs", "import", missing, expect=2).stderr


def test_pnl_hand_computed(cli: CliRun, world: W, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    cli("insights", "costs", "import", good)
    cli("insights", "costs", "fee", "taobao", "0.05")
    cli("insights", "costs", "account", "alice", "100")
    assert "nobody" in cli("insights", "costs", "account", "nobody", "1", expect=2).stderr
    assert "platform_fee_rates" in cli("insights", "costs", "fee", "jd", "2", expect=2).stderr
    data = json.loads(cli("insights", "pnl", "--on", "2026-11", "--json").stdout)
    alice = next(a for a in data["accounts"] if a["userid"] == "alice")
    assert (alice["orders"], alice["gmv_fen"], alice["net_fen"], alice["cogs_fen"]) == (
        3,
        40000,
        30000,
        10000,
    )
    assert (alice["platform_fee_fen"], alice["gross_profit_fen"]) == (1500, 18500)
    assert (alice["account_cost_fen"], alice["contribution_fen"], alice["friends"]) == (10000, 8500, 8)
    assert alice["profit_per_friend_fen"] == 1062
    assert alice["previous"] == {"gmv_fen": 10000, "margin": 0.65}
    assert alice["gmv_up_margin_down"] is True
    bob = next(a for a in data["accounts"] if a["userid"] == "bob")
    assert (bob["gross_profit_fen"], bob["gmv_up_margin_down"]) == (3000, False)
    assert data["outside"]["gross_profit_fen"] == 4550
    assert data["total"]["gross_profit_fen"] == 18500 + 3000 + 4550
    (ch,) = data["channels"]
    assert (ch["name"], ch["gross_profit_fen"], ch["channel_cost_fen"], ch["contribution_fen"]) == (
        "包裹卡",
        5500,
        200,
        5300,
    )
    (g,) = data["groups"]
    assert (g["name"], g["gross_profit_fen"]) == ("面霜群", 10050)
    assert data["flags"] == ["Alice"]
    mine = json.loads(cli("insights", "pnl", "--on", "2026-11", "--json", "--staff", "bob").stdout)
    assert [a["userid"] for a in mine["accounts"]] == ["bob"]
    assert mine["groups"] == []


def test_pnl_without_a_price_list_uses_imported_costs_and_counts_unknown(cli: CliRun, world: W) -> None:
    data = json.loads(cli("insights", "pnl", "--on", "2026-11", "--json").stdout)
    # SKU-A lines have no cost anywhere: counted, not guessed.
    assert data["total"]["orders_cost_unknown"] == 4
    bob = next(a for a in data["accounts"] if a["userid"] == "bob")
    assert bob["cogs_fen"] == 2000
    assert bob["orders_cost_unknown"] == 0


def test_channel_cost_is_charged_once_spread_over_its_adds(cli: CliRun, world: W) -> None:
    """A ¥300 live room brought 3 friends (2 in October, 1 in November) → ¥200 + ¥100 + ¥0;
    a ¥10 store channel's per-store adds (<state>~<store id>) count for the channel."""
    from siyu.models import Channel, Follow
    from tests.insights.world import at

    with session_scope() as s:
        s.add(Channel(workspace_id=world.ws, name="直播间", state="live1", slug="live1", cost_fen=30000))
        s.add(Channel(workspace_id=world.ws, name="门店导流", state="stores", slug="stores", kind="store",
                      cost_fen=1000))  # fmt: skip
        for cust, when, state in (
            ("c1", at(10, 5, 10, 0), "live1"),
            ("c2", at(10, 6, 10, 0), "live1"),
            ("c3", at(11, 7, 10, 0), "live1"),
            ("c4", at(11, 8, 10, 0), "stores~1"),
            ("c5", at(11, 9, 10, 0), "stores~2"),
        ):
            s.add(Follow(workspace_id=world.ws, staff_id=world.staff["bob"], customer_id=world.c[cust],
                         state="active", added_at=when, live_code_state=state))  # fmt: skip

    def month(on: str, *extra: str) -> dict:
        data = json.loads(cli("insights", "pnl", "--on", on, "--json", *extra).stdout)
        return {c["state"]: c for c in data["channels"]} | {"_total": data["total"]}

    oct_, nov, dec = month("2026-10"), month("2026-11"), month("2026-12")
    assert [m["live1"]["channel_cost_fen"] for m in (oct_, nov, dec)] == [20000, 10000, 0]
    assert [m["live1"]["adds"] for m in (oct_, nov, dec)] == [2, 1, 0]
    assert (nov["live1"]["adds_all_time"], nov["live1"]["cost_per_add_fen"]) == (3, 10000)
    assert (nov["stores"]["adds"], nov["stores"]["channel_cost_fen"]) == (2, 1000)
    assert nov["stores"]["friends"] == 2
    assert nov["_total"]["channel_costs_fen"] == 200 + 10000 + 1000
    assert oct_["_total"]["channel_costs_fen"] == 20000
    # bob's view: his adds' share (all of live1's November add; code1's add is alice's).
    bob = month("2026-11", "--staff", "bob")
    assert (bob["live1"]["channel_cost_fen"], "code1" in bob) == (10000, False)


def test_pnl_defaults_to_the_latest_month_with_data_and_the_page_shows_it(
    env: Settings, world: W, session: Session
) -> None:
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient

    from siyu.insights.profit import latest_month, pnl
    from siyu.kit.db import session_scope as scope
    from siyu.kit.timeutil import moved_clock
    from siyu.web.app import create_app
    from siyu.web.auth import create_user
    from tests.web.test_console import PASSWORD, login

    with scope() as s:
        create_user(s, workspace_id=world.ws, name="boss", role="owner", password=PASSWORD)
    # world.py's last order is paid on 20 December; in early December November is the latest.
    with moved_clock(datetime(2026, 12, 7, 3, 0, tzinfo=UTC)):
        assert str(latest_month(session, world.ws)) == "2026-11-01"
        assert pnl(session, workspace_id=world.ws)["month"] == "2026-11"
        with TestClient(create_app(), base_url="http://localhost") as c:
            login(c, "boss")
            page = c.get("/insights/pnl")
            assert page.status_code == 200
            assert 'type="month" name="month" value="2026-11"' in page.text
            assert 'id="pnl-partial"' not in page.text
            chosen = c.get("/insights/pnl", params={"month": "2026-10"})
            assert 'type="month" name="month" value="2026-10"' in chosen.text
            older = c.get("/insights/pnl", params={"on": "2026-10"})  # the older parameter name
            assert 'type="month" name="month" value="2026-10"' in older.text
    # Late December: December has orders, but the page opens on November, the last
    # complete month; December is shown as running, its account cost for 25 of 31 days.
    with scope() as s:
        ws = s.get(Workspace, world.ws)
        assert ws is not None
        settings = dict(ws.settings or {})
        settings["insights"] = {**settings.get("insights", {}), "account_cost_yuan": {"alice": 3100}}
        ws.settings = settings
    session.expire_all()
    with moved_clock(datetime(2026, 12, 25, 4, 0, tzinfo=UTC)):
        assert str(latest_month(session, world.ws)) == "2026-11-01"
        full = pnl(session, workspace_id=world.ws)
        assert (full["month"], full["partial"], full["days_elapsed"]) == ("2026-11", False, 30)
        alice_nov = next(a for a in full["accounts"] if a["userid"] == "alice")
        assert alice_nov["account_cost_fen"] == 310000
        with TestClient(create_app(), base_url="http://localhost") as c:
            login(c, "boss")
            api = c.get("/api/v1/insights/pnl", params={"month": "2026-12"}).json()
            assert (api["month"], api["partial"], str(api["as_of"])) == ("2026-12", True, "2026-12-25")
            assert (api["days_elapsed"], api["days_in_month"]) == (25, 31)
            assert api["total"]["orders"] > 0
            alice_dec = next(a for a in api["accounts"] if a["userid"] == "alice")
            assert alice_dec["account_cost_fen"] == 250000
            page = c.get("/insights/pnl", params={"month": "2026-12"})
            assert 'id="pnl-partial"' in page.text
            assert "25/31" in page.text
            assert c.get("/api/v1/insights/pnl", params={"month": "2026-13"}).status_code == 422
    with moved_clock(datetime(2027, 3, 1, tzinfo=UTC)):
        assert pnl(session, workspace_id=world.ws)["month"] == "2026-12"
        assert pnl(session, workspace_id=world.ws)["partial"] is False
    with moved_clock(datetime(2026, 9, 1, tzinfo=UTC)):  # nothing paid yet: the current month
        assert latest_month(session, world.ws) is None
        assert pnl(session, workspace_id=world.ws)["month"] == "2026-09"
