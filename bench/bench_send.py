# ruff: noqa: E501
"""Planning a mass send to a large audience over 200 staff accounts: time, peak memory, WeCom calls.

Run: ``.venv/bin/python bench/bench_send.py --customers 1000000`` (default 200,000 on a
shared machine; ``--keep DIR`` reuses the generated database). Data: the audience
benchmark's workspace (``bench_audience.build``: customers with stats, tags, one follow
each over 200 staff accounts), plus a second follow for 10 % of customers, 1 % opted
out, and mass messages received in the last 7 days by 3 % (over the cap of 2). The
send targets everyone (``spent>=0``) with a 10 % holdout. Planning is measured in a
fresh process (peak RSS of that process), as the worker runs it.
"""

from __future__ import annotations

import argparse
import json
import resource
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


def measure(url: str) -> dict[str, Any]:
    """Plan one send (in this fresh process) and report the figures."""
    from siyu.automation.sends.knobs import OutboundKnobs
    from siyu.automation.sends.planner import plan_customers
    from siyu.models import Send, SendRecipient

    engine = make_engine(url)
    with Session(engine) as s:
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
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        report = plan_customers(s, send, OutboundKnobs(quiet_start=None, quiet_end=None), datetime.now(UTC))
        s.flush()
        plan_s = time.perf_counter() - t0
        stored = s.scalar(
            select(func.count()).select_from(SendRecipient).where(SendRecipient.send_id == send.id)
        )
        s.rollback()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "plan_s": round(plan_s, 2),
        "peak_rss_mb": round(rss1 / 1024, 1),
        "rss_before_mb": round(rss0 / 1024, 1),
        "stored_recipients": stored,
        **report.as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--keep", type=Path)
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
    out = subprocess.run(
        [sys.executable, __file__, "--measure", f"sqlite:///{path}"],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {"customers": args.customers, "database": "sqlite", **figures}, indent=2, ensure_ascii=False
        )
    )


if __name__ == "__main__":
    main()
