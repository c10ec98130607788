"""The transaction boundary on SQLite: writes that pysqlite would not open a transaction for."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from siyu.config import Settings
from siyu.kit.db import begin_write, session_factory


def test_begin_write_holds_the_write_lock_until_commit(env: Settings) -> None:
    """Once begun, nothing another connection commits can make this transaction's writes fail."""
    if not env.database_url.startswith("sqlite"):
        pytest.skip("pysqlite's transactions")
    path = make_url(env.database_url).database
    assert path is not None
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with session_factory()() as session:
            begin_write(session)
            # A read first, then a write starting with WITH (as the stats statements do).
            session.execute(text("SELECT count(*) FROM workspaces")).scalar_one()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute(
                    "INSERT INTO workspaces (slug, name, timezone, settings, created_at) "
                    "VALUES ('x', 'x', 'Asia/Shanghai', '{}', '2026-01-01 00:00:00.000000')"
                )
            mine = (
                "WITH n(slug) AS (SELECT 'mine') "
                "INSERT INTO workspaces (slug, name, timezone, settings, created_at) "
                "SELECT slug, slug, 'Asia/Shanghai', '{}', '2026-01-01 00:00:00.000000' FROM n"
            )
            session.execute(text(mine))
            session.rollback()
        # Rolled back with the transaction, and the lock is free again.
        assert other.execute("SELECT count(*) FROM workspaces WHERE slug = 'mine'").fetchone() == (0,)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
