"""WeCom callback processing after the 200: the worker's events/s and SQL statements per event.

Stores N distinct ``add_external_contact`` callbacks for 7 staff (``accept``, as the
endpoint does), then times ``process_pending`` until nothing is pending, counting the
SQL statements sent (savepoints included). Each run uses a fresh database: a temporary
SQLite file, and a throwaway PostgreSQL database when a URL is given.

Run: ``python bench/bench_processing.py [--events 1000] [--pg URL] [--profile]`` or
``make bench`` (which reads ``SIYU_BENCH_PG_URL`` / ``SIYU_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SIYU_ENV", "test")

STAFF = 7


def _store(session_factory: Any, n: int) -> int:
    from siyu.kit.scope import ensure_workspace
    from siyu.wecom.callbacks.inbox import accept
    from tests.wecom.fixtures.callbacks import payload

    with session_factory() as s:
        wid = ensure_workspace(s, "default").id
        s.commit()
        for i in range(n):
            xml = payload(
                "add_external_contact",
                external_userid=f"wmBENCH{i:08d}",
                userid=f"staff{i % STAFF}",
                create_time=1_763_800_000 + i,
                state=f"ch{i % 5}",
            )
            accept(s, workspace_id=wid, xml_text=xml)
        s.commit()
    return wid


def run_one(url: str, events: int, profile: bool = False) -> dict[str, Any]:
    """Store ``events`` callbacks on a migrated ``url``, then process them all; the figures."""
    from sqlalchemy import event
    from sqlalchemy.orm import sessionmaker

    from siyu.kit.db import make_engine
    from siyu.wecom.callbacks.processing import process_pending

    engine = make_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    try:
        _store(factory, events)
        statements = 0

        def count(*_a: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(engine, "before_cursor_execute", count)
        prof = cProfile.Profile() if profile else None
        done = failed = 0
        t = time.perf_counter()
        if prof:
            prof.enable()
        while True:
            summary = process_pending(factory, None, 1000)
            done += summary.processed
            failed += summary.failed
            if summary.total == 0:
                break
        if prof:
            prof.disable()
        secs = time.perf_counter() - t
        event.remove(engine, "before_cursor_execute", count)
        if prof:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    finally:
        engine.dispose()
    return {
        "processed": done,
        "failed": failed,
        "seconds": secs,
        "eps": done / secs if secs else 0.0,
        "statements_per_event": statements / done if done else 0.0,
    }


def run_all(events: int, pg_url: str | None, profile: bool = False) -> list[dict[str, Any]]:
    """One run on a fresh SQLite file, and one on a fresh PostgreSQL database if given."""
    from siyu.kit.migrate import upgrade

    os.environ.setdefault("SIYU_SECRET_KEY", "bench-secret-0123456789abcdef")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        results.append(dict(run_one(url, events, profile), db="SQLite"))
    if pg_url:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_callbacks import _pg_db  # type: ignore[import-not-found]

        url, drop = _pg_db(pg_url)
        try:
            results.append(dict(run_one(url, events, profile), db="PostgreSQL"))
        finally:
            drop()
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| database | callbacks | processed | failed | seconds | events/s | SQL statements/event |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['db']} | {r['processed'] + r['failed']} | {r['processed']} | {r['failed']} | "
            f"{r['seconds']:.2f} | {r['eps']:.0f} | {r['statements_per_event']:.1f} |"
        )
    return "\n".join(lines)


@pytest.mark.bench
def test_callback_processing_benchmark() -> None:
    """Every stored callback is processed; prints the figures for bench/RESULTS.md."""
    pg = os.environ.get("SIYU_BENCH_PG_URL") or os.environ.get("SIYU_TEST_DATABASE_URL")
    events = int(os.environ.get("SIYU_BENCH_EVENTS", "1000"))
    results = run_all(events, pg)
    print("\n" + table(results))
    for r in results:
        assert (r["processed"], r["failed"]) == (events, 0), r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--pg", help="PostgreSQL server URL (a throwaway database is created)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the processing")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.runs):
        print(table(run_all(args.events, args.pg, args.profile)), flush=True)


if __name__ == "__main__":
    main()
