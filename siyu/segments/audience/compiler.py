"""Tree → one SQL ``SELECT customers.id``: evaluated in the database, never in Python.

Every term compiles to a two-valued predicate (never SQL NULL), so that ``NOT`` means
exactly "everyone else": a customer without a score row is *not* ``layer:new`` and *is*
``NOT layer:new``. Relations (tags, follows, groups, stats, scores) are membership tests
``customers.id IN (SELECT customer_id ...)``: uncorrelated, so SQLite can drive the
outer loop from the smallest set and PostgreSQL can hash it, also under OR and NOT.

Each term's SQL comes from its declaration in the term registry (``registry.py``,
``builtin_terms.py`` and the domains' ``audience.py``); this module combines them.
Names (tags, staff, groups) are resolved to ids first with small indexed look-ups;
an unknown name matches nobody and yields a warning with a "did you mean".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from siyu.models import Customer
from siyu.segments.audience import registry
from siyu.segments.audience.ast import And, Expr, Not, Or, Term
from siyu.segments.audience.context import Ctx, Rel, context
from siyu.segments.audience.parser import parse

_ONE_PER_CUSTOMER = ("customer_stats", "customer_scores")
DRIVER_PROBE_CAP = 5_000  # a top-level term with fewer rows drives the SQLite query


@dataclass
class Compiled:
    """The query of matching customer ids and what the user should know about it."""

    query: Select[int]
    warnings: list[str] = field(default_factory=list)


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


def customer_ids_query(
    session: Session, *, workspace_id: int, expr: Expr | str, now: datetime | None = None
) -> Select[int]:
    """A ``SELECT customers.id`` of the live customers of a workspace matching ``expr``.

    Merged tombstones and anonymised customers never match. ``now`` (default: the
    current time) anchors day terms, counted in the workspace time zone.
    """
    return compile_expr(session, workspace_id=workspace_id, expr=expr, now=now).query


def _pred(node: Expr, ctx: Ctx, driver: Term | None = None) -> ColumnElement[bool]:
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
    operands: tuple[Expr, ...], ctx: Ctx, driver: Term | None
) -> tuple[list[ColumnElement[bool]], dict[str, Rel]]:
    """AND operands compiled, with positive terms on one-row-per-customer tables (stats,
    scores) merged per table, so that they cost one probe (or one join) instead of several."""
    parts: list[ColumnElement[bool]] = []
    merged: dict[str, Rel] = {}
    for o in operands:
        spec = _spec(o, ctx) if isinstance(o, Term) and o is not driver else None
        if isinstance(spec, Rel) and not spec.negate and spec.col.table.name in _ONE_PER_CUSTOMER:
            key = spec.col.table.name
            merged[key] = Rel(spec.col, [*merged[key].conds, *spec.conds]) if key in merged else spec
        else:
            parts.append(_pred(o, ctx, driver))
    return parts, merged


def _choose_driver(tree: Expr, ctx: Ctx) -> Term | None:
    """SQLite: a small top-level AND term may drive the outer loop; else SQLite plans.

    By default every relation term is a correlated EXISTS probe on a unique index, the
    plan a DBA writes by hand: SQLite walks customers (or an index on city/province)
    and probes. When a top-level term matches few rows (a rare tag, a small group), it
    becomes ``customers.id IN (SELECT ...)`` instead and SQLite loops over just those
    rows. Only one term drives: SQLite builds a temporary index for every other
    uncorrelated IN, which costs as much as reading the whole set.
    """
    top = tree.operands if isinstance(tree, And) else (tree,)
    candidates: list[tuple[Term, Rel]] = []
    for node in top:
        # Only terms backed by an index: a capped count on anything else may scan it all.
        if isinstance(node, Term) and registry.get(node.field).indexed:
            spec = _spec(node, ctx)
            if isinstance(spec, Rel) and not spec.negate:
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


def _term(term: Term, ctx: Ctx, drive: bool = False) -> ColumnElement[bool]:
    spec = _spec(term, ctx)
    if not isinstance(spec, Rel):
        return spec
    member = _member(spec, ctx, drive)
    return not_(member) if spec.negate else member


def _member(spec: Rel, ctx: Ctx, drive: bool) -> ColumnElement[bool]:
    # Correlation is spelled out: the query may be embedded in statements on the same
    # tables (a join to customer_stats here, DELETE FROM customer_tags in the rules),
    # and automatic correlation would silently tie the probe to the wrong row.
    if drive or ctx.dialect != "sqlite":
        # PostgreSQL hashes an uncorrelated IN once, also under OR and NOT.
        return Customer.id.in_(spec.subquery().correlate(None))
    # Selecting the id column keeps the probe on a covering index.
    return exists(select(spec.col).where(spec.col == Customer.id, *spec.conds).correlate(Customer))


def _spec(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    kind = registry.get(term.field)
    if not kind.cacheable:
        return kind.sql(term, ctx)  # may depend on ctx.negated: not shared
    key = (term.field, term.op, term.value)
    if key not in ctx.specs:
        ctx.specs[key] = kind.sql(term, ctx)
    return ctx.specs[key]


def predicate(node: Expr, ctx: Ctx) -> ColumnElement[bool]:
    """The boolean SQL of ``node`` in an expression being compiled (``segment:`` expands with it)."""
    return _pred(node, ctx)
