# ruff: noqa: E501, RUF028  (long literal SQL and report lines read better unwrapped)
"""Morning task lists for N friends over 200 staff accounts, and enrolling customers in
a SOP plan plus running its first step.

Run: ``.venv/bin/python bench/bench_tasks.py --friends 1000000`` (the issue's scale; the
default is smaller for a shared machine), ``--db postgresql://...`` for PostgreSQL (an
empty database), or ``make bench`` (the pytest entry runs the small scale).

1. **Morning lists** (``siyu.execution.sources.morning``): monthly coverage (each friend
   once a month over the working days, A to Z by the pinyin of the remark), wake-ups,
   post-purchase follow-ups and group entrants, written as ``staff_tasks``. Peer in the
   same run: the coverage share alone as one hand-written ``INSERT ... SELECT`` with a
   window function (code-point order, no pinyin, no dedup keys checked in Python).
   Time and the process's peak RSS growth.
2. **Enrollment**: ``activate(enroll_existing=True)`` of a plan whose trigger (a tag)
   matches ``--enroll`` customers, then every first step run (a task each), rate per
   second.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from siyu.automation.sop import service
from siyu.automation.sop.service import PlanInput
from siyu.execution import sources
from siyu.kit.db import make_engine
from siyu.kit.migrate import upgrade
from siyu.kit.timeutil import moved_clock
from siyu.models import (
    Customer,
    CustomerStats,
    CustomerTag,
    Follow,
    Staff,
    StaffTask,
    Tag,
    TagGroup,
    Workspace,
)

# Monday 2026-06-01 07:00 in Shanghai (the morning run)
NOW = datetime(2026, 5, 31, 23, 0, tzinfo=UTC)
N_STAFF = 200
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅琳雪婷晶欣怡涵雨佳"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _server_cpu(s: Session) -> float:
    """CPU seconds used so far by this database's client backends (PostgreSQL on this
    host, from /proc), 0.0 on SQLite or when /proc cannot be read."""
    if s.get_bind().dialect.name != "postgresql":
        return 0.0
    pids = s.scalars(
        text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
        )
    ).all()
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        total += int(fields[11]) + int(fields[12])
    return total / tick


def build(url: str, friends: int, enroll: int, seed: int = 7) -> None:
    upgrade(url)
    rng = random.Random(seed)
    engine = make_engine(url)
    now = NOW
    with Session(engine) as s:
        s.execute(
            insert(Workspace),
            [{"id": 1, "slug": "bench", "name": "bench", "timezone": "Asia/Shanghai", "settings": {}}],
        )
        s.execute(
            insert(Staff),
            [
                {"id": n + 1, "workspace_id": 1, "userid": f"guide{n:03d}", "name": f"导购{n:03d}"}
                for n in range(N_STAFF)
            ],
        )
        s.execute(insert(TagGroup), [{"id": 1, "workspace_id": 1, "name": "默认"}])
        s.execute(insert(Tag), [{"id": 1, "workspace_id": 1, "group_id": 1, "name": "新客"}])
        chunk = 20000
        for start in range(0, friends, chunk):
            ids = range(start + 1, min(friends, start + chunk) + 1)
            s.execute(
                insert(Customer),
                [
                    {
                        "id": i,
                        "workspace_id": 1,
                        "name": None,
                        "gender": 0,
                        "opt_out": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            s.execute(
                insert(Follow),
                [
                    {
                        "workspace_id": 1,
                        "staff_id": (i % N_STAFF) + 1,
                        "customer_id": i,
                        "state": "active",
                        "remark": rng.choice(SURNAMES)
                        + rng.choice(GIVEN)
                        + (rng.choice(GIVEN) if rng.random() < 0.6 else ""),
                        "added_at": now - timedelta(days=rng.randint(1, 700)),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            stats = []
            for i in ids:
                if rng.random() < 0.5:
                    last = now - timedelta(days=rng.randint(0, 365), hours=rng.randint(0, 23))
                    stats.append(
                        {
                            "customer_id": i,
                            "workspace_id": 1,
                            "paid_fen": 10000,
                            "net_fen": 10000,
                            "orders_count": 1,
                            "paid_orders_count": 1,
                            "effective_orders_count": 1,
                            "first_paid_at": last,
                            "last_paid_at": last,
                            "first_order_id": i,
                            "last_order_id": i,
                            "categories": {},
                            "products": {},
                            "platforms": {},
                            "shops": {},
                            "updated_at": now,
                        }  # fmt: skip
                    )
            if stats:
                s.execute(insert(CustomerStats), stats)
            tagged = [i for i in ids if i <= enroll]
            if tagged:
                s.execute(
                    insert(CustomerTag),
                    [
                        {
                            "workspace_id": 1,
                            "customer_id": i,
                            "tag_id": 1,
                            "source": "manual",
                            "created_at": now,
                        }
                        for i in tagged
                    ],
                )
            s.commit()
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load in production; the test server runs with
        # autovacuum off, and without statistics the planner scans all follows per chunk.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
            con.execute(text("ANALYZE"))
    engine.dispose()


def morning(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    before = _rss_mb()
    with moved_clock(NOW), Session(engine) as s:
        t, c = time.perf_counter(), time.process_time()
        made = sources.morning(s, workspace_id=1)
        s.commit()
        ours, ours_cpu = time.perf_counter() - t, time.process_time() - c
        total = s.scalar(select(func.count()).select_from(StaffTask))
        s.execute(text("DELETE FROM staff_tasks WHERE kind = 'coverage'"))
        s.commit()
        # The peer: today's coverage share (day 0 of 21 working days) in one statement.
        t, c = time.perf_counter(), time.process_time()
        peer = s.execute(
            text(
                "INSERT INTO staff_tasks (workspace_id, staff_id, customer_id, kind, title, priority, due_at, status,"
                " source, dedup_key, extra, created_at, updated_at)"
                " SELECT 1, staff_id, customer_id, 'coverage', '本月触达', 3, :due, 'open', 'coverage',"
                " 'peer:' || staff_id || ':' || customer_id, '{}', :now, :now FROM ("
                "  SELECT staff_id, customer_id, row_number() OVER (PARTITION BY staff_id ORDER BY remark) - 1 AS pos,"
                "  count(*) OVER (PARTITION BY staff_id) AS n FROM follows WHERE workspace_id = 1 AND state = 'active') f"
                " WHERE pos * 21 / n = 0"
            ),
            {"due": NOW + timedelta(hours=14), "now": NOW},
        ).rowcount
        s.commit()
        theirs, theirs_cpu = time.perf_counter() - t, time.process_time() - c
    engine.dispose()
    return {
        "made": made,
        "total": total,
        "seconds": ours,
        "cpu_seconds": ours_cpu,
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": before,
        "peer_rows": peer,
        "peer_seconds": theirs,
        "peer_cpu_seconds": theirs_cpu,
    }


def enrollment(url: str, exits: Sequence[str] = ()) -> dict[str, Any]:
    engine = make_engine(url)
    with moved_clock(NOW), Session(engine) as s:
        s.execute(
            text("UPDATE workspaces SET settings = :q"),
            {"q": '{"quiet_hours": {"start": "00:00", "end": "00:00"}}'},
        )
        plan = service.create_plan(
            s,
            workspace_id=1,
            data=PlanInput(
                name="bench",
                trigger={"kind": "tag_added", "tag": "新客"},
                steps=[{"day": 0, "action": "task", "title": "问候"}],
                exits=list(exits),
            ),
        )
        floor_plan = service.create_plan(
            s,
            workspace_id=1,
            data=PlanInput(
                name="floor",
                trigger={"kind": "tag_added", "tag": "新客"},
                steps=[{"day": 0, "title": "问候"}],
            ),
        ).id
        s.commit()
        t, c, sv = time.perf_counter(), time.process_time(), _server_cpu(s)
        act = service.activate(s, workspace_id=1, plan_id=plan.id, enroll_existing=True)
        s.commit()
        enroll_s, enroll_cpu, enroll_srv = (
            time.perf_counter() - t,
            time.process_time() - c,
            _server_cpu(s) - sv,
        )
        t, c, sv = time.perf_counter(), time.process_time(), _server_cpu(s)
        ran = 0
        while True:
            got = service.run_all_due(s, workspace_id=1, limit=5000)
            s.commit()
            ran += got.ran
            if got.ran == 0:
                break
        run_s, run_cpu, run_srv = time.perf_counter() - t, time.process_time() - c, _server_cpu(s) - sv
        # The floor, same run: the same enrollment rows (the tag's holders with their
        # owner) as one bare INSERT ... SELECT, then the first step as three statements
        # (a task each, a step run each, the enrollments completed). No audience, no
        # occurrence keys checked, no dedup, no batching for callbacks.
        params = {"p": floor_plan, "now": NOW}
        t, c, sv = time.perf_counter(), time.process_time(), _server_cpu(s)
        floor_rows = s.execute(
            text(
                "INSERT INTO sop_enrollments (workspace_id, plan_id, customer_id, staff_id, trigger_key, status, entered_at,"
                " current_step, next_due_at, created_at, updated_at)"
                " SELECT 1, :p, ct.customer_id, f.staff_id, 'tag:1:2026-06-01', 'active', :now, 0, :now, :now, :now"
                " FROM customer_tags ct JOIN follows f ON f.customer_id = ct.customer_id AND f.state = 'active'"
                " WHERE ct.workspace_id = 1 AND ct.tag_id = 1"
            ),
            params,
        ).rowcount
        s.commit()
        floor_enroll_s, floor_enroll_cpu, floor_enroll_srv = (
            time.perf_counter() - t,
            time.process_time() - c,
            _server_cpu(s) - sv,
        )
        t, c, sv = time.perf_counter(), time.process_time(), _server_cpu(s)
        s.execute(
            text(
                "INSERT INTO staff_tasks (workspace_id, staff_id, customer_id, kind, title, priority, due_at, status,"
                " source, dedup_key, extra, created_at, updated_at)"
                " SELECT 1, staff_id, customer_id, 'sop_step', '【floor】问候', 2, :now, 'open', 'sop',"
                " 'floor:' || id, '{}', :now, :now FROM sop_enrollments WHERE plan_id = :p"
            ),
            params,
        )
        s.execute(
            text(
                "INSERT INTO sop_step_runs (workspace_id, enrollment_id, step_index, action, outcome, task_id, detail, ran_at)"
                " SELECT 1, e.id, 0, 'task', 'done', t.id, '{}', :now FROM sop_enrollments e"
                " JOIN staff_tasks t ON t.workspace_id = 1 AND t.dedup_key = 'floor:' || e.id WHERE e.plan_id = :p"
            ),
            params,
        )
        s.execute(
            text(
                "UPDATE sop_enrollments SET current_step = 1, status = 'completed', next_due_at = NULL WHERE plan_id = :p"
            ),
            params,
        )
        s.commit()
        floor_step_s, floor_step_cpu, floor_step_srv = (
            time.perf_counter() - t,
            time.process_time() - c,
            _server_cpu(s) - sv,
        )
    engine.dispose()
    return {
        "enrolled": act.enrolled,
        "enroll_seconds": enroll_s,
        "enroll_cpu_seconds": enroll_cpu,
        "steps": ran,
        "steps_seconds": run_s,
        "steps_cpu_seconds": run_cpu,
        "floor_rows": floor_rows,
        "floor_enroll_seconds": floor_enroll_s,
        "floor_enroll_cpu_seconds": floor_enroll_cpu,
        "floor_step_seconds": floor_step_s,
        "floor_step_cpu_seconds": floor_step_cpu,
        "server_cpu_seconds": {
            "enroll": enroll_srv,
            "steps": run_srv,
            "floor_enroll": floor_enroll_srv,
            "floor_step": floor_step_srv,
        },
    }


def run(
    url: str, friends: int, enroll: int, with_morning: bool = True, exits: Sequence[str] = ()
) -> dict[str, Any]:
    t = time.perf_counter()
    build(url, friends, enroll)
    built = time.perf_counter() - t
    return {
        "friends": friends,
        "build_seconds": built,
        "morning": morning(url) if with_morning else None,
        "enrollment": enrollment(url, exits),
    }


def _report(label: str, r: dict[str, Any]) -> None:
    m, e = r["morning"], r["enrollment"]
    print(f"{label}: {r['friends']:,} friends / {N_STAFF} accounts (built in {r['build_seconds']:.0f} s)")
    if m is not None:
        print(f"  morning lists: {m['total']:,} tasks {m['made']} in {m['seconds']:.1f} s ({m['cpu_seconds']:.1f} CPU s), process peak RSS {m['peak_rss_mb']:.0f} MB (after the build {m['rss_before_mb']:.0f} MB);"
          f" peer INSERT...SELECT coverage {m['peer_rows']:,} rows in {m['peer_seconds']:.1f} s ({m['peer_cpu_seconds']:.1f} CPU s)")  # fmt: skip
    print(f"  enrollment: {e['enrolled']:,} in {e['enroll_seconds']:.1f} s, {e['enroll_cpu_seconds']:.1f} CPU s ({e['enrolled'] / max(e['enroll_seconds'], 1e-9):,.0f}/s);"
          f" first step {e['steps']:,} tasks in {e['steps_seconds']:.1f} s, {e['steps_cpu_seconds']:.1f} CPU s ({e['steps'] / max(e['steps_seconds'], 1e-9):,.0f}/s)")  # fmt: skip
    print(f"  floor (same run): INSERT...SELECT of the same {e['floor_rows']:,} enrollment rows in {e['floor_enroll_seconds']:.1f} s, {e['floor_enroll_cpu_seconds']:.1f} CPU s;"
          f" first step as 3 statements in {e['floor_step_seconds']:.1f} s, {e['floor_step_cpu_seconds']:.1f} CPU s (client CPU)")  # fmt: skip
    sv = e["server_cpu_seconds"]
    if any(sv.values()):
        print(f"  PostgreSQL server CPU (this database's backends): enroll {sv['enroll']:.1f} s, first step {sv['steps']:.1f} s;"
              f" floor enroll {sv['floor_enroll']:.1f} s, floor first step {sv['floor_step']:.1f} s")  # fmt: skip
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")


@pytest.mark.bench
def test_tasks_bench_small(tmp_path: Path) -> None:
    r = run(f"sqlite:///{tmp_path / 'bench.db'}", 20_000, 2_000)
    _report("sqlite", r)
    assert r["enrollment"]["steps"] == 2_000
    assert r["enrollment"]["floor_rows"] == 2_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--friends", type=int, default=100_000)
    ap.add_argument("--enroll", type=int, default=10_000)
    ap.add_argument(
        "--db", default=None, help="an empty PostgreSQL database URL (default: a new SQLite file)"
    )
    ap.add_argument("--no-morning", action="store_true", help="only the enrollment part")
    ap.add_argument(
        "--exits",
        default="",
        help="the plan's exits, comma-separated (e.g. bought,opted_out,left,replied); "
        "each step checks them for every customer",
    )
    a = ap.parse_args()
    url = a.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='siyu-bench-')) / 'bench.db'}"
    exits = [x for x in a.exits.split(",") if x]
    r = run(url, a.friends, a.enroll, with_morning=not a.no_morning, exits=exits)
    _report("postgresql" if url.startswith("postgres") else "sqlite", r)


if __name__ == "__main__":
    sys.exit(main())
