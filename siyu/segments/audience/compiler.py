"""Tree → one SQL ``SELECT customers.id``: evaluated in the database, never in Python.

Every term compiles to a two-valued predicate (never SQL NULL), so that ``NOT`` means
exactly "everyone else": a customer without a score row is *not* ``layer:new`` and *is*
``NOT layer:new``. Relations (tags, follows, groups, stats, scores) are membership tests
``customers.id IN (SELECT customer_id ...)``: uncorrelated, so SQLite can drive the
outer loop from the smallest set and PostgreSQL can hash it, also under OR and NOT.

Names (tags, staff, groups) are resolved to ids first with small indexed look-ups;
an unknown name matches nobody and yields a warning with a "did you mean".
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, not_, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from siyu.kit.errors import Invalid
from siyu.kit.money import yuan_to_fen
from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import (
    Customer,
    CustomerScore,
    CustomerStats,
    CustomerTag,
    Follow,
    Group,
    GroupMember,
    Segment,
    Staff,
    Tag,
    Workspace,
)
from siyu.segments.audience.ast import LAYERS, And, Expr, Not, Or, Term, terms
from siyu.segments.audience.parser import parse

_CMP: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "=": operator.eq,
}
# Administrative suffixes people write or leave out: 广东 = 广东省, 上海 = 上海市.
PROVINCE_SUFFIXES = ("省", "市", "自治区", "壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区")
CITY_SUFFIXES = ("市",)  # 地区 / 自治州 / 盟 are matched when written out
MAX_DAYS = 365 * 200  # days further back than this reach before any data
_ONE_PER_CUSTOMER = ("customer_stats", "customer_scores")
_INDEXED_FIELDS = ("tag", "staff", "in_group", "channel", "spent", "last_order_days", "rfm", "rfm8")
DRIVER_PROBE_CAP = 5_000  # a top-level term with fewer rows drives the SQLite query


@dataclass
class Compiled:
    """The query of matching customer ids and what the user should know about it."""

    query: Select[int]
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Ctx:
    session: Session
    workspace_id: int
    tz: str
    today: date
    dialect: str
    warnings: list[str] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    specs: dict[tuple[str, str, str], _Rel | ColumnElement[bool]] = field(default_factory=dict)
    tag_ids: dict[str, list[int]] = field(default_factory=dict)
    tags_prefetched: bool = False
    negated: bool = False  # inside an odd number of NOTs
    expanding: set[str] = field(default_factory=set)  # saved segments being expanded


def place_variants(name: str, suffixes: tuple[str, ...]) -> list[str]:
    """The spellings of a place with and without its administrative suffix."""
    base = name.strip()
    for suffix in sorted(suffixes, key=len, reverse=True):
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
            break
    return sorted({name.strip(), base, *(base + s for s in suffixes)})


def compile_expr(
    session: Session,
    *,
    workspace_id: int,
    expr: Expr | str,
    now: datetime | None = None,
    saving_as: str | None = None,
) -> Compiled:
    """Compile an expression (text or tree) for one workspace; see ``customer_ids_query``.

    ``saving_as``: the name the expression is about to be saved under, so that a
    ``segment:`` term leading back to it is refused before it is saved.
    """
    tree = parse(expr) if isinstance(expr, str) else expr
    ctx = context(session, workspace_id=workspace_id, tree=tree, now=now, saving_as=saving_as)
    driver = _choose_driver(tree, ctx) if ctx.dialect == "sqlite" else None
    query = select(Customer.id).where(
        Customer.workspace_id == workspace_id,
        Customer.merged_into_id.is_(None),
        Customer.anonymised_at.is_(None),
    )
    # Top-level stats / score conditions become inner joins: the planner may then start
    # from their index (spent>=5000 is a range on (workspace_id, net_fen)).
    parts, merged = _and_parts(tree.operands if isinstance(tree, And) else (tree,), ctx, driver)
    for rel in merged.values():
        query = query.join(rel.col.table, rel.col == Customer.id).where(*rel.conds)
    return Compiled(query.where(*parts), ctx.warnings)


def context(
    session: Session, *, workspace_id: int, tree: Expr, now: datetime | None, saving_as: str | None
) -> _Ctx:
    """What evaluating ``tree`` needs (zone, today, dialect), its tag names looked up once.

    Shared by this compiler and the audience index, so both see the same day and names.
    """
    ws = session.get(Workspace, workspace_id)
    tz = ws.timezone if ws is not None else "Asia/Shanghai"
    ctx = _Ctx(
        session=session,
        workspace_id=workspace_id,
        tz=tz,
        today=local_day(now or utcnow(), tz),
        dialect=session.get_bind().dialect.name,
    )
    if saving_as:
        ctx.expanding.add(saving_as)
    _prefetch_tags(tree, ctx)
    return ctx


def customer_ids_query(
    session: Session, *, workspace_id: int, expr: Expr | str, now: datetime | None = None
) -> Select[int]:
    """A ``SELECT customers.id`` of the live customers of a workspace matching ``expr``.

    Merged tombstones and anonymised customers never match. ``now`` (default: the
    current time) anchors day terms, counted in the workspace time zone.
    """
    return compile_expr(session, workspace_id=workspace_id, expr=expr, now=now).query


def _pred(node: Expr, ctx: _Ctx, driver: Term | None = None) -> ColumnElement[bool]:
    if isinstance(node, Term):
        return _term(node, ctx, drive=node is driver)
    if isinstance(node, Not):
        ctx.negated = not ctx.negated
        inner = _pred(node.operand, ctx)
        ctx.negated = not ctx.negated
        return not_(inner)
    if isinstance(node, Or):
        return or_(*(_pred(o, ctx, driver) for o in node.operands))
    parts, merged = _and_parts(node.operands, ctx, driver)
    parts.extend(_member(rel, ctx, drive=False) for rel in merged.values())
    return and_(*parts)


def _and_parts(
    operands: tuple[Expr, ...], ctx: _Ctx, driver: Term | None
) -> tuple[list[ColumnElement[bool]], dict[str, _Rel]]:
    """AND operands compiled, with positive terms on one-row-per-customer tables (stats,
    scores) merged per table, so that they cost one probe (or one join) instead of several."""
    parts: list[ColumnElement[bool]] = []
    merged: dict[str, _Rel] = {}
    for o in operands:
        spec = _spec(o, ctx) if isinstance(o, Term) and o is not driver else None
        if isinstance(spec, _Rel) and not spec.negate and spec.col.table.name in _ONE_PER_CUSTOMER:
            key = spec.col.table.name
            merged[key] = _Rel(spec.col, [*merged[key].conds, *spec.conds]) if key in merged else spec
        else:
            parts.append(_pred(o, ctx, driver))
    return parts, merged


@dataclass
class _Rel:
    """A term as membership in a related table: ``col`` is its customer id column."""

    col: Any
    conds: list[ColumnElement[bool]]
    negate: bool = False  # the term means "not in it" (spent<100 includes no-stats customers)

    def subquery(self) -> Select[Any]:
        return select(self.col).where(*self.conds)


def _choose_driver(tree: Expr, ctx: _Ctx) -> Term | None:
    """SQLite: a small top-level AND term may drive the outer loop; else SQLite plans.

    By default every relation term is a correlated EXISTS probe on a unique index, the
    plan a DBA writes by hand: SQLite walks customers (or an index on city/province)
    and probes. When a top-level term matches few rows (a rare tag, a small group), it
    becomes ``customers.id IN (SELECT ...)`` instead and SQLite loops over just those
    rows. Only one term drives: SQLite builds a temporary index for every other
    uncorrelated IN, which costs as much as reading the whole set.
    """
    top = tree.operands if isinstance(tree, And) else (tree,)
    candidates: list[tuple[Term, _Rel]] = []
    for node in top:
        # Only terms backed by an index: a capped count on anything else may scan it all.
        if isinstance(node, Term) and node.field in _INDEXED_FIELDS:
            spec = _spec(node, ctx)
            if isinstance(spec, _Rel) and not spec.negate:
                candidates.append((node, spec))
    if not candidates:
        return None
    # One round trip: a capped count per candidate (each reads at most CAP index rows).
    counts = [
        select(func.count()).select_from(rel.subquery().limit(DRIVER_PROBE_CAP).subquery()).scalar_subquery()
        for _, rel in candidates
    ]
    sizes = ctx.session.execute(select(*counts)).one()
    size, term = min(((n, i), t) for i, (n, (t, _)) in enumerate(zip(sizes, candidates, strict=True)))
    return term if size[0] < DRIVER_PROBE_CAP else None


def _prefetch_tags(tree: Expr, ctx: _Ctx) -> None:
    """Resolve every tag name of the expression in one query."""
    names = sorted({t.value for t in terms(tree) if t.field == "tag"})
    if not names:
        return
    rows = ctx.session.execute(
        select(Tag.name, Tag.id).where(
            Tag.workspace_id == ctx.workspace_id, Tag.name.in_(names), Tag.deleted_at.is_(None)
        )
    )
    for name, tag_id in rows:
        ctx.tag_ids.setdefault(name, []).append(tag_id)
    ctx.tags_prefetched = True


def _term(term: Term, ctx: _Ctx, drive: bool = False) -> ColumnElement[bool]:
    spec = _spec(term, ctx)
    if not isinstance(spec, _Rel):
        return spec
    member = _member(spec, ctx, drive)
    return not_(member) if spec.negate else member


def _member(spec: _Rel, ctx: _Ctx, drive: bool) -> ColumnElement[bool]:
    # Correlation is spelled out: the query may be embedded in statements on the same
    # tables (a join to customer_stats here, DELETE FROM customer_tags in the rules),
    # and automatic correlation would silently tie the probe to the wrong row.
    if drive or ctx.dialect != "sqlite":
        # PostgreSQL hashes an uncorrelated IN once, also under OR and NOT.
        return Customer.id.in_(spec.subquery().correlate(None))
    # Selecting the id column keeps the probe on a covering index.
    return exists(select(spec.col).where(spec.col == Customer.id, *spec.conds).correlate(Customer))


def _spec(term: Term, ctx: _Ctx) -> _Rel | ColumnElement[bool]:
    key = (term.field, term.op, term.value)
    if term.field in ("province", "city", "segment"):
        return _build_spec(term, ctx)  # may depend on ctx.negated: not cached
    if key not in ctx.specs:
        ctx.specs[key] = _build_spec(term, ctx)
    return ctx.specs[key]


def _build_spec(term: Term, ctx: _Ctx) -> _Rel | ColumnElement[bool]:
    ws, f, v = ctx.workspace_id, term.field, term.value
    if f == "tag":
        ids = ctx.tag_ids.get(v, []) if ctx.tags_prefetched else []
        if not ids:
            ids = _resolve(ctx, "tag", v, select(Tag.id).where(Tag.name == v, Tag.deleted_at.is_(None)), Tag)
        if not ids:
            return false()
        return _Rel(CustomerTag.customer_id, [_in_ids(CustomerTag.tag_id, ids)])
    if f == "staff":
        stmt = select(Staff.id).where(or_(Staff.userid == v, Staff.name == v))
        ids = _resolve(ctx, "staff account", v, stmt, Staff)
        if not ids:
            return false()
        return _Rel(Follow.customer_id, [_in_ids(Follow.staff_id, ids), Follow.state == "active"])
    if f == "in_group":
        ids = _resolve(ctx, "group", v, select(Group.id).where(Group.name == v), Group)
        if not ids:
            return false()
        return _Rel(
            GroupMember.customer_id,
            [
                _in_ids(GroupMember.group_id, ids),
                GroupMember.state == "active",
                GroupMember.customer_id.is_not(None),
            ],
        )
    if f == "channel":
        _check_channel(ctx, v)
        return _Rel(Follow.customer_id, [Follow.workspace_id == ws, Follow.live_code_state == v])
    if f in ("province", "city"):
        col = Customer.province if f == "province" else Customer.city
        variants = place_variants(v, PROVINCE_SUFFIXES if f == "province" else CITY_SUFFIXES)
        # Under an odd number of NOTs a NULL city must read as false, not unknown; in
        # positive positions plain IN lets the planner use the index as it estimates.
        return and_(col.is_not(None), col.in_(variants)) if ctx.negated else col.in_(variants)
    if f in ("layer", "rfm", "rfm8"):
        if f == "layer":
            column, stored = LAYERS[v]
            score_col = getattr(CustomerScore, column)
        else:
            score_col, stored = (CustomerScore.rfm_segment if f == "rfm" else CustomerScore.rfm8), v
        return _Rel(CustomerScore.customer_id, [CustomerScore.workspace_id == ws, score_col == stored])
    if f == "p_alive":
        cond = _CMP[term.op](CustomerScore.p_alive, float(v))
        return _Rel(CustomerScore.customer_id, [CustomerScore.workspace_id == ws, cond])
    if f in ("spent", "orders"):
        # Customers without a stats row have spent 0 in 0 orders.
        amount: Any = CustomerStats.net_fen if f == "spent" else CustomerStats.effective_orders_count
        limit = yuan_to_fen(v) if f == "spent" else int(v)
        compare = _CMP[term.op]
        if compare(0, limit):
            return _Rel(
                CustomerStats.customer_id,
                [CustomerStats.workspace_id == ws, not_(compare(amount, limit))],
                True,
            )
        return _Rel(CustomerStats.customer_id, [CustomerStats.workspace_id == ws, compare(amount, limit)])
    if f in ("last_order_days", "first_order_days"):
        paid_col: Any = CustomerStats.last_paid_at if f == "last_order_days" else CustomerStats.first_paid_at
        return _Rel(
            CustomerStats.customer_id,
            [CustomerStats.workspace_id == ws, _days_cond(paid_col, term.op, int(v), ctx)],
        )
    if f == "segment":
        return _segment_pred(ctx, v)
    if f in ("category", "product"):
        return _Rel(CustomerStats.customer_id, [CustomerStats.workspace_id == ws, _has_key(ctx, f, v)])
    raise AssertionError(f"unhandled field {f}")  # make_term admits only the fields above


def saved_expression(ctx: _Ctx, name: str) -> str | None:
    """The text of saved segment ``name`` (None, with a warning, when there is none).

    Refuses a segment that refers to itself; shared by this compiler and the index.
    """
    if name in ctx.expanding:
        raise Invalid(f"segment {name!r} refers to itself (through segment: terms)", field="expression")
    text = ctx.session.scalar(
        select(Segment.expression).where(Segment.workspace_id == ctx.workspace_id, Segment.name == name)
    )
    if text is None and ("segment", name) not in ctx.seen:
        ctx.seen.add(("segment", name))
        known = ctx.session.scalars(select(Segment.name).where(Segment.workspace_id == ctx.workspace_id))
        ctx.warnings.append(_unknown("saved segment", name, list(known)))
    return text


def _segment_pred(ctx: _Ctx, name: str) -> ColumnElement[bool]:
    """``segment:NAME``: the saved segment's expression, expanded in place (live, not a snapshot)."""
    text = saved_expression(ctx, name)
    if text is None:
        return false()
    ctx.expanding.add(name)
    try:
        return _pred(parse(text), ctx)
    finally:
        ctx.expanding.discard(name)


