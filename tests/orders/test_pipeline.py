"""Parsing in a second process gives exactly what parsing in the writer gives."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.models import CustomerIdentity, CustomerStats, ImportRowError, Order, OrderItem, Workspace
from siyu.orders import pipeline
from siyu.orders.service import import_orders, plan_file
from tests.orders.test_import_formats import FIX, TAOBAO, TAOBAO_ITEMS, TAOBAO_NEWER

FILES = [
    TAOBAO,
    TAOBAO_NEWER,
    TAOBAO_ITEMS,
    FIX / "douyin_orders.csv",
    FIX / "jd_orders.csv",
    FIX / "youzan_orders.csv",
    FIX / "generic_bad.csv",
    FIX / "generic_orders.jsonl",
    # an unclosed quote, stray bytes in UTF-8, duplicate order ids that disagree
    FIX / "generic_stray_quote.csv",
    FIX / "generic_stray_bytes.csv",
    FIX / "generic_conflicts.csv",
]


def _world(session: Session, slug: str) -> dict[str, object]:
    """What an import wrote into one workspace, without ids or times of writing."""
    ws = session.scalar(select(Workspace.id).where(Workspace.slug == slug))
    keys: dict[int, tuple[str, ...]] = {}
    for cid, digest in session.execute(
        select(CustomerIdentity.customer_id, CustomerIdentity.value_hash).where(
            CustomerIdentity.workspace_id == ws
        )
    ):
        keys[cid] = tuple(sorted((*keys.get(cid, ()), digest)))
    skip = {"id", "workspace_id", "customer_id", "import_id", "created_at", "updated_at"}
    orders = {}
    for o in session.scalars(select(Order).where(Order.workspace_id == ws)):
        cols = {c.name: getattr(o, c.name) for c in Order.__table__.c if c.name not in skip}
        cols["buyer"] = keys.get(o.customer_id) if o.customer_id else None
        cols["items"] = sorted(
            (i.line_key, i.title, i.quantity, i.amount_fen, i.refunded_fen)
            for i in session.scalars(select(OrderItem).where(OrderItem.order_id == o.id))
        )
        orders[(o.platform, o.external_id)] = cols
    stats = {
        keys.get(s.customer_id): (s.orders_count, s.paid_fen, s.refunded_fen, s.purchase_days, s.products)
        for s in session.scalars(select(CustomerStats).where(CustomerStats.workspace_id == ws))
    }
    errors = sorted(
        (e.filename, e.line, e.field, e.value, e.message)
        for e in session.scalars(select(ImportRowError).where(ImportRowError.workspace_id == ws))
    )
    return {"orders": orders, "stats": stats, "errors": errors}


@pytest.mark.slow
def test_parallel_parsing_writes_what_inline_parsing_writes(env: Settings, session: Session) -> None:
    inline = import_orders(FILES, workspace_slug="inline", progress=False, parallel=False, batch_size=3)
    two = import_orders(FILES, workspace_slug="two", progress=False, parallel=True, batch_size=3)
    fields = (
        "rows_total",
        "rows_ok",
        "rows_failed",
        "orders_created",
        "orders_updated",
        "customers_created",
        "orders_conflicting",
        "lines_read",
        "lines_imported",
        "lines_skipped",
        "lines_bad",
    )
    assert [[getattr(s, f) for f in fields] for s in two] == [[getattr(s, f) for f in fields] for s in inline]
    assert [s.errors for s in two] == [s.errors for s in inline]
    assert _world(session, "two") == _world(session, "inline")


def test_parser_process_failure_is_reported(env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,paid_at,amount,buyer_id\n1,2024-01-01,5,u1\n", encoding="utf-8")
    plan = plan_file(path)
    plan.probe.path = tmp_path / "gone.csv"  # vanishes between the check and the read
    with pytest.raises(RuntimeError, match="parser process failed"):
        list(pipeline.parsed_rows(plan, "Asia/Shanghai", 0, secret_key="k" * 32, parallel=True))
    with session_scope() as s:
        assert s.scalar(select(Order.id)) is None


WRITER = """
import multiprocessing, os, signal, sys
from pathlib import Path
from siyu.orders import pipeline
from siyu.orders.service import plan_file
plan = plan_file(Path(sys.argv[1]))
rows = pipeline.parsed_rows(plan, "Asia/Shanghai", 0, secret_key="k" * 32, parallel=True)
next(rows)
print(multiprocessing.active_children()[0].pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_parser_process_does_not_outlive_a_killed_writer(env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("order_id,paid_at,amount,buyer_id\n")
        fh.writelines(f"o{i},2024-01-01,5,u{i % 50}\n" for i in range(30_000))
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    child = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "the parser process is still running after its writer was killed"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.split(") ")[1][0] != "Z"  # a zombie has exited
