# ruff: noqa: E501
"""Planning a mass send to a large audience over 200 staff accounts: time, peak memory, WeCom calls.

Run: ``.venv/bin/python bench/bench_send.py --customers 1000000`` (default 200,000 on a
shared machine; ``--keep DIR`` reuses the generated database). Data: the audience
benchmark's workspace (``bench_audience.build``: customers with stats, tags, one follow
each over 200 staff accounts), plus a second follow for 10 % of customers, 1 % opted
out, and mass messages received in the last 7 days by 3 % (over the cap of 2). The
send targets everyone (``spent>=0``) with a 10 % holdout. Planning is measured in a
fresh process (peak RSS of that process), as the worker runs it, beside the floor: the
time for the same database to just ``INSERT … SELECT`` the audience into a bare copy of
``send_recipients`` (no index, no foreign key; no removal, sender, holdout or batches),
measured before and after; and the same into ``send_recipients`` itself (its indexes).

``--pg postgresql://...`` also copies the generated data into a fresh PostgreSQL
database (``siyu_bench_send_N``, schema from the migrations, rows through ``COPY``)
and measures there too; ``--keep`` keeps that database for the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_audience import build

from siyu.kit.db import make_engine


def prepare(path: Path, n: int) -> None:
    build(path, n)
    engine = make_engine(f"sqlite:///{path}")
    raw: Any = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            "UPDATE follows SET external_userid = 'wm' || customer_id, added_at = '2026-01-01 00:00:00.000000'"
        )
        cur.execute(
            "INSERT INTO follows (workspace_id, staff_id, customer_id, state, external_userid, added_at)"
            " SELECT 1, (staff_id % 200) + 1, customer_id, 'active', 'wm' || customer_id, '2026-02-01 00:00:00.000000'"
            " FROM follows WHERE customer_id % 10 = 0"
        )
        cur.execute("UPDATE customers SET opt_out = 1 WHERE id % 100 = 7")
        now = datetime.now(UTC)
        rows = []
        for cid in range(3, n + 1, 33):
            for k in range(2):
                at = (now - timedelta(days=1 + k)).strftime("%Y-%m-%d %H:%M:%S.%f")
                rows.append((f"staffmsg{k}", f"wm{cid}", cid, at))
        cur.executemany(
            "INSERT INTO mass_receipts (workspace_id, msgid, external_userid, customer_id, creator, sent_at, created_at)"
            " VALUES (1, ?, ?, ?, 'guide001', ?, CURRENT_TIMESTAMP)",
            rows,
        )
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


# Tables the planner reads, copied to PostgreSQL in this order (foreign keys).
PG_TABLES = (
    "workspaces",
    "tag_groups",
    "tags",
    "staff",
    "customers",
    "customer_stats",
    "customer_scores",
    "customer_tags",
    "follows",
    "mass_receipts",
)


def prepare_pg(sqlite_path: Path, base_url: str, n: int) -> str:
    """A PostgreSQL database holding the SQLite dataset (built once; reused while whole)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from siyu.kit.db import normalise_url
    from siyu.kit.migrate import upgrade

    base = make_url(normalise_url(base_url))
    name = f"siyu_bench_send_{n}"
    url = base.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    if exists:
        probe = make_engine(url)
        with probe.connect() as conn:
            whole = (
                conn.scalar(text("SELECT count(*) FROM bench_done"))
                if conn.scalar(text("SELECT to_regclass('bench_done') IS NOT NULL"))
                else 0
            )
        probe.dispose()
        if whole:
            admin.dispose()
            return url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    upgrade(url)
    lite = sqlite3.connect(sqlite_path)
    engine = make_engine(url)
    raw: Any = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        for table in PG_TABLES:
            cols = [r[1] for r in lite.execute(f"PRAGMA table_info({table})")]
            collist = ", ".join(cols)
            src = lite.execute(f"SELECT {collist} FROM {table}")
            with cur.copy(f"COPY {table} ({collist}) FROM STDIN") as copy:
                while rows := src.fetchmany(50_000):
                    for row in rows:
                        copy.write_row(row)
            if "id" in cols:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
        cur.execute("CREATE TABLE bench_done (n integer)")
        cur.execute("INSERT INTO bench_done VALUES (1)")
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
        lite.close()
    return url


def _new_send(s: Session) -> Any:
    from siyu.models import Send

    send = Send(
        workspace_id=1,
        kind="customer",
        title="bench",
        text="hi",
        audience="spent>=0",
        holdout_pct=10,
        holdout_seed=42,
        status="scheduled",
        counts={},
        content_ids=[],
        group_filter={},
    )
    s.add(send)
    s.flush()
    return send


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _server_cpu(s: Session) -> float:
    """CPU seconds of this session's PostgreSQL backend so far (same machine: /proc), else 0."""
    if s.get_bind().dialect.name != "postgresql":
        return 0.0
    from sqlalchemy import text

    pid = s.scalar(text("SELECT pg_backend_pid()"))
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


FLOOR_TABLE = "bench_floor_recipients"


