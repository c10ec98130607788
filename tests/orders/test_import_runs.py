"""Import runs: re-imports change nothing, newer exports update, bad input is reported, kills resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import normalise_url
from siyu.models import (
    Customer,
    CustomerIdentity,
    CustomerStats,
    Event,
    ImportRowError,
    ImportRun,
    Order,
    OrderItem,
    Workspace,
)
from tests.conftest import CliRun
from tests.orders.test_import_formats import (
    FIX,
    TAOBAO,
    TAOBAO_ITEMS,
    TAOBAO_NEWER,
    import_json,
    order,
    stats_of,
)


def snapshot(session: Session) -> list[tuple[object, ...]]:
    """Everything an import writes that must not move on a re-run."""
    session.expire_all()
    rows: list[tuple[object, ...]] = []
    for model in (Order, OrderItem, Customer, CustomerIdentity, CustomerStats, Event):
        table = model.__table__  # type: ignore[attr-defined]
        cols = [c for c in table.c if c.name not in ("updated_at", "created_at", "value_enc")]
        rows.extend(tuple(r) for r in session.execute(select(*cols).order_by(*table.primary_key.columns)))
    return rows


def test_reimporting_the_same_files_changes_nothing(cli: CliRun, session: Session) -> None:
    files = [
        TAOBAO,
        TAOBAO_ITEMS,
        FIX / "douyin_orders.csv",
        FIX / "jd_orders.csv",
        FIX / "youzan_orders.csv",
    ]
    cli("import", "orders", *files)
    before = snapshot(session)
    summaries = import_json(cli, *files)
    assert [(s["orders_created"], s["orders_updated"], s["customers_created"]) for s in summaries] == [
        (0, 0, 0)
    ] * 5
    # Detail files run after order files.
    assert [s["orders_unchanged"] for s in summaries] == [6, 2, 2, 3, 3]
    assert snapshot(session) == before
    assert session.scalar(select(func.count()).select_from(ImportRun)) == 10


def test_newer_overlapping_export_updates_status_refund_and_paid_time(cli: CliRun, session: Session) -> None:
    cli("import", "orders", TAOBAO)
    [newer] = import_json(cli, TAOBAO_NEWER)
    assert (newer["orders_created"], newer["orders_updated"], newer["orders_unchanged"]) == (1, 3, 1)
    session.expire_all()
    t2 = order(session, "taobao", "1001002")
    assert (t2.status, t2.refunded_fen) == ("completed", 5000)
    t4 = order(session, "taobao", "1001004")
    assert (t4.status, t4.paid_fen, t4.raw_status) == ("paid", 5900, "买家已付款，等待卖家发货")
    assert t4.paid_at is not None
    assert order(session, "taobao", "1001006").status == "completed"
    alice = stats_of(session, t2.customer_id)
    assert (alice.paid_fen, alice.refunded_fen, alice.net_fen) == (52750, 5000, 47750)
    carol = stats_of(session, t4.customer_id)
    assert (carol.paid_orders_count, carol.net_fen, carol.purchase_days) == (1, 5900, 1)
    refund_events = session.scalars(
        select(Event).where(Event.kind == "order.refunded", Event.order_id == t2.id)
    )
    assert len(list(refund_events)) == 1

    # The older export imported again afterwards rolls nothing back.
    before = snapshot(session)
    [older] = import_json(cli, TAOBAO)
    assert (older["orders_updated"], older["orders_stale"], older["orders_unchanged"]) == (0, 3, 3)
    assert snapshot(session) == before


def test_bad_rows_are_reported_and_good_rows_go_in(cli: CliRun, session: Session) -> None:
    result = cli("import", "orders", FIX / "generic_bad.csv")
    assert "3 rows not imported" in result.stdout
    assert "abc" in result.stdout
    assert "2020-13-45" in result.stdout
    assert sorted(session.scalars(select(Order.external_id))) == ["b-1", "b-5"]
    errors = session.scalars(select(ImportRowError).order_by(ImportRowError.line)).all()
    assert [(e.filename, e.line, e.field, e.value) for e in errors] == [
        ("generic_bad.csv", 3, "amount", "abc"),
        ("generic_bad.csv", 4, "paid_at", "2020-13-45"),
        ("generic_bad.csv", 5, "buyer_id", ""),
    ]
    assert "not an amount" in errors[0].message
    assert "month must be in 1..12" in errors[1].message
    run = session.scalar(select(ImportRun))
    assert run is not None
    assert (run.rows_total, run.rows_ok, run.rows_failed, run.status) == (5, 2, 3, "completed")
    assert stats_of(session, order(session, "generic", "b-1").customer_id).net_fen == 1700


def test_bad_json_line_is_a_row_error(cli: CliRun, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(
        '{"order_id": "1", "paid_at": "2020-01-01", "amount": 5, "buyer_id": "a"}\n'
        '{"order_id": "2", "paid_at": \n'
        '{"order_id": "3", "paid_at": "2020-01-03", "amount": "x", "buyer_id": "a"}\n',
        encoding="utf-8",
    )
    [summary] = import_json(cli, path)
    assert (summary["rows_ok"], summary["rows_failed"]) == (1, 2)
    errors = summary["errors"]
    assert isinstance(errors, list)
    assert [(e["line"], e["field"]) for e in errors] == [(2, None), (3, "amount")]
    assert "not valid JSON" in errors[0]["message"]


def _nothing_written(session: Session) -> None:
    session.expire_all()
    for model in (Order, Customer, ImportRun, ImportRowError):
        assert session.scalar(select(func.count()).select_from(model)) == 0, model.__name__


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"foo,bar\n1,2\n", "does not match any known export format"),
        (b"PK\x03\x04\x14\x00\x00\x00binary", "binary file"),
        (b"", "empty"),
        ("订单号,金额\n1,2\n".encode("utf-16"), "binary file"),
        (b"\xff\xfe\xfa\x80\x81 not text \xff\n", "neither UTF-8 nor GBK"),
    ],
)
def test_unreadable_or_unknown_files_exit_2_and_write_nothing(
    cli: CliRun, session: Session, tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "export.csv"
    bad.write_bytes(content)
    # A good file beside it is not imported either: all files are checked first.
    result = cli("import", "orders", TAOBAO, bad, expect=2)
    assert message in result.stderr
    assert "export.csv" in result.stderr
    _nothing_written(session)


def test_missing_file_and_wrong_format_choice(cli: CliRun, session: Session, tmp_path: Path) -> None:
    assert "no such file" in cli("import", "orders", tmp_path / "nope.csv", expect=2).stderr
    assert (
        "does not match the jd format" in cli("import", "orders", TAOBAO, "--format", "jd", expect=2).stderr
    )
    assert "unknown format" in cli("import", "orders", TAOBAO, "--format", "excel", expect=2).stderr
    _nothing_written(session)


def test_explicit_format_matches_auto(cli: CliRun, session: Session) -> None:
    [summary] = import_json(cli, FIX / "youzan_orders.csv")
    cli("import", "orders", FIX / "youzan_orders.csv", "--format", "youzan")
    assert summary["orders_created"] == 3
    assert session.scalar(select(func.count()).select_from(Order)) == 3


def _write_big(path: Path, rows: int) -> int:
    """A generic export: one order per row over rows // 3 customers; returns the total fen."""
    total = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("order_id,paid_at,amount,buyer_id,phone\n")
        for i in range(1, rows + 1):
            fen = 100 + (i * 37) % 10000
            total += fen
            cust = i % (rows // 3)
            fh.write(
                f"k-{i},2021-{1 + i % 12:02d}-{1 + i % 28:02d} 10:{i % 60:02d}:00,{fen / 100:.2f},u{cust},"
            )
            fh.write(f"139{cust:08d}\n")
    return total


@pytest.mark.slow
def test_kill_9_mid_import_loses_nothing_and_a_rerun_completes(
    cli: CliRun, session: Session, env: Settings, tmp_path: Path
) -> None:
    rows = 6000
    path = tmp_path / "big.csv"
    total = _write_big(path, rows)
    engine = create_engine(normalise_url(env.database_url))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "siyu.cli.main",
            "import",
            "orders",
            str(path),
            "--batch-size",
            "300",
            "--no-progress",
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        committed = 0
        while time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as conn:
                committed = conn.scalar(select(func.coalesce(func.max(ImportRun.committed_line), 0))) or 0
            if committed >= 600:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"import finished before it could be killed: {proc.stderr}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.dispose()

    session.expire_all()
    run = session.scalar(select(ImportRun))
    assert run is not None
    assert run.status == "running"  # it never got to say otherwise
    kept = session.scalar(select(func.count()).select_from(Order))
    # Exactly the committed batches are there: every line up to committed_line, nothing after.
    assert kept == run.committed_line - 1 == run.rows_total
    assert 600 <= kept < rows

    [summary] = import_json(cli, path)
    assert summary["resumed_after_line"] == run.committed_line
    assert summary["orders_created"] == rows - kept
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Order)) == rows
    assert session.scalar(select(func.count(func.distinct(Order.external_id)))) == rows
    assert session.scalar(select(func.sum(Order.paid_fen))) == total
    assert session.scalar(select(func.sum(CustomerStats.net_fen))) == total
    assert session.scalar(select(func.sum(CustomerStats.orders_count))) == rows
    assert session.scalar(select(func.count()).select_from(Customer)) == rows // 3
    assert session.scalar(select(func.count()).select_from(Event).where(Event.kind.like("order.%"))) == rows
    old = session.get(ImportRun, run.id)
    assert old is not None
    assert old.status == "failed"
    assert "interrupted" in (old.error_message or "")
    ws = session.scalar(select(Workspace))
    assert ws is not None
    # A third run finds everything in place.
    [again] = import_json(cli, path)
    assert (again["orders_created"], again["orders_updated"], again["orders_unchanged"]) == (0, 0, rows)


