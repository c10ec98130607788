"""Order import: siyu's Taobao import into a fresh SQLite vs plain bulk-load floors.

Run: ``.venv/bin/python bench/bench_import.py`` (``--orders N`` for a smaller run,
``--profile`` to see where siyu's time goes, ``--limit S`` to stop siyu after S seconds
and measure what it committed), or ``make bench`` (``SIYU_BENCH_ORDERS``,
``SIYU_BENCH_LIMIT``). The 1M-order GBK file
is generated once by ``bench/gen_taobao.py`` into ``bench/out/`` and reused.

Each contender runs in a child process of its own, so its peak RSS
(``ru_maxrss``) is its own: interpreter, libraries and work included.

- siyu: ``siyu.orders.service.import_orders`` — header detection, cell cleaning, money
  and date parsing, OneID (phone HMAC + Taobao member names), orders, customers and
  maintained stats, committed per batch. Large files are parsed in a second process
  (``siyu.orders.pipeline``): siyu's CPU seconds and peak RSS are both processes'.
- floor A: pandas ``read_csv`` (GBK, all text) + ``sqlite3.executemany`` into one raw
  table in the same SQLite settings: no parsing, no identities, no stats — the cost of
  moving the bytes into SQLite from Python.
- storage floor: the rows siyu's import stored (customers, identities, orders, events,
  stats…) copied by SQLite itself (``INSERT … SELECT`` from the attached siyu database,
  one transaction per siyu batch of 10,000 rows, the import connection's pragmas) into
  a fresh database with siyu's schema: no Python per row, no parsing, no OneID logic.
  No importer that writes siyu's schema into SQLite in transactions of that size on
  this machine can be faster than this. Variants (``--storage-cache-mib``,
  ``--storage-txn-rows``, ``--storage-drop``) change one thing each: the page cache,
  the rows per transaction, or which indexes exist.
- bind floor: the same stored rows read back as ready tuples and bound into a fresh
  database from Python by ``sqlite3.executemany`` (the cost any Python importer pays
  to hand SQLite its rows), once with ``customer_stats`` bound like the rest and once
  computed from the stored orders by siyu's set-based SQL, as an importer that keeps
  exact stats must. No parsing, no OneID, no conversions.
- floor B: DuckDB ``read_csv`` into a DuckDB table. DuckDB cannot read GBK without
  its ``encodings`` extension (downloaded from the internet), so the file is first
  transcoded to UTF-8; that time is included.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "bench"))

from gen_taobao import Generated, generate  # noqa: E402

from siyu.kit.db import BULK_CACHE_KIB  # noqa: E402
from siyu.orders.service import BATCH_SIZE  # noqa: E402

# The goal (issue 19, item 17): at least half the storage floor's speed, same run.
TARGET_SHARE_OF_FLOOR = 0.5
# The storage floor commits as often as siyu's import does (one batch per transaction).
STORAGE_TXN_ROWS = BATCH_SIZE
# The indexes on customer ids: the storage floor's variant without them (--storage-drop).
PER_CUSTOMER_INDEXES = "ix_orders_customer_id_paid_at,ix_events_customer_id_occurred_at"
TARGET_RSS_MB = 500
BIND_LABELS = {
    "copy": "bind floor: siyu's stored rows bound from Python (sqlite3 executemany)",
    "compute": "bind floor, stats computed from the orders (siyu's SQL)",
}

SIYU_CHILD = """
import cProfile, json, pstats, resource, sys, time
from siyu.kit.migrate import upgrade
from siyu.orders.service import import_orders
path, url, profile = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
upgrade(url)
prof = cProfile.Profile() if profile else None
t, c = time.perf_counter(), time.process_time()
if prof:
    prof.enable()
s = import_orders([path], workspace_slug="bench", progress=False, actor="bench")[0]
if prof:
    prof.disable()
dt, cpu = time.perf_counter() - t, time.process_time() - c
# The parser process (siyu.orders.pipeline) is a child: its CPU time counts too.
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
parser_cpu = kids.ru_utime + kids.ru_stime
if prof:
    pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
