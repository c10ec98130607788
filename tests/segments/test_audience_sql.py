"""Audiences evaluated in SQL agree with a brute-force Python evaluator, on both databases."""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.money import yuan_to_fen
from siyu.kit.scope import ensure_workspace
from siyu.kit.timeutil import day_start_utc, local_day
from siyu.models import (
    Customer,
    CustomerScore,
    CustomerStats,
    CustomerTag,
    Follow,
    Group,
    GroupMember,
    Staff,
    Tag,
    TagGroup,
)
from siyu.segments.audience import And, Expr, Not, Or, Term, compile_expr, count, customer_ids_query, parse

NOW = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
TZ = "Asia/Shanghai"
TAGS = ["VIP", "面霜用户", "双十一 新客", "流失"]
DELETED_TAG = "旧标签"
STAFF = ["zhang", "li"]
GROUPS = ["宝妈群", "VIP群"]
CHANNELS = ["douyin", "xhs"]
CATEGORIES = ["面霜", "精华"]
PROVINCES = [None, "广东", "广东省", "上海市", "浙江"]
CITIES = [None, "深圳", "深圳市", "杭州"]
_slug = itertools.count()


@dataclass
class Person:
    tags: set[str] = field(default_factory=set)
    province: str | None = None
    city: str | None = None
    merged: bool = False
    anonymised: bool = False
    stats: dict[str, Any] | None = None
    score: dict[str, Any] | None = None
    follows: list[tuple[str, str, str | None]] = field(default_factory=list)  # staff, state, channel
    groups: list[tuple[str, str]] = field(default_factory=list)  # group, state


def paid_at(days_ago: int, minute: int) -> datetime:
    """A payment ``days_ago`` business days before NOW's day, at a local minute."""
    return day_start_utc(local_day(NOW, TZ) - timedelta(days=days_ago), TZ) + timedelta(minutes=minute)


days_ago = st.sampled_from([0, 1, 6, 7, 8, 29, 30, 31, 90, 400])
stats_st = st.builds(
    lambda net, orders, last, last_min, gap, cats: {
        "net_fen": net,
        "orders": orders,
        "last_paid_at": None if last is None else paid_at(last, last_min),
        "first_paid_at": None if last is None else paid_at(last + gap, last_min),
        "categories": dict.fromkeys(cats, 1),
    },
    st.sampled_from([0, 10000, 299999, 300000, 300001, 500000]),
    st.integers(0, 4),
    st.none() | days_ago,
    st.integers(0, 1439),
    st.sampled_from([0, 1, 30, 200]),
    st.sets(st.sampled_from(CATEGORIES)),
)
score_st = st.builds(
    lambda age, tier, value, life, rfm, rfm8, p: {
        "layer_age": age,
        "layer_tier": tier,
        "layer_value": value,
        "lifecycle": life,
        "rfm_segment": rfm,
        "rfm8": rfm8,
        "p_alive": p,
    },
    st.sampled_from([None, "new", "old"]),
    st.sampled_from([None, "svip", "vip", "regular"]),
    st.sampled_from([None, "high_value", "potential", "silent"]),
    st.sampled_from([None, "friend", "repeat"]),
    st.sampled_from([None, "champions", "at_risk"]),
    st.sampled_from([None, "重要价值", "一般挽留"]),
    st.sampled_from([None, 0.0, 0.25, 0.3, 0.5, 1.0]),
)
person_st = st.builds(
    Person,
    tags=st.sets(st.sampled_from([*TAGS, DELETED_TAG])),
    province=st.sampled_from(PROVINCES),
    city=st.sampled_from(CITIES),
    merged=st.sampled_from([False, False, False, True]),
    anonymised=st.sampled_from([False, False, False, True]),
    stats=st.none() | stats_st,
    score=st.none() | score_st,
    follows=st.lists(
        st.tuples(
            st.sampled_from(STAFF),
            st.sampled_from(["active", "deleted_by_customer"]),
            st.sampled_from([None, *CHANNELS]),
        ),
        max_size=2,
        unique_by=lambda f: f[0],
    ),
    groups=st.lists(
        st.tuples(st.sampled_from(GROUPS), st.sampled_from(["active", "left"])),
        max_size=2,
        unique_by=lambda g: g[0],
    ),
)

