"""The month's P&L before and after issue 17's work, on one database, in one process.

Run on a database made by ``bench/bench_insights.py --keep DIR`` (a copy: this adds the
P&L's follows indexes when missing and commits one refund):

    .venv/bin/python bench/bench_pnl.py DIR/insights-1000000-1000000-40000.db [--before REV]

Measured (wall and CPU seconds of this process, each the median of 3 unless said):

- ``before``: ``siyu/insights/profit.py`` of git revision REV (default ``facb66c``, the
  order-by-order computation), loaded beside the current code;
- ``computed``: the current code with the cache off (``pnl_cache.ENABLED = False``): the
  set-based computation every answer pays without kept facts;
- ``cold``: the first answer of a process (facts computed and kept), once;
- ``warm``: later answers with nothing changed;
- ``after a refund``: one order refunded and committed, the next answer (once, then warm);
- ``snapshot stored``: what the worker's ``insights.pnl_snapshots`` job does, once;
- ``from the snapshot``: the first answer of a process that keeps no month (its kept months
  dropped before each answer), starting from the stored snapshot; then the same after
  another refund committed since the snapshot (the journal replayed);
- ``no snapshot``: the same first answer with the snapshots deleted (the months computed).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from siyu.insights import pnl_cache, profit
from siyu.kit.db import make_engine
from siyu.kit.timeutil import day_start_utc
from siyu.models import Follow, Order, PnlSnapshot

ON = date(2026, 11, 15)


def _clock(fn: Callable[[], Any], runs: int = 3) -> tuple[float, float, Any]:
    walls, cpus, out = [], [], None
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return round(statistics.median(walls), 3), round(statistics.median(cpus), 3), out


def _before(rev: str) -> Any:
    src = subprocess.run(
        ["git", "show", f"{rev}:siyu/insights/profit.py"], check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "profit_before.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("profit_before", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["profit_before"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("db", type=Path)
    ap.add_argument("--before", default="facb66c")
    args = ap.parse_args()
    engine = make_engine(f"sqlite:///{args.db}")
    t = time.perf_counter()
    for idx in Follow.__table__.indexes:
        idx.create(engine, checkfirst=True)
    print(f"{'indexes':>16}: {time.perf_counter() - t:.1f} s (once)")
    old = _before(args.before)
    with Session(engine) as s:

        def pnl() -> Any:
            return profit.pnl(s, workspace_id=1, on=ON)

        w, c, ref = _clock(lambda: old.pnl(s, workspace_id=1, on=ON))
        print(f"{'before':>16}: {w} s wall, {c} s CPU ({ref['total']['orders']} orders)")
        pnl_cache.ENABLED = False
        w, c, got = _clock(pnl)
        print(f"{'computed':>16}: {w} s wall, {c} s CPU, equal to before: {got == ref}")
        pnl_cache.ENABLED = True
        w, c, got = _clock(pnl, runs=1)
        print(f"{'cold':>16}: {w} s wall, {c} s CPU, equal: {got == ref}")
        w, c, got = _clock(pnl)
        print(f"{'warm':>16}: {w} s wall, {c} s CPU, equal: {got == ref}")
        s.rollback()
        oid = s.scalar(select(Order.id).where(Order.paid_at >= day_start_utc(ON, "Asia/Shanghai")).limit(1))
        s.execute(update(Order).where(Order.id == oid).values(refunded_fen=Order.paid_fen, status="refunded"))
        s.commit()
        w, c, got = _clock(pnl, runs=1)
        pnl_cache.ENABLED = False
        ref2 = pnl()
        pnl_cache.ENABLED = True
        print(f"{'after a refund':>16}: {w} s wall, {c} s CPU, equal to computed: {got == ref2}")
        w, c, got = _clock(pnl)
        print(f"{'warm again':>16}: {w} s wall, {c} s CPU")
        s.rollback()
        w, c, n = _clock(lambda: pnl_cache.save_snapshots(s, 1), runs=1)
        s.commit()
        size = sum(len(b) for b in s.scalars(select(PnlSnapshot.facts)))
        print(f"{'snapshot stored':>16}: {w} s wall, {c} s CPU ({n} months, {size / 2**20:.1f} MiB)")

        def first() -> Any:
            s.rollback()
            pnl_cache.forget()
            return pnl()

        w, c, got = _clock(first)
        print(f"{'from the snapshot':>16}: {w} s wall, {c} s CPU, equal to computed: {got == ref2}")
        since = day_start_utc(ON, "Asia/Shanghai")
        oid = s.scalar(select(Order.id).where(Order.paid_at >= since, Order.id != oid).limit(1))
        s.execute(update(Order).where(Order.id == oid).values(refunded_fen=Order.paid_fen, status="refunded"))
        s.commit()
        pnl_cache.ENABLED = False
        ref3 = pnl()
        pnl_cache.ENABLED = True
        w, c, got = _clock(first)
        print(f"{'refund, snapshot':>16}: {w} s wall, {c} s CPU, equal to computed: {got == ref3}")
        s.execute(delete(PnlSnapshot))
        s.commit()
        w, c, got = _clock(first)
        print(f"{'no snapshot':>16}: {w} s wall, {c} s CPU, equal to computed: {got == ref3}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
