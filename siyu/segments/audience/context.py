"""What evaluating one expression needs, shared by the SQL compiler, the audience index
and every term declaration (``registry.py``): the workspace, its zone and today, name
look-ups with their "did you mean" warnings, and day bounds.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import Staff, Workspace
from siyu.segments.audience import registry
from siyu.segments.audience.ast import Expr, terms

CMP: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "=": operator.eq,
}
MAX_DAYS = 365 * 200  # days further back than this reach before any data


@dataclass
class Rel:
    """A term as membership in a related table: ``col`` is its customer id column."""

    col: Any
    conds: list[ColumnElement[bool]]
    negate: bool = False  # the term means "not in it" (spent<100 includes no-stats customers)

    def subquery(self) -> Select[Any]:
        return select(self.col).where(*self.conds)


@dataclass
class Ctx:
    session: Session
    workspace_id: int
    tz: str
    today: date
    dialect: str
    warnings: list[str] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    specs: dict[tuple[str, str, str], Rel | ColumnElement[bool]] = field(default_factory=dict)
    names: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # prepared look-ups
    negated: bool = False  # inside an odd number of NOTs
    expanding: set[str] = field(default_factory=set)  # saved segments being expanded


def context(
    session: Session, *, workspace_id: int, tree: Expr, now: datetime | None, saving_as: str | None
) -> Ctx:
    """What evaluating ``tree`` needs (zone, today, dialect), its names looked up once.

    Shared by the compiler and the audience index, so both see the same day and names.
    """
    ws = session.get(Workspace, workspace_id)
    tz = ws.timezone if ws is not None else "Asia/Shanghai"
    ctx = Ctx(
        session=session,
        workspace_id=workspace_id,
        tz=tz,
        today=local_day(now or utcnow(), tz),
        dialect=session.get_bind().dialect.name,
    )
    if saving_as:
        ctx.expanding.add(saving_as)
    values: dict[str, set[str]] = {}
    for t in terms(tree):
        values.setdefault(t.field, set()).add(t.value)
    for name, found in values.items():
        kind = registry.get(name)
        if kind.prepare is not None:
            kind.prepare(sorted(found), ctx)
    return ctx


def resolve(ctx: Ctx, what: str, name: str, stmt: Select[int], model: Any) -> list[int]:
    """Ids of ``stmt`` in the workspace; none → a "did you mean" warning (once per name)."""
    ids: list[int] = list(ctx.session.scalars(stmt.where(model.workspace_id == ctx.workspace_id)))
    if not ids and (what, name) not in ctx.seen:
        ctx.seen.add((what, name))
        name_col = model.userid if model is Staff else model.name
        known = ctx.session.scalars(
            select(name_col).where(model.workspace_id == ctx.workspace_id).distinct().limit(5000)
        )
        ctx.warnings.append(unknown(what, name, list(known)))
    return ids


def unknown(what: str, name: str, known: list[str]) -> str:
    """The warning for a name that matches nobody, with the closest known names."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return f"no {what} named {name!r} in this workspace{hint}; that term matches nobody"


def in_ids(col: Any, ids: list[int]) -> ColumnElement[bool]:
    cond: ColumnElement[bool] = col == ids[0] if len(ids) == 1 else col.in_(ids)
    return cond


def day_window(op: str, n: int) -> tuple[int | None, int | None]:
    """``days OP n`` as (``days <= a``, ``days >= b``); None where that side is open."""
    return {"<=": (n, None), "<": (n - 1, None), ">=": (None, n), ">": (None, n + 1)}.get(op, (n, n))


def day_start(ctx: Ctx, days_ago: int) -> datetime | None:
    """Midnight (workspace zone) of the day ``days_ago`` before today; None = before time."""
    if days_ago > MAX_DAYS:
        return None
    return day_start_utc(ctx.today - timedelta(days=days_ago), ctx.tz)
