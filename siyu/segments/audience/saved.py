"""Saved segments (人群包): a name, the expression as typed, its JSON form, a last count."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from siyu.kit.audit import record
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import Segment
from siyu.segments import repository
from siyu.segments.audience.ast import Expr, terms
from siyu.segments.audience.builtin_terms import unreadable_segment
from siyu.segments.audience.jsonform import to_json
from siyu.segments.audience.parser import AudienceSyntaxError, parse
from siyu.segments.audience.query import count, count_with_warnings

MAX_NAME = 100


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise Invalid("segment name is empty", field="name")
    if len(name) > MAX_NAME:
        raise Invalid(f"segment name is longer than {MAX_NAME} characters", field="name")
    return name


def save_segment(
    session: Session,
    *,
    workspace_id: int,
    name: str,
    expression: str,
    description: str | None = None,
    replace: bool = False,
    actor: str = "system",
    now: datetime | None = None,
) -> tuple[Segment, list[str]]:
    """Save (or with ``replace`` overwrite) a segment; returns it and unknown-name warnings.

    The expression is validated first (syntax, every number within its term's range,
    ``segment:`` terms that lead back to it or to a segment that no longer reads), so a
    bad one saves nothing: AudienceSyntaxError or Invalid says what is wrong.
    """
    name = _check_name(name)
    tree = parse(expression)
    seg = repository.segment_by_name(session, workspace_id=workspace_id, name=name)
    if seg is not None and not replace:
        raise Conflict(
            f"a segment named {name!r} already exists; replace it (CLI: --replace) or pick another name",
            field="name",
        )
    if seg is None:
        seg = Segment(workspace_id=workspace_id, name=name, created_by=actor)
        session.add(seg)
    seg.expression = expression.strip()
    seg.expression_json = to_json(tree)
    if description is not None:
        seg.description = description
    seg.last_count, warnings = count_with_warnings(
        session, workspace_id=workspace_id, expr=tree, now=now, saving_as=name
    )
    seg.last_counted_at = now or utcnow()
    session.flush()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="segment.save",
        target_type="segment",
        target_id=seg.id,
        detail={"name": name, "expression": seg.expression},
    )
    return seg, warnings


def stored_expression(seg: Segment) -> Expr:
    """The saved expression as a tree; Invalid naming the segment when the stored text no
    longer reads (saved before a bound or a term existed, or written by hand)."""
    try:
        return parse(seg.expression)
    except AudienceSyntaxError as exc:
        raise unreadable_segment(seg.name, exc) from None


def get_segment(session: Session, *, workspace_id: int, name: str) -> Segment:
    """The saved segment ``name``, or NotFound naming it."""
    seg = repository.segment_by_name(session, workspace_id=workspace_id, name=name.strip())
    if seg is None:
        raise NotFound(f"no segment named {name!r} (see `siyu segments list`)", field="name")
    return seg


def segment_by_id(session: Session, *, workspace_id: int, segment_id: int) -> Segment:
    """The saved segment with this id in the workspace, or NotFound (another workspace's too)."""
    seg = session.get(Segment, segment_id)
    if seg is None or seg.workspace_id != workspace_id:
        raise NotFound(f"segment {segment_id} does not exist", field="segment_id")
    return seg


def list_segments(session: Session, *, workspace_id: int) -> Sequence[Segment]:
    """Every saved segment, by name."""
    return repository.list_segments(session, workspace_id=workspace_id)


def recount_segment(
    session: Session, *, workspace_id: int, name: str, now: datetime | None = None
) -> Segment:
    """Count a saved segment now and remember the count."""
    seg = get_segment(session, workspace_id=workspace_id, name=name)
    seg.last_count = count(session, workspace_id=workspace_id, expr=stored_expression(seg), now=now)
    seg.last_counted_at = now or utcnow()
    session.flush()
    return seg


def users_of(session: Session, *, workspace_id: int, name: str) -> list[str]:
    """Saved segments and auto-tag rules whose expression has ``segment:name``."""
    found = [
        f"segment {s.name!r}"
        for s in repository.list_segments(session, workspace_id=workspace_id)
        if s.name != name and _mentions(s.expression, name)
    ]
    found += [
        f"rule {r.name!r}"
        for r in repository.list_rules(session, workspace_id=workspace_id)
        if _mentions(r.expression, name)
    ]
    return found


def _mentions(expression: str, name: str) -> bool:
    try:
        return any(t.field == "segment" and t.value == name for t in terms(parse(expression)))
    except Invalid:  # a stored expression the language no longer reads: not ours to judge here
        return False


def delete_segment(
    session: Session, *, workspace_id: int, name: str, force: bool = False, actor: str = "system"
) -> None:
    """Delete a saved segment (audited); refused while others build on it, unless ``force``."""
    seg = get_segment(session, workspace_id=workspace_id, name=name)
    users = users_of(session, workspace_id=workspace_id, name=seg.name)
    if users and not force:
        raise Conflict(
            f"segment {seg.name!r} is used by {', '.join(users)}; change those first or use --force",
            field="name",
        )
    record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="segment.delete",
        target_type="segment",
        target_id=seg.id,
        detail={"name": seg.name, "expression": seg.expression},
    )
    session.delete(seg)
    session.flush()
