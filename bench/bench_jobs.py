"""The job runner and the event outbox: jobs/s, p99 lateness and events/s, beside pgqueuer.

1. **Scheduled jobs on PostgreSQL.** N no-op short jobs, all due at one instant T a few
   seconds ahead, inserted with one ``INSERT ... SELECT generate_series``; two worker
   processes (started and connected before T) each loop ``siyu.worker.queue.run_short``
   until nothing is left. Beside it, in the same throwaway database: pgqueuer, N no-op
   jobs enqueued in batches with ``execute_after`` = T, two consumer processes running
   ``QueueManager.run(mode=drain)``. Figures: jobs/s = N / (last finish - T) and the
   p99 lateness (finish - T: ``finished_at - run_after`` for siyu, the ``successful``
   log row's time for pgqueuer).
2. **SQLite**: the same jobs, one runner in this process, on a temporary file.
3. **Event fan-out**: N events inserted first, then ``siyu.worker.outbox.deliver`` to
   three no-op subscribers (registered in ``siyu.kit.ops.REGISTRY`` for the bench) until
   all have every event, on both databases.

Each run uses a fresh database: a temporary SQLite file, and a throwaway PostgreSQL
database on the given server.

Run: ``python bench/bench_jobs.py [--jobs 100000] [--events 100000] [--pg URL]
[--batch 200] [--pgq-batch 10]`` or ``make bench`` (which reads ``SIYU_BENCH_PG_URL`` /
``SIYU_TEST_DATABASE_URL``, ``SIYU_BENCH_JOBS``, ``SIYU_BENCH_FANOUT_EVENTS``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SIYU_ENV", "test")

KIND = "bench.noop"
EVENT_KIND = "bench.ping"
SUBSCRIBERS = ("bench.sub1", "bench.sub2", "bench.sub3")
PGQ_ENTRYPOINT = "bench_noop"
WORKERS = 2


# --- helpers ----------------------------------------------------------------------------


def _sleep_until(at: float) -> None:
    while (left := at - time.time()) > 0:
        time.sleep(min(left, 0.5))


def _p(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _sqlite_text(at: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime in SQLite (naive text)."""
    return at.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _lead(n: int) -> float:
    """Seconds from now to T: room for queueing ``n`` jobs (the workers are waiting)."""
    return 3.0 + n * 60e-6


class _BackendCPU:
    """CPU seconds a PostgreSQL backend on this machine spends from T on (from /proc).

    Sampled every 0.2 s in a thread, since a backend's process is gone once its
    connection closes."""

    def __init__(self, pid: int | None, at: float) -> None:
        self.pid = pid
        self.first: float | None = None
        self.last: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(at,), daemon=True)
        if pid is not None:
            self._thread.start()

    def _read(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _run(self, at: float) -> None:
        _sleep_until(at)
        self.first = self.last = self._read()
        while not self._stop.wait(0.2):
            self.last = self._read() or self.last

    def stop(self) -> float | None:
        """The backend's CPU seconds since T (None: not on this machine, or not PostgreSQL)."""
        if self.pid is None:
            return None
        self.last = self._read() or self.last
        self._stop.set()
        self._thread.join(timeout=1)
        if self.first is None or self.last is None:
            return None
        return self.last - self.first


# --- siyu jobs --------------------------------------------------------------------------


def _noop_job(_ctx: Any) -> None:
    return None


def _insert_jobs(url: str, n: int, at: datetime) -> float:
    """Queue ``n`` no-op jobs due at ``at`` in one statement; seconds it took."""
    from sqlalchemy import text

    from siyu.kit.db import make_engine

    engine = make_engine(url)
    t = time.perf_counter()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "INSERT INTO jobs (workspace_id, kind, payload, status, run_after, attempts, "
                    "max_attempts, created_at) SELECT NULL, :kind, '{}'::jsonb, 'queued', :at, 0, 5, now() "
                    "FROM generate_series(1, :n)"
                ),
                {"kind": KIND, "at": at, "n": n},
            )
        else:
            conn.execute(
                text(
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
                    "INSERT INTO jobs (workspace_id, kind, payload, status, run_after, attempts, "
                    "max_attempts, created_at) SELECT NULL, :kind, '{}', 'queued', :at, 0, 5, :at FROM s"
                ),
                {"kind": KIND, "at": _sqlite_text(at), "n": n},
            )
    secs = time.perf_counter() - t
    with engine.connect() as conn:
        conn.execute(text("ANALYZE jobs"))
        conn.commit()
    engine.dispose()
    return secs


