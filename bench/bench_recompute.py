"""Full segments recompute (RFM + layers + CLV scoring) on 1M customers / 10M orders vs pandas.

Run: ``.venv/bin/python bench/bench_recompute.py`` (``--customers N`` for a smaller
run; ``--keep DIR`` reuses the generated database), or ``make bench``.

Data: a SQLite workspace written with plain bulk inserts (not through the importer):
customers whose purchases follow a BG/NBD-like process (a purchase rate per customer,
a lifetime after which they stop), lognormal order values, a few refunds, categories,
follows and referrals; ``customer_stats`` is derived from the same orders, as the
importer maintains it. Each side runs in a fresh process on the same file, so peak RSS
is the side's own:

- siyu: ``siyu.segments.service.recompute(full=True)`` — reads the maintained stats,
  scores RFM (quintiles, grid, 8 classes), layers and CLV, and writes every
  ``customer_scores`` row.
- peer: the same orders read with pandas, ``lifetimes.utils.summary_data_from_transaction_data``,
  pandas quintiles (rank + qcut) for R/F/M, and lifetimes' BG/NBD + Gamma-Gamma
  predictions with the same parameters (nothing written back).
- the fit against its fair peer: ``siyu clv fit`` (orders read in chunks of whole
  customers, folded into distinct histories, weighted maximum likelihood) beside pandas
  building the same per-customer summary from the same stored orders and lifetimes
  fitting BG/NBD and Gamma-Gamma on it (one row per customer, as lifetimes does).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from siyu.kit.db import make_engine
from siyu.kit.migrate import upgrade

AS_OF = date(2026, 6, 30)
PARAM_NAMES = {"r": "r", "alpha": "alpha", "a": "a", "b": "b", "p": "p", "q": "q", "gamma": "v"}
EPOCH = date(1970, 1, 1)
END_DAY = (AS_OF - EPOCH).days
HISTORY_DAYS = 3 * 365
CATEGORIES = ["面霜", "精华", "乳液", "面膜", "防晒", "洁面"]
TZ_OFFSET_S = 8 * 3600  # Asia/Shanghai has no daylight saving: local day = (utc + 8 h) // 1 day


def _ts(epoch_s: np.ndarray[Any, Any]) -> list[str]:
    """SQLite's stored form of UTC timestamps."""
    text = np.datetime_as_string(epoch_s.astype("datetime64[s]"), unit="us").tolist()
    return [t.replace("T", " ") for t in text]


def generate(n: int, mean_orders: float, seed: int = 11) -> dict[str, np.ndarray[Any, Any]]:
    """Orders of ``n`` customers (about ``mean_orders`` each), vectorised."""
    rng = np.random.default_rng(seed)
    first = END_DAY - rng.integers(0, HISTORY_DAYS, n)
    lifetime = rng.exponential(400, n)
    active = np.minimum(END_DAY - first, lifetime)
    lam = rng.gamma(0.7, 1.0, n)
    lam *= (mean_orders - 1) / np.mean(lam * active / 100)  # so that orders average mean_orders
    repeats = rng.poisson(lam * active / 100)
    counts = 1 + repeats
    cust = np.repeat(np.arange(1, n + 1), counts)
    offset = rng.random(cust.size) * np.repeat(active, counts)
    is_first = np.zeros(cust.size, dtype=bool)
    is_first[np.concatenate(([0], np.cumsum(counts)[:-1]))] = True
    day = np.repeat(first, counts) + np.where(is_first, 0, np.floor(offset).astype(np.int64))
    sec_in_day = rng.integers(8 * 3600, 23 * 3600, cust.size)  # local shopping hours
    paid_s = day * 86_400 + sec_in_day - TZ_OFFSET_S
    paid = np.round(rng.lognormal(5.3, 0.8, cust.size) * 100).astype(np.int64)
    refunded = np.where(rng.random(cust.size) < 0.03, paid, 0)  # 3 % fully refunded
    return {"customer": cust, "paid_s": paid_s, "paid": paid, "refunded": refunded}


