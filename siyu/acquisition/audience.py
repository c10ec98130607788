"""The ``channel:`` audience term, declared by the domain that owns channels.

``channel:STATE`` matches a customer with any follow in the workspace that came in
through that live code, whatever the follow's state now. One declaration gives the
parser its names, the SQL compiler its predicate, the audience index its data and
evaluation, and ``siyu segments terms`` its help line (see
``siyu.segments.audience.registry``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement

from siyu.acquisition import service
from siyu.models import Follow
from siyu.segments.audience.ast import Term
from siyu.segments.audience.columns import Columns, Mask
from siyu.segments.audience.context import Ctx, Rel, unknown
from siyu.segments.audience.registry import PostingSource, TermKind, register

POSTINGS = "channel"


def _check(ctx: Ctx, state: str) -> None:
    """An unknown channel matches nobody, with a warning (once per expression)."""
    if ("channel", state) in ctx.seen:
        return
    ctx.seen.add(("channel", state))
    if not service.channel_exists(ctx.session, workspace_id=ctx.workspace_id, state=state):
        known = service.channel_names(ctx.session, workspace_id=ctx.workspace_id)
        ctx.warnings.append(unknown("channel", state, known))


def _sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    _check(ctx, term.value)
    return Rel(
        Follow.customer_id, [Follow.workspace_id == ctx.workspace_id, Follow.live_code_state == term.value]
    )


def _index(term: Term, ctx: Ctx, cols: Columns) -> Mask:
    _check(ctx, term.value)
    return cols.having(POSTINGS, cols.known([term.value]))


CHANNEL = register(
    TermKind(
        "channel",
        "came in through that live code (a follow's `state`), whatever the follow's state now",
        value="STATE",
        aliases=("渠道",),
        sql=_sql,
        index=_index,
        indexed=True,
        postings=PostingSource(
            POSTINGS,
            "SELECT x.customer_id, x.live_code_state FROM follows x "
            "JOIN customers c ON c.id = x.customer_id WHERE c.workspace_id = {ws} "
            "AND x.workspace_id = c.workspace_id AND x.live_code_state IS NOT NULL",
            "x.customer_id",
            reads={
                "follows": frozenset({"customer_id", "workspace_id", "live_code_state"}),
                "customers": frozenset({"id", "workspace_id"}),
            },
        ),
    )
)
