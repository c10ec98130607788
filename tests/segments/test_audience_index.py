"""The audience index agrees with the SQL path, and stays exact after writes elsewhere."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.customers.tags import add_tags, ensure_tag
from siyu.kit.db import get_engine, session_scope
from siyu.kit.scope import ensure_workspace
from siyu.models import AudienceChange, Customer, CustomerScore, CustomerStats, CustomerTag, Follow, Staff
from siyu.segments.audience import count, customer_ids_query, index, preview
from siyu.segments.audience.ast import Expr
from siyu.segments.audience.query import count_with_warnings
from tests.segments.test_audience_sql import NOW, Person, brute, expr_st, load, person_st


@pytest.fixture(autouse=True)
def fresh_indexes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts cold; builds are synchronous unless a test says otherwise."""
    monkeypatch.setattr(index, "ENABLED", True)
    monkeypatch.setattr(index, "SYNC_BUILD_MAX", 50_000)
    index._registry.clear()
    yield
    index._registry.clear()


def on_index(session: Session, ws: int, expr: Expr | str) -> tuple[set[int], list[str]]:
    """The matching ids and warnings from the index itself (fails if it did not answer)."""
    from siyu.segments.audience.parser import parse

    tree = parse(expr) if isinstance(expr, str) else expr

    def use(cols: index.Columns) -> tuple[set[int], list[str]]:
        got = index.evaluate(session, cols, workspace_id=ws, tree=tree, now=NOW)
        return {int(i) for i in cols.ids[got.mask]}, got.warnings

    answer = index.with_index(session, ws, use)
    assert answer is not None, "the index did not answer"
    return answer


def sql_ids(session: Session, ws: int, expr: Expr | str) -> set[int]:
    return set(session.scalars(customer_ids_query(session, workspace_id=ws, expr=expr, now=NOW)))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=st.lists(person_st, max_size=12), exprs=st.lists(expr_st, min_size=1, max_size=8))
def test_index_agrees_with_sql_and_brute_force(
    session: Session, people: list[Person], exprs: list[Expr]
) -> None:
    ws, by_id = load(session, people)
    load(session, people)  # a second workspace with the same people must not leak in
    session.commit()
    for expr in exprs:
        want = {cid for cid, p in by_id.items() if not p.merged and not p.anonymised and brute(expr, p)}
        got, warnings = on_index(session, ws, expr)
        assert got == want, expr
        assert sql_ids(session, ws, expr) == want, expr
        total, sql_warnings = count_with_warnings(session, workspace_id=ws, expr=expr, now=NOW)
        assert total == len(want)
        assert sorted(warnings) == sorted(sql_warnings)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=st.lists(person_st, min_size=1, max_size=8),
    after=st.lists(person_st, min_size=1, max_size=8),
    exprs=st.lists(expr_st, min_size=1, max_size=5),
)
def test_incremental_reload_agrees_with_sql(
    session: Session, before: list[Person], after: list[Person], exprs: list[Expr]
) -> None:
    """Index warm, then customers arrive, change, leave (every watched table): still exact."""
    ws, by_id = load(session, before)
    session.commit()
    on_index(session, ws, exprs[0])  # warm
    _, extra = load(session, after)  # built in another workspace, then moved in
    moved = list(extra)[1:]  # not its merge target
    session.execute(update(Customer).where(Customer.id.in_(moved)).values(workspace_id=ws))
    for model in (CustomerStats, CustomerScore, CustomerTag, Follow):
        session.execute(update(model).where(model.customer_id.in_(moved)).values(workspace_id=ws))
    first = min(by_id)
    session.execute(delete(CustomerTag).where(CustomerTag.customer_id == first))
    session.execute(update(CustomerStats).where(CustomerStats.customer_id == first).values(net_fen=777))
    session.execute(update(Customer).where(Customer.id == max(by_id)).values(anonymised_at=NOW))
    session.commit()
    for expr in exprs:
        assert on_index(session, ws, expr)[0] == sql_ids(session, ws, expr), expr


def test_count_and_preview_use_the_index_and_match_sql(env: Settings, session: Session) -> None:
    ws, _ = load(
        session,
        [Person(tags={"VIP"}, city="深圳"), Person(tags={"VIP", "流失"}), Person(city="深圳市"), Person()],
    )
    session.commit()
    expr = "tag:VIP OR city:深圳"
    fast = preview(session, workspace_id=ws, expr=expr, limit=2, now=NOW)
    assert index.stats()[0]["ready"]
    index.ENABLED = False
    slow = preview(session, workspace_id=ws, expr=expr, limit=2, now=NOW)
    index.ENABLED = True
    assert fast == slow
    assert fast.count == 3
    assert len(fast.rows) == 2


