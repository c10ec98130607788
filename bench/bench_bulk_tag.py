"""Bulk tag of a whole expression result: 100,000 customers, through the console's service.

Run: ``.venv/bin/python bench/bench_bulk_tag.py`` (``--customers N``), or ``make bench``.

siyu: ``siyu.customers.selection.bulk_tag`` with an expression that matches everyone —
keyset batches of 2,000 ids, each tagged by ``siyu.customers.tags.add_tags`` (so the
audience change journal notes each customer). Peer: the floor, one
``INSERT INTO customer_tags SELECT ... FROM customers`` on the same database (which the
journal could only note as "everything changed").
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from siyu.kit.db import make_engine
from siyu.kit.migrate import upgrade


def _setup(path: Path, n: int) -> tuple[str, int, int]:
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO workspaces (slug, name, timezone, settings, created_at) "
                "VALUES ('bench', 'bench', 'Asia/Shanghai', '{}', '2026-01-01 00:00:00')"
            )
        )
        ws = conn.execute(text("SELECT id FROM workspaces WHERE slug='bench'")).scalar_one()
        conn.exec_driver_sql(
            "INSERT INTO customers (workspace_id, name, gender, opt_out, created_at, updated_at) "
            "VALUES (?, ?, 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            [(ws, f"客户{i}") for i in range(n)],
        )
    with Session(engine) as s:
        from siyu.customers.tags import ensure_tag

        tag = ensure_tag(s, workspace_id=ws, name="大促")
        s.commit()
        return url, ws, tag.id


def run(n: int) -> dict[str, float]:
    from siyu.customers.selection import Caller, Selection, bulk_tag

    with tempfile.TemporaryDirectory() as tmp:
        url, ws, tag_id = _setup(Path(tmp) / "b.db", n)
        engine = make_engine(url)
        with Session(engine) as s:
            t0 = time.perf_counter()
            r = bulk_tag(s, Caller(ws, "bench"), Selection(expression="NOT tag:大促"), tag_ids=[tag_id])
            s.commit()
            siyu_s = time.perf_counter() - t0
            assert r.changed == n
            s.execute(text("DELETE FROM customer_tags"))
            s.commit()
            t0 = time.perf_counter()
            s.execute(
                text(
                    "INSERT INTO customer_tags (workspace_id, customer_id, tag_id, source, created_at) "
                    f"SELECT workspace_id, id, {tag_id}, 'manual', '2026-01-01' FROM customers"
                )
            )
            s.commit()
            floor_s = time.perf_counter() - t0
            assert s.scalar(select(func.count()).select_from(text("customer_tags"))) == n
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"customers": n, "siyu_s": siyu_s, "floor_s": floor_s, "peak_rss_mb": rss_mb}


@pytest.mark.bench
def test_bulk_tag_100k() -> None:
    result = run(100_000)
    print(result)
    assert result["siyu_s"] < 60


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    print(run(parser.parse_args().customers))
