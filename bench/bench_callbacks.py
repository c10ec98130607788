"""WeCom callback ingest: verified + decrypted + persisted events/s and p99, vs a bare 200.

The server (uvicorn, one process, loopback) and the load generator (wrk with a Lua
script, or a Python asyncio client when wrk is missing) run as separate processes. Each
run is bounded by an event count and a time limit. Bodies are pre-encrypted, distinct
add_external_contact events, so every request goes through the whole verify → decrypt
→ parse → insert → commit path (no dedup shortcut).

Modes:
- ``bare-asgi``: a raw ASGI app that reads the body and answers 200 (the server
  stack's ceiling: siyu's callback fast path also runs in front of FastAPI);
- ``bare``: a FastAPI endpoint that reads the body and answers 200;
- ``ingest``: siyu's endpoint, processing left to a worker (a production option);
- ``full``: siyu's endpoint with processing in the same process after the 200.

With ``--with-import N`` each siyu run is measured twice on each database, back to
back: alone (the control, same machine, same minute) and while another process imports
an N-order Taobao file (``bench/gen_taobao.py``) into another workspace of the same
database, as a brand's back office would. During both, a sampler reads
``pg_stat_activity`` / ``pg_locks`` every 20 ms (PostgreSQL): what the callback
INSERTs were waiting on (lock, WAL, I/O) and whether any backend waited for a lock.

Run: ``python bench/bench_callbacks.py [--events 6000] [--pg URL] [--with-import 200000]``
or ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORP_ID = "ww5f3c1a0d7e2b9c4a"
TOKEN = "bench-token"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SECRET = "bench-secret-0123456789abcdef"
TARGET_EPS = 2000
TARGET_P99_MS = 50.0

LUA = r"""
local bodies, paths, n = {}, {}, 0
local counter = 0
exhausted = 0  -- global: read back from each thread in done()
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    local p, b = line:match("^([^\t]+)\t(.*)$")
    n = n + 1; paths[n] = p; bodies[n] = b
  end
  f:close()
end
function request()
  counter = counter + 1
  if counter > n then
    -- Out of distinct bodies: the run is count-bound (its rate is then not comparable).
    exhausted = 1
    wrk.thread:stop()
    counter = n
  end
  return wrk.format("POST", paths[counter], {["Content-Type"] = "text/xml"}, bodies[counter])
end
function done(summary, latency, requests)
  local ex = 0
  for _, t in ipairs(threads) do
    if t:get("exhausted") == 1 then ex = 1 end
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.stderr:write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d, "max_us": %d, "exhausted": %d}\n',
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(99), latency.max, ex))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(db_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SIYU_DATABASE_URL": db_url,
        "SIYU_SECRET_KEY": SECRET,
        "SIYU_ENV": "test",
        "SIYU_WECOM_CORP_ID": CORP_ID,
        "SIYU_WECOM_TOKEN": TOKEN,
        "SIYU_WECOM_AES_KEY": AES_KEY,
        "SIYU_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


async def _bare_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: raw ASGI on the same uvicorn stack, reads the body, answers 200."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    more = scope["method"] == "POST"
    while more:
        more = (await receive()).get("more_body", False)
    body = b"success" if scope["method"] == "POST" else b'{"status":"ok"}'
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def app_factory() -> Any:
    """The app under test for ``BENCH_MODE``, primed and settled as `siyu serve` does."""
    from siyu.web.cli import settle_heap

    app = _build_app()
    if not os.environ.get("BENCH_MODE", "bare").startswith("bare"):
        from siyu.wecom.endpoints import prime

        prime()
    settle_heap()
    return app


def _build_app() -> Any:
    """The app under test for ``BENCH_MODE`` (uvicorn factory, so it can run workers)."""
    mode = os.environ.get("BENCH_MODE", "bare")
    if mode == "bare-asgi":
        return _bare_asgi
    if mode == "bare":
        app = FastAPI()

        @app.post("/wecom/callback")
        async def bare(request: Request) -> PlainTextResponse:
            await request.body()
            return PlainTextResponse("success")

        @app.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        return app
    from siyu.web.app import create_app

    app = create_app()
    app.state.wecom_process_in_background = mode == "full"
    return app


def serve(mode: str, port: int, workers: int, stack: str = "fast") -> None:
    """Run the server for one mode (in its own process; ``workers`` uvicorn processes).

    ``stack`` "fast" is what ``siyu serve`` runs (uvloop + httptools when installed),
    "plain" is asyncio + h11; bare and siyu's endpoint always share the stack.
    """
    import uvicorn

    from siyu.web.cli import run_workers, server_options

    os.environ["BENCH_MODE"] = mode
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)  # the workers import bench_callbacks (spawn copies sys.path)
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "access_log": False,
        **server_options(fast=stack == "fast"),
    }
    if workers > 1:  # as `siyu serve --workers N` runs them
        run_workers("bench_callbacks:app_factory", workers=workers, **options)
    else:
        uvicorn.run("bench_callbacks:app_factory", factory=True, **options)