def test_saved_segments_expand_live_on_the_index(env: Settings, session: Session) -> None:
    from siyu.models import Segment

    ws, _ = load(session, [Person(tags={"VIP"}, city="深圳"), Person(tags={"VIP"}), Person(city="深圳")])
    session.add(Segment(workspace_id=ws, name="会员", expression="tag:VIP", expression_json={}))
    session.add(Segment(workspace_id=ws, name="loop", expression="segment:loop", expression_json={}))
    session.commit()
    for expr in ("segment:会员 AND city:深圳", "NOT segment:会员", "segment:无此人群 OR city:深圳"):
        got, warnings = on_index(session, ws, expr)
        assert got == sql_ids(session, ws, expr), expr
        assert sorted(warnings) == sorted(
            count_with_warnings(session, workspace_id=ws, expr=expr, now=NOW)[1]
        )
    from siyu.kit.errors import Invalid

    with pytest.raises(Invalid, match="refers to itself"):
        count(session, workspace_id=ws, expr="segment:loop", now=NOW)


def _ws(session: Session) -> int:
    ws = ensure_workspace(session, "default").id
    session.commit()
    return ws


def test_a_tag_added_in_another_session_counts_at_once(env: Settings, session: Session) -> None:
    ws, by_id = load(session, [Person(), Person()])
    session.commit()
    assert count(session, workspace_id=ws, expr="tag:VIP", now=NOW) == 0
    with session_scope() as other:
        tag = ensure_tag(other, workspace_id=ws, name="VIP")
        add_tags(other, workspace_id=ws, customer_ids=list(by_id)[:2], tag_ids=[tag.id], source="manual")
    assert count(session, workspace_id=ws, expr="tag:VIP", now=NOW) == 2
    assert on_index(session, ws, "tag:VIP")[0] == set(list(by_id)[:2])
    with session_scope() as other:  # Core DELETE by tag: ids read before it runs
        other.execute(delete(CustomerTag).where(CustomerTag.tag_id == tag.id))
    assert count(session, workspace_id=ws, expr="tag:VIP", now=NOW) == 0


def test_uncommitted_changes_of_the_session_are_counted_by_sql(env: Settings, session: Session) -> None:
    ws, by_id = load(session, [Person(), Person()])
    session.commit()
    assert count(session, workspace_id=ws, expr="spent>=100", now=NOW) == 0
    session.add(CustomerStats(customer_id=next(iter(by_id)), workspace_id=ws, net_fen=50000))
    assert count(session, workspace_id=ws, expr="spent>=100", now=NOW) == 1  # SQL: sees the flush
    session.rollback()
    assert count(session, workspace_id=ws, expr="spent>=100", now=NOW) == 0  # the index never saw it
    assert on_index(session, ws, "spent>=100")[0] == set()


def test_an_order_import_through_the_cli_is_counted(env: Settings, session: Session, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws = _ws(session)
    assert count(session, workspace_id=ws, expr="orders>=1") == 0
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "order_id,buyer_id,paid_at,amount,status\n"
        "A1,buyer-1,2026-06-01 10:00:00,120.50,paid\n"
        "A2,buyer-2,2026-06-02 10:00:00,80,paid\n"
        "A3,buyer-1,2026-06-03 10:00:00,10,paid\n",
        encoding="utf-8",
    )
    cli("import", "orders", csv, "--format", "generic", expect=None)
    session.expire_all()
    n_sql = session.scalar(
        select(func.count()).select_from(CustomerStats).where(CustomerStats.effective_orders_count >= 1)
    )
    assert n_sql, "the import wrote no stats (CSV shape?)"
    assert count(session, workspace_id=ws, expr="orders>=1") == n_sql
    assert count(session, workspace_id=ws, expr="spent>=100") == 1


