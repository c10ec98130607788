"""A term kind is declared once and the parser, JSON form, SQL, index and help all follow."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from siyu.kit.scope import ensure_workspace
from siyu.models import Customer, Follow, Staff
from siyu.segments.audience import AudienceSyntaxError, from_json, index, parse, registry, to_json, to_text
from siyu.segments.audience.ast import Term
from siyu.segments.audience.columns import Columns, Mask
from siyu.segments.audience.context import Ctx, Rel
from siyu.segments.audience.registry import NumberRange, PostingSource, TermKind
from tests.segments.test_audience_index import on_index, sql_ids

ROOT = Path(__file__).resolve().parents[2]


def _state_sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    return Rel(Follow.customer_id, [Follow.workspace_id == ctx.workspace_id, Follow.state == term.value])


def _state_index(term: Term, ctx: Ctx, cols: Columns) -> Mask:
    return cols.having("follow_state", cols.known([term.value]))


def _source(column: str) -> PostingSource:
    return PostingSource(
        "follow_state",
        f"SELECT x.customer_id, x.{column} FROM follows x JOIN customers c ON c.id = x.customer_id "
        "WHERE c.workspace_id = {ws} AND x.workspace_id = c.workspace_id",
        "x.customer_id",
        reads={"follows": frozenset({"customer_id", "workspace_id", column}), "customers": frozenset({"id"})},
    )


@pytest.fixture
def state_term() -> Iterator[TermKind]:
    """A term a domain might add: customers with a follow in that state (好友状态)."""
    kind = registry.register(
        TermKind(
            "follow_state",
            "has a follow in that state",
            aliases=("好友状态",),
            sql=_state_sql,
            index=_state_index,
            postings=_source("state"),
        )
    )
    index._registry.clear()
    yield kind
    registry.unregister("follow_state")
    index._registry.clear()


def test_one_declaration_gives_parse_json_sql_and_index(session: Session, state_term: TermKind) -> None:
    ws = ensure_workspace(session, "states").id
    staff = Staff(workspace_id=ws, userid="amy", name="Amy")
    session.add(staff)
    session.flush()
    ids = []
    for state in ("pending", "pending", "deleted_by_customer", None):
        c = Customer(workspace_id=ws, name=str(state))
        session.add(c)
        session.flush()
        ids.append(c.id)
        if state:
            session.add(Follow(workspace_id=ws, staff_id=staff.id, customer_id=c.id, state=state))
    session.commit()
    tree = parse("好友状态:pending OR follow_state:deleted_by_customer")
    assert to_text(tree) == "follow_state:pending OR follow_state:deleted_by_customer"
    assert from_json(to_json(tree)) == tree
    for expr, want in (
        ("follow_state:pending", set(ids[:2])),
        ("NOT follow_state:pending", set(ids[2:])),
        ("follow_state:deleted_by_customer OR follow_state:无", {ids[2]}),
    ):
        assert sql_ids(session, ws, expr) == want, expr
        assert on_index(session, ws, expr)[0] == want, expr
    # A warm index is brought up to date through the term's postings after a write.
    follow = session.scalars(select(Follow).where(Follow.customer_id == ids[0])).one()
    follow.state = "active"
    session.commit()
    want = {ids[1]}
    assert (
        on_index(session, ws, "follow_state:pending")[0]
        == want
        == sql_ids(session, ws, "follow_state:pending")
    )


def test_a_name_or_alias_cannot_be_declared_twice(state_term: TermKind) -> None:
    with pytest.raises(ValueError, match="'好友状态' is declared twice"):
        registry.register(
            TermKind("friend_state", "again", aliases=("好友状态",), sql=_state_sql, index=_state_index)
        )
    with pytest.raises(ValueError, match="'tag' is declared twice"):
        registry.register(TermKind("tag", "again", sql=_state_sql, index=_state_index))
    with pytest.raises(ValueError, match="must be lower-case letters"):
        registry.register(TermKind("Friend State", "bad", sql=_state_sql, index=_state_index))
    assert registry.find("friend_state") is None


def test_index_data_from_an_unwatched_column_is_refused() -> None:
    """A term whose index data the change journal would not see could go stale: refused."""
    with pytest.raises(ValueError, match=r"reads follows\.remark, which the change journal does not watch"):
        registry.register(
            TermKind(
                "remark", "has that remark", sql=_state_sql, index=_state_index, postings=_source("remark")
            )
        )
    assert registry.find("remark") is None


def test_declared_bounds_are_what_the_parser_enforces() -> None:
    kind = registry.register(
        TermKind(
            "sent_within_days",
            "was sent a message within N days",
            value="N",
            number=NumberRange(Decimal(1), Decimal(90), integer=True, unit="days"),
            sql=_state_sql,
            index=_state_index,
        )
    )
    try:
        assert parse("sent_within_days<=7") == Term("sent_within_days", "7", "<=")
        with pytest.raises(AudienceSyntaxError, match="sent_within_days must be from 1 to 90 days, got 0"):
            parse("sent_within_days<=0")
    finally:
        registry.unregister(kind.name)


def _code_strings(path: Path) -> set[str]:
    """The string literals of a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    }


def test_the_language_modules_name_no_term_kind() -> None:
    """Parser, JSON form, compiler and index dispatch on the registry: adding a term never
    means editing them (channel: is declared in siyu.acquisition)."""
    names = {k.name for k in registry.kinds()} | {a for k in registry.kinds() for a in k.aliases}
    audience = ROOT / "siyu" / "segments" / "audience"
    # (columns.py holds the built-in index data, named after their columns.)
    for module in ("parser.py", "jsonform.py", "compiler.py", "index.py", "ast.py", "context.py"):
        assert not _code_strings(audience / module) & names, module
    assert registry.get("channel").sql.__module__ == "siyu.acquisition.audience"


def test_the_docs_describe_every_term_and_its_range() -> None:
    docs = (ROOT / "docs" / "audiences.md").read_text(encoding="utf-8")
    for kind in registry.kinds():
        assert f"`{kind.name}" in docs, kind.name
        if kind.number is not None:
            assert kind.number.describe() in docs, kind.name
