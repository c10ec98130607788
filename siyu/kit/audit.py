"""Audit log writes (merges, phone reveals, exports, deletions, role changes), chained.

Each workspace's audit entries form a hash chain: entry ``seq`` stores the hash of
entry ``seq - 1`` (``prev_hash``) and its own ``hash``, a SHA-256 over that link and its
content (id, workspace, seq, actor, action, target, detail, time). The chain head
(``audit_chain_heads``: last seq, id and hash) is updated in the same transaction.
``verify_chain`` recomputes everything, so an edited entry, a deleted one (a gap in
``seq``, or a missing tail against the head) or one written around this module
(no hash) is found and named — ``siyu audit verify``.

Entries are sealed when the writing transaction commits (a ``before_commit`` hook):
the head row is locked then (``UPDATE … RETURNING``: a row lock on PostgreSQL held to
the commit; SQLite has one writer), so concurrent writers take turns for the few
statements of the seal only, never for their whole transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.kit.timeutil import utcnow
from siyu.models import AuditChainHead, AuditLog

_PENDING = "siyu_audit_pending"


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
    """Append one audit entry in the caller's transaction (sealed into the chain at commit)."""
    entry = AuditLog(
        workspace_id=workspace_id,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        # Through JSON once, so that what is hashed now is what the database gives back.
        detail=json.loads(json.dumps(detail or {}, ensure_ascii=False)),
        at=utcnow(),
    )
    session.add(entry)
    session.info.setdefault(_PENDING, []).append(entry)
    return entry


def _canon(value: Any) -> Any:
    # PostgreSQL's JSONB gives 1e20 back as an integer: compare integral floats as ints.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    return value


