"""Audiences as a viewer sees them: the one count the CLI, the API and the console share.

``count(session, viewer, expression)``: a viewer who sees the whole workspace (the CLI,
owners, admins, operators) is answered by the audience index whenever it is fresh
(ADR 0005), else by the SQL compiler; a staff user's
count is their share (customers their account follows) and is answered by SQL.
``matching`` gives the same set for lists: an id query, plus the matching ids in
newest-first order when the index answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from siyu.customers.visibility import Viewer, followed_by
from siyu.models import Customer
from siyu.segments.audience import index
from siyu.segments.audience.ast import Expr
from siyu.segments.audience.columns import Columns
from siyu.segments.audience.compiler import compile_expr
from siyu.segments.audience.parser import parse

Source = Literal["index", "sql"]


@dataclass(frozen=True)
class AudienceCount:
    """How many customers the viewer may see match, the warnings, and what answered."""

    count: int
    warnings: list[str] = field(default_factory=list)
    source: Source = "sql"


def _tree(expression: Expr | str) -> Expr:
    return parse(expression) if isinstance(expression, str) else expression


def count(
    session: Session, viewer: Viewer, expression: Expr | str, *, now: datetime | None = None
) -> AudienceCount:
    """How many live customers ``viewer`` may see match ``expression``.

    Raises ``AudienceSyntaxError`` for a bad expression.
    """
    tree = _tree(expression)
    if viewer.sees_all_customers:
        ws = viewer.workspace_id

        def on_index(cols: Columns) -> tuple[int, list[str]]:
            got = index.evaluate(session, cols, workspace_id=ws, tree=tree, now=now)
            return int(np.count_nonzero(got.mask)), got.warnings

        fast = index.with_index(session, ws, on_index)
        if fast is not None:
            return AudienceCount(fast[0], fast[1], "index")
    stmt, warnings = _scoped_query(session, viewer, tree, now)
    n = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    return AudienceCount(n, warnings, "sql")


def _scoped_query(
    session: Session, viewer: Viewer, tree: Expr, now: datetime | None
) -> tuple[Select[int], list[str]]:
    compiled = compile_expr(session, workspace_id=viewer.workspace_id, expr=tree, now=now)
    stmt = compiled.query
    if not viewer.sees_all_customers:
        scope = Customer.id.in_(followed_by(viewer)) if viewer.staff_id is not None else false()
        stmt = stmt.where(scope)
    return stmt, list(compiled.warnings)


@dataclass
class Matching:
    """The customers ``viewer`` may see that match. From the index: the ids themselves,
    newest first (``ids``); ``query()`` is the SQL id query, compiled only when asked."""

    warnings: list[str]
    ids: np.ndarray[Any, np.dtype[np.int64]] | None
    source: Source
    _query: Callable[[], Select[int]]

    def query(self) -> Select[int]:
        return self._query()


def matching(
    session: Session, viewer: Viewer, expression: Expr | str, *, now: datetime | None = None
) -> Matching:
    """The matching set for a list page (see ``Matching``)."""
    tree = _tree(expression)

    def sql() -> Select[int]:
        return _scoped_query(session, viewer, tree, now)[0]

    if viewer.sees_all_customers:
        ws = viewer.workspace_id

        def on_index(cols: Columns) -> tuple[np.ndarray[Any, np.dtype[np.int64]], list[str]]:
            got = index.evaluate(session, cols, workspace_id=ws, tree=tree, now=now)
            ids: np.ndarray[Any, np.dtype[np.int64]] = np.sort(cols.ids[got.mask])[::-1]
            return ids, got.warnings

        fast = index.with_index(session, ws, on_index)
        if fast is not None:
            return Matching(fast[1], fast[0], "index", sql)
    stmt, warnings = _scoped_query(session, viewer, tree, now)
    return Matching(warnings, None, "sql", lambda: stmt)
