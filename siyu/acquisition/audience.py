"""The ``channel:`` audience term, declared by the domain that owns channels.

``channel:STATE`` matches a customer with any follow in the workspace that came in
through that live code, whatever the follow's state now; for a store channel that is
also every store's code (``STATE~<store id>``), and ``channel:STATE~<store id>`` is one
store's adds only. The SQL predicate (``= STATE OR LIKE 'STATE~%'``) and the index
(the vocabulary's values ``STATE`` and ``STATE~…``) match the same follows. One declaration gives the
parser its names, the SQL compiler its predicate, the audience index its data and
evaluation, and ``siyu segments terms`` its help line (see
``siyu.segments.audience.registry``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement

from siyu.acquisition import service
from siyu.acquisition.channels import STORE_SEP
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


def _matches(value: str) -> ColumnElement[bool]:
    """The follows whose state is ``value`` or, ``value`` being a channel's, one of its stores'."""
    exact = Follow.live_code_state == value
    if STORE_SEP in value:
        return exact
    return exact | Follow.live_code_state.startswith(value + STORE_SEP, autoescape=True)


def _sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    _check(ctx, term.value)
    return Rel(Follow.customer_id, [Follow.workspace_id == ctx.workspace_id, _matches(term.value)])


def _index(term: Term, ctx: Ctx, cols: Columns) -> Mask:
    _check(ctx, term.value)
    values = [term.value]
    if STORE_SEP not in term.value:
        prefix = term.value + STORE_SEP
        values += [v for v in cols.vocab if v.startswith(prefix)]
    return cols.having(POSTINGS, cols.known(values))


CHANNEL = register(
    TermKind(
        "channel",
        "came in through that live code (a follow's `state`), whatever the follow's state now; "
        "a store channel's STATE takes in its stores' codes, STATE~<store id> one store's",
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