def test_tab_separated_file_with_an_overlong_order_id(cli: CliRun, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "orders.tsv"
    long_id = "x" * 65
    path.write_text(
        "order_id\tpaid_at\tamount\tbuyer_id\n"
        "ok-1\t2024-03-01 08:00\t1,234.50\tu1\n"
        f"{long_id}\t2024-03-02\t1\tu1\n",
        encoding="utf-8",
    )
    [summary] = import_json(cli, path)
    assert (summary["rows_ok"], summary["rows_failed"]) == (1, 1)
    errors = summary["errors"]
    assert isinstance(errors, list)
    assert errors[0]["message"] == "order id is longer than 64 characters"
    assert order(session, "generic", "ok-1").paid_fen == 123450


def test_reimport_after_anonymisation_brings_nothing_back(cli: CliRun, session: Session) -> None:
    from siyu.privacy.service import anonymise_customer

    cli("import", "orders", TAOBAO)
    t1 = order(session, "taobao", "1001001")
    assert t1.customer_id is not None
    anonymise_customer(session, workspace_id=t1.workspace_id, customer_id=t1.customer_id, actor="test")
    session.commit()
    before = snapshot(session)

    [again] = import_json(cli, TAOBAO)
    assert (again["orders_stale"], again["orders_updated"], again["customers_created"]) == (2, 0, 0)
    assert snapshot(session) == before
    t1 = order(session, "taobao", "1001001")
    assert t1.buyer_name is None
    identities = select(func.count()).select_from(CustomerIdentity)
    assert session.scalar(identities.where(CustomerIdentity.customer_id == t1.customer_id)) == 0


def _stats_rows(session: Session) -> list[tuple[object, ...]]:
    table = CustomerStats.__table__
    cols = [c for c in table.c if c.name != "updated_at"]
    return [tuple(r) for r in session.execute(select(*cols).order_by(table.c.customer_id))]


def test_rerun_finishes_the_stats_of_killed_runs(cli: CliRun, session: Session, tmp_path: Path) -> None:
    """Stats are due at the end of a file: runs killed before it are finished by the re-run."""
    path = tmp_path / "big.csv"
    total = _write_big(path, 90)
    import_json(cli, path)
    session.expire_all()
    run = session.scalar(select(ImportRun))
    assert run is not None
    expected = _stats_rows(session)
    # As if two runs had been killed after their last batch, before their stats: the
    # first before the second resumed it.
    session.execute(delete(CustomerStats))
    for status in ("running", "running"):
        session.add(
            ImportRun(
                workspace_id=run.workspace_id, kind="orders", format=run.format, filename=run.filename,
                file_sha256=run.file_sha256, file_size=run.file_size, status=status, actor="test",
                committed_line=run.committed_line,
            )
        )  # fmt: skip
    session.flush()
    killed = session.scalars(select(ImportRun.id).where(ImportRun.status == "running")).all()
    session.execute(update(Order).where(Order.external_id <= "k-5").values(import_id=killed[0]))
    session.execute(update(Order).where(Order.external_id > "k-5").values(import_id=killed[1]))
    session.commit()

    [again] = import_json(cli, path)
    assert again["resumed_after_line"] == run.committed_line
    assert again["orders_created"] == again["rows_total"] == 0
    session.expire_all()
    assert session.scalar(select(func.sum(CustomerStats.net_fen))) == total
    assert _stats_rows(session) == expected
    for rid in killed:
        old = session.get(ImportRun, rid)
        assert old is not None
        assert old.status == "failed"
        assert "interrupted" in (old.error_message or "")


def test_a_customer_merged_in_a_later_batch_keeps_no_stats(
    env: Settings, session: Session, tmp_path: Path
) -> None:
    from siyu.orders.service import import_orders

    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,paid_at,amount,buyer_id,phone\n"
        "m-1,2024-01-01 10:00,10,u1,13900000001\n"
        "m-2,2024-01-02 10:00,20,u2,13900000002\n"
        "m-3,2024-01-03 10:00,30,u2,13900000001\n",
        encoding="utf-8",
    )
    [summary] = import_orders([path], workspace_slug="merge", progress=False, batch_size=1)
    assert summary.customers_merged == 1
    session.expire_all()
    live = session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))).all()
    assert len(live) == 1
    rows = session.execute(
        select(CustomerStats.customer_id, CustomerStats.orders_count, CustomerStats.net_fen)
    )
    assert [tuple(r) for r in rows] == [(live[0], 3, 6000)]