def siyu_worker(url: str, at: float | None, batch: int, ready: Any = None) -> dict[str, Any]:
    """One worker: connect, wait for T, then ``run_short`` until nothing is left.

    ``at`` None: T is read from stdin after saying ``ready``. Counts the SQL statements
    it sends (a savepoint would be one: SQLAlchemy emits it only once a handler uses the
    session, so these no-op jobs have none; a pool checkout's ping is not counted)."""
    from sqlalchemy import event
    from sqlalchemy.orm import sessionmaker

    from siyu.kit.db import make_engine
    from siyu.kit.ops import JobHandler
    from siyu.worker.queue import run_short

    engine = make_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    table = {KIND: JobHandler(KIND, _noop_job)}
    with engine.connect() as conn:
        pg = engine.dialect.name == "postgresql"
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() if pg else None
    statements = 0

    def count(*_a: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)
    if ready is not None:
        at = ready()
    assert at is not None
    server = _BackendCPU(pid, at)
    _sleep_until(at)
    cpu = time.process_time()
    done = passes = 0
    while True:
        summary = run_short(factory, table, limit=batch)
        if summary.done + summary.retried + summary.failed == 0:
            break
        done += summary.done
        passes += 1
    out = {
        "done": done,
        "batches": passes,
        "statements": statements,
        "cpu": time.process_time() - cpu,
        "server_cpu": server.stop(),
        "wall": time.time() - at,
    }
    engine.dispose()
    return out


def _siyu_lateness(url: str) -> list[float]:
    from sqlalchemy import select

    from siyu.kit.db import make_engine
    from siyu.models import Job

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Job.run_after, Job.finished_at).where(Job.kind == KIND, Job.status == "done")
        ).all()
    engine.dispose()
    return [(f - r).total_seconds() for r, f in rows]


# --- pgqueuer -----------------------------------------------------------------------------


def _dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pgq_install(dsn: str) -> None:
    import asyncpg
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def _pgq_enqueue(dsn: str, n: int, at: datetime, chunk: int = 10_000) -> float:
    """Queue ``n`` no-op jobs due at ``at``; seconds the enqueue took."""
    import asyncpg
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await asyncpg.connect(dsn)
    try:
        queries = Queries(AsyncpgDriver(conn))
        t = time.perf_counter()
        left = n
        while left:
            k = min(chunk, left)
            delay = at - datetime.now(UTC)
            await queries.enqueue([PGQ_ENTRYPOINT] * k, [None] * k, [0] * k, [delay] * k)
            left -= k
        secs = time.perf_counter() - t
        await conn.execute("ANALYZE pgqueuer")
        # The queue rows are deleted as jobs finish: keep each job's due time aside.
        await conn.execute("CREATE TABLE bench_pgq_due AS SELECT id, execute_after FROM pgqueuer")
        return secs
    finally:
        await conn.close()


