# ruff: noqa: E501  (long literal SQL reads better unwrapped)
"""The four metrics and the P&L for one month, all accounts, on a generated workspace (SQLite).

Run: ``.venv/bin/python bench/bench_insights.py`` (``--friends N --messages N --orders N``
to scale; ``--keep DIR`` reuses the generated database), or ``make bench``.

Data: 200 staff accounts (each with its own reply habit: fast, slow or forgetful), their
friends, one month of 1:1 archive messages in customer-initiated conversations, moments
likes, group entrants, orders with lines and a price list. Measured:

- maintenance: ``siyu insights refresh`` over the month's messages (messages/s) — paid
  once, as messages arrive, by the worker;
- the four metrics for the month for all accounts (``metrics.report``, what the console
  and ``/api/v1/insights/metrics`` run), against a peer: the same reply and interaction
  counts computed straight from ``messages`` with one SQL query each (window functions),
  as a reporting tool without maintained aggregates would;
- the month's P&L (``profit.pnl``, two months of orders read: the flag compares).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from siyu.insights import aggregates, metrics, profit
from siyu.kit.db import make_engine
from siyu.kit.migrate import upgrade

MONTH = date(2026, 11, 1)
T0 = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 1 Nov 00:00 in Asia/Shanghai
N_STAFF = 200
SKUS = [f"SKU-{i:03d}" for i in range(60)]


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(url: str, *, friends: int, messages: int, orders: int, seed: int = 7) -> dict[str, Any]:
    rnd = random.Random(seed)
    engine = make_engine(url)
    upgrade(url)
    raw = engine.raw_connection()
    cur = raw.cursor()
    now = _ts(datetime(2026, 12, 1, tzinfo=UTC))
    cur.execute(
        "INSERT INTO workspaces (id, slug, name, timezone, settings, created_at) VALUES "
        "(1, 'bench', 'bench', 'Asia/Shanghai', "
        """'{"insights": {"platform_fee_rates": {"taobao": 0.05, "douyin": 0.08}}}', ?)""",
        (now,),
    )
    cur.executemany(
        "INSERT INTO staff (id, workspace_id, userid, name, department, status, customer_limit,"
        " has_contact_permission, created_at, updated_at) VALUES (?, 1, ?, ?, ?, 'active', 5000, 1, ?, ?)",
        [(s, f"guide{s:03d}", f"导购{s:03d}", f"团队{s % 10}", now, now) for s in range(1, N_STAFF + 1)],
    )
    cur.executemany(
        "INSERT INTO customers (id, workspace_id, gender, opt_out, created_at, updated_at) VALUES (?, 1, 0, 0, ?, ?)",
        [(c, now, now) for c in range(1, friends + 1)],
    )
    owner = {c: 1 + (c % N_STAFF) for c in range(1, friends + 1)}
    follows = []
    for c in range(1, friends + 1):
        added = T0 - timedelta(days=rnd.randint(-29, 400), minutes=rnd.randint(0, 1440))
        deleted = _ts(added + timedelta(days=rnd.randint(1, 300))) if rnd.random() < 0.08 else None
        follows.append(
            (c, owner[c], c, "deleted" if deleted else "active", _ts(added), deleted, f"ch{c % 5}", now, now)
        )
    cur.executemany(
        "INSERT INTO follows (id, workspace_id, staff_id, customer_id, state, added_at, deleted_at,"
        " live_code_state, created_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
        follows,
    )
    # Reply habits: a third fast (1–8 min), a third slow (5–40), a third forgetful (30 % none).
    habit = {s: s % 3 for s in range(1, N_STAFF + 1)}
    msgs = []
    n = 0
    while n < messages:
        c = rnd.randint(1, friends)
        s = owner[c]
        start = T0 + timedelta(seconds=rnd.randint(0, 30 * 86400 - 3600))
        msgs.append((s, c, "in", start))
        h = habit[s]
        if h == 2 and rnd.random() < 0.3:
            n += 1
            continue
        delay = rnd.uniform(60, 480) if h == 0 else rnd.uniform(300, 2400)
        msgs.append((s, c, "out", start + timedelta(seconds=delay)))
        msgs.append((s, c, "in", start + timedelta(seconds=delay + rnd.uniform(30, 600))))
        n += 3
    msgs.sort(key=lambda m: m[3])
    cur.executemany(
        "INSERT INTO messages (workspace_id, source, msgid, direction, staff_id, customer_id, sender, msgtype,"
        " sent_at, created_at) VALUES (1, 'archive', ?, ?, ?, ?, '', 'text', ?, ?)",
        [(f"m{i}", d, s, c, _ts(at), now) for i, (s, c, d, at) in enumerate(msgs[:messages])],
    )
    cur.executemany(
        "INSERT INTO events (workspace_id, kind, occurred_at, source, customer_id, staff_id, payload, created_at)"
        " VALUES (1, 'moment.like', ?, 'wecom', ?, ?, '{}', ?)",
        [
            (_ts(T0 + timedelta(seconds=rnd.randint(0, 30 * 86400))), c, owner[c], now)
            for c in rnd.sample(range(1, friends + 1), friends // 20)
        ],
    )
    cur.executemany(
        "INSERT INTO sku_costs (workspace_id, sku, cost_fen, valid_from, valid_to, created_at)"
        " VALUES (1, ?, ?, '2020-01-01', NULL, ?)",
        [(sku, 1000 + 37 * i, now) for i, sku in enumerate(SKUS)],
    )
    order_rows = []
    item_rows = []
    for o in range(1, 2 * orders + 1):  # two months: this one and the previous (the flag)
        c = rnd.randint(1, friends)
        paid_at = T0 + timedelta(seconds=rnd.randint(-30 * 86400, 30 * 86400 - 1))
        qty = rnd.randint(1, 3)
        price = rnd.choice((5900, 8900, 12900, 19900))
        paid = price * qty
        refunded = paid if rnd.random() < 0.04 else 0
        order_rows.append(
            (
                o,
                c,
                rnd.choice(("taobao", "douyin")),
                f"o{o}",
                "refunded" if refunded else "completed",
                _ts(paid_at),
                _ts(paid_at),
                paid,
                paid,
                refunded,
                qty,
                now,
                now,
            )
        )
        item_rows.append((o, o, rnd.choice(SKUS), qty, price, paid, refunded))
    cur.executemany(
        "INSERT INTO orders (id, workspace_id, customer_id, platform, external_id, status, ordered_at, paid_at,"
        " paid_fen, goods_fen, refunded_fen, shipping_fen, discount_fen, platform_discount_fen, item_count,"
        " extra, created_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, '{}', ?, ?)",
        order_rows,
    )
    cur.executemany(
        "INSERT INTO order_items (id, workspace_id, order_id, line_key, sku, title, quantity, unit_price_fen,"
        " amount_fen, refunded_fen) VALUES (?, 1, ?, '1', ?, '', ?, ?, ?, ?)",
        item_rows,
    )
    cur.executemany(
        "INSERT INTO staff_daily_stats (workspace_id, staff_id, day, chat_cnt, message_cnt, reply_percentage,"
        " avg_reply_time, new_apply_cnt, new_contact_cnt, fetched_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (s, (MONTH + timedelta(days=d)).isoformat(), 20, 60, 70.0 + s % 30, 5.0 + s % 20, 8, 6, now)
            for s in range(1, N_STAFF + 1)
            for d in range(30)
        ],
    )
    raw.commit()
    raw.close()
    return {"messages": min(messages, len(msgs)), "friends": friends, "orders": 2 * orders}


def _time(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    times = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


PEER_REPLY = """
WITH m AS (
  SELECT staff_id, customer_id, sent_at, direction,
         LAG(sent_at) OVER (PARTITION BY staff_id, customer_id ORDER BY sent_at) AS prev_at
  FROM messages WHERE workspace_id = 1 AND group_id IS NULL
    AND sent_at >= :since AND sent_at < :until
), starts AS (
  SELECT staff_id, customer_id, sent_at FROM m
  WHERE direction = 'in' AND (prev_at IS NULL OR (julianday(sent_at) - julianday(prev_at)) * 1440 >= 30)
)
SELECT s.staff_id, count(*),
  sum(CASE WHEN (SELECT min(o.sent_at) FROM messages o WHERE o.staff_id = s.staff_id
       AND o.customer_id = s.customer_id AND o.direction = 'out' AND o.sent_at > s.sent_at)
       <= datetime(s.sent_at, '+10 minutes') THEN 1 ELSE 0 END)