def _vacuum(engine: Any) -> None:
    """PostgreSQL: clear the dead rows earlier rolled-back inserts left in send_recipients
    (else the next plan's cap count walks a million dead index entries). SQLite: nothing."""
    if engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM send_recipients"))


def floor(engine: Any, *, bare: bool) -> tuple[float, float]:
    """(wall, CPU seconds) to just INSERT … SELECT the audience into recipient rows.

    ``bare``: into a copy of ``send_recipients`` made in the same (rolled-back)
    transaction, with no index and no foreign key (the same id default on PostgreSQL);
    else into ``send_recipients`` itself. No removal, sender, holdout or batches.
    CPU: this process's, plus on PostgreSQL the server backend's (read from /proc)."""
    from sqlalchemy import MetaData, Table, insert, literal, text

    from siyu.automation.sends.planner import audience_query
    from siyu.models import SendRecipient

    _vacuum(engine)
    with Session(engine) as s:
        send = _new_send(s)
        now = datetime.now(UTC)
        stamp = literal(now, type_=SendRecipient.__table__.c.created_at.type)
        aud = audience_query(s, send, now).subquery()
        target: Any = SendRecipient.__table__
        if bare:
            if engine.dialect.name == "postgresql":
                s.execute(text(f"CREATE TABLE {FLOOR_TABLE} (LIKE send_recipients INCLUDING DEFAULTS)"))
            else:
                s.execute(text(f"CREATE TABLE {FLOOR_TABLE} AS SELECT * FROM send_recipients WHERE 0"))
            target = Table(FLOOR_TABLE, MetaData(), autoload_with=s.connection())
        t0, c0, d0 = time.perf_counter(), _cpu(), _server_cpu(s)
        s.execute(
            insert(target).from_select(
                ["workspace_id", "send_id", "customer_id", "arm", "created_at"],
                select(literal(1), literal(send.id), aud.c.id, literal("target"), stamp),
            )
        )
        wall, cpu = time.perf_counter() - t0, _cpu() - c0 + _server_cpu(s) - d0
        s.rollback()
    return wall, cpu


def measure(url: str) -> dict[str, Any]:
    """Plan one send (in this fresh process) and report the figures, between two floors."""
    from siyu.automation.sends.knobs import OutboundKnobs
    from siyu.automation.sends.planner import plan_customers
    from siyu.models import SendRecipient

    engine = make_engine(url)
    floor_before = floor(engine, bare=True)
    table_before = floor(engine, bare=False)
    _vacuum(engine)
    with Session(engine) as s:
        send = _new_send(s)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0, c0, d0 = time.perf_counter(), _cpu(), _server_cpu(s)
        report = plan_customers(s, send, OutboundKnobs(quiet_start=None, quiet_end=None), datetime.now(UTC))
        s.flush()
        plan_s, plan_cpu = time.perf_counter() - t0, _cpu() - c0
        server_cpu = _server_cpu(s) - d0
        stored = s.scalar(
            select(func.count()).select_from(SendRecipient).where(SendRecipient.send_id == send.id)
        )
        s.rollback()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    floor_after = floor(engine, bare=True)
    table_after = floor(engine, bare=False)
    _vacuum(engine)
    engine.dispose()
    return {
        "plan_s": round(plan_s, 2),
        "plan_cpu_s": round(plan_cpu, 2),
        "plan_server_cpu_s": round(server_cpu, 2),
        "floor_s": [round(floor_before[0], 2), round(floor_after[0], 2)],
        "floor_cpu_s": [round(floor_before[1], 2), round(floor_after[1], 2)],
        "into_table_s": [round(table_before[0], 2), round(table_after[0], 2)],
        "into_table_cpu_s": [round(table_before[1], 2), round(table_after[1], 2)],
        "peak_rss_mb": round(rss1 / 1024, 1),
        "rss_before_mb": round(rss0 / 1024, 1),
        "stored_recipients": stored,
        **report.as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--keep", type=Path)
    parser.add_argument(
        "--pg", help="also measure on PostgreSQL (a server URL; the bench makes its own database)"
    )
    parser.add_argument("--skip-sqlite", action="store_true", help="with --pg: measure PostgreSQL only")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    folder = args.keep or Path(tempfile.mkdtemp(prefix="siyu-bench-send-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"send-{args.customers}.db"
    if not path.exists():
        t0 = time.perf_counter()
        partial = path.with_suffix(".partial")  # a killed build never passes for a whole one
        partial.unlink(missing_ok=True)
        prepare(partial, args.customers)
        partial.rename(path)
        print(f"built {args.customers:,} customers in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    targets = [] if args.skip_sqlite else [("sqlite", f"sqlite:///{path}")]
    if args.pg:
        t0 = time.perf_counter()
        targets.append(("postgresql", prepare_pg(path, args.pg, args.customers)))
        print(f"PostgreSQL dataset ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    for database, url in targets:
        out = subprocess.run(
            [sys.executable, __file__, "--measure", url],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            json.dumps(
                {"customers": args.customers, "database": database, **figures}, indent=2, ensure_ascii=False
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