def _stats(n: int, o: dict[str, np.ndarray[Any, Any]]) -> list[tuple[Any, ...]]:
    """customer_stats rows derived from the orders (effective = not fully refunded)."""
    eff = o["refunded"] < o["paid"]
    cust, paid_s = o["customer"], o["paid_s"]
    orders = np.bincount(cust, minlength=n + 1)
    eff_orders = np.bincount(cust[eff], minlength=n + 1)
    paid_sum = np.bincount(cust, weights=o["paid"], minlength=n + 1).astype(np.int64)
    refund_sum = np.bincount(cust, weights=o["refunded"], minlength=n + 1).astype(np.int64)
    first = np.full(n + 1, np.iinfo(np.int64).max)
    last = np.full(n + 1, -1)
    np.minimum.at(first, cust[eff], paid_s[eff])
    np.maximum.at(last, cust[eff], paid_s[eff])
    local_day = (paid_s[eff] + TZ_OFFSET_S) // 86_400
    pairs = np.unique(cust[eff] * 100_000 + local_day)
    days = np.bincount(pairs // 100_000, minlength=n + 1)
    rng = np.random.default_rng(5)
    cat_idx = rng.integers(0, len(CATEGORIES), n + 1)
    rows = []
    first_s, last_s = _ts(np.where(eff_orders > 0, first, 0)), _ts(np.where(eff_orders > 0, last, 0))
    for cid in range(1, n + 1):
        has = eff_orders[cid] > 0
        cats = (
            json.dumps({CATEGORIES[cat_idx[cid]]: int(eff_orders[cid])}, ensure_ascii=False) if has else "{}"
        )
        rows.append(
            (cid, int(orders[cid]), int(orders[cid]), int(eff_orders[cid]), int(paid_sum[cid]),
             int(refund_sum[cid]), int(paid_sum[cid] - refund_sum[cid]),
             first_s[cid] if has else None, last_s[cid] if has else None, int(days[cid]), cats)
        )  # fmt: skip
    return rows


def build(path: Path, n: int, mean_orders: float) -> int:
    """Generate the workspace; returns the number of orders."""
    url = f"sqlite:///{path}"
    upgrade(url)
    o = generate(n, mean_orders)
    engine = make_engine(url)
    raw: Any = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA foreign_keys=OFF")  # referrers may come later in id order
        cur.execute(
            "INSERT INTO workspaces (id, slug, name, timezone, settings) "
            "VALUES (1, 'bench', 'bench', 'Asia/Shanghai', '{}')"
        )
        cur.execute(
            "INSERT INTO staff (id, workspace_id, userid, name, status, customer_limit,"
            " has_contact_permission) VALUES (1, 1, 'guide1', '导购1', 'active', 5000, 1)"
        )
        rng = np.random.default_rng(3)
        referrer = np.where(rng.random(n + 1) < 0.02, rng.integers(1, n + 1, n + 1), 0)
        cur.executemany(
            "INSERT INTO customers (id, workspace_id, name, gender, opt_out, referred_by_id)"
            " VALUES (?, 1, ?, 0, 0, ?)",
            [(cid, f"客户{cid}", int(referrer[cid]) or None) for cid in range(1, n + 1)],
        )
        friends = np.flatnonzero(rng.random(n + 1) < 0.6)
        cur.executemany(
            "INSERT INTO follows (workspace_id, staff_id, customer_id, state) VALUES (1, 1, ?, 'active')",
            [(int(c),) for c in friends if c > 0],
        )
        cur.executemany(
            "INSERT INTO customer_stats (customer_id, workspace_id, orders_count, paid_orders_count,"
            " effective_orders_count, paid_fen, refunded_fen, net_fen, first_paid_at, last_paid_at,"
            " purchase_days, categories, cost_fen, items_count, products, platforms, shops)"
            " VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, '{}', '{}', '{}')",
            _stats(n, o),
        )
        raw.commit()
        batch = 1_000_000
        total = o["customer"].size
        for start in range(0, total, batch):
            sl = slice(start, min(total, start + batch))
            paid_at = _ts(o["paid_s"][sl])
            cur.executemany(
                "INSERT INTO orders (workspace_id, customer_id, platform, external_id, status, paid_at,"
                " paid_fen, goods_fen, refunded_fen, shipping_fen, discount_fen, platform_discount_fen,"
                " item_count, extra) VALUES (1, ?, 'taobao', ?, ?, ?, ?, ?, ?, 0, 0, 0, 1, '{}')",
                zip(
                    o["customer"][sl].tolist(),
                    (f"T{i}" for i in range(sl.start, sl.stop)),
                    np.where(o["refunded"][sl] > 0, "refunded", "completed").tolist(),
                    paid_at,
                    o["paid"][sl].tolist(),
                    o["paid"][sl].tolist(),
                    o["refunded"][sl].tolist(),
                    strict=True,
                ),
            )
            raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
        return int(total)
    finally:
        raw.close()
        engine.dispose()


def _peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM, which exec resets (ru_maxrss keeps the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds of this process (user + system): what the shared machine's load cannot inflate."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def side_fit(path: Path) -> dict[str, Any]:
    """Fit the CLV model once (stored in the workspace), so that recompute can score."""
    from siyu.kit.db import session_scope
    from siyu.segments.service import fit_clv_models

    t0, c0 = time.perf_counter(), _cpu_s()
    with session_scope(make_engine(f"sqlite:///{path}")) as session:
        model = fit_clv_models(session, workspace_id=1, calibration_end=AS_OF)
    seconds, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return {"seconds": seconds, "cpu_s": cpu, "rss_mb": _peak_rss_mb(), "model": model.to_json()}


def _peer_orders(path: Path) -> Any:
    import sqlite3

    import pandas as pd

    con = sqlite3.connect(path)
    df = pd.read_sql_query(
        "SELECT customer_id, paid_at, paid_fen - refunded_fen AS net FROM orders "
        "WHERE workspace_id = 1 AND paid_at IS NOT NULL AND status NOT IN ('pending', 'closed', 'refunded') "
        "AND refunded_fen < paid_fen",
        con,
    )
    con.close()
    df["paid_at"] = pd.to_datetime(df["paid_at"]) + pd.Timedelta(hours=8)  # local (Shanghai) time
    df["net"] = df["net"] / 100.0
    return df


def side_peer_fit(path: Path) -> dict[str, Any]:
    """The fair peer of the fit: pandas builds the summary, lifetimes fits both models."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    t0, c0 = time.perf_counter(), _cpu_s()
    df = _peer_orders(path)
    s = summary_data_from_transaction_data(
        df, "customer_id", "paid_at", monetary_value_col="net", observation_period_end=str(AS_OF)
    )
    del df
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    spenders = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
    gg = GammaGammaFitter().fit(spenders["frequency"], spenders["monetary_value"])
    params = {**{k: float(v) for k, v in bg.params_.items()}, **{k: float(v) for k, v in gg.params_.items()}}
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_s": _cpu_s() - c0,
        "rss_mb": _peak_rss_mb(),
        "customers": len(s),
        "params": params,
    }


def side_ours(path: Path) -> dict[str, Any]:
    """siyu's full recompute, committed."""
    from siyu.kit.db import session_scope
    from siyu.segments.service import recompute

    t0, c0 = time.perf_counter(), _cpu_s()
    with session_scope(make_engine(f"sqlite:///{path}")) as session:
        result = recompute(session, workspace_id=1, full=True, as_of=AS_OF, apply_rules=False)
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_s": _cpu_s() - c0,
        "rss_mb": _peak_rss_mb(),
        "buyers": result.buyers,
        "written": result.written,
        "champions": result.rfm_segments.get("champions", 0),
        "pareto": result.pareto_top20_share,
    }


def side_peer(path: Path, model: dict[str, Any]) -> dict[str, Any]:
    """pandas + lifetimes on the same effective orders."""
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    t0, c0 = time.perf_counter(), _cpu_s()
    df = _peer_orders(path)
    s = summary_data_from_transaction_data(
        df, "customer_id", "paid_at", monetary_value_col="net", observation_period_end=str(AS_OF)
    )
    last = df.groupby("customer_id")["paid_at"].max()
    s["recency_days"] = (pd.Timestamp(AS_OF) - last.dt.normalize()).dt.days
    s["orders"] = df.groupby("customer_id").size()
    s["net_total"] = df.groupby("customer_id")["net"].sum()

    def quintile(col: pd.Series, ascending: bool) -> pd.Series:
        ranks = col.rank(method="min", ascending=ascending)
        return pd.qcut(ranks, 5, labels=False, duplicates="drop") + 1

    s["R"] = quintile(-s["recency_days"], True)
    s["F"] = quintile(s["orders"], True)
    s["M"] = quintile(s["net_total"], True)
    bg = BetaGeoFitter()
    bg.params_ = pd.Series({k: model[k] for k in ("r", "alpha", "a", "b")})
    s["p_alive"] = bg.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
    s["exp90"] = bg.conditional_expected_number_of_purchases_up_to_time(
        90, s["frequency"], s["recency"], s["T"]
    )
    gg = GammaGammaFitter()
    gg.params_ = pd.Series({"p": model["p"], "q": model["q"], "v": model["gamma"]})
    spend = gg.conditional_expected_average_profit(s["frequency"], s["monetary_value"])
    s["value"] = s["exp90"] * spend
    champions = int(((s["R"] == 5) & (s["F"] >= 4)).sum())
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_s": _cpu_s() - c0,
        "rss_mb": _peak_rss_mb(),
        "buyers": len(s),
        "champions": champions,
    }


