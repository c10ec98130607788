"""Reading the audience change journal (``audience_changes``) past a cursor.

The writer is ``siyu.kit.changes``. SQLite has one writer at a time and the note is
written just before the commit, so ids become visible in id order and a plain "id
greater than the last one read" is exact. PostgreSQL hands out ids when the row is
inserted, not when it commits: a transaction may commit id 100 after id 101 was read.
So each entry carries its transaction id, and a read returns every entry whose
transaction was not finished at the previous read (``txid >= xmin`` of that read's
snapshot); entries already applied are skipped by id. See ADR 0005.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.orm import Session

from siyu.kit.timeutil import utcnow
from siyu.models import AudienceChange

PRUNE_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Cursor:
    """Where a reader stands: the last id read; on PostgreSQL the snapshot xmin and the ids read since."""

    last_id: int = 0
    xmin: int | None = None
    seen: frozenset[int] = field(default_factory=frozenset)


Change = tuple[int | None, int | None]  # (workspace_id, customer_id); None = unknown / everything


def _xmin(session: Session) -> int:
    return int(session.scalar(text("SELECT txid_snapshot_xmin(txid_current_snapshot())")) or 0)


def position(session: Session) -> Cursor:
    """The journal's end now: a reader starting here misses nothing committed later."""
    last = int(session.scalar(select(func.coalesce(func.max(AudienceChange.id), 0))) or 0)
    if session.get_bind().dialect.name != "postgresql":
        return Cursor(last)
    xmin = _xmin(session)
    seen = frozenset(session.scalars(select(AudienceChange.id).where(AudienceChange.txid >= xmin)))
    return Cursor(last, xmin, seen)


def read(session: Session, workspace_id: int, cursor: Cursor) -> tuple[list[Change], Cursor] | None:
    """The changes of a workspace committed since ``cursor``, and the new cursor.

    None when the journal was reset under the reader (ids went backwards): start over.
    """
    mine = or_(AudienceChange.workspace_id == workspace_id, AudienceChange.workspace_id.is_(None))
    cols = (AudienceChange.id, AudienceChange.workspace_id, AudienceChange.customer_id)
    if session.get_bind().dialect.name != "postgresql":
        last = int(session.scalar(select(func.coalesce(func.max(AudienceChange.id), 0))) or 0)
        if last < cursor.last_id:
            return None
        if last == cursor.last_id:
            return [], cursor
        rows = session.execute(
            select(*cols).where(AudienceChange.id > cursor.last_id, AudienceChange.id <= last, mine)
        ).all()
        return [(r[1], r[2]) for r in rows], Cursor(last)
    xmin = _xmin(session)  # first: anything not visible below was still running then
    assert cursor.xmin is not None
    rows = session.execute(select(*cols).where(AudienceChange.txid >= cursor.xmin, mine)).all()
    fresh = [(r[1], r[2]) for r in rows if r[0] not in cursor.seen]
    seen = frozenset(r[0] for r in rows)
    return fresh, Cursor(max([cursor.last_id, *seen]), xmin, seen)


def prune(session: Session) -> int:
    """Delete entries older than ``PRUNE_AFTER``; readers further behind rebuild instead."""
    result = session.execute(delete(AudienceChange).where(AudienceChange.created_at < utcnow() - PRUNE_AFTER))
    return int(getattr(result, "rowcount", 0) or 0)
