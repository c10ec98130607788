"""Audience count through HTTP (``GET /api/v1/segments/count``) vs the CLI's count path.

Run: ``.venv/bin/python bench/bench_web_count.py [--customers N] [--keep DIR]``, or
``make bench`` (1M customers).

Same workspace as ``bench_audience.py`` (built by its generator; ``--keep`` reuses the
file). siyu's app is served by uvicorn on a loopback port in this process, so both sides
read the same in-process audience index (built once first, as the background build
would). Two sides count the same expressions, alternating run by run (medians):

- **CLI path**: ``siyu.segments.audience.scoped.count(session, WholeWorkspace(1), expr)``,
  what ``siyu segments count`` runs after its start-up (each CLI process would build
  its own index; that start-up is not what this compares);
- **HTTP**: ``GET /api/v1/segments/count?q=…`` with an admin's bearer token over one
  keep-alive connection: routing, token check, a session per request (the commit at
  its end), the same count, JSON. The response must say ``answered_by: index``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_audience import EXPRESSIONS, build  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(url: str) -> tuple[subprocess.Popen[bytes], int]:
    """``siyu serve`` in its own process, as in production; returns it and its port."""
    port = _free_port()
    env = {**os.environ, "SIYU_DATABASE_URL": url, "SIYU_LOG_LEVEL": "WARNING"}
    env.setdefault("SIYU_ENV", "development")
    siyu = Path(sys.executable).with_name("siyu")
    proc = subprocess.Popen(
        [str(siyu), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("siyu serve did not start")
        time.sleep(0.2)


def _token(url: str) -> str:
    from sqlalchemy import delete

    from siyu.kit.db import get_engine, session_scope
    from siyu.models import User
    from siyu.web.auth import create_user

    engine = get_engine()
    assert str(engine.url) == url or engine.url.database == url.split("///", 1)[1], engine.url
    with session_scope() as s:
        s.execute(delete(User).where(User.name == "bench-admin"))
    with session_scope() as s:
        _, token = create_user(s, workspace_id=1, name="bench-admin", role="admin", password=None)
    return token


def _race(sides: list[Callable[[], int]], runs: int) -> list[tuple[float, int]]:
    """Median ms and result of each side; runs alternate so that both see the same load."""
    results = [side() for side in sides]
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(runs):
        for i, side in enumerate(sides):
            t0 = time.perf_counter()
            results[i] = side()
            times[i].append((time.perf_counter() - t0) * 1000)
    return [(statistics.median(t), r) for t, r in zip(times, results, strict=True)]


def run(n: int, keep: Path | None, runs: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    folder = keep or Path(tempfile.mkdtemp(prefix="siyu-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"audience-{n}.db"
    if not path.exists():
        t0 = time.perf_counter()
        build(path, n)
        print(f"built {n:,} customers in {time.perf_counter() - t0:.0f} s: {path}", file=sys.stderr)
    url = f"sqlite:///{path}"
    os.environ["SIYU_DATABASE_URL"] = url
    from siyu.config import get_settings

    get_settings.cache_clear()
    token = _token(url)
    proc, port = _serve(url)
    try:
        from sqlalchemy.orm import Session

        from siyu.customers.visibility import WholeWorkspace
        from siyu.kit.db import get_engine
        from siyu.segments.audience import index, scoped

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {token}"}

        def get(path: str, hdrs: dict[str, str]) -> http.client.HTTPResponse:
            nonlocal conn
            try:
                conn.request("GET", path, headers=hdrs)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionError):
                # uvicorn closes a keep-alive connection idle for 5 s (while we build)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conn.request("GET", path, headers=hdrs)
                return conn.getresponse()

        def get_count(expr: str) -> dict[str, Any]:
            resp = get("/api/v1/segments/count?q=" + quote(expr), headers)
            body: dict[str, Any] = json.loads(resp.read())
            assert resp.status == 200, body
            return body

        # The server builds its index in the background on the first count (as after
        # any start); wait for it. Meanwhile build the CLI side's own, timed.
        first = next(iter(EXPRESSIONS.values()))
        t0 = time.perf_counter()
        get_count(first)
        engine = get_engine()
        with Session(engine) as session:
            t1 = time.perf_counter()
            built = index._build(session, 1)
            session.rollback()
        idx = index.workspace_index(engine, 1)
        with idx.lock:
            idx._install(*built)
        figures: dict[str, Any] = {"build_s": time.perf_counter() - t1}
        while get_count(first)["answered_by"] != "index":
            if time.perf_counter() - t0 > 900:
                raise RuntimeError("the server's audience index was not ready in 15 minutes")
            time.sleep(0.5)
        figures["server_ready_s"] = time.perf_counter() - t0
        answered: list[str] = []

        def over_http(expr: str) -> int:
            body = get_count(expr)
            answered.append(body["answered_by"])
            return int(body["count"])

        def floor() -> int:
            get("/healthz", {}).read()
            return 0

        rows = []
        with Session(engine) as session:

            def cli_path(expr: str) -> int:
                got = scoped.count(session, WholeWorkspace(1), expr)
                session.rollback()  # each CLI command is its own transaction
                answered.append(got.source)
                return got.count

            for label, expr in EXPRESSIONS.items():
                (cli_ms, cli_n), (http_ms, http_n), (floor_ms, _) = _race(
                    [lambda e=expr: cli_path(e), lambda e=expr: over_http(e), floor], runs
                )
                rows.append({"expression": label, "text": expr, "count": cli_n, "http_count": http_n,
                             "cli_ms": cli_ms, "http_ms": http_ms, "floor_ms": floor_ms})  # fmt: skip
        figures["all_from_index"] = set(answered) == {"index"}
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rows, figures


def report(rows: list[dict[str, Any]], figures: dict[str, Any], n: int) -> str:
    lines = [
        f"{n:,} customers, SQLite, median of repeated runs (index build {figures['build_s']:.1f} s; "
        f"server's index ready {figures['server_ready_s']:.1f} s after its first count; "
        f"every answer from the index: {figures['all_from_index']})",
        "| expression | matches | CLI path (ms) | GET /api/v1/segments/count (ms) | GET /healthz (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        figures_ms = f"{r['cli_ms']:.1f} | {r['http_ms']:.1f} | {r['floor_ms']:.1f}"
        lines.append(f"| `{r['text']}` | {r['count']:,} | {figures_ms} |")
    return "\n".join(lines)


@pytest.mark.bench
def test_web_count_1m(tmp_path: Path) -> None:
    """``make bench``: 1M customers (SIYU_BENCH_DIR keeps the database between runs).

    Both doors agree, both are answered by the index, HTTP stays under 50 ms.
    """
    n = 1_000_000
    keep = os.environ.get("SIYU_BENCH_DIR")
    rows, figures = run(n, Path(keep) if keep else tmp_path, runs=9)
    print(report(rows, figures, n))
    assert figures["all_from_index"], figures
    for r in rows:
        assert r["count"] == r["http_count"], r
        assert r["http_ms"] < 50, r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the generated database in")
    args = parser.parse_args()
    rows, figures = run(args.customers, args.keep, args.runs)
    print(report(rows, figures, args.customers))
    bad = [r for r in rows if r["count"] != r["http_count"]]
    if bad or not figures["all_from_index"]:
        sys.exit(f"doors disagree or an answer did not come from the index: {bad} {figures}")


if __name__ == "__main__":
    main()
