"""Money has bounds: an amount above the workspace's limit per order is a bad row, sums never overflow."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.kit.timeutil import utcnow
from siyu.models import ImportRowError, ImportRun, Order, Workspace
from tests.conftest import CliRun
from tests.orders.test_import_encoding import run_jobs
from tests.orders.test_import_formats import import_json
from tests.web.api_world import PASSWORD, World, build_world, client
from tests.web.test_console import csrf_of

ROWS = """order_id,paid_at,amount,buyer_id,cost,items
b-1,2024-03-01 10:00,99.00,bb1,,
b-2,2024-03-01 10:00,99999999999999999999,bb2,,
b-3,2024-03-01 10:00,"20,000,000.00",bb3,,
b-4,2024-03-01 10:00,10000000.00,bb4,,
b-5,2024-03-01 10:00,50.00,bb5,1e30,
b-6,2024-03-01 10:00,50.00,bb6,,"[{""title"":""金条"",""price"":""9000000"",""quantity"":2}]"
b-7,2024-03-01 10:00,50.00,bb7,,面霜*99999999999
b-8,2024-03-01 10:00,12.00,bb8,,
"""


def write(tmp: Path, text: str = ROWS, name: str = "big.csv") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_amounts_beyond_the_limit_are_bad_rows_and_the_good_rows_go_in(
    cli: CliRun, session: Session, tmp_path: Path
) -> None:
    [s] = import_json(cli, write(tmp_path))
    assert (s["rows_total"], s["rows_ok"], s["rows_failed"], s["orders_created"]) == (8, 3, 5, 3)
    errors = {e["line"]: e for e in s["errors"]}  # type: ignore[union-attr]
    assert sorted(errors) == [3, 4, 6, 7, 8]
    assert (errors[3]["field"], errors[3]["value"]) == ("amount", "99999999999999999999")
    assert "too large" in errors[3]["message"]
    assert errors[4]["field"] == "amount"
    assert "above the limit of 10,000,000.00 yuan per order" in errors[4]["message"]
    assert "orders.max_order_yuan" in errors[4]["message"]
    assert errors[6]["field"] == "cost"
    assert errors[7]["field"] == "items"
    assert "18,000,000.00 yuan is above the limit" in errors[7]["message"]
    assert errors[8]["field"] == "items"
    assert "not a believable count" in errors[8]["message"]
    paid = dict(session.execute(select(Order.external_id, Order.paid_fen)).all())
    assert paid == {"b-1": 9900, "b-4": 1_000_000_000, "b-8": 1200}
    assert session.scalar(select(func.count()).select_from(ImportRowError)) == 5
    run = session.scalar(select(ImportRun))
    assert run is not None
    assert run.status == "completed"


def test_the_limit_is_a_workspace_setting(
    cli: CliRun, session: Session, tmp_path: Path, workspace_id: int
) -> None:
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    ws.settings = {**(ws.settings or {}), "orders": {"max_order_yuan": "a lot"}}
    session.commit()
    result = cli("import", "orders", write(tmp_path), expect=2)
    assert "orders.max_order_yuan" in result.stderr
    assert session.scalar(select(func.count()).select_from(ImportRun)) == 0

    ws.settings = {**ws.settings, "orders": {"max_order_yuan": 50_000_000}}
    session.commit()
    [s] = import_json(cli, write(tmp_path))
    assert sorted(e["line"] for e in s["errors"]) == [3, 6, 8]  # type: ignore[union-attr]
    b3 = session.scalar(select(Order.paid_fen).where(Order.external_id == "b-3"))
    assert b3 == 2_000_000_000


def _huge_file(tmp: Path) -> Path:
    """100 orders that each fit in 64 bits but add up past them, and 100 at the limit."""
    day = (utcnow() - timedelta(days=1)).date().isoformat()
    rows = ["order_id,paid_at,amount,buyer_id,status"]
    rows += [f"h-{i},{day} 10:00,999999999999999.00,hb{i},completed" for i in range(100)]
    rows += [f"k-{i},{day} 11:00,10000000.00,kb{i},completed" for i in range(100)]
    return write(tmp, "\n".join(rows) + "\n", "huge.csv")


def test_sums_of_large_amounts_stay_exact_on_the_api_and_the_dashboard(
    env: Settings, tmp_path: Path, session: Session
) -> None:
    world: World = build_world()
    api: TestClient = client()
    h = world.h("owner")
    before = api.get("/api/v1/metrics/summary", headers=h, params={"days": 7}).json()["totals"]
    resp = api.post(
        "/api/v1/imports",
        headers=h,
        files={"files": ("huge.csv", _huge_file(tmp_path).read_bytes(), "text/csv")},
    )
    assert resp.status_code == 202, resp.text
    run_jobs()
    done = api.get(f"/api/v1/imports/jobs/{resp.json()['job_id']}", headers=h).json()
    assert done["status"] == "done", done
    # The sums answer (they used to overflow: 500 on SQLite).
    resp = api.get("/api/v1/metrics/summary", headers=h, params={"days": 7})
    assert resp.status_code == 200, resp.text
    totals = resp.json()["totals"]
    assert totals["paid_fen"] == before["paid_fen"] + 100 * 10**9
    assert totals["net_fen"] == before["net_fen"] + 100 * 10**9
    assert resp.json()["window"]["net_fen"] >= 100 * 10**9

    # The rows past the limit were left out, with their lines; the others are exact.
    [run] = done["runs"]
    assert (run["rows_ok"], run["rows_failed"]) == (100, 100)
    with session_scope() as s:
        assert s.scalar(select(func.sum(Order.paid_fen)).where(Order.external_id.like("k-%"))) == 10**11
        assert s.scalar(select(func.count()).select_from(Order).where(Order.external_id.like("h-%"))) == 0

    from siyu.web.app import create_app

    with TestClient(create_app(env), base_url="http://127.0.0.1") as console:
        page = console.get("/login")
        res = console.post(
            "/login",
            data={"name": "owner", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/"},
            follow_redirects=False,
        )
        assert res.status_code == 303, res.text
        dash = console.get("/")
        assert dash.status_code == 200
        assert re.search(r'id="kpi-orders">101<', dash.text), dash.text[:2000]