def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("bench server exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("bench server did not start within 60 s")


def make_bodies(path: Path, n: int, run_id: str) -> None:
    """n distinct, pre-encrypted callbacks as "path-with-query<TAB>body" lines."""
    from urllib.parse import urlencode

    from siyu.wecom.crypto import CallbackCrypto

    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    now = int(time.time())
    with path.open("w") as f:
        for i in range(n):
            xml = (
                f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]>"
                f"</FromUserName><CreateTime>{now + i // 100}</CreateTime>"
                "<MsgType><![CDATA[event]]></MsgType>"
                "<Event><![CDATA[change_external_contact]]></Event>"
                "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
                f"<UserID><![CDATA[staff{i % 50:02d}]]></UserID>"
                f"<ExternalUserID><![CDATA[wm{run_id}{i:08d}]]></ExternalUserID>"
                f"<State><![CDATA[bench_{i % 7}]]></State></xml>"
            )
            body, q = crypto.build_post_body(xml, timestamp=now, agent_id="1000002")
            f.write(f"/wecom/callback?{urlencode(q)}\t{body}\n")


def _load_wrk(port: int, bodies: Path, connections: int, max_seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(LUA)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max_seconds}s",
                "--timeout",
                "5s",
                "-s",
                lua.name,
                f"http://127.0.0.1:{port}",
                "--",
                str(bodies),
            ],
            capture_output=True,
            text=True,
            timeout=max_seconds + 30,
            check=True,
        )
    finally:
        os.unlink(lua.name)
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("{")][-1]
    r = json.loads(line)
    return {
        "requests": r["requests"],
        "errors": r["errors"],
        "seconds": r["duration_us"] / 1e6,
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "tool": "wrk",
        "exhausted": bool(r["exhausted"]),
    }