def test_end_of_file_stats_commit_chunk_by_chunk(
    env: Settings, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other writers (WeCom callbacks, the console) never wait for a whole file's stats."""
    from siyu.orders import service

    path = tmp_path / "orders.csv"
    rows = [f"c-{i},2024-01-0{1 + i % 9} 10:00,{10 + i},buyer{i}" for i in range(7)]
    path.write_text("order_id,paid_at,amount,buyer_id\n" + "\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(service, "STATS_CHUNK", 3)
    # Another connection, as a callback writer in another process would have.
    other = create_engine(normalise_url(env.database_url))
    seen: list[int] = []
    real = service.refresh_stats

    def watched(s: Session, *, workspace_id: int, customer_ids: list[int]) -> int:
        with other.connect() as conn:
            seen.append(conn.execute(select(func.count()).select_from(CustomerStats)).scalar_one())
        if other.dialect.name == "sqlite":
            # SQLite's write lock is free between chunks: a writer that does not wait gets it.
            raw = other.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute("PRAGMA busy_timeout = 0")
                cur.execute("BEGIN IMMEDIATE")
                cur.execute("ROLLBACK")
            finally:
                raw.close()
        return real(s, workspace_id=workspace_id, customer_ids=customer_ids)

    monkeypatch.setattr(service, "refresh_stats", watched)
    try:
        [summary] = service.import_orders([path], workspace_slug="chunks", progress=False)
    finally:
        other.dispose()
    assert summary.status == "completed"
    # Each chunk's stats were committed (seen by the other connection) before the next began.
    assert seen == [0, 3, 6]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(CustomerStats)) == 7
    assert session.scalar(select(func.sum(CustomerStats.net_fen))) == sum(100 * (10 + i) for i in range(7))


_HOLD_THE_TURN = """
import sys
from siyu.kit.db import local_write_lock, make_engine
with local_write_lock(make_engine(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_an_import_takes_turns_with_other_writers_on_sqlite(
    env: Settings, session: Session, tmp_path: Path
) -> None:
    """WeCom callback writers and imports take turns at SQLite's one writer.

    While another process (a callback writer of ``siyu serve``) has its turn, the import
    writes nothing; it goes on once the turn is handed back.
    """
    if not env.database_url.startswith("sqlite"):
        pytest.skip("SQLite's one writer")
    from siyu.orders.service import import_orders

    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,paid_at,amount,buyer_id\nt-1,2024-01-01 10:00,10,u1\nt-2,2024-01-02 10:00,20,u2\n",
        encoding="utf-8",
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_TURN, env.database_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    done: list[object] = []
    worker = threading.Thread(
        target=lambda: done.extend(import_orders([path], workspace_slug="turns", progress=False))
    )
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        worker.start()
        worker.join(1.5)
        assert worker.is_alive(), "the import wrote while another writer had the turn"
        session.expire_all()
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        session.rollback()
        holder.stdin.write("go\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
        worker.join(60)
        assert not worker.is_alive()
    finally:
        if holder.poll() is None:
            holder.kill()
    assert len(done) == 1
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Order)) == 2


def test_error_names_the_file_whole_and_literally(cli: CliRun, tmp_path: Path) -> None:
    # A long name with brackets: not wrapped onto two lines, not read as console markup.
    name = "[订单]" + "x" * 120 + ".csv"
    assert name in cli("import", "orders", tmp_path / name, expect=2).stderr
