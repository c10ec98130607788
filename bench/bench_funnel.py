"""Channel funnel report: 1M friends over 100 channels, answered from maintained aggregates.

Run: ``.venv/bin/python bench/bench_funnel.py`` (``--friends N`` for a smaller run;
``--keep DIR`` reuses the generated database), or ``make bench``.

Data: one SQLite workspace written with plain bulk inserts: ``friends`` follows over 100
channels (skewed: the top channel brings ~10 % of adds) and 200 staff accounts, adds
spread over a year; 5 % of customers added a second account through another channel;
12 % of friends deleted since (half of them within a week); about 0.5 orders per customer,
paid from 30 days before their first add to the end of the year, 80 % with a cost of goods.

Sides, on the same file:

- **siyu report**: ``siyu.acquisition.funnel.report`` (what the API, the CLI and the
  console call) for the whole year by week, the last 90 days by day, and one channel's
  year by month; reads ``channel_funnel_days`` only (medians of 7 runs after a warm-up);
- **peer: the same figures from raw tables**: one SQL statement over follows and orders
  (window function for the first add, join of orders paid after it), the query a report
  without maintained aggregates runs; adds, losses, buyers and net revenue must agree;
- **maintenance**: ``funnel.rebuild`` (the nightly task) over the whole workspace, and
  ``funnel.refresh_customers`` for 1,000 customers (what one import chunk's event costs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from siyu.kit.db import make_engine
from siyu.kit.migrate import upgrade
from siyu.kit.timeutil import day_start_utc, moved_clock

AS_OF = datetime(2026, 12, 31, 4, 0, tzinfo=UTC)
YEAR_START = date(2026, 1, 1)
CHANNELS = 100
STAFF = 200
TZ_OFFSET_S = 8 * 3600


def _ts(epoch_s: np.ndarray[Any, Any]) -> list[str]:
    text_ = np.datetime_as_string(epoch_s.astype("datetime64[s]"), unit="us").tolist()
    return [t.replace("T", " ") for t in text_]


def build(path: Path, friends: int, seed: int = 7) -> dict[str, int]:
    """Generate the workspace; the row counts."""
    url = f"sqlite:///{path}"
    upgrade(url)
    rng = np.random.default_rng(seed)
    n_cust = int(friends / 1.05)
    n_second = friends - n_cust
    start_s = int(datetime.combine(YEAR_START, datetime.min.time(), tzinfo=UTC).timestamp()) - TZ_OFFSET_S
    end_s = int(AS_OF.timestamp()) - 86_400
    weights = 1 / np.arange(1, CHANNELS + 1) ** 0.8
    weights /= weights.sum()
    # first adds: one per customer; second adds: another channel and the next staff account
    cust = np.concatenate(
        [np.arange(1, n_cust + 1), rng.choice(np.arange(1, n_cust + 1), n_second, replace=False)]
    )
    first_staff = rng.integers(1, STAFF + 1, n_cust)
    staff = np.concatenate([first_staff, (first_staff[cust[n_cust:] - 1] % STAFF) + 1])
    channel = rng.choice(CHANNELS, friends, p=weights)
    added_s = rng.integers(start_s, end_s, friends)
    added_s[n_cust:] = np.maximum(added_s[n_cust:], added_s[cust[n_cust:] - 1] + 3600)
    added_s = np.minimum(added_s, end_s)
    lost = rng.random(friends) < 0.12
    lost_after = np.where(rng.random(friends) < 0.5, rng.integers(600, 7 * 86_400, friends),
                          rng.integers(7 * 86_400, 200 * 86_400, friends))  # fmt: skip
    deleted_s = np.minimum(added_s + lost_after, int(AS_OF.timestamp()) - 60)
    # orders: ~0.5 per customer, from 30 days before the first add to the end
    n_orders = int(n_cust * 0.5)
    o_cust = rng.integers(1, n_cust + 1, n_orders)
    o_from = added_s[o_cust - 1] - 30 * 86_400
    o_paid_s = o_from + (rng.random(n_orders) * (int(AS_OF.timestamp()) - 60 - o_from)).astype(np.int64)
    o_paid = np.round(rng.lognormal(5.3, 0.8, n_orders) * 100).astype(np.int64)
    o_refunded = np.where(rng.random(n_orders) < 0.03, o_paid, 0)
    o_cost = np.where(rng.random(n_orders) < 0.8, o_paid * 4 // 10, -1)
    engine = make_engine(url)
    raw: Any = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute(
            "INSERT INTO workspaces (id, slug, name, timezone, settings) "
            "VALUES (1, 'bench', 'bench', 'Asia/Shanghai', '{}')"
        )
        cur.executemany(
            "INSERT INTO staff (id, workspace_id, userid, name, status, customer_limit,"
            " has_contact_permission) VALUES (?, 1, ?, ?, 'active', 10000, 1)",
            [(i, f"guide{i}", f"导购{i}") for i in range(1, STAFF + 1)],
        )
        cur.executemany(
            "INSERT INTO channels (workspace_id, name, group_name, kind, state, slug, cost_fen, skip_verify,"
            " tag_ids, welcome, pool, settings, sync_status) VALUES (1, ?, ?, 'contact_way', ?, ?, ?, 1,"
            " '[]', '{}', '{}', '{}', 'synced')",
            [
                (f"渠道{i:03d}", f"分组{i % 8}", f"ch{i:03d}", f"ch{i:03d}", 100_000 * (1 + i % 5))
                for i in range(CHANNELS)
            ],
        )
        cur.executemany(
            "INSERT INTO customers (id, workspace_id, gender, opt_out) VALUES (?, 1, 0, 0)",
            [(i,) for i in range(1, n_cust + 1)],
        )
        raw.commit()
        added, deleted = _ts(added_s), _ts(deleted_s)
        cur.executemany(
            "INSERT INTO follows (workspace_id, staff_id, customer_id, external_userid, state,"
            " live_code_state, added_at, deleted_at, deleted_by) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    int(staff[i]),
                    int(cust[i]),
                    f"wm{cust[i]}",
                    "deleted_by_customer" if lost[i] else "active",
                    f"ch{channel[i]:03d}",
                    added[i],
                    deleted[i] if lost[i] else None,
                    "customer" if lost[i] else None,
                )
                for i in range(friends)
            ),
        )
        raw.commit()
        paid = _ts(o_paid_s)
        cur.executemany(
            "INSERT INTO orders (workspace_id, customer_id, platform, external_id, status, paid_at, paid_fen,"
            " goods_fen, refunded_fen, shipping_fen, discount_fen, platform_discount_fen, cost_fen,"
            " item_count, extra) VALUES (1, ?, 'douyin', ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, 1, '{}')",
            (
                (
                    int(o_cust[i]),
                    f"D{i}",
                    "refunded" if o_refunded[i] else "completed",
                    paid[i],
                    int(o_paid[i]),
                    int(o_paid[i]),
                    int(o_refunded[i]),
                    None if o_cost[i] < 0 else int(o_cost[i]),
                )
                for i in range(n_orders)
            ),
        )
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return {"friends": friends, "customers": n_cust, "orders": n_orders}


PEER_SQL = """
WITH ff AS (
  SELECT f.id, f.customer_id, f.live_code_state AS state, f.added_at,
    CASE WHEN f.state IN ('deleted_by_customer', 'deleted_by_staff') AND f.deleted_at IS NOT NULL
         THEN 1 ELSE 0 END AS lost,
    row_number() OVER (PARTITION BY f.customer_id ORDER BY f.added_at, f.id) AS rn
  FROM follows f
  WHERE f.workspace_id = 1 AND f.live_code_state IS NOT NULL AND f.added_at IS NOT NULL
),
bought AS (
  SELECT ff.id,
    sum(CASE WHEN o.status NOT IN ('closed', 'refunded') AND o.refunded_fen < o.paid_fen
        THEN 1 ELSE 0 END) AS n,
    sum(o.paid_fen - o.refunded_fen) AS net
  FROM ff JOIN orders o ON o.customer_id = ff.customer_id AND o.workspace_id = 1
    AND o.paid_at IS NOT NULL AND o.status <> 'pending' AND o.paid_at >= ff.added_at
  WHERE ff.rn = 1
  GROUP BY ff.id
)
SELECT ff.state, count(*), sum(ff.lost), sum(CASE WHEN b.n >= 1 THEN 1 ELSE 0 END), coalesce(sum(b.net), 0)
FROM ff LEFT JOIN bought b ON b.id = ff.id
WHERE ff.added_at >= :lo AND ff.added_at < :hi
GROUP BY ff.state
"""


def _median_ms(fn: Any, runs: int = 7) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run(friends: int, folder: Path, keep: bool = False) -> dict[str, Any]:
    from siyu.acquisition import funnel

    path = folder / f"funnel_{friends}.db"
    out: dict[str, Any] = {"friends": friends}
    if not (keep and path.exists()):
        path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        out["rows"] = build(path, friends)
        out["generate_s"] = time.perf_counter() - t0
    engine = make_engine(f"sqlite:///{path}")
    with moved_clock(AS_OF):
        with Session(engine) as s:
            t0 = time.perf_counter()
            out["friend_rows"] = funnel.rebuild(s, workspace_id=1)
            s.commit()
            out["rebuild_s"] = time.perf_counter() - t0
            s.execute(text("ANALYZE"))
            s.commit()
        with Session(engine) as s:
            ids = [
                r[0] for r in s.execute(text("SELECT id FROM customers ORDER BY id LIMIT 1000 OFFSET 5000"))
            ]
            t0 = time.perf_counter()
            funnel.refresh_customers(s, workspace_id=1, customer_ids=ids)
            s.commit()
            out["refresh_1000_ms"] = (time.perf_counter() - t0) * 1000
        end = date(2026, 12, 31)
        with Session(engine) as s:
            year = funnel.report(s, workspace_id=1, start=YEAR_START, end=end, grain="week")
            out["report_year_week_ms"] = _median_ms(
                lambda: funnel.report(s, workspace_id=1, start=YEAR_START, end=end, grain="week")
            )
            out["report_90d_day_ms"] = _median_ms(
                lambda: funnel.report(s, workspace_id=1, start=end - timedelta(days=89), end=end, grain="day")
            )
            out["report_one_channel_month_ms"] = _median_ms(
                lambda: funnel.report(
                    s, workspace_id=1, start=YEAR_START, end=end, grain="month", channel="ch000"
                )
            )
            lo, hi = day_start_utc(YEAR_START), day_start_utc(end + timedelta(days=1))
            params = {
                "lo": lo.replace(tzinfo=None).isoformat(" "),
                "hi": hi.replace(tzinfo=None).isoformat(" "),
            }
            peer_rows: list[Any] = []

            def peer() -> None:
                peer_rows[:] = s.execute(text(PEER_SQL), params).all()

            out["peer_year_ms"] = _median_ms(peer, runs=3)
    engine.dispose()
    ours = {c.state: (c.total.adds, c.total.lost, c.total.buyers, c.total.net_fen) for c in year.channels}
    theirs = {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in peer_rows}
    out["agree"] = ours == theirs
    out["channels"] = len(ours)
    out["adds"] = year.total.adds
    out["buyers"] = year.total.buyers
    return out


def report(r: dict[str, Any]) -> str:
    lines = [
        f"friends {r['friends']:,} over {r['channels']} channels (adds {r['adds']:,}, buyers {r['buyers']:,})"
    ]
    for key in ("generate_s", "rebuild_s", "refresh_1000_ms", "report_year_week_ms", "report_90d_day_ms",
                "report_one_channel_month_ms", "peer_year_ms", "agree"):  # fmt: skip
        if key in r:
            v = r[key]
            lines.append(f"  {key:28} {v:,.1f}" if isinstance(v, float) else f"  {key:28} {v}")
    return "\n".join(lines)


@pytest.mark.bench
def test_funnel_1m(tmp_path: Path) -> None:
    """``make bench``: the report answers in < 1 s from the aggregates, and agrees with raw SQL."""
    r = run(1_000_000, tmp_path)
    print(report(r))
    assert r["agree"]
    assert r["report_year_week_ms"] < 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--friends", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="reuse/keep the database in this folder")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        print(report(run(args.friends, args.keep, keep=True)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(report(run(args.friends, Path(tmp))))


if __name__ == "__main__":
    main()