async def _pgq_consume(dsn: str, batch: int, ready: Any) -> dict[str, Any]:
    import asyncpg
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    conn = await asyncpg.connect(dsn)
    qm = QueueManager(Queries(AsyncpgDriver(conn)))
    done = 0

    @qm.entrypoint(PGQ_ENTRYPOINT)
    async def noop(_job: Job) -> None:
        nonlocal done
        done += 1

    # Connected and registered; T comes on stdin. The queue manager starts before T,
    # finds the jobs deferred and wakes itself at their execute_after.
    pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
    at = float(await asyncio.get_running_loop().run_in_executor(None, ready))
    server = _BackendCPU(pid, at)
    cpu = time.process_time()
    await qm.run(batch_size=batch, mode=QueueExecutionMode.drain)
    return {
        "done": done,
        "cpu": time.process_time() - cpu,
        "server_cpu": server.stop(),
        "wall": time.time() - at,
    }


def pgq_worker(url: str, batch: int, ready: Any) -> dict[str, Any]:
    """One pgqueuer consumer process (uvloop, as ``pgq run`` does), draining the queue."""
    import uvloop

    return uvloop.run(_pgq_consume(_dsn(url), batch, ready))


async def _pgq_lateness(dsn: str) -> list[float]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM l.created - d.execute_after)::float8 AS late "
            "FROM pgqueuer_log l JOIN bench_pgq_due d ON d.id = l.job_id WHERE l.status = 'successful'"
        )
        return [float(r["late"]) for r in rows]
    finally:
        await conn.close()


# --- running the contenders -----------------------------------------------------------------


class _Workers:
    """``WORKERS`` worker processes: started and connected first, then told T on stdin."""

    def __init__(self, which: str, url: str, batch: int) -> None:
        self.which = which
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", which, "--url", url]
        cmd += ["--batch", str(batch)]
        self.procs = [
            subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(WORKERS)
        ]
        for p in self.procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"{which} worker did not start: {line!r}")

    def go(self, at: float) -> list[dict[str, Any]]:
        """Tell every worker T (epoch seconds); their figures once they are done."""
        if time.time() > at:
            for p in self.procs:
                p.kill()
            raise RuntimeError(f"{self.which}: queueing the jobs took past T; raise _lead()")
        outs = []
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(f"{at!r}\n")
            p.stdin.flush()
        for p in self.procs:
            stdout, _ = p.communicate()
            if p.returncode:
                raise RuntimeError(f"{self.which} worker exited with {p.returncode}")
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
        return outs


def _figures(
    name: str,
    db: str,
    n: int,
    batch: int,
    lateness: list[float],
    workers: list[dict[str, Any]],
    insert_s: float,
) -> dict[str, Any]:
    last = max(lateness) if lateness else float("nan")
    return {
        "contender": name,
        "db": db,
        "jobs": n,
        "done": len(lateness),
        "workers": len(workers),
        "batch": batch,
        "insert_s": insert_s,
        "seconds": last,
        "jps": len(lateness) / last if last else 0.0,
        "p50": _p(lateness, 0.50),
        "p99": _p(lateness, 0.99),
        "cpu": sum(w["cpu"] for w in workers),
        "server_cpu": None
        if any(w.get("server_cpu") is None for w in workers)
        else sum(w["server_cpu"] for w in workers),
        "statements": sum(w.get("statements", 0) for w in workers) / n
        if "statements" in workers[0]
        else None,
    }


def run_siyu_jobs(url: str, db: str, n: int, batch: int, processes: int) -> dict[str, Any]:
    procs = _Workers("siyu", url, batch) if processes else None
    at = datetime.now(UTC) + timedelta(seconds=_lead(n))
    insert_s = _insert_jobs(url, n, at)
    workers = procs.go(at.timestamp()) if procs else [siyu_worker(url, at.timestamp(), batch)]
    lateness = _siyu_lateness(url)
    return _figures("siyu", db, n, batch, lateness, workers, insert_s)


def run_pgq_jobs(url: str, n: int, batch: int) -> dict[str, Any]:
    asyncio.run(_pgq_install(_dsn(url)))
    procs = _Workers("pgq", url, batch)
    at = datetime.now(UTC) + timedelta(seconds=_lead(n) + n * 100e-6)
    insert_s = asyncio.run(_pgq_enqueue(_dsn(url), n, at))
    workers = procs.go(at.timestamp())
    lateness = asyncio.run(_pgq_lateness(_dsn(url)))
    return _figures("pgqueuer 1.6.0", "PostgreSQL", n, batch, lateness, workers, insert_s)


