"""The callback inbox: parse a decrypted callback, store it once, answer fast.

A callback is stored (``wecom_callbacks``) in its own short transaction before any
processing, so an accepted (HTTP 200) callback survives a crash; WeCom's retries and
repeats hit the ``(workspace_id, dedup_key)`` unique key and change nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.models import WeComCallback
from siyu.wecom.crypto import MalformedXML, parse_flat

# (MsgType, Event) -> handled ChangeTypes; anything else is stored as "ignored".
HANDLED: dict[str, frozenset[str]] = {
    "change_external_contact": frozenset(
        {
            "add_external_contact",
            "add_half_external_contact",
            "edit_external_contact",
            "del_external_contact",
            "del_follow_user",
            "transfer_fail",
        }
    ),
    "change_external_chat": frozenset({"create", "update", "dismiss"}),
    "change_external_tag": frozenset({"create", "update", "delete", "shuffle"}),
    # the 获客助手 quota (siyu.acquisition.quota)
    "customer_acquisition": frozenset({"balance_low", "balance_exhausted", "balance_increased"}),
    # no ChangeType: new customer-service messages / archive messages wait (siyu.wecom.archive)
    "kf_msg_or_event": frozenset({""}),
    "msgaudit_notify": frozenset({""}),
}


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """A decrypted callback's fields (top-level tags) plus the group member list."""

    fields: dict[str, str]
    members: tuple[str, ...] = field(default=())

    def get(self, name: str) -> str:
        """A field's text, or "" when absent."""
        return self.fields.get(name, "")

    @property
    def msg_type(self) -> str:
        return self.get("MsgType")

    @property
    def event(self) -> str:
        return self.get("Event")

    @property
    def change_type(self) -> str:
        return self.get("ChangeType")

    @property
    def create_time(self) -> datetime | None:
        """CreateTime as aware UTC (None when missing or not a number)."""
        raw = self.get("CreateTime")
        try:
            return datetime.fromtimestamp(int(raw), UTC)
        except (ValueError, OverflowError, OSError):
            return None

    @property
    def handled(self) -> bool:
        """True for the event types siyu processes; others are stored as ignored."""
        return self.msg_type == "event" and self.change_type in HANDLED.get(self.event, frozenset())


def parse_event(xml_text: str | bytes) -> CallbackEvent:
    """Fields of a decrypted callback; MalformedXML when it is not a WeCom message.

    One pass of expat with DTDs and entities refused (``parse_flat``): the top-level
    tags' texts (first occurrence wins) and the ``<MemChangeList>`` items.
    """
    flat = parse_flat(xml_text)
    if flat.root != "xml":
        raise MalformedXML(f"the decrypted message's root element is <{flat.root}>, expected <xml>")
    if not flat.fields.get("MsgType"):
        raise MalformedXML("the decrypted message has no <MsgType>")
    return CallbackEvent(fields=flat.fields, members=flat.members)


def dedup_key(ev: CallbackEvent) -> str:
    """The inbox key: "msg:<MsgId>" for messages, else a hash of the event's content.

    Events (FromUserName=sys) have no MsgId. The documented composite (Event,
    ChangeType, UserID, ExternalUserID/ChatId/Id, CreateTime) alone would merge two
    member changes of one group in the same second, so every field (and the member
    list) goes into the hash, in a canonical order; a retry of the same event is
    byte-for-byte the same content and hashes the same.
    """
    msg_id = ev.get("MsgId")
    if msg_id:
        return "msg:" + msg_id[:120]
    h = hashlib.sha256()
    for name in sorted(ev.fields):
        h.update(name.encode() + b"\x00" + ev.fields[name].encode() + b"\x01")
    h.update(b"\x02" + "\x00".join(ev.members).encode())
    return "evt:" + h.hexdigest()


_TABLE = cast(Table, WeComCallback.__table__)


_insert_cache: dict[tuple[str, bool], Any] = {}


