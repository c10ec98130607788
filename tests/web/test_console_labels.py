"""Every code the console can show has a zh-CN label (new codes fail here, not in front of users)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from siyu.web.console import labels

SIYU = Path(__file__).resolve().parents[2] / "siyu"


def _literal_keywords(name: str) -> set[str]:
    found: set[str] = set()
    for path in SIYU.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.keyword)
                and node.arg == name
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                found.add(node.value.value)
    return found


def test_every_audit_action_and_target_has_a_label() -> None:
    actions = _literal_keywords("action")
    assert "phone.reveal" in actions  # the scan sees the code base
    assert sorted(actions - labels.AUDIT_ACTION.keys()) == []
    assert sorted(_literal_keywords("target_type") - labels.TARGET_TYPE.keys()) == []


def test_every_audit_detail_key_has_a_label() -> None:
    keys: set[str] = set()
    for path in SIYU.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "detail" and isinstance(node.value, ast.Dict):
                keys |= {
                    k.value
                    for k in node.value.keys
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                }
    assert "reason" in keys
    assert sorted(keys - labels.DETAIL_KEY.keys()) == []


def test_every_sync_count_import_format_and_tag_source_has_a_label() -> None:
    from siyu.customers.tags import TAG_SOURCES
    from siyu.orders.importers import FORMAT_CHOICES, FORMATS
    from siyu.wecom.sync import contacts, groups

    counts = {
        f.name
        for module in (contacts, groups)
        for obj in vars(module).values()
        if dataclasses.is_dataclass(obj) and obj.__name__.endswith("Counts")
        for f in dataclasses.fields(obj)
    }
    assert counts
    assert sorted(counts - labels.SYNC_COUNT.keys()) == []
    formats = set(FORMAT_CHOICES) | {f.name for f in FORMATS.values()}
    assert sorted(formats - labels.IMPORT_FORMAT.keys()) == []
    assert sorted(set(TAG_SOURCES) - labels.TAG_SOURCE.keys()) == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("not a date or time: 'not-a-date' (expected e.g. 2016-05-23 22:02:11)", "不是日期时间：not-a-date"),
        ("not an amount: 'abc'", "不是金额：abc"),
        ("amount is empty", "金额为空"),
        ("not a valid phone number", "不是有效的手机号"),
        ("paid_at is empty but the status is completed", "付款时间为空"),
        ("订单编号 is empty", "「订单编号」为空"),
        ("no buyer: give one of buyer_id, phone, unionid, external_userid", "缺少买家身份"),
    ],
)
def test_import_row_errors_read_in_chinese(message: str, expected: str) -> None:
    text, known = labels.row_error(message)
    assert known
    assert expected in text


def test_unknown_codes_never_show_raw() -> None:
    assert labels.text("audit_action", "something.new") == "其他操作"
    assert 'title="something.new"' in str(labels.label("audit_action", "something.new"))
    assert labels.channel("package_card") == "包裹卡"
    assert labels.channel("store_qr_hz") == "门店二维码（hz）"
    assert labels.actor("user:7", {7: "小美"}) == "小美"
    assert labels.actor("cli") == "命令行"
    text, known = labels.row_error("something odd happened")
    assert not known
    assert "something" not in text


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("expected a term after AND", "AND 后面缺少条件"),
        ("unknown field 'foo' (did you mean 'city'?)", "没有字段 'foo'"),
        ("the expression is empty", "表达式为空"),
        (
            "no tag named 'VlP' in this workspace (did you mean 'VIP'?); that term matches nobody",
            "没有名为 'VlP' 的标签",
        ),
        ("spent is in yuan with at most 2 decimals, got '1.234'", "spent 最多 2 位小数"),
        ("orders must be from 0 to 1,000,000,000, got 1e30", "orders 必须在 0 到 1,000,000,000 之间"),
    ],
)
def test_expression_problems_read_in_chinese(message: str, expected: str) -> None:
    assert expected in labels.expression_problem(message)
    assert labels.expression_problem("something brand new") == "表达式无法理解"


def test_console_expression_errors_are_chinese(cli: Any, tmp_path: Path, workspace_id: int, env: Any) -> None:
    from fastapi.testclient import TestClient

    from siyu.web.app import create_app
    from tests.web.test_console import login, seed_console

    seed_console(cli, tmp_path, workspace_id)
    with TestClient(create_app(env), base_url="http://127.0.0.1") as client:
        login(client)
        err = client.get("/customers/count", params={"q": "city:杭州 AND"}).json()["error"]
        assert err["message"] == "AND 后面缺少条件"
        assert err["column"] == 12
        assert err["expected"] == "条件、NOT 或「(」"
        warn = client.get("/customers/count", params={"q": "tag:不存在的标签"}).json()["warnings"]
        assert warn == ["没有名为 '不存在的标签' 的标签，这个条件不匹配任何人"]
