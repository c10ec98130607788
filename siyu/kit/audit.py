"""Audit log writes (merges, phone reveals, exports, deletions, role changes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.models import AuditLog


def record(
    session: Session,
    *,
    workspace_id: int,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit entry in the caller's transaction."""
    entry = AuditLog(
        workspace_id=workspace_id,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        detail=detail or {},
    )
    session.add(entry)
    return entry
