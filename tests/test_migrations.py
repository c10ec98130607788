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