# --- event fan-out ----------------------------------------------------------------------------


def _noop_subscriber(_session: Any, _events: Sequence[Any]) -> None:
    return None


def _register_subscribers() -> None:
    from siyu.kit.ops import REGISTRY, subscriber

    for name in SUBSCRIBERS:
        if name not in REGISTRY.subscribers:
            subscriber(name, kinds=[EVENT_KIND], description="bench: does nothing")(_noop_subscriber)


def run_fanout(url: str, db: str, n: int) -> dict[str, Any]:
    """Insert ``n`` events, then deliver them to the three subscribers; the figures."""
    from sqlalchemy import text
    from sqlalchemy.orm import sessionmaker

    from siyu.kit.db import make_engine
    from siyu.kit.scope import ensure_workspace
    from siyu.worker.outbox import deliver

    _register_subscribers()
    engine = make_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as s:
        wid = ensure_workspace(s, "default").id
        s.commit()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "INSERT INTO events (workspace_id, kind, occurred_at, source, payload, created_at, txid) "
                    "SELECT :w, :kind, now(), 'system', '{}'::jsonb, now(), txid_current() "
                    "FROM generate_series(1, :n)"
                ),
                {"w": wid, "kind": EVENT_KIND, "n": n},
            )
        else:
            conn.execute(
                text(
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
                    "INSERT INTO events (workspace_id, kind, occurred_at, source, payload, created_at) "
                    "SELECT :w, :kind, :at, 'system', '{}', :at FROM s"
                ),
                {"w": wid, "kind": EVENT_KIND, "n": n, "at": _sqlite_text(now)},
            )
    with engine.connect() as conn:
        conn.execute(text("ANALYZE events"))
        conn.commit()
    cpu = time.process_time()
    t = time.perf_counter()
    # As the runner does: deliver until caught up, and again after a pause while
    # PostgreSQL holds events back (an older transaction anywhere on the server is in flight).
    delivered = batches = errors = idle = 0
    deadline = t + 600
    while delivered < 3 * n and time.perf_counter() < deadline:
        summary = deliver(factory, names=list(SUBSCRIBERS), max_batches=10**9)
        delivered += summary.delivered
        batches += summary.batches
        errors += len(summary.errors)
        if not summary.delivered:
            idle += 1
            time.sleep(0.01)
    secs = time.perf_counter() - t
    cpu = time.process_time() - cpu
    engine.dispose()
    return {
        "db": db,
        "events": n,
        "delivered": delivered,
        "batches": batches,
        "idle_polls": idle,
        "errors": errors,
        "seconds": secs,
        "eps": n / secs if secs else 0.0,
        "dps": delivered / secs if secs else 0.0,
        "cpu": cpu,
    }


# --- all of it --------------------------------------------------------------------------------


