"""Every line of a file is accounted for: an unclosed quote costs one row, never the rest."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import ImportRowError, Order
from siyu.orders.importers.reader import probe
from siyu.orders.schemas import ImportSummary
from siyu.orders.service import import_orders
from tests.conftest import CliRun
from tests.orders.test_import_formats import FIX, TAOBAO, TAOBAO_ITEMS, import_json

STRAY_QUOTE = FIX / "generic_stray_quote.csv"
ALL_FIXTURES = sorted(FIX.iterdir())
# One file of each platform format (and the generic one) to break with a stray quote.
PLATFORM_FILES = [
    TAOBAO,
    TAOBAO_ITEMS,
    FIX / "douyin_orders.csv",
    FIX / "jd_orders.csv",
    FIX / "youzan_orders.csv",
    FIX / "generic_orders.csv",
]


def physical_lines(path: Path) -> int:
    """Lines as a text editor counts them (\\n, \\r\\n or \\r ends one)."""
    return len(path.read_bytes().splitlines())


def assert_accounted(s: ImportSummary | dict[str, object], path: Path) -> None:
    get = s.get if isinstance(s, dict) else lambda k: getattr(s, k)
    read = get("lines_read")
    assert read == physical_lines(path), f"{path.name}: {read} lines read"
    assert get("lines_imported") + get("lines_skipped") + get("lines_bad") == read, s  # type: ignore[operator]


def test_a_stray_quote_is_one_bad_row_and_the_rows_after_it_import(cli: CliRun, session: Session) -> None:
    [s] = import_json(cli, STRAY_QUOTE)
    # 30 orders; the 11th (line 13: row 5 takes two lines) opens a quote it never closes.
    assert (s["rows_total"], s["rows_ok"], s["rows_failed"], s["orders_created"]) == (30, 29, 1, 29)
    [err] = s["errors"]  # type: ignore[misc]
    assert err["line"] == 13
    assert "quoted cell" in err["message"]
    assert "stray" in err["message"]
    assert err["value"].startswith("q-11,")
    ids = set(session.scalars(select(Order.external_id).where(Order.external_id.like("q-%"))))
    assert ids == {f"q-{i}" for i in range(1, 31)} - {"q-11"}
    # The rows after it are whole rows, with their own names and amounts.
    q12 = session.scalar(select(Order).where(Order.external_id == "q-12"))
    assert q12 is not None
    assert (q12.paid_fen, q12.buyer_name) == (12900, "李娜")
    # A quoted cell with a real line break (row 5's title) is still one row.
    q5 = session.scalar(select(Order).where(Order.external_id == "q-5"))
    assert q5 is not None
    assert q5.title == "玫瑰面霜\n礼盒装"
    # Header + 30 rows + the title's second line = 32; row 5 covers two of them.
    assert (s["lines_read"], s["lines_imported"], s["lines_bad"], s["lines_skipped"]) == (32, 30, 1, 1)
    stored = session.scalars(select(ImportRowError).where(ImportRowError.line == 13)).all()
    assert len(stored) == 1
    assert "quoted cell" in stored[0].message


def _with_stray_quote(path: Path, tmp: Path) -> Path:
    """``path`` with a ``"`` opening a cell in the middle of its first data row."""
    fp = probe(path)
    text = path.read_bytes().decode(fp.encoding)
    lines = text.splitlines(keepends=True)
    first = next(i for i, t in enumerate(lines) if t.strip())
    row = first + 1
    # After the delimiter that ends the cell before the middle one (no quoted cell
    # with delimiters comes before it in these files).
    text_row = lines[row]
    at = pos = len(next(csv.reader([text_row], delimiter=fp.delimiter))) // 2
    pos = -1
    for _ in range(at):
        pos = text_row.index(fp.delimiter, pos + 1)
    lines[row] = text_row[: pos + 1] + '"' + text_row[pos + 1 :]
    broken = tmp / f"stray-{path.name}"
    broken.write_bytes("".join(lines).encode("gb18030" if fp.encoding == "gb18030" else "utf-8"))
    return broken


@pytest.mark.parametrize("path", PLATFORM_FILES, ids=lambda p: p.name)
def test_a_stray_quote_in_each_platform_format_costs_one_row(
    env: Settings, tmp_path: Path, path: Path
) -> None:
    [clean] = import_orders([path], workspace_slug="clean", progress=False)
    broken = _with_stray_quote(path, tmp_path)
    [s] = import_orders([broken], workspace_slug="broken", progress=False)
    # Line 2 is reported (as an unclosed quote, or as a row whose cells the quote
    # shifted when it closes on the same line: generic_orders.csv's JSON cell).
    bad = [e for e in s.errors if e.line == 2]
    assert len(bad) == 1, s.errors
    if path.name != "generic_orders.csv":
        assert "quoted cell" in bad[0].message, bad
    # Every other row reads as it does in the clean file.
    assert s.rows_total == clean.rows_total
    assert s.rows_failed == clean.rows_failed + (0 if any(e.line == 2 for e in clean.errors) else 1)
    assert sorted((e.line, e.message) for e in s.errors if e.line != 2) == sorted(
        (e.line, e.message) for e in clean.errors if e.line != 2
    )
    assert_accounted(s, broken)


@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "parser-process"])
def test_every_line_of_every_fixture_is_accounted_for(env: Settings, parallel: bool) -> None:
    for path in ALL_FIXTURES:
        [s] = import_orders(
            [path], workspace_slug=f"w-{parallel}", progress=False, parallel=parallel, batch_size=2
        )
        assert_accounted(s, path)
        # Rows went in or were reported; the lines of rows are the lines not skipped.
        assert s.rows_total == s.rows_ok + s.rows_failed


def test_accounting_through_the_cli_and_on_reimport(cli: CliRun, session: Session) -> None:
    files = [FIX / "generic_bad.csv", STRAY_QUOTE, FIX / "generic_orders.jsonl"]
    for _ in range(2):  # the second run changes nothing, and counts the same lines
        for s, path in zip(import_json(cli, *files), files, strict=True):
            assert_accounted(s, path)
    assert session.scalar(select(func.count()).select_from(Order).where(Order.external_id == "q-11")) == 0


def test_a_quote_that_runs_past_the_field_limit_is_one_bad_row(
    env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "long.csv"
    rows = ["order_id,paid_at,amount,buyer_id,name"]
    runaway = '"' + "x" * 300
    rows += [f"L-{i},2024-01-01 10:00,5.00,lb{i},{'Ω' * 3 if i != 3 else runaway}" for i in range(1, 60)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    old = csv.field_size_limit(1000)  # so that the runaway cell passes it within the file
    try:
        [s] = import_orders([path], workspace_slug="long", progress=False)
    finally:
        csv.field_size_limit(old)
    assert [e.line for e in s.errors] == [4]
    assert s.rows_ok == 58
    assert_accounted(s, path)