def _load_python(
    port: int, bodies: Path, connections: int, max_seconds: int, rate: float = 0.0
) -> dict[str, Any]:
    """Fallback load generator (a separate Python process) when wrk is not installed.

    ``rate`` > 0 paces the requests (that many per second in all, spread over the
    connections) instead of sending as fast as answers come: latency is then measured
    from each request's scheduled time (a late send counts as waiting), the figure a
    sender at a steady rate sees rather than a saturated server's queue.
    """
    code = r"""
import asyncio, json, sys, time
import httpx
port, path, conns, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rate = float(sys.argv[5])
items = [ln.rstrip("\n").split("\t", 1) for ln in open(path)]
lat, errors = [], 0
async def main():
    global errors
    it = iter(items)
    start = time.perf_counter()
    end = start + limit
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5,
                                 limits=httpx.Limits(max_connections=conns)) as c:
        async def worker(w):
            global errors
            k = 0
            for p, b in it:
                if time.perf_counter() > end: return
                t = time.perf_counter()
                if rate > 0:
                    due = start + (k * conns + w) / rate
                    k += 1
                    if due > t:
                        await asyncio.sleep(due - t)
                    t = due
                try:
                    r = await c.post(p, content=b.encode())
                    if r.status_code != 200: errors += 1
                except httpx.HTTPError:
                    errors += 1
                lat.append(time.perf_counter() - t)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(conns)))
        return time.perf_counter() - t0
secs = asyncio.run(main())
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
print(json.dumps({"requests": len(lat), "errors": errors, "seconds": secs, "p50_ms": pick(.5),
                  "p99_ms": pick(.99), "max_ms": lat[-1] * 1000, "tool": "python-httpx"}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(port), str(bodies), str(connections), str(max_seconds), str(rate)],
        capture_output=True,
        text=True,
        timeout=max_seconds + 60,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (uvicorn workers), Linux."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the name: fields[1] is the parent pid, fields[11:13] utime and stime.
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _stored(db_url: str) -> int:
    from sqlalchemy import func, select

    from siyu.kit.db import make_engine
    from siyu.models import WeComCallback

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(WeComCallback)).scalar() or 0)
    finally:
        engine.dispose()


def drain(db_url: str, limit: int) -> dict[str, Any]:
    """Time the `process-callbacks` worker on what an ingest run left pending."""
    from sqlalchemy.orm import sessionmaker

    from siyu.kit.db import make_engine
    from siyu.wecom.callbacks.processing import process_pending

    engine = make_engine(db_url)
    try:
        t = time.perf_counter()
        summary = process_pending(sessionmaker(bind=engine, expire_on_commit=False), None, limit)
        secs = time.perf_counter() - t
    finally:
        engine.dispose()
    return {"processed": summary.processed, "failed": summary.failed, "seconds": secs}


IMPORT_CHILD = """
import sys, time
from siyu.orders.service import import_orders
t = time.perf_counter()
s = import_orders([sys.argv[1]], workspace_slug="bench-import", progress=False, actor="bench")[0]
print(f"import finished: {s.orders_created} orders in {time.perf_counter() - t:.1f} s", flush=True)
"""


def _import_file(orders: int) -> Path:
    """The Taobao file the concurrent import reads (generated once into bench/out/)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gen_taobao import generate

    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ExportOrderList_bench_{orders}_{max(1, orders // 5)}_7.csv"
    if not path.exists():
        generate(path, orders=orders, customers=max(1, orders // 5), seed=7)
    return path


def _orders_in(db_url: str) -> int:
    from sqlalchemy import func, select

    from siyu.kit.db import make_engine
    from siyu.models import Order

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Order)).scalar() or 0)
    finally:
        engine.dispose()


class _WaitSampler:
    """What PostgreSQL backends of the bench database wait on, sampled every 20 ms.

    ``callback_waits`` counts, per ``wait_event_type:wait_event``, the samples of active
    backends running the inbox INSERT; ``lock_waits`` the samples in which any backend
    of the database waited for a heavyweight lock (``pg_locks.granted = false``), with
    the relations named.
    """

    SQL_ACTIVE = (
        "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') FROM pg_stat_activity "
        "WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() "
        "AND query ILIKE 'INSERT INTO wecom_callbacks%'"
    )
    SQL_LOCKS = (
        "SELECT l.locktype || ':' || coalesce(c.relname, '-') FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid LEFT JOIN pg_class c ON c.oid = l.relation "
        "WHERE NOT l.granted AND a.datname = current_database()"
    )

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.stop = threading.Event()
        self.samples = 0
        self.callback_waits: dict[str, int] = {}
        self.lock_samples = 0
        self.locks: dict[str, int] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _WaitSampler:
        if self.db_url.startswith("postgresql"):
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)

    def _run(self) -> None:
        from sqlalchemy import text

        from siyu.kit.db import make_engine

        engine = make_engine(self.db_url)
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                while not self.stop.is_set():
                    self.samples += 1
                    for (w,) in conn.execute(text(self.SQL_ACTIVE)):
                        self.callback_waits[w] = self.callback_waits.get(w, 0) + 1
                    waiting = [w for (w,) in conn.execute(text(self.SQL_LOCKS))]
                    if waiting:
                        self.lock_samples += 1
                        for w in waiting:
                            self.locks[w] = self.locks.get(w, 0) + 1
                    self.stop.wait(0.02)
        finally:
            engine.dispose()

    def summary(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "callback_waits": dict(sorted(self.callback_waits.items(), key=lambda kv: -kv[1])),
            "lock_wait_samples": self.lock_samples,
            "locks": self.locks,
        }


