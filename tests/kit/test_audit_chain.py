"""The audit log is a hash chain: `siyu audit verify` names edited and deleted entries."""

from __future__ import annotations

import json
import threading

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit import audit
from siyu.kit.db import session_scope
from siyu.models import AuditChainHead, AuditLog
from tests.conftest import CliRun


def _write(workspace_id: int, n: int, actor: str = "cli") -> None:
    for i in range(n):
        with session_scope() as s:
            audit.record(
                s,
                workspace_id=workspace_id,
                actor=actor,
                action="tag.create",
                target_type="tag",
                target_id=i,
                detail={"name": f"标签{i}", "ratio": 1.0, "big": 1e20, "list": (1, 2)},
            )


def _ids(session: Session, workspace_id: int) -> list[int]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditLog.id).where(AuditLog.workspace_id == workspace_id).order_by(AuditLog.seq)
        )
    )


def test_entries_are_chained_and_verify_passes(cli: CliRun, workspace_id: int, session: Session) -> None:
    _write(workspace_id, 3)
    # Two entries in one transaction, too.
    with session_scope() as s:
        for action in ("a.one", "a.two"):
            audit.record(s, workspace_id=workspace_id, actor="system", action=action)
    rows = session.scalars(select(AuditLog).order_by(AuditLog.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash is None
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, 5))
    assert all(r.hash and len(r.hash) == 64 for r in rows)
    head = session.scalar(select(AuditChainHead))
    assert head is not None
    assert head.last_seq == 5
    assert head.last_hash == rows[-1].hash
    out = cli("audit", "verify").stdout
    assert "intact, 5 entries" in out
    assert rows[-1].hash in out


def test_an_edited_entry_is_named(cli: CliRun, env: Settings, workspace_id: int, session: Session) -> None:
    _write(workspace_id, 4)
    ids = _ids(session, workspace_id)
    session.execute(update(AuditLog).where(AuditLog.id == ids[1]).values(actor="user:999"))
    session.commit()
    result = cli("audit", "verify", expect=1)
    assert f"entry id {ids[1]} (seq 2" in result.stderr
    assert "was edited" in result.stderr
    report = json.loads(cli("audit", "verify", "--json", expect=1).stdout)[0]
    assert [(p["kind"], p["entry_id"]) for p in report["problems"]] == [("edited", ids[1])]


def test_an_edit_with_its_hash_recomputed_is_still_found(
    cli: CliRun, env: Settings, workspace_id: int, session: Session
) -> None:
    _write(workspace_id, 3)
    ids = _ids(session, workspace_id)
    entry = session.get(AuditLog, ids[1])
    assert entry is not None
    entry.detail = {"name": "changed"}
    entry.hash = audit.entry_hash(entry, entry.prev_hash)
    session.commit()
    report = json.loads(cli("audit", "verify", "--json", expect=1).stdout)[0]
    assert [(p["kind"], p["entry_id"]) for p in report["problems"]] == [("edited", ids[1])]
    # The last entry, re-hashed: the chain head gives it away.
    last = session.get(AuditLog, ids[2])
    assert last is not None
    last.actor = "someone-else"
    last.hash = audit.entry_hash(last, last.prev_hash)
    session.commit()
    report = json.loads(cli("audit", "verify", "--json", expect=1).stdout)[0]
    assert ("edited", ids[2]) in [(p["kind"], p["entry_id"]) for p in report["problems"]]


def test_deleted_entries_are_named(cli: CliRun, env: Settings, workspace_id: int, session: Session) -> None:
    _write(workspace_id, 5)
    ids = _ids(session, workspace_id)
    session.execute(delete(AuditLog).where(AuditLog.id == ids[2]))
    session.commit()
    result = cli("audit", "verify", expect=1)
    assert "1 entry (seq 3) deleted" in result.stderr
    assert f"after entry id {ids[1]}" in result.stderr
    assert f"before entry id {ids[3]}" in result.stderr
    # The tail too: only the chain head remembers it.
    session.execute(delete(AuditLog).where(AuditLog.id == ids[4]))
    session.commit()
    result = cli("audit", "verify", expect=1)
    assert "the last 1 entry (seq 5–5) deleted" in result.stderr
    assert f"after entry id {ids[3]}" in result.stderr


def test_an_entry_written_around_the_chain_is_named(
    cli: CliRun, env: Settings, workspace_id: int, session: Session
) -> None:
    _write(workspace_id, 2)
    session.execute(
        AuditLog.__table__.insert().values(workspace_id=workspace_id, actor="x", action="forged", detail={})
    )
    session.commit()
    result = cli("audit", "verify", expect=1)
    assert "forged" in result.stderr
    assert "not in the chain" in result.stderr


def test_concurrent_writers_keep_one_chain(
    cli: CliRun, env: Settings, workspace_id: int, session: Session
) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            _write(workspace_id, 10, actor=f"worker:{k}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = sorted(session.scalars(select(AuditLog.seq)))
    assert seqs == list(range(1, 61))
    assert "intact, 60 entries" in cli("audit", "verify").stdout


def test_an_anchor_kept_elsewhere_catches_a_rewritten_chain(
    cli: CliRun, env: Settings, workspace_id: int, session: Session
) -> None:
    _write(workspace_id, 3)
    out = cli("audit", "verify").stdout
    anchor = out.split("head ")[1].split()[0]
    assert anchor.startswith("3:")
    # Someone with database access rewrites the last entry, its hash and the head.
    ids = _ids(session, workspace_id)
    last = session.get(AuditLog, ids[2])
    assert last is not None
    last.actor = "someone-else"
    last.hash = audit.entry_hash(last, last.prev_hash)
    session.execute(update(AuditChainHead).values(last_hash=last.hash))
    session.commit()
    assert "intact" in cli("audit", "verify").stdout  # consistent on its own...
    result = cli("audit", "verify", "--anchor", anchor, expect=1)  # ...but not with the anchor
    assert f"entry id {ids[2]} (seq 3" in result.stderr
    assert "rewritten" in result.stderr
    assert "--anchor must be SEQ:HASH" in cli("audit", "verify", "--anchor", "x", expect=2).stderr
