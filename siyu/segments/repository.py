"""Queries on saved segments and auto-tag rules (one workspace at a time).

``siyu.kit.scope.scoped`` is typed for row tuples, not ORM entities, so the workspace
filter is written out here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import AutoTagRule, Segment


def segment_by_name(session: Session, *, workspace_id: int, name: str) -> Segment | None:
    """The saved segment called ``name``, if any."""
    return session.scalar(
        select(Segment).where(Segment.workspace_id == workspace_id).where(Segment.name == name)
    )


def list_segments(session: Session, *, workspace_id: int) -> Sequence[Segment]:
    """Every saved segment of the workspace, by name."""
    return session.scalars(
        select(Segment).where(Segment.workspace_id == workspace_id).order_by(Segment.name)
    ).all()


def rule_by_name(session: Session, *, workspace_id: int, name: str) -> AutoTagRule | None:
    """The auto-tag rule called ``name``, if any."""
    return session.scalar(
        select(AutoTagRule).where(AutoTagRule.workspace_id == workspace_id).where(AutoTagRule.name == name)
    )


def list_rules(session: Session, *, workspace_id: int, enabled_only: bool = False) -> Sequence[AutoTagRule]:
    """The workspace's auto-tag rules in the order they apply (oldest first)."""
    stmt = select(AutoTagRule).where(AutoTagRule.workspace_id == workspace_id).order_by(AutoTagRule.id)
    if enabled_only:
        stmt = stmt.where(AutoTagRule.enabled.is_(True))
    return session.scalars(stmt).all()
