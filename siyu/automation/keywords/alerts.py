"""Sensitive words per workspace, and the alerts the boss reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import Alert, SensitiveWord

ALERT_KINDS = ("sensitive_word", "staff_deleted_customer")
WORD_MAX = 100


def add_words(session: Session, *, workspace_id: int, words: list[str], actor: str) -> list[str]:
    """Add sensitive words (trimmed; duplicates ignored); the words added."""
    clean: list[str] = []
    for i, w in enumerate(words):
        w = w.strip()
        if not w:
            raise Invalid(f"word {i + 1} is empty", field=f"words[{i}]")
        if len(w) > WORD_MAX:
            raise Invalid(f"word {i + 1} is longer than {WORD_MAX} characters", field=f"words[{i}]")
        clean.append(w)
    have = set(session.scalars(select(SensitiveWord.word).where(SensitiveWord.workspace_id == workspace_id)))
    added = [w for w in dict.fromkeys(clean) if w not in have]
    for w in added:
        session.add(SensitiveWord(workspace_id=workspace_id, word=w, created_by=actor))
    session.flush()
    if added:
        audit.record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action="sensitive_word.add",
            target_type="sensitive_word",
            detail={"count": len(added)},
        )
    return added


def remove_words(session: Session, *, workspace_id: int, words: list[str], actor: str) -> int:
    rows = list(
        session.scalars(
            select(SensitiveWord).where(
                SensitiveWord.workspace_id == workspace_id, SensitiveWord.word.in_([w.strip() for w in words])
            )
        )
    )
    for r in rows:
        session.delete(r)
    if rows:
        audit.record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action="sensitive_word.remove",
            target_type="sensitive_word",
            detail={"count": len(rows)},
        )
    return len(rows)


def list_words(session: Session, *, workspace_id: int) -> list[str]:
    return list(
        session.scalars(
            select(SensitiveWord.word)
            .where(SensitiveWord.workspace_id == workspace_id)
            .order_by(SensitiveWord.id)
        )
    )


def raise_alert(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    summary: str,
    occurred_at: datetime,
    dedup_key: str,
    customer_id: int | None = None,
    staff_id: int | None = None,
    message_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> int | None:
    """Record an alert once per ``dedup_key``; its id, or None when raised before."""
    if kind not in ALERT_KINDS:
        raise Invalid(f"unknown alert kind {kind!r}", field="kind")
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(Alert)
    stmt = (
        ins.values(
            workspace_id=workspace_id,
            kind=kind,
            customer_id=customer_id,
            staff_id=staff_id,
            message_id=message_id,
            summary=summary[:300],
            detail=detail or {},
            occurred_at=occurred_at,
            dedup_key=dedup_key,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "dedup_key"])
        .returning(Alert.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def list_alerts(
    session: Session,
    *,
    workspace_id: int,
    kind: str | None = None,
    open_only: bool = False,
    limit: int = 100,
) -> list[Alert]:
    stmt = select(Alert).where(Alert.workspace_id == workspace_id)
    if kind:
        if kind not in ALERT_KINDS:
            raise Invalid(f"kind is one of {', '.join(ALERT_KINDS)}", field="kind")
        stmt = stmt.where(Alert.kind == kind)
    if open_only:
        stmt = stmt.where(Alert.acked_at.is_(None))
    return list(session.scalars(stmt.order_by(Alert.occurred_at.desc(), Alert.id.desc()).limit(limit)))


def open_count(session: Session, *, workspace_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.workspace_id == workspace_id, Alert.acked_at.is_(None))
        )
        or 0
    )


def ack_alert(
    session: Session, *, workspace_id: int, alert_id: int, actor: str, note: str | None = None
) -> Alert:
    alert = session.scalar(
        select(Alert).where(Alert.workspace_id == workspace_id, Alert.id == alert_id).with_for_update()
    )
    if alert is None:
        raise NotFound(f"no alert {alert_id}", field="alert_id")
    if alert.acked_at is not None:
        raise Conflict(f"alert {alert_id} was dealt with already", field="alert_id")
    alert.acked_at = utcnow()
    alert.acked_by = actor
    alert.note = (note or "").strip() or None
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="alert.ack",
        target_type="alert",
        target_id=alert.id,
        detail={"kind": alert.kind},
    )
    return alert


def alert_json(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "summary": a.summary,
        "customer_id": a.customer_id,
        "staff_id": a.staff_id,
        "message_id": a.message_id,
        "detail": dict(a.detail),
        "occurred_at": a.occurred_at.isoformat(),
        "acked_at": a.acked_at.isoformat() if a.acked_at else None,
        "acked_by": a.acked_by,
    }