def run_one(
    mode: str,
    db_url: str,
    events: int,
    connections: int,
    max_seconds: int,
    workers: int = 1,
    stack: str = "fast",
    import_file: Path | None = None,
    rate: float = 0.0,
) -> dict[str, Any]:
    """One measured run of one mode against one database (``rate``: see ``_load_python``).

    With ``import_file``, another process imports that order file into another
    workspace of the same database while the load runs (it has a head start until its
    first batch is committed, and is stopped when the load ends).
    """
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="siyu-bench-"))
    bodies = workdir / "bodies.tsv"
    make_bodies(bodies, events, uuid.uuid4().hex[:8])
    before = _stored(db_url) if not mode.startswith("bare") else 0
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve", mode, str(port), str(workers), stack],
        env=_env(db_url),
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "server.log").open("w"),
    )
    importer: subprocess.Popen[bytes] | None = None
    imported: dict[str, Any] = {}
    try:
        _wait_up(port, proc)
        if import_file is not None:
            orders0 = _orders_in(db_url)
            importer = subprocess.Popen(
                [sys.executable, "-c", IMPORT_CHILD, str(import_file)],
                env=_env(db_url),
                stdout=(workdir / "import.log").open("w"),
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + 300
            while _orders_in(db_url) == orders0 and time.monotonic() < deadline:
                if importer.poll() is not None:
                    raise RuntimeError("the concurrent import stopped before its first batch")
                time.sleep(0.2)
            orders1 = _orders_in(db_url)
            t_import = time.perf_counter()
        cpu0 = _cpu_seconds(proc.pid)
        load0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        with _WaitSampler(db_url) as sampler:
            if shutil.which("wrk") and not rate:
                result = _load_wrk(port, bodies, connections, max_seconds)
            else:
                result = _load_python(port, bodies, connections, max_seconds, rate)
        load1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu1 = _cpu_seconds(proc.pid)
        if importer is not None:
            running = importer.poll() is None
            imported = {
                "orders_during_load": _orders_in(db_url) - orders1,
                "seconds": time.perf_counter() - t_import,
                "still_running_at_end": running,
            }
        time.sleep(0.5)  # let full-mode background processing settle before counting
    finally:
        if importer is not None and importer.poll() is None:
            importer.terminate()
            importer.wait(timeout=30)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    ok = result["requests"] - result["errors"]
    result.update(
        mode=mode,
        ok=ok,
        eps=ok / result["seconds"] if result["seconds"] else 0.0,
        # Server CPU per answered request: the figure that does not depend on wall time.
        server_cpu_s=cpu1 - cpu0,
        cpu_ms=(cpu1 - cpu0) * 1000 / max(ok, 1),
        load_cpu_s=(load1.ru_utime + load1.ru_stime) - (load0.ru_utime + load0.ru_stime),
    )
    if db_url.startswith("postgresql"):
        result["waits"] = sampler.summary()
    if imported:
        result["import"] = imported
    if not mode.startswith("bare"):
        result["stored"] = _stored(db_url) - before
    if mode == "ingest":
        result["worker"] = drain(db_url, limit=min(result["stored"], 1000))
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def _sqlite_db(tmp: Path) -> str:
    from siyu.kit.migrate import upgrade

    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    return url


def _pg_db(base_url: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from siyu.kit.db import normalise_url
    from siyu.kit.migrate import upgrade

    base = make_url(normalise_url(base_url))
    name = f"siyu_bench_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


MODES = ("ingest", "full")


def run_all(
    events: int,
    connections: int,
    max_seconds: int,
    pg_url: str | None,
    workers: int = 1,
    stack: str = "fast",
    modes: tuple[str, ...] = MODES,
    with_import: int = 0,
    repeat: int = 1,
    databases: tuple[str, ...] = ("sqlite", "postgresql"),
    rate: float = 0.0,
) -> list[dict[str, Any]]:
    """Bare peer, then each of ``modes`` on SQLite (and PostgreSQL when given).

    ``with_import`` (orders): each siyu run alone, then beside a concurrent import of a
    file of that many orders, ``repeat`` times alternately.
    """
    os.environ["SIYU_SECRET_KEY"] = SECRET  # the worker must hash identities like the server
    import_file = _import_file(with_import) if with_import else None

    def one(mode: str, url: str, db: str, beside: Path | None = None) -> dict[str, Any]:
        r = run_one(mode, url, events, connections, max_seconds, workers, stack, beside, rate)
        return dict(r, db=db if beside is None else f"{db}, import running", stack=stack)

    def each(mode: str, url: str, db: str) -> list[dict[str, Any]]:
        if import_file is None:
            return [one(mode, url, db)]
        out: list[dict[str, Any]] = []
        for _ in range(repeat):
            out += [one(mode, url, db), one(mode, url, db, import_file)]
        return out

    results = [one("bare-asgi", "sqlite://", "-"), one("bare", "sqlite://", "-")]
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory() as tmp:
            url = _sqlite_db(Path(tmp))
            results += [r for mode in modes for r in each(mode, url, "SQLite")]
    if pg_url and "postgresql" in databases:
        url, drop = _pg_db(pg_url)
        try:
            results += [r for mode in modes for r in each(mode, url, "PostgreSQL")]
        finally:
            drop()
    return results


def table(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (server CPU ms per answered request included)."""
    lines = [
        "| endpoint | stack | database | events | ok | stored | events/s | p50 ms | p99 ms | max ms "
        "| server CPU ms/req | wrk CPU s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['mode']} | {r.get('stack', 'fast')} | {r['db']} | {r['requests']} | {r['ok']} | "
            f"{r.get('stored', '-')} | {r['eps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['max_ms']:.1f} | {r['cpu_ms']:.3f} | {r['load_cpu_s']:.1f} |"
        )
    for r in results:
        waits, imp = r.get("waits"), r.get("import")
        if waits:
            top = ", ".join(f"{k} {v}" for k, v in list(waits["callback_waits"].items())[:5]) or "none seen"
            lines.append(
                f"\n{r['mode']} on {r['db']}: {waits['samples']} samples of pg_stat_activity; the inbox "
                f"INSERTs seen active: {top}; samples with a backend waiting for a lock: "
                f"{waits['lock_wait_samples']} {waits['locks'] or ''}"
            )
        if imp:
            lines.append(
                f"\nconcurrent import: {imp['orders_during_load']} orders committed in "
                f"{imp['seconds']:.1f} s while the load ran "
                f"(still running at the end: {imp['still_running_at_end']})"
            )
    for r in results:
        w = r.get("worker")
        if w:
            lines.append(
                f"\nWorker (`process-callbacks`) on {r['db']}: {w['processed']} callbacks processed "
                f"in {w['seconds']:.1f} s = {w['processed'] / w['seconds']:.0f} events/s"
                f" (failed: {w['failed']})"
            )
    return "\n".join(lines)


@pytest.mark.bench
def test_callback_ingest_benchmark() -> None:
    """Every 200 is a stored callback; prints the figures for bench/RESULTS.md."""
    pg = os.environ.get("SIYU_BENCH_PG_URL") or os.environ.get("SIYU_TEST_DATABASE_URL")
    results = run_all(
        events=int(os.environ.get("SIYU_BENCH_EVENTS", "30000")), connections=32, max_seconds=10, pg_url=pg
    )
    print("\n" + table(results))
    for r in results:
        if not r["mode"].startswith("bare"):
            # Every answered 200 is a persisted callback (requests still in flight when the
            # load tool stops may be stored without being counted, hence >=).
            assert r["stored"] >= r["ok"], r


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("serve")
    s.add_argument("mode", choices=["bare", "bare-asgi", *MODES])
    s.add_argument("port", type=int)
    s.add_argument("workers", type=int, nargs="?", default=1)
    s.add_argument("stack", nargs="?", default="fast", choices=["fast", "plain"])
    parser.add_argument("--events", type=int, default=30000, help="distinct callbacks per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10, help="time limit per run")
    parser.add_argument("--workers", type=int, default=1, help="server processes (as siyu serve --workers)")
    parser.add_argument("--pg", default=os.environ.get("SIYU_BENCH_PG_URL"), help="PostgreSQL server URL")
    parser.add_argument(
        "--stack",
        default=["fast"],
        nargs="+",
        choices=["fast", "plain"],
        help="server stack(s): fast = uvloop + httptools (what `siyu serve` runs), plain = asyncio + h11",
    )
    parser.add_argument(
        "--modes", default=list(MODES), nargs="+", choices=list(MODES), help="siyu modes to run beside bare"
    )
    parser.add_argument(
        "--with-import",
        type=int,
        default=0,
        metavar="ORDERS",
        help="measure each siyu run alone and beside a concurrent import of a file of this many orders",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="alone/with-import pairs per mode (with --with-import)"
    )
    parser.add_argument(
        "--databases",
        default=["sqlite", "postgresql"],
        nargs="+",
        choices=["sqlite", "postgresql"],
        help="databases to run the siyu modes on (PostgreSQL needs --pg)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests per second in all, paced (Python load generator); 0: as fast as answered",
    )
    args = parser.parse_args()
    if args.cmd == "serve":
        serve(args.mode, args.port, args.workers, args.stack)
        return
    results: list[dict[str, Any]] = []
    for stack in args.stack:
        results += run_all(
            args.events,
            args.connections,
            args.seconds,
            args.pg,
            args.workers,
            stack,
            tuple(args.modes),
            args.with_import,
            args.repeat,
            tuple(args.databases),
            args.rate,
        )
    print(table(results))
    print(
        f"\ntarget: >= {TARGET_EPS} events/s and p99 < {TARGET_P99_MS:.0f} ms "
        "(verified + decrypted + persisted)"
    )


if __name__ == "__main__":
    main()
