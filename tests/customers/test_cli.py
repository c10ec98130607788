"""``siyu customers list`` / ``show``: stable JSON, masked phones only, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliRun

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "orders"


def test_list_and_show(cli: CliRun) -> None:
    cli("import", "orders", FIX / "ExportOrderList201606.csv", FIX / "ExportOrderDetailList201606.csv")
    listed = json.loads(cli("customers", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["钱六", "王五", "李四", "张三"]  # newest first
    alice = listed[-1]
    assert set(alice) == {
        "id", "name", "phone_masked", "province", "city", "orders_count", "effective_orders_count",
        "net_fen", "last_paid_at", "platforms", "created_at",
        # the list row the API and the console share
        "opt_out", "layer_tier", "layer_value", "rfm_segment", "tags",
    }  # fmt: skip
    assert (alice["phone_masked"], alice["net_fen"], alice["platforms"]) == ("138****8000", 49900, ["taobao"])
    assert (alice["province"], alice["city"], alice["last_paid_at"]) == (
        "浙江省",
        "杭州市",
        "2016-06-01T01:01:30Z",
    )

    page = json.loads(cli("customers", "list", "--json", "--limit", "2", "--offset", "1").stdout)
    assert [c["name"] for c in page] == ["王五", "李四"]

    shown = cli("customers", "show", alice["id"], "--json")
    detail = json.loads(shown.stdout)
    assert "13800138000" not in shown.stdout  # the phone only ever appears masked
    assert detail["phone_masked"] == "138****8000"
    assert sorted((i["kind"], i["platform"], i["value"]) for i in detail["identities"]) == [
        ("buyer_id", "taobao", "tb_alice"),
        ("phone", "", "138****8000"),
    ]
    assert [o["external_id"] for o in detail["orders"]] == ["1001002", "1001001"]
    assert detail["orders"][0]["net_fen"] == 30000
    assert detail["stats"]["products"] == {"玫瑰面霜": 2, "精华水": 1}
    assert (detail["orders_total"], detail["tags"], detail["merged_ids"]) == (2, [], [])

    table = cli("customers", "show", alice["id"]).stdout
    assert "138****8000" in table
    assert "¥499.00" in table
    assert "13800138000" not in table
    assert "张三" in cli("customers", "list").stdout


def test_unknown_customer_and_bad_paging(cli: CliRun) -> None:
    assert "customer 999 does not exist" in cli("customers", "show", "999", expect=2).stderr
    cli("customers", "list", "--limit", "0", expect=2)
    assert json.loads(cli("customers", "list", "--json").stdout) == []