def _in_ids(col: Any, ids: list[int]) -> ColumnElement[bool]:
    cond: ColumnElement[bool] = col == ids[0] if len(ids) == 1 else col.in_(ids)
    return cond


def day_window(op: str, n: int) -> tuple[int | None, int | None]:
    """``days OP n`` as (``days <= a``, ``days >= b``); None where that side is open."""
    return {"<=": (n, None), "<": (n - 1, None), ">=": (None, n), ">": (None, n + 1)}.get(op, (n, n))


def day_start(ctx: _Ctx, days_ago: int) -> datetime | None:
    """Midnight (workspace zone) of the day ``days_ago`` before today; None = before time."""
    if days_ago > MAX_DAYS:
        return None
    return day_start_utc(ctx.today - timedelta(days=days_ago), ctx.tz)


def _days_cond(col: Any, op: str, n: int, ctx: _Ctx) -> ColumnElement[bool]:
    """``(today - local day of col) OP n`` as a range on the UTC column (index-friendly)."""
    at_most, at_least = day_window(op, n)
    conds: list[ColumnElement[bool]] = []
    if at_most is not None:  # days <= k  <=>  paid on/after today-k
        bound = day_start(ctx, at_most)
        conds.append(col.is_not(None) if bound is None else col >= bound)
    if at_least is not None:  # days >= k  <=>  paid before today-k+1
        bound = day_start(ctx, at_least - 1)
        conds.append(false() if bound is None else col < bound)
    return and_(*conds)