def _insert_ignore(session: Session, *, returning: bool = True) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING [RETURNING id], built once per dialect (hot path)."""
    dialect = session.get_bind().dialect.name
    stmt = _insert_cache.get((dialect, returning))
    if stmt is None:
        if dialect == "postgresql":
            stmt = pg_insert(_TABLE).on_conflict_do_nothing(index_elements=["workspace_id", "dedup_key"])
        elif dialect == "sqlite":
            stmt = sqlite_insert(_TABLE).on_conflict_do_nothing(index_elements=["workspace_id", "dedup_key"])
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            stmt = insert(_TABLE)
        if returning:
            stmt = stmt.returning(_TABLE.c.id)
        _insert_cache[(dialect, returning)] = stmt
    return stmt


def accept(session: Session, *, workspace_id: int, xml_text: str) -> tuple[int, bool, CallbackEvent]:
    """Store a decrypted callback once; returns (row id, newly stored?, parsed event).

    Unknown message/event types are stored with status ``ignored`` (WeCom still gets its
    200). The caller commits.
    """
    ev = parse_event(xml_text)
    callback_id, created = accept_parsed(session, workspace_id=workspace_id, xml_text=xml_text, ev=ev)
    return callback_id, created, ev


def _row(workspace_id: int, xml_text: str, ev: CallbackEvent, now: datetime) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "dedup_key": dedup_key(ev),
        "msg_type": ev.msg_type[:32] or None,
        "event": ev.event[:64] or None,
        "change_type": ev.change_type[:64] or None,
        "create_time": ev.create_time,
        "body": xml_text,
        "status": "pending" if ev.handled else "ignored",
        "attempts": 0,
        "received_at": now,
    }


def accept_many(session: Session, items: Sequence[tuple[int, str, CallbackEvent]]) -> None:
    """Store parsed callbacks ``(workspace_id, xml_text, event)``, each once. No commit.

    One executemany of INSERT ... ON CONFLICT DO NOTHING (the inbox writer's batch): a
    retry, a repeat, or the same event twice in one batch is a no-op. Returns nothing:
    the 200 only needs the rows committed, not their ids.
    """
    if not items:
        return
    now = datetime.now(UTC)
    session.connection().execute(
        _insert_ignore(session, returning=False), [_row(ws, xml, ev, now) for ws, xml, ev in items]
    )


_COLUMNS = (
    "workspace_id",
    "dedup_key",
    "msg_type",
    "event",
    "change_type",
    "create_time",
    "body",
    "status",
    "attempts",
    "received_at",
)


class BatchInsert:
    """The inbox writer's INSERT ... ON CONFLICT DO NOTHING on a plain DBAPI connection.

    The statement is the same Core insert (compiled once for the engine's dialect), and
    values go through the columns' own bind processors (``UTCDateTime`` included), so
    rows are stored exactly as through the ORM; only SQLAlchemy's per-execution work
    (about half the writer's CPU per callback) is skipped. SQLite runs one executemany;
    PostgreSQL one multi-row INSERT, one round trip for the whole batch, written with
    PostgreSQL's own ``$n`` placeholders for psycopg's ``RawCursor`` (``cursor()``), so
    psycopg does not re-parse a query of up to 2,560 placeholders for every batch.
    """

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        stmt = (pg_insert if dialect.name == "postgresql" else sqlite_insert)(_TABLE)
        stmt = stmt.on_conflict_do_nothing(index_elements=["workspace_id", "dedup_key"])
        self.multi_row = dialect.name == "postgresql"
        processors = {c: _TABLE.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in _COLUMNS}
        self._processors = [(i, f) for i, c in enumerate(_COLUMNS) if (f := processors[c]) is not None]
        compiled = stmt.compile(dialect=dialect, column_keys=list(_COLUMNS))
        sql = str(compiled)
        conflict = sql[sql.index(" ON CONFLICT ") :]
        if " RETURNING " in conflict:  # implicit RETURNING id: the writer needs no ids
            conflict = conflict[: conflict.index(" RETURNING ")]
        if self.multi_row:  # PostgreSQL: one statement, one round trip for the batch
            self._head = sql[: sql.index(" VALUES ") + len(" VALUES ")]
            self._tail = conflict
            self._sql_for: dict[int, bytes] = {}
        else:  # SQLite: executemany of the one prepared statement
            if not compiled.positional or tuple(compiled.positiontup or ()) != _COLUMNS:
                raise RuntimeError("unexpected compiled form of the inbox insert")  # pragma: no cover
            self._sql = sql[: sql.index(" ON CONFLICT ")] + conflict

    def cursor(self, conn: Any) -> Any:
        """A cursor for ``execute`` on a pooled DBAPI connection (a raw one on PostgreSQL)."""
        if not self.multi_row:
            return conn.cursor()
        from psycopg import RawCursor

        return RawCursor(conn.driver_connection)

    def _multi_row_sql(self, rows: int) -> bytes:
        sql = self._sql_for.get(rows)
        if sql is None:
            width = len(_COLUMNS)
            groups = (
                "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")" for r in range(rows)
            )
            sql = (self._head + ", ".join(groups) + self._tail).encode()
            if len(self._sql_for) < 512:
                self._sql_for[rows] = sql
        return sql

    def _values(self, workspace_id: int, xml_text: str, ev: CallbackEvent, now: datetime) -> list[Any]:
        row = [
            workspace_id,
            dedup_key(ev),
            ev.msg_type[:32] or None,
            ev.event[:64] or None,
            ev.change_type[:64] or None,
            ev.create_time,
            xml_text,
            "pending" if ev.handled else "ignored",
            0,
            now,
        ]
        for i, process in self._processors:
            row[i] = process(row[i])
        return row

    def execute(self, cursor: Any, items: Sequence[tuple[int, str, CallbackEvent]]) -> None:
        """Insert ``(workspace_id, xml_text, event)`` items on a ``cursor()``. No commit."""
        if not items:
            return
        now = datetime.now(UTC)
        rows = [self._values(ws, xml, ev, now) for ws, xml, ev in items]
        if not self.multi_row:
            cursor.executemany(self._sql, rows)
            return
        cursor.execute(self._multi_row_sql(len(rows)), [v for row in rows for v in row])


def accept_parsed(
    session: Session, *, workspace_id: int, xml_text: str, ev: CallbackEvent
) -> tuple[int, bool]:
    """Store an already parsed callback once; returns (row id, newly stored?). No commit."""
    values = _row(workspace_id, xml_text, ev, datetime.now(UTC))
    key = values["dedup_key"]
    # Core statement with bound values: no per-request statement compilation.
    new_id = session.connection().execute(_insert_ignore(session), values).scalar()
    if new_id is not None:
        return int(new_id), True
    existing = session.scalar(
        select(WeComCallback.id).where(
            WeComCallback.workspace_id == workspace_id, WeComCallback.dedup_key == key
        )
    )
    assert existing is not None  # the conflict means it is there
    return int(existing), False
