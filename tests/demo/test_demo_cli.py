"""``siyu demo``: real-format files, imported through the real path, add up to the fen."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.demo.service import DemoContext, DemoStep, run_demo
from siyu.demo.simulate import DemoData, DemoOrder, simulate
from siyu.demo.writers import write_all
from siyu.kit.pii import get_vault
from siyu.models import Customer, CustomerIdentity, ImportRun, Order, Workspace
from tests.conftest import DEMO_ARGS, DEMO_AS_OF, DemoBrand

AS_OF = DEMO_AS_OF
ARGS = DEMO_ARGS


def _fen(text: str) -> int:
    return int(Decimal(text.strip().removesuffix("元")) * 100)


def _read(path: Path, encoding: str) -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader)]
        return [dict(zip(header, row, strict=True)) for row in reader]


def _file_totals(out: Path) -> dict[str, tuple[set[str], int, int]]:
    """Per platform: order ids, paid fen and refunded fen, read from the files themselves."""
    totals: dict[str, tuple[set[str], int, int]] = {}
    (main,) = out.glob("ExportOrderList*.csv")
    rows = _read(main, "gbk")
    totals["taobao"] = (
        {r["订单编号"].removeprefix('="').removesuffix('"') for r in rows},
        sum(_fen(r["买家实际支付金额"]) for r in rows),
        sum(_fen(r["退款金额"]) for r in rows),
    )
    (youzan,) = out.glob("youzan_orders_*.csv")
    rows = _read(youzan, "utf-8")
    totals["youzan"] = (
        {r["订单号"] for r in rows},
        sum(_fen(r["订单实付金额"]) for r in rows),
        sum(_fen(r["订单已退款金额"]) for r in rows),
    )
    (douyin,) = out.glob("douyin_orders_*.csv")
    rows = _read(douyin, "utf-8-sig")
    totals["douyin"] = (
        {r["主订单编号"].strip() for r in rows},
        sum(_fen(r["订单应付金额"]) for r in rows),
        sum(_fen(r["订单应付金额"]) for r in rows if r["售后状态"] == "退款成功"),
    )
    rows = [r for pos in sorted(out.glob("offline_pos_*.csv")) for r in _read(pos, "utf-8")]
    totals["offline"] = (
        {r["order_id"] for r in rows},
        sum(_fen(r["amount"]) for r in rows),
        sum(_fen(r["refund_amount"]) for r in rows),
    )
    return totals


def _db_totals(session: Session, workspace_id: int | None = None) -> dict[str, tuple[set[str], int, int]]:
    ids: dict[str, set[str]] = defaultdict(set)
    money: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    stmt = select(Order.platform, Order.external_id, Order.paid_fen, Order.refunded_fen)
    if workspace_id is not None:
        stmt = stmt.where(Order.workspace_id == workspace_id)
    for platform, external_id, paid, refunded in session.execute(stmt):
        ids[platform].add(external_id)
        money[platform][0] += paid
        money[platform][1] += refunded
    return {p: (ids[p], money[p][0], money[p][1]) for p in ids}


def _expected_oneid(truth: DemoData) -> tuple[int, int, dict[int, int]]:
    """Live profiles and merges after importing the files in order, and profiles per person.

    A small model of OneID: rows of one file are one batch (the test files are small);
    identities in one row are one person; a batch component touching several known
    profiles merges them.
    """

    def keys(o: DemoOrder) -> set[tuple[str, str]]:
        if o.platform == "taobao":
            return {("nick", o.person.taobao_nick)}
        if o.platform == "youzan":
            return {("phone", o.person.phone)}
        if o.platform == "offline":
            card = {("card", o.person.card or "")}
            return card | ({("phone", o.person.phone)} if o.phone_known else set())
        return set()  # Douyin: encrypted recipients, no key

    files = [
        [o for o in truth.orders if o.platform == "taobao"],
        [o for o in truth.orders if o.platform == "youzan"],
        *(
            [o for o in truth.orders if o.platform == "offline" and o.created_at.year == year]
            for year in sorted({o.created_at.year for o in truth.orders if o.platform == "offline"})
        ),
    ]
    owner: dict[tuple[str, str], int] = {}
    merged_into: dict[int, int] = {}
    created = merges = 0

    def live_of(cid: int) -> int:
        while cid in merged_into:
            cid = merged_into[cid]
        return cid

    def find(parent: dict[tuple[str, str], tuple[str, str]], k: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(k, k)
        while parent[k] != k:
            k = parent[k]
        return k

    for rows in files:
        parent: dict[tuple[str, str], tuple[str, str]] = {}

        for o in rows:
            ks = sorted(keys(o))
            for k in ks[1:]:
                parent[find(parent, k)] = find(parent, ks[0])
            if ks:
                find(parent, ks[0])
        comps: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        for k in list(parent):
            comps[find(parent, k)].add(k)
        for comp in comps.values():
            known = sorted({live_of(owner[k]) for k in comp if k in owner})
            if not known:
                created += 1
                cid = created
            else:
                cid, *others = known
                for other in others:
                    merged_into[other] = cid
                    merges += 1
            for k in comp:
                owner[k] = cid
    per_person: dict[int, int] = {}
    for p in truth.persons:
        mine = {("phone", p.phone), ("card", p.card or "")}
        per_person[p.idx] = len({live_of(owner[k]) for k in mine if k in owner})
    return created - merges, merges, per_person


def test_demo_files_are_real_formats_and_import_to_the_fen(cli, session: Session, tmp_path: Path) -> None:
    out = tmp_path / "demo-data"
    # WeCom friends who never bought are customers too; this test models the files alone.
    result = cli(*ARGS, "--out", out, "--skip", "wecom")
    assert "net revenue" in result.stdout

    # Each platform's file, in its own encoding, with its quirks.
    (main,) = out.glob("ExportOrderList*.csv")
    raw = main.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gbk")
    header = text.split("\r\n", 1)[0].split(",")
    assert "收货地址 " in header
    assert "订单付款时间 " in header
    assert re.search(r'^="\d{19}",', text.split("\r\n")[1])
    assert re.search(r",'1\d\d\*{4}\d{4},", text)  # masked phones behind a '
    assert "元" in text.split("\r\n")[1]
    (detail,) = out.glob("ExportOrderDetailList*.csv")
    assert detail.read_bytes().decode("gbk").startswith("订单编号,标题,价格,购买数量")
    (douyin,) = out.glob("douyin_orders_*.csv")
    assert douyin.read_bytes().startswith(b"\xef\xbb\xbf")
    assert douyin.read_bytes().decode("utf-8-sig").split("\r\n")[1].startswith("\t69")
    (youzan,) = out.glob("youzan_orders_*.csv")
    assert re.search(r",1\d\d\*{6}\d\d,", youzan.read_text(encoding="utf-8"))

    # The database holds exactly the orders and the money the files carry.
    files = _file_totals(out)
    db = _db_totals(session)
    assert set(db) == {"taobao", "youzan", "douyin", "offline"}
    for platform, (ids, paid, refunded) in files.items():
        assert db[platform][0] == ids, platform
        assert (db[platform][1], db[platform][2]) == (paid, refunded), platform
    truth = simulate(300, 1, date.fromisoformat(AS_OF))
    assert sum(o.net_fen for o in truth.orders) == sum(p - r for _, p, r in db.values())

    # OneID ends exactly where the identities in the files lead (modelled below).
    live, merges, owners_of = _expected_oneid(truth)
    assert merges >= 1
    count = select(func.count()).select_from(Customer)
    assert session.scalar(count.where(Customer.merged_into_id.is_(None))) == live
    assert session.scalar(count.where(Customer.merged_into_id.is_not(None))) == merges
    assert session.scalar(select(func.count()).where(Order.platform == "douyin", Order.customer_id.is_(None)))
    owner = dict(session.execute(select(Order.external_id, Order.customer_id)).all())
    mine: dict[int, set[int | None]] = defaultdict(set)
    for o in truth.orders:
        if o.platform in ("youzan", "offline"):
            mine[o.person.idx].add(owner[o.order_id])
    # Store and member-mall orders of one person (same phone) land on one profile
    # unless the POS never saw the phone; a merged profile keeps no orders.
    assert sum(1 for idx in mine if owners_of[idx] == 1) >= 10
    for idx, customers in mine.items():
        assert len(customers) == owners_of[idx], idx
    assert len(set().union(*mine.values())) == sum(owners_of.values())
    phone_buyers = {
        o.person.idx
        for o in truth.orders
        if o.platform == "youzan" or (o.platform == "offline" and o.phone_known)
    }

    # Phones are stored hashed, encrypted and masked; never as plain text.
    phones = session.scalars(select(CustomerIdentity).where(CustomerIdentity.kind == "phone")).all()
    assert len(phones) == len(phone_buyers)
    plain = {"+86" + p.phone for p in truth.persons}
    for ident in phones:
        assert ident.value is None
        assert ident.value_enc
        assert get_vault().decrypt(ident.value_enc) in plain
        assert re.fullmatch(r"1\d\d\*{4}\d{4}", ident.value_masked or "")


@pytest.mark.xdist_group("demo")
def test_running_the_demo_again_changes_nothing(cli, session: Session, demo_brand: DemoBrand) -> None:  # type: ignore[no-untyped-def]
    out = demo_brand.out
    before = _db_totals(session)
    customers = session.scalar(select(func.count()).select_from(Customer))
    first_runs = session.scalar(select(func.max(ImportRun.id)))
    # Another day, no --as-of: the demo reuses the day it was made for.
    cli("demo", "--no-serve", "--customers", 300, "--seed", 1, "--out", out)
    session.expire_all()
    assert _db_totals(session) == before
    assert session.scalar(select(func.count()).select_from(Customer)) == customers
    again = session.scalars(select(ImportRun).where(ImportRun.id > first_runs)).all()
    assert len(again) == len(list(out.glob("*.csv")))
    for run in again:
        assert run.status == "completed"
        assert (run.orders_created, run.orders_updated, run.rows_failed) == (0, 0, 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--customers", 0), "--customers must be between 1"),
        (("--as-of", "2026-13-01"), "--as-of must be a date"),
        (("--out", "taken.txt"), "exists and is not a folder"),
        (("--port", 70000), "--port must be between"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    cli, session: Session, tmp_path: Path, args: tuple[object, ...], message: str
) -> None:
    Path("taken.txt").write_text("not a folder")
    result = cli("demo", "--no-serve", *args, expect=2)
    assert message in " ".join(result.stderr.split())
    assert not Path("demo-data").exists()
    assert session.scalar(select(func.count()).select_from(Order)) == 0


def test_steps_run_in_order_hooks_are_optional(env, tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def boom(ctx: DemoContext) -> None:
        raise RuntimeError("simulator down")

    def note(ctx: DemoContext) -> None:
        ctx.notes.append("hello from a hook")

    steps = [
        DemoStep("missing", "needs a module that is not there", note, requires="siyu.no_such_module"),
        DemoStep("attr", "needs an attribute that is not there", note, requires="siyu.demo.service:nope"),
        DemoStep("boom", "a hook that fails", boom),
        DemoStep("note", "a hook that works", note, requires="siyu.demo.service:run_demo"),
    ]
    ctx = DemoContext(customers=5, seed=1, out=tmp_path, as_of=date(2026, 11, 23), workspace_slug="qinghe")
    run_demo(ctx, steps=steps, on_step=lambda s, state: seen.append((s.name, state)))
    assert seen == [
        ("missing", "skipped"),
        ("attr", "skipped"),
        ("boom", "start"),
        ("boom", "failed"),
        ("note", "start"),
        ("note", "done"),
    ]
    assert ctx.failed == [("boom", "RuntimeError: simulator down")]
    assert ctx.notes == ["hello from a hook"]
    # A core step's failure stops the demo.
    core = DemoStep("core", "a core step", boom, optional=False)
    with pytest.raises(RuntimeError):
        run_demo(ctx, steps=[core])


def test_demo_serves_the_console_unless_told_not_to(
    cli, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import siyu.web.cli

    served: list[dict[str, object]] = []
    monkeypatch.setattr(siyu.web.cli, "serve", lambda **kw: served.append(kw))
    result = cli("demo", "--customers", 20, "--seed", 3, "--port", 8765, "--out", tmp_path / "d")
    assert served == [{"host": "127.0.0.1", "port": 8765, "migrate": False}]
    assert "http://127.0.0.1:8765/" in result.stdout
    assert session.scalar(select(func.count()).select_from(Order))


def test_demo_keeps_to_its_own_workspace(cli, session: Session, tmp_path: Path) -> None:
    cli("demo", "--no-serve", "--customers", 30, "--seed", 2, "--as-of", AS_OF, "--out", tmp_path / "a")
    orders = session.scalar(select(func.count()).select_from(Order))
    # Other options would import a second, different brand on top of the first.
    result = cli("demo", "--no-serve", "--customers", 30, "--seed", 3, "--out", tmp_path / "b", expect=2)
    said = " ".join(result.stderr.split())
    assert "already holds the demo brand made with --seed 2 --customers 30 --as-of 2026-11-23" in said
    assert not (tmp_path / "b").exists()
    # A workspace with a brand's real orders is never filled with demo data.
    real = tmp_path / "shop.csv"
    real.write_text("order_id,paid_at,amount,phone\nA-1,2026-11-01 10:00:00,99.00,13800138000\n")
    cli("import", "orders", real, "--workspace", "realbrand")
    result = cli("demo", "--no-serve", "--workspace", "realbrand", "--out", tmp_path / "c", expect=2)
    said = " ".join(result.stderr.split())
    assert "workspace 'realbrand' already holds 1 order that the demo did not make" in said
    assert not (tmp_path / "c").exists()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Order)) == orders + 1


def test_demo_files_import_to_the_fen_across_batch_boundaries(env, session: Session, tmp_path: Path) -> None:
    from siyu.orders.service import import_orders

    data = simulate(300, 1, date.fromisoformat(AS_OF))
    out = tmp_path / "demo-data"
    files = write_all(data, out)
    files_totals = _file_totals(out)
    # Small batches put many orders' rows on both sides of a batch boundary.
    for batch_size in (5, 13, 47):
        slug = f"batches{batch_size}"
        summaries = import_orders(
            [f.path for f in files], workspace_slug=slug, progress=False, actor="test", batch_size=batch_size
        )
        assert sum(s.rows_failed for s in summaries) == 0
        ws_id = session.scalar(select(Workspace.id).where(Workspace.slug == slug))
        db = _db_totals(session, ws_id)
        for platform, (ids, paid, refunded) in files_totals.items():
            assert db[platform][0] == ids, (batch_size, platform)
            assert (db[platform][1], db[platform][2]) == (paid, refunded), (batch_size, platform)


def test_skip_accepts_only_optional_steps(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(*ARGS, "--out", tmp_path / "d", "--skip", "import", expect=2)
    assert "not an optional demo step" in result.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.xdist_group("demo")
def test_demo_wecom_side_ends_yesterday_with_named_guides(session: Session, demo_brand: DemoBrand) -> None:
    from datetime import timedelta

    from siyu.kit.timeutil import local_day
    from siyu.models import Follow, Staff

    added = session.scalars(select(Follow.added_at).where(Follow.added_at.is_not(None))).all()
    days = {local_day(a, "Asia/Shanghai") for a in added if a is not None}
    yesterday = date.fromisoformat(AS_OF) - timedelta(days=1)
    # Friends keep being added up to the day before the demo's day, every week of it.
    assert max(days) == yesterday
    assert all(yesterday - timedelta(days=k) in days for k in range(7))
    names = set(session.scalars(select(Staff.name)))
    assert "林小青" in names
    assert not any(n.startswith("qh_") for n in names)