def _at(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite aggregates bypass the column type
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(entry: AuditLog, prev_hash: str | None) -> str:
    """The chain hash of ``entry`` after ``prev_hash`` (None for the first entry)."""
    body = {
        "id": entry.id,
        "workspace_id": entry.workspace_id,
        "seq": entry.seq,
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "detail": _canon(entry.detail),
        "at": _at(entry.at),
    }
    text = (
        (prev_hash or "") + "\n" + json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _take_seqs(session: Session, workspace_id: int, count: int) -> tuple[int, str | None]:
    """Lock the workspace's chain head and reserve ``count`` places: (first seq, prev hash)."""
    conn = session.connection()
    values = {"workspace_id": workspace_id, "last_seq": 0, "updated_at": utcnow()}
    # siyu runs on PostgreSQL and SQLite; both know INSERT … ON CONFLICT DO NOTHING.
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(AuditChainHead).values(**values).on_conflict_do_nothing())
    row = conn.execute(
        update(AuditChainHead)
        .where(AuditChainHead.workspace_id == workspace_id)
        .values(last_seq=AuditChainHead.last_seq + count)
        .returning(AuditChainHead.last_seq, AuditChainHead.last_hash)
    ).one()
    return int(row[0]) - count + 1, row[1]


def seal(session: Session) -> int:
    """Chain the entries this session recorded and has not sealed yet; returns how many.

    Runs by itself before every commit; call it directly only to seal earlier.
    """
    pending: list[AuditLog] = session.info.pop(_PENDING, [])
    entries = [e for e in pending if e in session and e.hash is None]
    if not entries:
        return 0
    session.flush()  # ids; on SQLite this also takes the write lock before the head is read
    by_workspace: dict[int, list[AuditLog]] = {}
    for entry in entries:
        by_workspace.setdefault(entry.workspace_id, []).append(entry)
    conn = session.connection()
    for workspace_id in sorted(by_workspace):  # one lock order: no deadlock between sealers
        items = sorted(by_workspace[workspace_id], key=lambda e: e.id)
        seq, prev = _take_seqs(session, workspace_id, len(items))
        for entry in items:
            entry.seq = seq
            entry.prev_hash = prev
            entry.hash = prev = entry_hash(entry, prev)
            seq += 1
        conn.execute(
            update(AuditChainHead)
            .where(AuditChainHead.workspace_id == workspace_id)
            .values(last_hash=prev, last_id=items[-1].id, updated_at=utcnow())
        )
    session.flush()
    return len(entries)


@event.listens_for(Session, "before_commit")
def _seal_before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        seal(session)


@dataclass(frozen=True)
class ChainProblem:
    """One place where the chain does not hold."""

    kind: str  # edited | deleted | unsealed | rewritten
    message: str
    entry_id: int | None = None
    seq: int | None = None


@dataclass
class ChainReport:
    """What ``verify_chain`` found for one workspace."""

    workspace_id: int
    entries: int = 0
    head_seq: int = 0
    head_hash: str | None = None
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _describe(entry: AuditLog) -> str:
    return f"entry id {entry.id} (seq {entry.seq}, {entry.action} by {entry.actor} at {_at(entry.at)})"


def _stream(session: Session, workspace_id: int) -> Iterator[AuditLog]:
    stmt = (
        select(AuditLog)
        .where(AuditLog.workspace_id == workspace_id, AuditLog.seq.is_not(None))
        .order_by(AuditLog.seq)
        .execution_options(yield_per=2000)
    )
    yield from session.scalars(stmt)


def verify_chain(
    session: Session, *, workspace_id: int, anchor: tuple[int, str] | None = None
) -> ChainReport:
    """Recompute the workspace's audit chain; every edit, deletion or unsealed entry is named.

    ``anchor`` (seq, hash), kept outside the database from an earlier run: the entry at
    that place must still carry that hash, else the chain was rewritten from there on.
    """
    report = ChainReport(workspace_id=workspace_id)
    anchor_seen = anchor is None
    expected = 1
    prev: AuditLog | None = None
    for entry in _stream(session, workspace_id):
        seq = int(entry.seq or 0)
        report.entries += 1
        gap = seq > expected
        if gap:
            after = f"after {_describe(prev)}" if prev is not None else "at the start of the chain"
            span = f"seq {expected}" if seq == expected + 1 else f"seq {expected}–{seq - 1}"
            report.problems.append(
                ChainProblem(
                    "deleted",
                    f"{seq - expected} entr{'y' if seq == expected + 1 else 'ies'} ({span}) deleted: "
                    f"missing {after}, before {_describe(entry)}",
                    seq=expected,
                )
            )
        if entry_hash(entry, entry.prev_hash) != entry.hash:
            report.problems.append(
                ChainProblem(
                    "edited",
                    f"{_describe(entry)} was edited: its content no longer matches its hash",
                    entry_id=entry.id,
                    seq=seq,
                )
            )
        elif not gap and (entry.prev_hash or None) != (prev.hash if prev is not None else None):
            # The link is intact but points elsewhere: the entry before was changed and re-hashed.
            who = _describe(prev) if prev is not None else "the start of the chain"
            report.problems.append(
                ChainProblem(
                    "edited",
                    f"{who} was edited: {_describe(entry)} links to a different hash",
                    entry_id=prev.id if prev is not None else None,
                    seq=prev.seq if prev is not None else None,
                )
            )
        if anchor is not None and seq == anchor[0]:
            anchor_seen = True
            if entry.hash != anchor[1]:
                report.problems.append(
                    ChainProblem(
                        "rewritten",
                        f"{_describe(entry)} no longer has the hash {anchor[1]} recorded for seq {seq}: "
                        "the chain was rewritten from there on",
                        entry_id=entry.id,
                        seq=seq,
                    )
                )
        prev = entry
        expected = seq + 1
        session.expunge(entry)
    head = session.scalar(select(AuditChainHead).where(AuditChainHead.workspace_id == workspace_id))
    if head is not None:
        report.head_seq, report.head_hash = head.last_seq, head.last_hash
        if head.last_seq > expected - 1:
            after = f"after {_describe(prev)}" if prev is not None else "(every entry)"
            count = head.last_seq - expected + 1
            report.problems.append(
                ChainProblem(
                    "deleted",
                    f"the last {count} entr{'y' if count == 1 else 'ies'} (seq {expected}–{head.last_seq}) "
                    f"deleted {after}: the chain head records {head.last_seq}",
                    seq=expected,
                )
            )
        elif prev is not None and head.last_hash != prev.hash and head.last_seq == prev.seq:
            report.problems.append(
                ChainProblem(
                    "edited",
                    f"{_describe(prev)} was edited: the chain head records a different hash",
                    entry_id=prev.id,
                    seq=prev.seq,
                )
            )
    elif prev is not None:
        report.problems.append(ChainProblem("deleted", "the chain head of this workspace was deleted"))
    if not anchor_seen and anchor is not None:
        report.problems.append(
            ChainProblem("deleted", f"the anchored entry seq {anchor[0]} is not in the chain", seq=anchor[0])
        )
    for entry_id, action, at in session.execute(
        select(AuditLog.id, AuditLog.action, AuditLog.at)
        .where(AuditLog.workspace_id == workspace_id, AuditLog.seq.is_(None))
        .order_by(AuditLog.id)
    ):
        report.problems.append(
            ChainProblem(
                "unsealed",
                f"entry id {entry_id} ({action} at {_at(at)}) is not in the chain: it was written "
                "around siyu or its chain fields were cleared",
                entry_id=entry_id,
            )
        )
    return report