def _in_process(side: str, path: Path, model: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one side in a fresh interpreter, so that its peak RSS is its own."""
    args = [sys.executable, __file__, "--side", side, "--db", str(path)]
    if model is not None:
        args += ["--model", json.dumps(model)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def run(n: int, mean_orders: float, keep: Path | None) -> dict[str, Any]:
    """Build (or reuse) the database, then fit, recompute, and run the peer."""
    folder = keep or Path(tempfile.mkdtemp(prefix="siyu-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"recompute-{n}.db"
    if not path.exists():
        t0 = time.perf_counter()
        orders = build(path, n, mean_orders)
        print(
            f"built {n:,} customers, {orders:,} orders in {time.perf_counter() - t0:.0f} s", file=sys.stderr
        )
    import sqlite3

    with sqlite3.connect(path) as con:  # a kept database: start from no scores, like a first run
        con.execute("DELETE FROM customer_scores")
    fit = _in_process("fit", path)
    ours = _in_process("ours", path)  # first recompute: inserts every row
    again = _in_process("ours", path)  # --full again: rewrites every row in place
    peer = _in_process("peer", path, fit["model"])
    peer_fit = _in_process("peer_fit", path)
    return {
        "customers": n,
        "fit": fit,
        "ours": ours,
        "again": again,
        "peer": peer,
        "peer_fit": peer_fit,
        "db_mb": path.stat().st_size / 2**20,
    }


def report(r: dict[str, Any]) -> str:
    o, a, p, f, pf = r["ours"], r["again"], r["peer"], r["fit"], r["peer_fit"]

    def cell(side: dict[str, Any]) -> str:
        return f"{side['seconds']:.1f} | {side['cpu_s']:.1f} | {side['rss_mb']:,.0f}"

    def both(x: dict[str, Any], y: dict[str, Any]) -> str:
        rss = max(x["rss_mb"], y["rss_mb"])
        return f"{x['seconds'] + y['seconds']:.1f} | {x['cpu_s'] + y['cpu_s']:.1f} | {rss:,.0f}"

    return "\n".join(
        [
            f"{r['customers']:,} customers, SQLite ({r['db_mb']:,.0f} MB), {datetime.now(UTC):%Y-%m-%d}",
            "| step | siyu wall (s) | siyu CPU (s) | siyu peak RSS (MB) "
            "| pandas + lifetimes wall (s) | peer CPU (s) | peer peak RSS (MB) |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| full recompute: RFM + layers + CLV scoring, all rows written | {cell(o)} | {cell(p)} |",
            f"| the same again (every row rewritten) | {cell(a)} | | | |",
            f"| CLV fit: orders → summary → BG/NBD + Gamma-Gamma (peer: pandas + lifetimes fitting) "
            f"| {cell(f)} | {cell(pf)} |",
            "| recompute with the fit (fit + full recompute; peer: fit + scoring) "
            f"| {both(f, o)} | {both(pf, p)} |",
            "fitted parameters, siyu vs lifetimes: "
            + ", ".join(f"{k} {f['model'][k]:.4g}/{pf['params'][v]:.4g}" for k, v in PARAM_NAMES.items()),
            f"buyers scored: siyu {o['buyers']:,}, peer {p['buyers']:,}; champions: siyu {o['champions']:,},"
            f" peer {p['champions']:,}; rows written by siyu: {o['written']:,}",
        ]
    )


@pytest.mark.bench
def test_recompute_1m(tmp_path: Path) -> None:
    """``make bench``: 1M customers / 10M orders: < 30 s, < 2 GB, faster than the peer."""
    r = run(1_000_000, 10.0, tmp_path)
    print(report(r))
    assert r["ours"]["buyers"] == r["peer"]["buyers"]
    assert r["ours"]["seconds"] < 30
    assert r["ours"]["rss_mb"] < 2048
    assert r["ours"]["seconds"] < r["peer"]["seconds"]
    assert r["again"]["seconds"] < 30
    assert r["fit"]["seconds"] + r["ours"]["seconds"] < r["peer_fit"]["seconds"] + r["peer"]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--mean-orders", type=float, default=10.0)
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the generated database in")
    parser.add_argument("--side", choices=["fit", "ours", "peer", "peer_fit"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        sides = {
            "fit": lambda: side_fit(args.db),
            "ours": lambda: side_ours(args.db),
            "peer": lambda: side_peer(args.db, json.loads(args.model)),
            "peer_fit": lambda: side_peer_fit(args.db),
        }
        print(json.dumps(sides[args.side]()))
        return
    print(report(run(args.customers, args.mean_orders, args.keep)))


if __name__ == "__main__":
    main()