print(json.dumps({"seconds": dt, "cpu_seconds": cpu + parser_cpu, "writer_cpu_seconds": cpu,
                  "parser_cpu_seconds": parser_cpu, "parser_rss_kb": kids.ru_maxrss,
                  "rows": s.rows_total, "created": s.orders_created,
                  "failed": s.rows_failed, "customers": s.customers_created,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

# Another writer beside the import, as siyu's WeCom callback writer is: every 50 ms it
# takes its turn at SQLite's write lock (``siyu.kit.db.local_write_lock``), then the lock
# itself, writes one tiny row and records how long it waited for both.
PROBE_CHILD = """
import sqlite3, sys, time
from siyu.kit.db import local_write_lock, make_engine
db = sys.argv[1]
turn = local_write_lock(make_engine(f"sqlite:///{db}"))
conn = sqlite3.connect(db, isolation_level=None, timeout=600)
while True:
    t = time.perf_counter()
    with turn:
        conn.execute("BEGIN IMMEDIATE")
        waited = time.perf_counter() - t
        conn.execute("INSERT INTO bench_probe (at, waited_s) VALUES (?, ?)", (time.time(), waited))
        conn.execute("COMMIT")
    time.sleep(0.05)
"""

PANDAS_CHILD = """
import json, resource, sqlite3, sys, time
import pandas as pd
path, db = sys.argv[1], sys.argv[2]
t, c = time.perf_counter(), time.process_time()
conn = sqlite3.connect(db)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
rows = 0
insert = None
for chunk in pd.read_csv(path, encoding="gbk", dtype=str, keep_default_na=False, chunksize=50_000):
    if insert is None:
        cols = ", ".join(f"c{i} TEXT" for i in range(len(chunk.columns)))
        conn.execute(f"CREATE TABLE raw ({cols})")
        insert = f"INSERT INTO raw VALUES ({', '.join('?' * len(chunk.columns))})"
    conn.executemany(insert, chunk.itertuples(index=False, name=None))
    conn.commit()
    rows += len(chunk)
dt, cpu = time.perf_counter() - t, time.process_time() - c
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "cpu_seconds": cpu, "rows": rows, "rss_kb": rss}))
"""

STORAGE_CHILD = """
import json, resource, sqlite3, sys, time
from siyu.kit.db import BULK_CACHE_KIB, BULK_CHECKPOINT_PAGES
from siyu.kit.migrate import upgrade
from siyu.models import Base
src, db, cache_kib, step = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
dropped = [name for name in sys.argv[5].split(",") if name]
upgrade(f"sqlite:///{db}")
conn = sqlite3.connect(db, isolation_level=None)
for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL",
               f"cache_size=-{cache_kib}", f"wal_autocheckpoint={BULK_CHECKPOINT_PAGES}"):
    conn.execute(f"PRAGMA {pragma}")
for name in dropped:  # a variant: what these indexes cost (an unknown name fails loudly)
    conn.execute(f'DROP INDEX "{name}"')
conn.execute("ATTACH ? AS src", (src,))
copied, table_cpu = {}, {}
t, c = time.perf_counter(), time.process_time()
for table in Base.metadata.sorted_tables:
    name = table.name
    if conn.execute(f"SELECT 1 FROM main.{name} LIMIT 1").fetchone():
        continue  # seeded by the migrations (none of the import's rows)
    top = conn.execute(f"SELECT max(rowid) FROM src.{name}").fetchone()[0]
    if not top:
        continue
    cols = ", ".join(f'"{col.name}"' for col in table.columns)
    c1 = time.process_time()
    for lo in range(0, top, step):
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO main.{name} ({cols}) SELECT {cols} FROM src.{name} "
                     "WHERE rowid > ? AND rowid <= ?", (lo, lo + step))
        conn.execute("COMMIT")
    table_cpu[name] = round(time.process_time() - c1, 2)
    copied[name] = conn.execute(f"SELECT count(*) FROM main.{name}").fetchone()[0]
dt, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": dt, "cpu_seconds": cpu, "tables": copied, "table_cpu_seconds": table_cpu,
                  "orders": copied.get("orders", 0),
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

# The bind floor: what any Python importer pays to store siyu's rows, with no parsing
# and no decisions. The rows siyu stored are read back as ready-made tuples (SQLite's
# own storage values: no datetime or JSON conversion left to do) and bound into a fresh
# database with siyu's schema by ``sqlite3.executemany``, one transaction per batch of
# 10,000 rows, the import connection's pragmas. ``customer_stats`` is either bound like
# the rest ("copy") or computed from the stored orders by siyu's own set-based SQL
# (``refresh_stats``, per 5,000 customers: "compute"), as an importer that keeps exact
# stats must. Reading the tuples back is timed apart and left out of its figures.
BIND_CHILD = """
import json, resource, sqlite3, sys, time
from sqlalchemy.orm import Session
from siyu.customers.stats import refresh_stats
from siyu.kit.db import BULK_CACHE_KIB, BULK_CHECKPOINT_PAGES, make_engine, tune_for_bulk_writes
from siyu.kit.migrate import upgrade
from siyu.models import Base
from siyu.orders.service import STATS_CHUNK
src, db, step, stats = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
upgrade(f"sqlite:///{db}")
conn = sqlite3.connect(db, isolation_level=None)
for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL",
               f"cache_size=-{BULK_CACHE_KIB}", f"wal_autocheckpoint={BULK_CHECKPOINT_PAGES}"):
    conn.execute(f"PRAGMA {pragma}")
reader = sqlite3.connect(src)
copied, table_cpu = {}, {}
fetch_s = fetch_cpu = 0.0
t, c = time.perf_counter(), time.process_time()
for table in Base.metadata.sorted_tables:
    name = table.name
    if conn.execute(f"SELECT 1 FROM main.{name} LIMIT 1").fetchone():
        continue  # seeded by the migrations (none of the import's rows)
    if name == "customer_stats" and stats == "compute":
        continue
    cols = [col.name for col in table.columns]
    listed = ", ".join(f'"{col}"' for col in cols)
    insert = f"INSERT INTO {name} ({listed}) VALUES ({', '.join('?' * len(cols))})"
    cur = reader.execute(f"SELECT {listed} FROM {name} ORDER BY rowid")
    c1, f1 = time.process_time(), fetch_cpu
    n = 0
    while True:
        w0, c0 = time.perf_counter(), time.process_time()
        rows = cur.fetchmany(step)
        fetch_s += time.perf_counter() - w0
        fetch_cpu += time.process_time() - c0
        if not rows:
            break
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
        n += len(rows)
    if n:
        table_cpu[name] = round(time.process_time() - c1 - (fetch_cpu - f1), 2)
        copied[name] = n
if stats == "compute":
    c1 = time.process_time()
    engine = make_engine(f"sqlite:///{db}")
    for (ws,) in conn.execute("SELECT DISTINCT workspace_id FROM customers").fetchall():
        ids = [i for (i,) in conn.execute(
            "SELECT id FROM customers WHERE workspace_id = ? AND merged_into_id IS NULL ORDER BY id", (ws,))]
        for lo in range(0, len(ids), STATS_CHUNK):
            with Session(engine) as session:
                tune_for_bulk_writes(session)
                refresh_stats(session, workspace_id=ws, customer_ids=ids[lo:lo + STATS_CHUNK])
                session.commit()
    table_cpu["customer_stats (computed)"] = round(time.process_time() - c1, 2)
    copied["customer_stats"] = conn.execute("SELECT count(*) FROM customer_stats").fetchone()[0]
dt, cpu = time.perf_counter() - t - fetch_s, time.process_time() - c - fetch_cpu
print(json.dumps({"seconds": dt, "cpu_seconds": cpu, "tables": copied, "table_cpu_seconds": table_cpu,
                  "fetch_seconds_left_out": round(fetch_s, 2),
                  "fetch_cpu_seconds_left_out": round(fetch_cpu, 2),
                  "orders": copied.get("orders", 0),
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

DUCKDB_CHILD = """
import json, resource, sys, time
import duckdb
path, utf8, db = sys.argv[1], sys.argv[2], sys.argv[3]
t, c = time.perf_counter(), time.process_time()
with open(path, encoding="gbk", newline="") as src, open(utf8, "w", encoding="utf-8", newline="") as dst:
    while chunk := src.read(1 << 22):
        dst.write(chunk)
transcode = time.perf_counter() - t
con = duckdb.connect(db)
con.execute("CREATE TABLE raw AS SELECT * FROM read_csv(?, all_varchar = true, header = true)", [utf8])
rows = con.execute("SELECT count(*) FROM raw").fetchone()[0]
con.close()
dt, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": dt, "cpu_seconds": cpu, "transcode_seconds": transcode, "rows": rows,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _child(
    code: str, *args: str, env: dict[str, str] | None = None, limit: float | None = None
) -> dict[str, Any]:
    """Run one contender; past ``limit`` seconds it is stopped and ``timed_out`` is set."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # Killed children report nothing themselves: take their CPU and peak RSS from
        # the kernel's accounting of waited-for children (start-up included).
        return {
            "timed_out": True,
            "seconds": time.perf_counter() - started,
            "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "rss_kb": after.ru_maxrss,
        }
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}):\n{err[-4000:]}")
    if err.strip():
        print(err, file=sys.stderr)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def data_file(orders: int, customers: int, seed: int = 7) -> Generated:
    """The benchmark's Taobao file (generated once, then reused from bench/out/)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"ExportOrderList_bench_{orders}_{customers}_{seed}.csv"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return Generated(path, m["orders"], m["customers"], m["paid_fen"], m["refunded_fen"], m["seconds"])
    g = generate(path, orders=orders, customers=customers, seed=seed)
    meta.write_text(json.dumps({k: v for k, v in g.__dict__.items() if k != "path"}))
    return g


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def _check_siyu_db(db: Path, g: Generated) -> dict[str, int]:
    """The import must be right before it is fast: orders and money to the fen."""
    with sqlite3.connect(db) as conn:
        n, paid, refunded = conn.execute(
            "SELECT count(*), sum(paid_fen), sum(refunded_fen) FROM orders"
        ).fetchone()
        customers = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        # "Everything changed" notes in the audience change journal: each costs every
        # process's audience index a rebuild (exact notes cost a reload of those customers).
        sql = "SELECT count(*) FROM audience_changes WHERE customer_id IS NULL"
        everything = conn.execute(sql).fetchone()[0]
    assert n == g.orders, f"{n} orders in the database, {g.orders} in the file"
    assert (paid, refunded) == (g.paid_fen, g.refunded_fen), "money differs from the file"
    return {"orders": n, "customers": customers, "journal_everything_notes": everything}


def run(
    orders: int,
    customers: int,
    *,
    profile: bool = False,
    peers: bool = True,
    limit: float | None = None,
    storage_caches: tuple[int, ...] = (),
    storage_txn_rows: tuple[int, ...] = (),
    storage_drops: tuple[str, ...] = (),
    writer_probe: bool = False,
) -> dict[str, Any]:
    """Generate (once) and import the file with siyu and the floors; returns the figures.

    With ``limit``, a siyu import still running after that many seconds is stopped and
    measured on the orders it committed (each batch commits on its own).
    The storage floor commits every ``STORAGE_TXN_ROWS`` rows, as siyu's import does,
    with siyu's page cache. Variants, each one change from that: ``storage_caches``
    (MiB) another page cache; ``storage_txn_rows`` another number of rows per
    transaction; ``storage_drops`` (comma-separated index names) without those indexes.
    ``writer_probe`` runs another writer beside siyu's import (a tiny transaction every
    50 ms) and reports how long it had to wait for SQLite's write lock.
    """
    g = data_file(orders, customers)
    size_mb = g.path.stat().st_size / 2**20
    print(f"file: {g.path.name}, {g.orders:,} orders, {size_mb:.0f} MiB", flush=True)
    results: dict[str, Any] = {"orders": g.orders, "customers": g.customers, "file_mb": round(size_mb)}
    # Per-run names: several people may benchmark at once on a shared machine.
    tag = f"{orders}_{os.getpid()}"
    db = _fresh(OUT / f"bench_import_siyu_{tag}.db")
    env = {
        "SIYU_DATABASE_URL": f"sqlite:///{db}",
        "SIYU_ENV": "development",
        "SIYU_SECRET_KEY": "bench-secret-0123456789abcdef",
    }
    flag = "1" if profile else "0"
    probe = None
    if writer_probe:
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE bench_probe (at REAL NOT NULL, waited_s REAL NOT NULL)")
        probe = subprocess.Popen([sys.executable, "-c", PROBE_CHILD, str(db)], cwd=ROOT)
    try:
        siyu = _child(SIYU_CHILD, str(g.path), env["SIYU_DATABASE_URL"], flag, env=env, limit=limit)
    finally:
        if probe is not None:
            probe.terminate()
            probe.wait()
    if probe is not None:
        with sqlite3.connect(db) as conn:
            waits = sorted(w for (w,) in conn.execute("SELECT waited_s FROM bench_probe"))
        siyu["probe"] = {
            "writes": len(waits),
            "max_wait_s": waits[-1],
            "p99_wait_s": waits[int(len(waits) * 0.99)],
            "waits_over_1s": sum(w > 1 for w in waits),
        }
    if siyu.get("timed_out"):
        with sqlite3.connect(db) as conn:
            siyu["orders"] = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
            siyu["customers"] = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    else:
        assert siyu["failed"] == 0, f"{siyu['failed']} rows refused"
        siyu.update(_check_siyu_db(db, g))
    results["siyu"] = siyu
    print(f"siyu: {siyu}", flush=True)
    if peers and not siyu.get("timed_out"):
        floor_db = _fresh(OUT / f"bench_import_storage_{tag}.db")
        base_mib = BULK_CACHE_KIB // 1024
        variants = [
            ("storage", "storage floor: siyu's stored rows copied by SQLite", base_mib, STORAGE_TXN_ROWS, "")
        ]
        variants += [
            (f"storage_{mib}", f"storage floor, {mib} MiB page cache", mib, STORAGE_TXN_ROWS, "")
            for mib in storage_caches
        ]
        variants += [
            (f"storage_txn_{n}", f"storage floor, {n:,} rows per transaction", base_mib, n, "")
            for n in storage_txn_rows
        ]
        variants += [
            (
                f"storage_drop_{i}",
                f"storage floor without {', '.join(d.split(','))}",
                base_mib,
                STORAGE_TXN_ROWS,
                d,
            )
            for i, d in enumerate(storage_drops)
        ]
        for key, label, mib, step, dropped in variants:
            x = _child(STORAGE_CHILD, str(db), str(floor_db), str(mib * 1024), str(step), dropped, env=env)
            x["label"] = label
            results[key] = x
            print(f"{label}: {x}", flush=True)
            _fresh(floor_db)
        for stats in ("copy", "compute"):
            x = _child(BIND_CHILD, str(db), str(floor_db), str(STORAGE_TXN_ROWS), stats, env=env)
            x["label"] = BIND_LABELS[stats]
            results[f"bind_{stats}"] = x
            print(f"{x['label']}: {x}", flush=True)
            _fresh(floor_db)
    if peers:
        pandas_db = _fresh(OUT / f"bench_import_pandas_{tag}.db")
        results["pandas_sqlite"] = _child(PANDAS_CHILD, str(g.path), str(pandas_db))
        print(f"pandas + sqlite3: {results['pandas_sqlite']}", flush=True)
        _fresh(pandas_db)
        if importlib.util.find_spec("duckdb") is None:
            print("duckdb: not installed (the bench extra), peer skipped", flush=True)
        else:
            utf8 = OUT / f"bench_import_utf8_{tag}.csv"
            duck_db = _fresh(OUT / f"bench_import_{tag}.duckdb")
            results["duckdb"] = _child(DUCKDB_CHILD, str(g.path), str(utf8), str(duck_db))
            utf8.unlink(missing_ok=True)
            print(f"duckdb: {results['duckdb']}", flush=True)
            _fresh(duck_db)
    _fresh(db)
    return results


def _rss_mb(x: dict[str, Any]) -> float:
    """Peak RSS in MB; siyu's writer and parser processes summed (an upper bound)."""
    return float(x["rss_kb"] + x.get("parser_rss_kb", 0)) / 1024


def report(r: dict[str, Any]) -> str:
    """A Markdown table for bench/RESULTS.md."""
    n = r["orders"]
    lines = [
        f"{n:,} orders ({r['file_mb']} MiB GBK, {r['customers']:,} buyers) into a fresh database; "
        f"{os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f} at the end), "
        f"Python {platform.python_version()}. CPU s is the contender's own user+sys time, "
        "which other processes on a shared machine do not inflate.",
        "",
        "| contender | wall s | orders/s (wall) | CPU s | orders per CPU-s | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    floors = {k: x["label"] for k, x in r.items() if k.startswith(("storage", "bind_"))}
    names = (
        {"siyu": "siyu import (OneID + stats)"}
        | floors
        | {
            "pandas_sqlite": "pandas + sqlite3 executemany (raw rows)",
            "duckdb": "DuckDB read_csv (incl. GBK→UTF-8)",
        }
    )
    for key, label in names.items():
        if key in r:
            x = r[key]
            done = x.get("orders", n)
            rate, cpu_rate = done / x["seconds"], done / x["cpu_seconds"]
            lines.append(
                f"| {label} | {x['seconds']:.1f} | {rate:,.0f} | {x['cpu_seconds']:.1f} | {cpu_rate:,.0f} "
                f"| {_rss_mb(x):.0f} |"
            )
    s = r["siyu"]
    rate = s["orders"] / s["seconds"]
    lines.append("")
    if s.get("timed_out"):
        lines.append(
            f"siyu was stopped after {s['seconds']:.0f} s with {s['orders']:,} of {n:,} orders committed; "
            "its figures are over those orders (start-up included)."
        )
    if "storage" in r and not s.get("timed_out"):
        f = r["storage"]
        wall_share, cpu_share = f["seconds"] / s["seconds"], f["cpu_seconds"] / s["cpu_seconds"]
        met = wall_share >= TARGET_SHARE_OF_FLOOR and _rss_mb(s) < TARGET_RSS_MB
        lines.append(
            f"Goal ≥ {TARGET_SHARE_OF_FLOOR:.0%} of the storage floor (same run) and peak RSS < "
            f"{TARGET_RSS_MB} MB: siyu {'meets' if met else 'misses'} it ({rate:,.0f} orders/s = "
            f"{wall_share:.0%} of the floor by wall time, {cpu_share:.0%} by CPU time; {_rss_mb(s):.0f} MB)."
        )
    if "bind_compute" in r and "storage" in r and not s.get("timed_out"):
        f, b = r["storage"], r["bind_compute"]
        lines.append(
            f"The bind floor with exact stats (no parsing, no OneID, no Python per row beyond "
            f"handing ready tuples to sqlite3) runs at {f['seconds'] / b['seconds']:.0%} of the storage "
            f"floor by wall time ({f['cpu_seconds'] / b['cpu_seconds']:.0%} by CPU); siyu runs at "
            f"{b['seconds'] / s['seconds']:.0%} of it by wall time."
        )
    if s.get("probe"):
        pr = s["probe"]
        lines.append(
            f"Another writer beside the import (a tiny transaction every 50 ms, {pr['writes']:,} of them) "
            f"waited at most {pr['max_wait_s']:.2f} s for SQLite's write lock (p99 {pr['p99_wait_s']:.2f} s; "
            f"{pr['waits_over_1s']} waits over 1 s)."
        )
    if s.get("parser_rss_kb"):
        lines.append(
            f"siyu's CPU and RSS are its two processes together: writer {s['writer_cpu_seconds']:.1f} CPU s "
            f"and {s['rss_kb'] / 1024:.0f} MB, parser {s['parser_cpu_seconds']:.1f} CPU s and "
            f"{s['parser_rss_kb'] / 1024:.0f} MB (peak RSS summed: an upper bound)."
        )
    return "\n".join(lines)


@pytest.mark.bench
def test_order_import_1m() -> None:
    orders = int(os.environ.get("SIYU_BENCH_ORDERS", "1000000"))
    limit = os.environ.get("SIYU_BENCH_LIMIT")
    r = run(
        orders,
        max(1, orders // 5),
        limit=float(limit) if limit else None,
        # What bounds the floor: the rows per transaction, and the two indexes on
        # customer ids (random keys in file order).
        storage_txn_rows=(orders,),
        storage_drops=(PER_CUSTOMER_INDEXES,),
    )
    print(report(r))
    assert r["siyu"].get("timed_out") or r["siyu"]["orders"] == orders


def main() -> None:
    parser = argparse.ArgumentParser(description="Order import benchmark (siyu vs bulk-load floors).")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None, help="default: orders / 5")
    parser.add_argument("--profile", action="store_true", help="cProfile siyu's import (slower)")
    parser.add_argument("--no-peers", action="store_true", help="measure siyu only")
    parser.add_argument("--limit", type=float, default=None, help="stop siyu after this many seconds")
    parser.add_argument(
        "--storage-cache-mib", type=int, action="append", default=[],
        help="also run the storage floor with this SQLite page cache (MiB); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--storage-txn-rows", type=int, action="append", default=[],
        help=f"also run the storage floor committing every N rows (siyu: {STORAGE_TXN_ROWS:,}); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--writer-probe", action="store_true",
        help="run another writer beside siyu's import and report its longest wait for the write lock",
    )  # fmt: skip
    parser.add_argument(
        "--storage-drop", action="append", default=[], metavar="INDEX[,INDEX]",
        help="also run the storage floor without these indexes of siyu's schema; repeatable",
    )  # fmt: skip
    args = parser.parse_args()
    r = run(
        args.orders,
        args.customers or max(1, args.orders // 5),
        profile=args.profile,
        peers=not args.no_peers,
        limit=args.limit,
        storage_caches=tuple(args.storage_cache_mib),
        storage_txn_rows=tuple(args.storage_txn_rows),
        storage_drops=tuple(args.storage_drop),
        writer_probe=args.writer_probe,
    )
    print()
    print(report(r))
    (OUT / f"bench_import_{args.orders}.json").write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