def _has_key(ctx: _Ctx, f: str, key: str) -> ColumnElement[bool]:
    col = CustomerStats.categories if f == "category" else CustomerStats.products
    if ctx.dialect == "postgresql":
        has: ColumnElement[bool] = type_coerce(col, JSONB).has_key(key)
        return has
    if ctx.dialect == "sqlite":
        each = func.json_each(col).table_valued("key")
        return exists(select(1).select_from(each).where(each.c.key == key))
    raise NotImplementedError(f"category terms are not supported on {ctx.dialect}")


def _resolve(ctx: _Ctx, what: str, name: str, stmt: Select[int], model: Any) -> list[int]:
    ids: list[int] = list(ctx.session.scalars(stmt.where(model.workspace_id == ctx.workspace_id)))
    if not ids and (what, name) not in ctx.seen:
        ctx.seen.add((what, name))
        name_col = model.userid if model is Staff else model.name
        known = ctx.session.scalars(
            select(name_col).where(model.workspace_id == ctx.workspace_id).distinct().limit(5000)
        )
        ctx.warnings.append(_unknown(what, name, list(known)))
    return ids


def _check_channel(ctx: _Ctx, state: str) -> None:
    if ("channel", state) in ctx.seen:
        return
    ctx.seen.add(("channel", state))
    found = ctx.session.scalar(
        select(true()).where(
            exists().where(Follow.workspace_id == ctx.workspace_id, Follow.live_code_state == state)
        )
    )
    if not found:
        known = ctx.session.scalars(
            select(Follow.live_code_state)
            .where(Follow.workspace_id == ctx.workspace_id, Follow.live_code_state.is_not(None))
            .distinct()
            .limit(5000)
        )
        ctx.warnings.append(_unknown("channel", state, [k for k in known if k]))


def _unknown(what: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return f"no {what} named {name!r} in this workspace{hint}; that term matches nobody"
