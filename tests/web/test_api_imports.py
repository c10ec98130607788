"""Order imports over HTTP: upload, follow the progress, read the row errors."""

from __future__ import annotations

import pathlib
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import ImportRun, Job, Order
from tests.web.api_world import World, assert_error, build_world, client

GOOD = """order_id,paid_at,amount,phone,name,status
G1,2026-11-01 10:00:00,99.00,13600136000,赵六,completed
G2,not a date,10.00,13600136000,赵六,completed
G3,2026-11-02 10:00:00,abc,,赵六,paid
G4,2026-11-03 09:30:00,20.50,13800138000,张三,completed
""".encode()


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings, runner: Any) -> TestClient:
    """The API, with a worker running beside it (as ``siyu serve`` embeds one)."""
    return client()


def _finished(api: TestClient, h: dict[str, str], job_id: int, timeout: float = 30) -> dict[str, Any]:
    """The upload job once a worker has run it (it is queued by the upload)."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = api.get(f"/api/v1/imports/jobs/{job_id}", headers=h).json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, f"upload job {job_id} still {job['status']}"
        time.sleep(0.05)


def test_upload_runs_the_import_and_reports_rows(api: TestClient, world: World, session: Session) -> None:
    h = world.h("operator")
    resp = api.post("/api/v1/imports", headers=h, files={"files": ("orders.csv", GOOD, "text/csv")})
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["files"] == ["orders.csv"]
    assert job["status"] in ("queued", "running")  # a worker runs it
    done = _finished(api, h, job["job_id"])
    assert done["status"] == "done", done
    assert done["error"] is None
    [run] = done["runs"]
    assert run["filename"] == "orders.csv"
    assert run["format"] == "generic"
    assert run["status"] == "completed"
    assert (run["rows_total"], run["rows_ok"], run["rows_failed"]) == (4, 2, 2)
    assert run["actor"] == f"user:{world.users['operator']}"
    assert api.get(f"/api/v1/imports/{run['id']}", headers=h).json()["orders_created"] == 2
    errors = api.get(f"/api/v1/imports/{run['id']}/errors", headers=h).json()
    assert errors["total"] == 2
    assert [(e["line"], e["field"], e["value"]) for e in errors["items"]] == [
        (3, "paid_at", "not a date"),
        (4, "amount", "abc"),
    ]
    assert all(e["filename"] == "orders.csv" and e["message"] for e in errors["items"])
    # The orders are in, 张三's new order joined his profile through the phone.
    assert (
        session.scalar(select(Order).where(Order.external_id == "G4")).customer_id == world.customers["zhang"]
    )
    listing = api.get("/api/v1/imports", headers=h).json()
    assert [r["id"] for r in listing["items"]] == [run["id"]]
    # The uploaded copy is gone once imported.
    stored = session.get(ImportRun, run["id"])
    assert stored is not None
    assert not pathlib.Path(stored.filename).exists()


def test_reupload_changes_nothing(api: TestClient, world: World, session: Session) -> None:
    h = world.h("admin")
    for _ in range(2):
        job = api.post("/api/v1/imports", headers=h, files={"files": ("orders.csv", GOOD, "text/csv")}).json()
        _finished(api, h, job["job_id"])
    runs = api.get("/api/v1/imports", headers=h).json()["items"]
    assert [r["orders_created"] for r in runs] == [0, 2]
    assert [r["orders_unchanged"] for r in runs] == [2, 0]
    assert len(session.scalars(select(Order).where(Order.external_id.like("G%"))).all()) == 2


def test_unusable_files_are_refused_at_once(api: TestClient, world: World, session: Session) -> None:
    h = world.h("operator")
    err = assert_error(
        api.post("/api/v1/imports", headers=h, files={"files": ("x.csv", b"foo,bar\n1,2\n", "text/csv")}),
        422,
        field="file",
    )
    assert "header row" in err["message"]
    assert_error(
        api.post("/api/v1/imports", headers=h, files={"files": ("empty.csv", b"", "text/csv")}),
        422,
        field="files",
    )
    assert_error(
        api.post(
            "/api/v1/imports",
            headers=h,
            files={"files": ("o.csv", GOOD, "text/csv")},
            data={"format": "myspace"},
        ),
        422,
        field="format",
    )
    assert_error(api.post("/api/v1/imports", headers=h), 422, field="files")
    for name, content in (
        ("orders.csv", bytes(range(256)) * 16),
        ("orders.xlsx", b"PK\x03\x04" + bytes(200)),
    ):
        err = assert_error(
            api.post("/api/v1/imports", headers=h, files={"files": (name, content, "text/csv")}),
            422,
            field="file",
        )
        # The message names the user's file, not the server's temporary folder.
        assert err["message"].startswith(f"{name}: ")
        assert "siyu-upload" not in err["message"]
    assert session.scalars(select(Job)).all() == []
    assert session.scalars(select(ImportRun)).all() == []


def test_file_names_cannot_escape_the_upload_folder(api: TestClient, world: World) -> None:
    resp = api.post(
        "/api/v1/imports",
        headers=world.h("operator"),
        files={"files": ("../../etc/passwd.csv", GOOD, "text/csv")},
    )
    assert resp.status_code == 202
    assert resp.json()["files"] == ["passwd.csv"]


def test_imports_are_for_operators_and_stay_in_their_workspace(api: TestClient, world: World) -> None:
    h = world.h("operator")
    job = api.post("/api/v1/imports", headers=h, files={"files": ("orders.csv", GOOD, "text/csv")}).json()
    run_id = _finished(api, h, job["job_id"])["runs"][0]["id"]
    assert_error(
        api.post("/api/v1/imports", headers=world.h("alice"), files={"files": ("o.csv", GOOD, "text/csv")}),
        403,
    )
    assert_error(api.get(f"/api/v1/imports/{run_id}/errors", headers=world.h("alice")), 403)
    for path in (
        f"/api/v1/imports/{run_id}",
        f"/api/v1/imports/{run_id}/errors",
        f"/api/v1/imports/jobs/{job['job_id']}",
    ):
        assert_error(api.get(path, headers=world.h("other")), 404, "not_found")
    assert api.get("/api/v1/imports", headers=world.h("other")).json()["total"] == 0


def test_an_upload_waits_in_the_queue_for_the_next_worker(
    env: Settings, world: World, session: Session
) -> None:
    """No worker is running (it crashed, or the server runs --no-worker): the upload is
    kept as a queued job, and the next worker imports it."""
    from typer.testing import CliRunner

    from siyu.cli.main import app

    api = client()
    h = world.h("operator")
    job = api.post("/api/v1/imports", headers=h, files={"files": ("orders.csv", GOOD, "text/csv")}).json()
    time.sleep(0.2)
    assert api.get(f"/api/v1/imports/jobs/{job['job_id']}", headers=h).json()["status"] == "queued"
    assert session.scalars(select(ImportRun)).all() == []
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.stdout
    done = api.get(f"/api/v1/imports/jobs/{job['job_id']}", headers=h).json()
    assert done["status"] == "done"
    assert done["runs"][0]["rows_ok"] == 2
