# ruff: noqa: E501  (long literal SQL reads better unwrapped)
"""Audience count on a 1,000,000-customer SQLite workspace vs a hand-written SQL query.

Run: ``.venv/bin/python bench/bench_audience.py`` (``--customers N`` for a smaller
run; ``--keep DIR`` reuses the generated database between runs), or ``make bench``.

Data: customers with stats and scores, ~3 tags each over 50 tags (skewed: a few tags
are common, most are rare, as in real shops), a follow per customer. Every side counts
the same expressions on the same database file: our full path answered by the audience
index (parse, read the change journal, resolve names, evaluate), the same path with
the index switched off (the SQL compiler), and the bare SQL a DBA would write (EXISTS
per tag). Also: the index's build time and memory, and the cost of bringing it up to
date after 1,000 customers changed in another session.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from siyu.kit.db import make_engine
from siyu.kit.migrate import upgrade
from siyu.kit.timeutil import day_start_utc, local_day
from siyu.models import AudienceChange, CustomerStats
from siyu.segments.audience import count, index, parse

NOW = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)
N_TAGS = 50
CITIES = ["上海", "北京", "深圳", "广州", "杭州", "成都", "武汉", "南京", "重庆", "西安"]
# Tag names: index 0 is the most common; 会员 / 面霜用户 / 流失 are common, mid, rare-ish.
TAG_NAMES = ["会员", "面霜用户", "流失", *[f"标签{i:02d}" for i in range(3, N_TAGS)]]
N_STAFF = 200  # each serves ~5,000 customers at 1M, WeCom's default customer limit
EXPRESSIONS = {
    "5 terms, 3 tags (AND / NOT)": "tag:会员 AND tag:面霜用户 AND NOT tag:流失 AND spent>=1000 AND city:深圳",
    "5 terms, 3 tags (OR / NOT)": (
        "(tag:面霜用户 OR tag:标签07) AND NOT tag:流失 AND spent>=1000 AND last_order_days<=180"
    ),
    "5 terms, 3 tags, one staff account": (
        "staff:guide007 AND (tag:会员 OR tag:面霜用户) AND NOT tag:流失 AND spent>=1000"
    ),
}


def _peer_sql(name: str, tag_ids: dict[str, int], since: str) -> str:
    """The hand-written query for each expression: EXISTS per tag, a join to stats."""
    live = "c.workspace_id = 1 AND c.merged_into_id IS NULL AND c.anonymised_at IS NULL"

    def has(tag: str) -> str:
        return (
            f"EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = c.id AND t.tag_id = {tag_ids[tag]})"
        )

    if name.endswith("staff account"):
        follows = "EXISTS (SELECT 1 FROM follows f WHERE f.customer_id = c.id AND f.staff_id = 7 AND f.state = 'active')"
        return (
            "SELECT count(*) FROM customers c JOIN customer_stats s ON s.customer_id = c.id "
            f"WHERE {live} AND {follows} AND ({has('会员')} OR {has('面霜用户')}) AND NOT {has('流失')} "
            "AND s.net_fen >= 100000"
        )
    if name.endswith("(AND / NOT)"):
        return (
            "SELECT count(*) FROM customers c JOIN customer_stats s ON s.customer_id = c.id "
            f"WHERE {live} AND {has('会员')} AND {has('面霜用户')} AND NOT {has('流失')} "
            "AND s.net_fen >= 100000 AND c.city IN ('深圳', '深圳市')"
        )
    return (
        "SELECT count(*) FROM customers c JOIN customer_stats s ON s.customer_id = c.id "
        f"WHERE {live} AND ({has('面霜用户')} OR {has('标签07')}) AND NOT {has('流失')} "
        f"AND s.net_fen >= 100000 AND s.last_paid_at >= '{since}'"
    )


def build(path: Path, n: int, seed: int = 7) -> None:
    """Generate the workspace with plain bulk inserts (the schema comes from migrations)."""
    url = f"sqlite:///{path}"
    upgrade(url)
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.9 for rank in range(N_TAGS)]
    engine = make_engine(url)
    raw: Any = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute(
            "INSERT INTO workspaces (id, slug, name, timezone, settings) VALUES (1, 'bench', 'bench', 'Asia/Shanghai', '{}')"
        )
        cur.execute("INSERT INTO tag_groups (id, workspace_id, name, sort_order) VALUES (1, 1, '默认', 0)")
        cur.executemany(
            "INSERT INTO tags (id, workspace_id, group_id, name, sort_order) VALUES (?, 1, 1, ?, 0)",
            [(i + 1, name) for i, name in enumerate(TAG_NAMES)],
        )
        cur.executemany(
            "INSERT INTO staff (id, workspace_id, userid, name, status, customer_limit, has_contact_permission)"
            " VALUES (?, 1, ?, ?, 'active', 5000, 1)",
            [(i, f"guide{i:03d}", f"导购{i}") for i in range(1, N_STAFF + 1)],
        )
        batch = 50_000
        for start in range(1, n + 1, batch):
            ids = range(start, min(n + 1, start + batch))
            customers, stats, scores, links, follows = [], [], [], [], []
            for cid in ids:
                city = rng.choice(CITIES)
                customers.append((cid, f"客户{cid}", city))
                net = int(rng.lognormvariate(11, 1.2))  # fen; median ≈ ¥600
                orders = 1 + int(rng.expovariate(0.6))
                last = NOW - timedelta(days=rng.randint(0, 720), minutes=rng.randint(0, 1439))
                first = last - timedelta(days=rng.randint(0, 700))
                stats.append(
                    (
                        cid,
                        net,
                        net,
                        orders,
                        orders,
                        orders,
                        first.strftime("%Y-%m-%d %H:%M:%S.%f"),
                        last.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    )
                )
                scores.append(
                    (cid, rng.choice(["new", "old"]), rng.choice(["svip", "vip", "regular"]), rng.random())
                )
                k = max(1, min(8, int(rng.gauss(3, 1.2))))
                for tag in set(rng.choices(range(1, N_TAGS + 1), weights=weights, k=k)):
                    links.append((cid, tag))
                follows.append((rng.randint(1, N_STAFF), cid, rng.choice(["douyin", "xhs", "store", None])))
            cur.executemany(
                "INSERT INTO customers (id, workspace_id, name, city, gender, opt_out) VALUES (?, 1, ?, ?, 0, 0)",
                customers,
            )
            cur.executemany(
                "INSERT INTO customer_stats (customer_id, workspace_id, paid_fen, net_fen, orders_count, paid_orders_count,"
                " effective_orders_count, first_paid_at, last_paid_at, refunded_fen, cost_fen, items_count, purchase_days,"
                " categories, products, platforms, shops) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 1, '{}', '{}', '{}', '{}')",
                stats,
            )
            cur.executemany(
                "INSERT INTO customer_scores (customer_id, workspace_id, layer_age, layer_tier, p_alive) VALUES (?, 1, ?, ?, ?)",
                scores,
            )
            cur.executemany(
                "INSERT INTO customer_tags (workspace_id, customer_id, tag_id, source) VALUES (1, ?, ?, 'manual')",
                links,
            )
            cur.executemany(
                "INSERT INTO follows (workspace_id, staff_id, customer_id, state, live_code_state)"
                " VALUES (1, ?, ?, 'active', ?)",
                follows,
            )
            raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def _race(sides: list[Callable[[], int]], runs: int) -> list[tuple[float, int]]:
    """Median ms and result of each side; runs alternate so that all see the same load."""
    results = [side() for side in sides]  # warm the page cache and the statement caches
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(runs):
        for i, side in enumerate(sides):
            t0 = time.perf_counter()
            results[i] = side()
            times[i].append((time.perf_counter() - t0) * 1000)
    return [(statistics.median(t), r) for t, r in zip(times, results, strict=True)]


def _with_index(on: bool, fn: Callable[[], int]) -> Callable[[], int]:
    def run() -> int:
        index.ENABLED = on
        try:
            return fn()
        finally:
            index.ENABLED = True

    return run


# What `--mmap` adds to the connection (both sides): memory-mapped reads and a 256 MiB
# page cache instead of SQLite's 2 MiB default.
MMAP_PRAGMAS = ("PRAGMA mmap_size=1073741824", "PRAGMA cache_size=-262144")


def run(
    n: int, keep: Path | None, runs: int, mmap: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Build (or reuse) the database and time every side; rows per expression, index figures."""
    folder = keep or Path(tempfile.mkdtemp(prefix="siyu-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"audience-{n}.db"
    if not path.exists():
        t0 = time.perf_counter()
        build(path, n)
        print(f"built {n:,} customers in {time.perf_counter() - t0:.0f} s: {path}", file=sys.stderr)
    engine = make_engine(f"sqlite:///{path}")
    AudienceChange.__table__.create(engine, checkfirst=True)  # databases built before the journal
    rows = []
    with Session(engine) as session:
        for pragma in MMAP_PRAGMAS if mmap else ():
            session.execute(text(pragma))
        # The index: built once, as the background thread would (timed here).
        idx = index.workspace_index(engine, 1)
        cpu0, t0 = time.process_time(), time.perf_counter()
        built = index._build(session, 1)
        figures: dict[str, Any] = {
            "build_s": time.perf_counter() - t0,
            "build_cpu_s": time.process_time() - cpu0,
        }
        session.rollback()
        with idx.lock:
            idx._install(*built)
        figures["megabytes"] = built[0].nbytes() / 2**20
        tag_ids = {name: i + 1 for i, name in enumerate(TAG_NAMES)}
        # last_order_days<=180: paid on or after local midnight 180 days before today.
        since = day_start_utc(local_day(NOW) - timedelta(days=180)).strftime("%Y-%m-%d %H:%M:%S.%f")
        for label, expr in EXPRESSIONS.items():
            parse(expr)  # fail early on a typo in the benchmark itself
            sql = text(_peer_sql(label, tag_ids, since))

            def ours(e: str = expr) -> int:
                return count(session, workspace_id=1, expr=e, now=NOW)

            (ix_ms, ix), (sql_ms, ours_sql), (peer_ms, peer) = _race(
                [
                    _with_index(True, ours),
                    _with_index(False, ours),
                    lambda q=sql: int(session.scalar(q) or 0),
                ],
                runs,
            )
            rows.append({"expression": label, "text": expr, "count": ix, "sql_count": ours_sql,
                         "peer_count": peer, "index_ms": ix_ms, "sql_ms": sql_ms, "peer_ms": peer_ms})  # fmt: skip
        figures.update(_refresh_cost(engine, session, n))
    engine.dispose()
    return rows, figures


def _refresh_cost(engine: Any, session: Session, n: int, changed: int = 1_000) -> dict[str, Any]:
    """Another session rewrites 1,000 customers' stats (same values: the file stays as it
    was, the journal gets 1,000 entries); time the index catching up on the next count."""
    ids = random.Random(11).sample(range(1, n + 1), min(changed, n))
    with Session(engine) as other:
        other.execute(
            update(CustomerStats)
            .where(CustomerStats.customer_id.in_(ids))
            .values(net_fen=CustomerStats.net_fen)
        )
        other.commit()
    idx = index.workspace_index(engine, 1)
    expr = next(iter(EXPRESSIONS.values()))
    with idx.lock:
        t0 = time.perf_counter()
        ok = idx.refresh(session)
        refresh_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    n_fast = count(session, workspace_id=1, expr=expr, now=NOW)
    after_ms = (time.perf_counter() - t0) * 1000
    index.ENABLED = False
    n_sql = count(session, workspace_id=1, expr=expr, now=NOW)
    index.ENABLED = True
    return {"changed": len(ids), "refresh_ok": ok, "refresh_ms": refresh_ms, "count_after_ms": after_ms,
            "agree_after": n_fast == n_sql}  # fmt: skip


def report(rows: list[dict[str, Any]], figures: dict[str, Any], n: int) -> str:
    lines = [
        f"{n:,} customers, SQLite, median of repeated runs",
        "| expression | matches | siyu, index (ms) | siyu, SQL path (ms) | hand-written SQL (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['text']}` | {r['count']:,} | {r['index_ms']:.1f} | {r['sql_ms']:.1f} | {r['peer_ms']:.1f} |"
        )
    f = figures
    lines.append(
        f"index build {f['build_s']:.1f} s ({f['build_cpu_s']:.1f} CPU-s), {f['megabytes']:.0f} MB; "
        f"{f['changed']:,} changed customers: refresh {f['refresh_ms']:.0f} ms (ok={f['refresh_ok']}), "
        f"next count {f['count_after_ms']:.1f} ms, agrees with SQL: {f['agree_after']}"
    )
    return "\n".join(lines)


@pytest.mark.bench
def test_audience_count_1m(tmp_path: Path) -> None:
    """``make bench``: 1M customers (SIYU_BENCH_DIR keeps the database between runs).

    All sides must agree; the index must answer every expression under 50 ms.
    """
    n = 1_000_000
    keep = os.environ.get("SIYU_BENCH_DIR")
    rows, figures = run(n, Path(keep) if keep else tmp_path, runs=9)
    print(report(rows, figures, n))
    for r in rows:
        assert r["count"] == r["sql_count"] == r["peer_count"], r
        assert r["index_ms"] < 50, r
    assert figures["refresh_ok"], figures
    assert figures["agree_after"], figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the generated database in")
    parser.add_argument("--mmap", action="store_true", help="both sides: " + "; ".join(MMAP_PRAGMAS))
    args = parser.parse_args()
    rows, figures = run(args.customers, args.keep, args.runs, mmap=args.mmap)
    print(report(rows, figures, args.customers))
    bad = [r for r in rows if not r["count"] == r["sql_count"] == r["peer_count"]]
    if bad:
        sys.exit(f"counts disagree: {bad}")


if __name__ == "__main__":
    main()