def _pg_db(pg_url: str) -> tuple[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_callbacks import _pg_db as make  # type: ignore[import-not-found]

    url, drop = make(pg_url)
    return str(url), drop


def run_all(
    jobs: int,
    events: int,
    pg_url: str | None,
    batches: Sequence[int],
    pgq_batches: Sequence[int],
    parts: Sequence[str] = ("pg", "sqlite", "fanout"),
) -> dict[str, list[dict[str, Any]]]:
    from siyu.kit.migrate import upgrade

    os.environ.setdefault("SIYU_SECRET_KEY", "bench-secret-0123456789abcdef")
    out: dict[str, list[dict[str, Any]]] = {"jobs": [], "fanout": []}
    if pg_url and "pg" in parts:
        for pgq_batch in pgq_batches:
            url, drop = _pg_db(pg_url)
            try:
                out["jobs"].append(run_pgq_jobs(url, jobs, pgq_batch))
            finally:
                drop()
            print(table_jobs(out["jobs"][-1:]), flush=True)
        for batch in batches:
            url, drop = _pg_db(pg_url)
            try:
                out["jobs"].append(run_siyu_jobs(url, "PostgreSQL", jobs, batch, WORKERS))
            finally:
                drop()
            print(table_jobs(out["jobs"][-1:]), flush=True)
    if "sqlite" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade(url)
            out["jobs"].append(run_siyu_jobs(url, "SQLite", jobs, batches[0], 0))
    if "fanout" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade(url)
            out["fanout"].append(run_fanout(url, "SQLite", events))
        if pg_url:
            url, drop = _pg_db(pg_url)
            try:
                out["fanout"].append(run_fanout(url, "PostgreSQL", events))
            finally:
                drop()
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table_jobs(results: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "| contender | database | jobs | done | worker processes | batch | insert s | seconds after T "
        "| jobs/s | p50 lateness s | p99 lateness s | worker CPU s | server CPU s | SQL statements/job |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['contender']} | {r['db']} | {r['jobs']} | {r['done']} | {r['workers']} | {r['batch']} | "
            f"{r['insert_s']:.1f} | {r['seconds']:.1f} | {r['jps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['cpu']:.1f} | {_fmt(r['server_cpu'], '.1f')} | {_fmt(r['statements'], '.2f')} |"
        )
    return "\n".join(lines)


def table_fanout(results: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "| database | events | deliveries (3 subscribers) | batches | seconds | events/s (to all three) "
        "| deliveries/s | CPU s | empty polls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['db']} | {r['events']} | {r['delivered']} | {r['batches']} | {r['seconds']:.1f} | "
            f"{r['eps']:.0f} | {r['dps']:.0f} | {r['cpu']:.1f} | {r['idle_polls']} |"
        )
    return "\n".join(lines)


@pytest.mark.bench
def test_job_runner_benchmark() -> None:
    """Every job is done and every event reaches the three subscribers; prints the figures."""
    pg = os.environ.get("SIYU_BENCH_PG_URL") or os.environ.get("SIYU_TEST_DATABASE_URL")
    jobs = int(os.environ.get("SIYU_BENCH_JOBS", "20000"))
    events = int(os.environ.get("SIYU_BENCH_FANOUT_EVENTS", "20000"))
    out = run_all(jobs, events, pg, [200], [10])
    print("\n" + table_jobs(out["jobs"]) + "\n\n" + table_fanout(out["fanout"]))
    for r in out["jobs"]:
        assert r["done"] == jobs, r
    for f in out["fanout"]:
        assert (f["delivered"], f["errors"]) == (3 * events, 0), f


def _worker_main(args: argparse.Namespace) -> None:
    def ready() -> float:
        print("ready", flush=True)
        return float(sys.stdin.readline())

    if args.worker == "siyu":
        out = siyu_worker(args.url, None, args.batch[0], ready)
    else:
        out = pgq_worker(args.url, args.batch[0], ready)
    print(json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--pg", help="PostgreSQL server URL (a throwaway database is created per contender)")
    parser.add_argument(
        "--batch", type=int, action="append", help="siyu's run_short limit (repeat for several runs; 200)"
    )
    parser.add_argument(
        "--pgq-batch", type=int, action="append", help="pgqueuer's batch_size (repeat for several runs; 10)"
    )
    parser.add_argument("--only", action="append", choices=["pg", "sqlite", "fanout"])
    parser.add_argument("--worker", choices=["siyu", "pgq"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker_main(args)
        return
    out = run_all(
        args.jobs,
        args.events,
        args.pg,
        args.batch or [200],
        args.pgq_batch or [10],
        args.only or ("pg", "sqlite", "fanout"),
    )
    print("\n" + table_jobs(out["jobs"]) + "\n\n" + table_fanout(out["fanout"]), flush=True)


if __name__ == "__main__":
    main()