FROM starts s GROUP BY s.staff_id
"""

PEER_INTERACTION = """
SELECT staff_id, count(*) FROM (
  SELECT staff_id, customer_id FROM messages
  WHERE workspace_id = 1 AND group_id IS NULL AND sent_at >= :since AND sent_at < :until
  GROUP BY staff_id, customer_id
  HAVING sum(direction = 'in') > 0 AND sum(direction = 'out') > 0
) GROUP BY staff_id
"""


def run(*, friends: int, messages: int, orders: int, keep: Path | None = None) -> dict[str, Any]:
    folder = keep or Path(tempfile.mkdtemp(prefix="siyu-bench-insights-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"insights-{friends}-{messages}-{orders}.db"
    url = f"sqlite:///{db}"
    result: dict[str, Any] = {"friends": friends, "messages": messages, "orders_per_month": orders}
    fresh = not db.exists()
    if fresh:
        t = time.perf_counter()
        generate(url, friends=friends, messages=messages, orders=orders)
        result["generate_s"] = round(time.perf_counter() - t, 1)
    engine = make_engine(url)
    with Session(engine) as s:
        if fresh or not s.execute(text("SELECT count(*) FROM staff_metric_days")).scalar():
            t = time.perf_counter()
            cpu = time.process_time()
            n = 0
            while True:  # as the worker does: one transaction per batch
                got = aggregates.refresh(s, 1)
                s.commit()
                n += got["messages"]
                print(
                    f"refresh: {n:,} messages, {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True
                )
                if got["messages"] < aggregates.BATCH and got["events"] < aggregates.BATCH:
                    break
            took = time.perf_counter() - t
            result["refresh_s"] = round(took, 1)
            result["refresh_cpu_s"] = round(time.process_time() - cpu, 1)
            result["refresh_msgs_per_s"] = round(n / took)
        result["staff_metric_days"] = s.execute(text("SELECT count(*) FROM staff_metric_days")).scalar()
        result["conversations"] = s.execute(text("SELECT count(*) FROM conversations")).scalar()
        result["interaction_days"] = s.execute(text("SELECT count(*) FROM interaction_days")).scalar()
        on = MONTH + timedelta(days=14)
        took, rep = _time(lambda: metrics.report(s, workspace_id=1, grain="month", on=on, trend=1))
        result["metrics_month_s"] = round(took, 3)
        cpu = time.process_time()
        metrics.report(s, workspace_id=1, grain="month", on=on, trend=1)
        result["metrics_month_cpu_s"] = round(time.process_time() - cpu, 3)
        result["reply_rate"] = rep["total"]["reply"]["rate"]
        params = {"since": _ts(T0), "until": _ts(T0 + timedelta(days=30))}
        took, _ = _time(lambda: s.execute(text(PEER_REPLY), params).all(), runs=1)
        result["peer_reply_sql_s"] = round(took, 3)
        took, _ = _time(lambda: s.execute(text(PEER_INTERACTION), params).all(), runs=1)
        result["peer_interaction_sql_s"] = round(took, 3)
        took, pl = _time(lambda: profit.pnl(s, workspace_id=1, on=on))
        result["pnl_month_s"] = round(took, 3)
        cpu = time.process_time()
        profit.pnl(s, workspace_id=1, on=on)
        result["pnl_month_cpu_s"] = round(time.process_time() - cpu, 3)
        result["pnl_orders"] = pl["total"]["orders"]
    return result


@pytest.mark.bench
def test_insights_month(tmp_path: Path) -> None:
    got = run(friends=200_000, messages=600_000, orders=40_000, keep=tmp_path)
    print(got)
    assert got["metrics_month_s"] < 5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--friends", type=int, default=200_000)
    ap.add_argument("--messages", type=int, default=600_000)
    ap.add_argument("--orders", type=int, default=40_000, help="orders per month (two months are made)")
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    got = run(friends=args.friends, messages=args.messages, orders=args.orders, keep=args.keep)
    for k, v in got.items():
        print(f"{k:>24}: {v}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