ops = st.sampled_from([">=", ">", "<=", "<", "="])
leaf_st = st.one_of(
    st.builds(Term, st.just("tag"), st.sampled_from([*TAGS, DELETED_TAG, "不存在"])),
    st.builds(
        Term,
        st.just("layer"),
        st.sampled_from(["new", "old", "svip", "vip", "high_value", "silent", "repeat"]),
    ),
    st.builds(Term, st.just("rfm"), st.sampled_from(["champions", "at_risk", "loyal"])),
    st.builds(Term, st.just("rfm8"), st.sampled_from(["重要价值", "一般挽留"])),
    st.builds(Term, st.just("province"), st.sampled_from(["广东", "广东省", "上海", "北京"])),
    st.builds(Term, st.just("city"), st.sampled_from(["深圳", "深圳市", "杭州市"])),
    st.builds(Term, st.just("channel"), st.sampled_from([*CHANNELS, "wx"])),
    st.builds(Term, st.just("staff"), st.sampled_from([*STAFF, "nobody"])),
    st.builds(Term, st.just("in_group"), st.sampled_from([*GROUPS, "无此群"])),
    st.builds(Term, st.just("category"), st.sampled_from([*CATEGORIES, "口红"])),
    st.builds(
        lambda v, op: Term("spent", v, op), st.sampled_from(["0", "100", "2999.99", "3000", "5000"]), ops
    ),
    st.builds(lambda v, op: Term("orders", v, op), st.sampled_from(["0", "1", "2", "4"]), ops),
    st.builds(
        lambda f, v, op: Term(f, v, op),
        st.sampled_from(["last_order_days", "first_order_days"]),
        st.sampled_from(["0", "1", "7", "30", "90"]),
        ops,
    ),
    st.builds(lambda v, op: Term("p_alive", v, op), st.sampled_from(["0", "0.3", "0.5", "1"]), ops),
)
expr_st = st.recursive(
    leaf_st,
    lambda kids: st.one_of(
        st.builds(Not, kids),
        st.builds(lambda xs: And(tuple(xs)), st.lists(kids, min_size=2, max_size=3)),
        st.builds(lambda xs: Or(tuple(xs)), st.lists(kids, min_size=2, max_size=3)),
    ),
    max_leaves=6,
)

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "=": operator.eq}
_LAYER_COLUMN = {
    "new": "layer_age", "old": "layer_age", "svip": "layer_tier", "vip": "layer_tier",
    "high_value": "layer_value", "silent": "layer_value", "repeat": "lifecycle",
}  # fmt: skip


def _place(name: str, suffixes: tuple[str, ...]) -> str:
    for s in sorted(suffixes, key=len, reverse=True):
        if name.endswith(s) and len(name) > len(s):
            return name[: -len(s)]
    return name


def brute(expr: Expr, p: Person) -> bool:
    """The meaning of an expression for one person, written out plainly."""
    if isinstance(expr, Not):
        return not brute(expr.operand, p)
    if isinstance(expr, And):
        return all(brute(o, p) for o in expr.operands)
    if isinstance(expr, Or):
        return any(brute(o, p) for o in expr.operands)
    f, v = expr.field, expr.value
    cmp = _OPS.get(expr.op)
    score, stats = p.score or {}, p.stats
    if f == "tag":
        return v in p.tags and v != DELETED_TAG
    if f == "layer":
        return score.get(_LAYER_COLUMN[v]) == v
    if f == "rfm":
        return score.get("rfm_segment") == v
    if f == "rfm8":
        return score.get("rfm8") == v
    if f == "province":
        prov = ("省", "市", "自治区")
        return p.province is not None and _place(p.province, prov) == _place(v, prov)
    if f == "city":
        return p.city is not None and _place(p.city, ("市",)) == _place(v, ("市",))
    if f == "channel":
        return any(ch == v for _, _, ch in p.follows)
    if f == "staff":
        return any(s == v and state == "active" for s, state, _ in p.follows)
    if f == "in_group":
        return any(g == v and state == "active" for g, state in p.groups)
    if f == "category":
        return stats is not None and v in stats["categories"]
    assert cmp is not None
    if f == "spent":
        return bool(cmp(stats["net_fen"] if stats else 0, yuan_to_fen(v)))
    if f == "orders":
        return bool(cmp(stats["orders"] if stats else 0, int(v)))
    if f in ("last_order_days", "first_order_days"):
        at = stats and stats["last_paid_at" if f == "last_order_days" else "first_paid_at"]
        if not at:
            return False
        return bool(cmp((local_day(NOW, TZ) - local_day(at, TZ)).days, int(v)))
    if f == "p_alive":
        return score.get("p_alive") is not None and bool(cmp(score["p_alive"], float(v)))
    raise AssertionError(f)


