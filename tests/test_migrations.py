"""The schema is built by the migrations, which match the models exactly."""

from __future__ import annotations

from sqlalchemy import inspect

from siyu.config import Settings
from siyu.kit.db import get_engine
from siyu.kit.migrate import check, current_revision, downgrade, upgrade
from siyu.models import Base


def test_models_and_migrations_do_not_drift(env: Settings) -> None:
    check(env.database_url)


def test_downgrade_to_base_and_up_again(env: Settings) -> None:
    downgrade(env.database_url, "base")
    assert current_revision(env.database_url) is None
    upgrade(env.database_url)
    tables = set(inspect(get_engine()).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_db_upgrade_command(cli, env: Settings) -> None:  # type: ignore[no-untyped-def]
    result = cli("db", "upgrade")
    assert "database at revision" in result.stdout
    cli("db", "check")


def test_healthz(env: Settings) -> None:
    from fastapi.testclient import TestClient

    from siyu.web.app import create_app

    with TestClient(create_app()) as client:
        resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


def test_every_workspace_table_is_indexed_by_workspace_once(env: Settings) -> None:
    """Each table is reachable by workspace through an index (deleting a brand cascades
    through it), and none keeps a single-column workspace index that a composite index
    or unique key leading with ``workspace_id`` already covers: it would only slow writes."""
    insp = inspect(get_engine())
    for table in Base.metadata.sorted_tables:
        if "workspace_id" not in table.c or not table.c.workspace_id.foreign_keys:
            continue  # journals and queues that only note a workspace
        keys = [ix["column_names"] for ix in insp.get_indexes(table.name)]
        keys += [uq["column_names"] for uq in insp.get_unique_constraints(table.name)]
        leading = [k for k in keys if k and k[0] == "workspace_id"]
        assert leading, f"{table.name}: no index leads with workspace_id"
        if any(len(k) > 1 for k in leading):
            assert ["workspace_id"] not in leading, f"{table.name}: redundant workspace_id index"