def test_a_write_in_another_process_is_counted(env: Settings, session: Session) -> None:
    ws, by_id = load(session, [Person(), Person(), Person()])
    session.commit()
    assert count(session, workspace_id=ws, expr="p_alive<0.3", now=NOW) == 0
    target = list(by_id)[1]
    code = (
        "from siyu.kit.db import session_scope\n"
        "from siyu.models import CustomerScore\n"
        "with session_scope() as s:\n"
        f"    s.add(CustomerScore(customer_id={target}, workspace_id={ws}, p_alive=0.1))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=_child_env(env))
    assert on_index(session, ws, "p_alive<0.3")[0] == {target}


def _child_env(env: Settings) -> dict[str, str]:
    import os

    return {**os.environ, "SIYU_DATABASE_URL": env.database_url}


def test_follow_change_and_merge_are_counted(env: Settings, session: Session) -> None:
    ws, by_id = load(session, [Person(follows=[("zhang", "active", "douyin")]), Person()])
    session.commit()
    a, b = list(by_id)[1:3]
    assert count(session, workspace_id=ws, expr="staff:zhang", now=NOW) == 1
    with session_scope() as other:  # ORM flush of an update by primary key
        f = other.scalars(select(Follow).where(Follow.customer_id == a)).one()
        f.state = "deleted_by_customer"
    assert count(session, workspace_id=ws, expr="staff:zhang", now=NOW) == 0
    assert count(session, workspace_id=ws, expr="channel:douyin", now=NOW) == 1
    with session_scope() as other:  # a follow moved to another customer (merge-style)
        other.execute(update(Follow).where(Follow.customer_id == a).values(customer_id=b, state="active"))
        other.execute(update(Customer).where(Customer.id == a).values(merged_into_id=b))
    assert on_index(session, ws, "staff:zhang")[0] == {b}
    assert a not in on_index(session, ws, "NOT staff:zhang")[0]


def test_recompute_is_counted(env: Settings, session: Session) -> None:
    from siyu.segments.service import recompute

    ws, _ = load(session, [Person(stats={"net_fen": 900000, "orders": 3, "last_paid_at": NOW,
                                         "first_paid_at": NOW, "categories": {}})])  # fmt: skip
    session.commit()
    assert count(session, workspace_id=ws, expr="layer:old OR layer:new") == 0
    with session_scope() as other:
        recompute(other, workspace_id=ws, full=True)
    session.expire_all()
    scored = session.scalar(
        select(func.count()).select_from(CustomerScore).where(CustomerScore.workspace_id == ws,
                                                              CustomerScore.layer_age.is_not(None))
    )  # fmt: skip
    assert scored
    assert count(session, workspace_id=ws, expr="layer:old OR layer:new") == scored


def test_an_everything_entry_forces_a_rebuild(env: Settings, session: Session) -> None:
    ws, by_id = load(session, [Person(), Person()])
    session.commit()
    assert count(session, workspace_id=ws, expr="spent>=1", now=NOW) == 0
    idx = index.workspace_index(get_engine(), ws)
    builds = idx.builds
    with session_scope() as other:
        # A write no hook can read (through the raw driver), noted as "everything".
        from siyu.kit import changes

        changes.note(other, ws, None)
        cur = other.connection().connection.cursor()
        ph = "?" if other.get_bind().dialect.name == "sqlite" else "%s"
        cur.execute(
            "INSERT INTO customer_stats (customer_id, workspace_id, net_fen, paid_fen, refunded_fen,"
            " cost_fen, orders_count, paid_orders_count, effective_orders_count, items_count, purchase_days,"
            f" categories, products, platforms, shops) VALUES ({ph}, {ph}, 500, 500, 0, 0, 1, 1, 1, 0, 1,"
            " '{}', '{}', '{}', '{}')",
            (list(by_id)[1], ws),
        )
    assert count(session, workspace_id=ws, expr="spent>=1", now=NOW) == 1
    assert idx.builds == builds + 1


def test_a_cold_big_workspace_is_answered_by_sql_while_the_index_builds(
    env: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _ = load(session, [Person(tags={"VIP"}), Person()])
    session.commit()
    monkeypatch.setattr(index, "SYNC_BUILD_MAX", 0)  # every workspace counts as big
    release = threading.Event()
    real_build = index.build

    def slow_build(s: Session, w: int) -> index.Columns:
        assert release.wait(30)
        return real_build(s, w)

    monkeypatch.setattr(index, "build", slow_build)
    assert count(session, workspace_id=ws, expr="tag:VIP", now=NOW) == 1  # answered by SQL
    idx = index.workspace_index(get_engine(), ws)
    assert idx.building
    assert idx.cols is None
    release.set()
    for _ in range(300):
        if not idx.building:
            break
        threading.Event().wait(0.05)
    assert idx.cols is not None
    assert on_index(session, ws, "tag:VIP")[0] == sql_ids(session, ws, "tag:VIP")
    assert count(session, workspace_id=ws, expr="tag:VIP", now=NOW) == 1


def test_the_journal_is_written_with_the_change_and_pruned(env: Settings, session: Session) -> None:
    ws, by_id = load(session, [Person()])
    session.commit()
    rows = session.execute(select(AudienceChange.workspace_id, AudienceChange.customer_id)).all()
    assert (ws, list(by_id)[1]) in rows
    with session_scope() as other:
        other.execute(insert(Staff).values(workspace_id=ws, userid="wang", name="Wang"))  # not watched
    assert session.scalar(select(func.count()).select_from(AudienceChange)) == len(rows)
    with session_scope() as other:
        other.execute(update(AudienceChange).values(created_at=datetime(2020, 1, 1, tzinfo=UTC)))
    from siyu.segments.audience import journal

    with session_scope() as other:
        assert journal.prune(other) == len(rows)


def test_memory_is_reported(env: Settings, session: Session) -> None:
    ws, _ = load(session, [Person(tags={"VIP"})])
    session.commit()
    count(session, workspace_id=ws, expr="tag:VIP", now=NOW)
    (row,) = [s for s in index.stats() if s["workspace_id"] == ws]
    assert row["ready"]
    assert row["customers"] == 2  # the person and the merge target load() adds
    assert row["bytes"] > 0


def test_rows_of_no_customer_and_untouched_columns_leave_no_note(env: Settings, session: Session) -> None:
    from siyu.models import Group, GroupMember

    ws, by_id = load(session, [Person()])
    session.commit()
    before = session.scalar(select(func.count()).select_from(AudienceChange))
    with session_scope() as other:
        group = other.scalars(select(Group).where(Group.workspace_id == ws)).first()
        assert group is not None
        other.add(GroupMember(workspace_id=ws, group_id=group.id, userid="staff-1", member_type=1))
        other.execute(update(Customer).where(Customer.id == max(by_id)).values(name="renamed"))
    assert session.scalar(select(func.count()).select_from(AudienceChange)) == before
