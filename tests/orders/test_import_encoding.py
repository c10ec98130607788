"""A UTF-8 file with a few stray bytes stays UTF-8; garbled names are never imported silently."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import Customer, ImportRowError, ImportRun, Order
from siyu.orders.importers.reader import probe
from tests.conftest import CliRun
from tests.orders.test_import_formats import FIX, TAOBAO, import_json
from tests.web.api_world import World, assert_error, build_world, client

STRAY_BYTES = FIX / "generic_stray_bytes.csv"
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周杰", "吴霞"]


def run_jobs() -> None:
    """Run the queued upload jobs now, as the worker of ``siyu serve`` would."""
    from siyu.kit.db import session_factory
    from siyu.worker.service import Runner

    summary = Runner(session_factory(), periodic=False).drain()
    assert not summary.errors, summary.errors


def garbled_utf8(tmp: Path) -> Path:
    """UTF-8 names with a GBK full-width space in every other row: valid GB18030 too."""
    rows = ["order_id,paid_at,amount,buyer_id,name"]
    for i in range(1, 21):
        rows.append(f"m-{i},2024-03-{i:02d} 10:00,{i}.00,mb{i},{NAMES[i % 10]}")
    data = ("\n".join(rows) + "\n").encode()
    for i in range(1, 21, 2):
        data = data.replace(f"mb{i},".encode(), f"mb{i},".encode() + b"\xa1\xa1")
    path = tmp / "garbled.csv"
    path.write_bytes(data)
    data.decode("gb18030")  # what made it look like a GBK file
    return path


def test_utf8_with_a_few_stray_bytes_stays_utf8(cli: CliRun, session: Session) -> None:
    assert probe(STRAY_BYTES).encoding == "utf-8-sig"
    [s] = import_json(cli, STRAY_BYTES)
    assert (s["rows_total"], s["rows_ok"], s["rows_failed"]) == (20, 19, 1)
    [err] = s["errors"]  # type: ignore[misc]
    assert err["line"] == 8
    assert "not UTF-8" in err["message"]
    assert err["value"].startswith("s-7,")
    # The names are the names in the file, not GB18030 mojibake.
    names = set(session.scalars(select(Customer.name)))
    assert names == {NAMES[i % 10] for i in range(1, 21) if i != 7}
    assert session.scalar(select(func.count()).select_from(Order).where(Order.external_id == "s-7")) == 0
    assert session.scalar(select(ImportRowError.line)) == 8


def test_text_that_looks_like_misdecoded_utf8_stops_with_the_encoding_to_pass(
    cli: CliRun, session: Session, tmp_path: Path
) -> None:
    path = garbled_utf8(tmp_path)
    result = cli("import", "orders", path, expect=2)
    assert "looks like UTF-8" in result.stderr
    assert "--encoding utf-8" in result.stderr
    assert "line 2" in result.stderr  # where the first bad byte is
    assert session.scalar(select(func.count()).select_from(ImportRun)) == 0
    # Named by the user: UTF-8, and the rows with the bad bytes are bad rows.
    [s] = import_json(cli, path, "--encoding", "utf-8")
    assert (s["rows_ok"], s["rows_failed"]) == (10, 10)
    assert [e["line"] for e in s["errors"]] == list(range(2, 22, 2))  # type: ignore[union-attr]
    assert set(session.scalars(select(Customer.name))) == {NAMES[i % 10] for i in range(2, 21, 2)}


def test_stray_bytes_far_into_a_file_are_found(env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.orders.importers import reader

    monkeypatch.setattr(reader, "_CHUNK", 64)  # the stray bytes are in the 4th chunk
    fp = probe(STRAY_BYTES)
    assert (fp.encoding, fp.errors, fp.bad_bytes) == ("utf-8-sig", "replace", 2)
    gbk = probe(TAOBAO)
    assert (gbk.encoding, gbk.errors, gbk.bad_bytes) == ("gb18030", "strict", 0)


def test_gbk_exports_are_still_read_as_gbk(env: Settings) -> None:
    assert probe(TAOBAO).encoding == "gb18030"
    assert probe(TAOBAO, "gbk").encoding == "gb18030"
    with pytest.raises(Exception, match="not GBK"):
        probe(FIX / "generic_stray_quote.csv", "gbk")  # UTF-8 Chinese is not valid GBK here


def test_upload_names_the_encoding(env: Settings, tmp_path: Path, session: Session) -> None:
    world: World = build_world()
    api: TestClient = client()
    h = world.h("operator")
    body = garbled_utf8(tmp_path).read_bytes()
    err = assert_error(
        api.post("/api/v1/imports", headers=h, files={"files": ("garbled.csv", body, "text/csv")}),
        422,
        field="encoding",
    )
    assert "looks like UTF-8" in err["message"]
    resp = api.post(
        "/api/v1/imports",
        headers=h,
        files={"files": ("garbled.csv", body, "text/csv")},
        data={"encoding": "utf-8"},
    )
    assert resp.status_code == 202, resp.text
    run_jobs()
    done = api.get(f"/api/v1/imports/jobs/{resp.json()['job_id']}", headers=h).json()
    assert done["status"] == "done", done
    [run] = done["runs"]
    assert (run["rows_ok"], run["rows_failed"]) == (10, 10)
    assert session.scalar(select(func.count()).select_from(Order).where(Order.external_id.like("m-%"))) == 10
