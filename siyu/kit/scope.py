"""Workspace scoping: the one place that adds ``workspace_id`` filters."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from siyu.kit.errors import NotFound
from siyu.models import Workspace

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def scoped(stmt: S, model: Any, workspace_id: int) -> S:
    """Restrict a query on ``model`` to one workspace."""
    return stmt.where(model.workspace_id == workspace_id)


def get_workspace(session: Session, slug: str) -> Workspace:
    """The workspace with this slug, or a NotFound that names it."""
    ws = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if ws is None:
        raise NotFound(f"workspace {slug!r} does not exist", field="workspace")
    return ws


def ensure_workspace(
    session: Session, slug: str, name: str | None = None, timezone: str = "Asia/Shanghai"
) -> Workspace:
    """The workspace with this slug, created if missing."""
    ws = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if ws is None:
        ws = Workspace(slug=slug, name=name or slug, timezone=timezone, settings={})
        session.add(ws)
        session.flush()
    return ws