def load(session: Session, people: list[Person]) -> tuple[int, dict[int, Person]]:
    """Insert people into a fresh workspace; returns its id and customer id → person."""
    ws = ensure_workspace(session, f"ws{next(_slug)}").id
    group = TagGroup(workspace_id=ws, name="默认")
    session.add(group)
    session.flush()
    tags = {name: Tag(workspace_id=ws, group_id=group.id, name=name) for name in [*TAGS, DELETED_TAG]}
    tags[DELETED_TAG].deleted_at = NOW
    staff = {u: Staff(workspace_id=ws, userid=u, name=u.title()) for u in STAFF}
    groups = {g: Group(workspace_id=ws, chat_id=f"chat-{g}", name=g) for g in GROUPS}
    session.add_all([*tags.values(), *staff.values(), *groups.values()])
    session.flush()
    anchor = Customer(workspace_id=ws, name="merged target")
    session.add(anchor)
    session.flush()
    by_id: dict[int, Person] = {anchor.id: Person()}
    for i, p in enumerate(people):
        c = Customer(
            workspace_id=ws,
            name=f"c{i}",
            province=p.province,
            city=p.city,
            merged_into_id=anchor.id if p.merged else None,
            anonymised_at=NOW if p.anonymised else None,
        )
        session.add(c)
        session.flush()
        by_id[c.id] = p
        for t in p.tags:
            session.add(CustomerTag(workspace_id=ws, customer_id=c.id, tag_id=tags[t].id, source="manual"))
        if p.stats:
            s = p.stats
            session.add(
                CustomerStats(
                    customer_id=c.id, workspace_id=ws, net_fen=s["net_fen"], paid_fen=s["net_fen"],
                    effective_orders_count=s["orders"], paid_orders_count=s["orders"],
                    last_paid_at=s["last_paid_at"], first_paid_at=s["first_paid_at"],
                    categories=s["categories"], products={}, platforms={}, shops={},
                )
            )  # fmt: skip
        if p.score:
            session.add(CustomerScore(customer_id=c.id, workspace_id=ws, **p.score))
        for u, state, channel in p.follows:
            session.add(
                Follow(
                    workspace_id=ws,
                    staff_id=staff[u].id,
                    customer_id=c.id,
                    state=state,
                    live_code_state=channel,
                )
            )
        for g, state in p.groups:
            session.add(
                GroupMember(
                    workspace_id=ws, group_id=groups[g].id, userid=f"wm{c.id}", customer_id=c.id, state=state
                )
            )
    session.flush()
    return ws, by_id


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=st.lists(person_st, max_size=12), exprs=st.lists(expr_st, min_size=1, max_size=8))
def test_sql_agrees_with_brute_force(session: Session, people: list[Person], exprs: list[Expr]) -> None:
    ws, by_id = load(session, people)
    # The same people in a second workspace: nothing of it may leak into the first.
    load(session, people)
    for expr in exprs:
        got = set(session.scalars(customer_ids_query(session, workspace_id=ws, expr=expr, now=NOW)))
        want = {cid for cid, p in by_id.items() if not p.merged and not p.anonymised and brute(expr, p)}
        assert got == want, expr
        assert count(session, workspace_id=ws, expr=expr, now=NOW) == len(want)


def test_unknown_names_match_nobody_with_a_did_you_mean(session: Session) -> None:
    ws, _ = load(session, [Person(tags={"VIP"})])
    compiled = compile_expr(
        session, workspace_id=ws, expr="tag:VIPP OR staff:zhangg OR in_group:宝妈 OR channel:douyim"
    )
    assert session.scalars(compiled.query).all() == []
    assert len(compiled.warnings) == 4
    assert "no tag named 'VIPP'" in compiled.warnings[0]
    assert "did you mean 'VIP'" in compiled.warnings[0]
    assert "'zhang'" in compiled.warnings[1]
    assert "that term matches nobody" in compiled.warnings[3]


def test_day_terms_count_business_days_in_the_workspace_zone(session: Session) -> None:
    # 2026-06-14 23:30 Shanghai is yesterday there, though it is the same UTC day as NOW.
    late = datetime(2026, 6, 14, 15, 30, tzinfo=UTC)
    ws, _ = load(session, [Person(stats={"net_fen": 100, "orders": 1, "last_paid_at": late,
                                             "first_paid_at": late, "categories": {}})])  # fmt: skip
    assert count(session, workspace_id=ws, expr="last_order_days=1", now=NOW) == 1
    assert count(session, workspace_id=ws, expr="last_order_days<1", now=NOW) == 0


def test_a_customer_without_stats_has_spent_nothing(session: Session) -> None:
    ws, _ = load(session, [Person(), Person(stats={"net_fen": 500000, "orders": 3, "last_paid_at": NOW,
                                                    "first_paid_at": NOW, "categories": {}})])  # fmt: skip
    # load() adds a third customer (the merge target), also without stats.
    assert count(session, workspace_id=ws, expr="spent<100", now=NOW) == 2
    assert count(session, workspace_id=ws, expr="spent>=100", now=NOW) == 1
    assert count(session, workspace_id=ws, expr="orders=0", now=NOW) == 2
    assert count(session, workspace_id=ws, expr="NOT layer:new", now=NOW) == 3
    assert count(session, workspace_id=ws, expr="last_order_days>=0", now=NOW) == 1
    assert count(session, workspace_id=ws, expr="last_order_days>=0 OR NOT last_order_days>=0", now=NOW) == 3


@pytest.mark.parametrize(
    "text", ["tag:VIP AND spent>=3000 AND NOT tag:流失 AND city:深圳 OR in_group:宝妈群"]
)
def test_the_query_is_one_statement_of_ids(session: Session, text: str) -> None:
    ws, _ = load(session, [Person(tags={"VIP"}, city="深圳", groups=[("宝妈群", "active")])])
    query = customer_ids_query(session, workspace_id=ws, expr=parse(text), now=NOW)
    assert [c.name for c in query.selected_columns] == ["id"]
    sub = select(Customer.name).where(Customer.id.in_(query))
    assert session.scalars(sub).all() == ["c0"]
