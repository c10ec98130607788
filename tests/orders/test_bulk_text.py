"""The writer's shortcuts to SQLite's stored text give exactly the text they replace."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from siyu.customers import bulk
from siyu.kit.pii import vault_for
from siyu.orders import pipeline
from siyu.orders.importers.base import OrderRecord


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"platform": "taobao", "external_id": "12345", "paid_fen": 9900},
        {"名": '张三 "引号" \\ \n', "n": [1, 2.5, None, True, False], "x": {"y": {"z": []}}},
        {"nan": float("nan"), "inf": float("inf"), "big": 10**30, "neg": -0.0},
        {1: "int key", "": ""},
        [],
        [{"a": 1}],
        "text",
        None,
    ],
)
def test_json_text_is_json_dumps(value: Any) -> None:
    assert bulk._sqlite_json(value) == json.dumps(value)


def test_json_text_refuses_what_json_dumps_refuses() -> None:
    with pytest.raises(TypeError):
        bulk._sqlite_json({"a": object()})
    # and the next value is encoded as usual (no state kept from the failure)
    assert bulk._sqlite_json({"a": 1}) == '{"a": 1}'


def test_datetimes_cross_from_the_parser_as_the_text_sqlite_stores() -> None:
    shanghai = timezone(timedelta(hours=8))
    times = {
        "ordered_at": datetime(2021, 6, 18, 20, 0, 1, tzinfo=shanghai),
        "paid_at": datetime(2021, 6, 18, 12, 0, 2, 123456, tzinfo=UTC),
        "completed_at": None,
    }
    rec = OrderRecord(7, "taobao", "A1", {"status": "paid", **times})
    enc = pipeline._encode(7, rec, vault_for("k" * 32), {}, {})
    bulk.SQLITE_TEXT.clear()
    line, out = pipeline._decode(enc)
    assert line == 7
    assert isinstance(out, OrderRecord)
    for k, v in times.items():
        got = out.fields[k]
        assert got == v
        if v is not None:
            assert got.tzinfo is UTC
            # the memo holds exactly what formatting it would give
            assert bulk.SQLITE_TEXT[got] == bulk._sqlite_datetime(v)
    texts = bulk._sqlite_datetimes([out.fields["ordered_at"], out.fields["paid_at"], None])
    assert texts == ["2021-06-18 12:00:01.000000", "2021-06-18 12:00:02.123456", None]
    # datetimes the memo does not know are formatted as before; naive ones still fail
    bulk.SQLITE_TEXT.clear()
    assert bulk._sqlite_datetimes([times["ordered_at"]]) == ["2021-06-18 12:00:01.000000"]
    with pytest.raises(ValueError, match="naive"):
        bulk._sqlite_datetimes([datetime(2021, 1, 1)])
