"""Store archive records as ``messages``: idempotent by msgid, recalls applied, consent kept.

Every input line ends in exactly one outcome: stored, a duplicate (its msgid is already
stored, from this file or an earlier import), or refused (broken line, unknown message
type; a device ``switch`` is skipped). A message whose staff account, customer or group
siyu does not know is *stored* (the raw id kept in ``payload``) and reported, so that
nothing is lost; the metrics count only linked rows. The counts and one entry per
problem line come back in an :class:`ArchiveReport`.

Direction (CONVENTIONS.md, "Messages"): ``in`` a customer wrote (1:1 or in a group),
``out`` a staff account wrote to a customer or a customer group, ``internal`` staff to
staff. Text is kept encrypted with the vault or not at all (``settings.store_text``).
A customer's group text keeps the staff accounts it @-mentions in ``mentions`` (read from
the text by name, :mod:`siyu.wecom.archive.mentions`), whatever ``store_text`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, Table, Text, and_, cast, select, update
from sqlalchemy.orm import Session

from siyu.customers.repository import identity_owners
from siyu.kit import audit
from siyu.kit.errors import Invalid
from siyu.kit.events import record_event
from siyu.kit.pii import get_vault
from siyu.kit.timeutil import utcnow
from siyu.models import Group, Message, Staff, Workspace
from siyu.wecom.archive.interactions import touch_from_messages
from siyu.wecom.archive.mentions import MentionIndex
from siyu.wecom.archive.parse import ArchiveRecord, LineProblem, is_external, parse_line, parse_record
from siyu.wecom.archive.settings import archive_settings

SOURCE = "archive"
BATCH = 2000
MAX_PROBLEMS = 10_000  # problem lines listed in a report (all of them are counted)
NOT_CHAT = ("agree", "disagree", "revoke")  # stored, but not conversation messages
# A recall comes within 2 minutes of its message (WeCom's limit); look a day around.
_RECALL_WINDOW = timedelta(days=1)
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]


@dataclass
class ArchiveReport:
    """What an import did, line by line where something went wrong."""

    lines: int = 0
    stored: int = 0
    duplicates: int = 0
    broken: int = 0
    unknown_msgtype: int = 0
    switches: int = 0
    unknown_staff: int = 0
    unknown_customer: int = 0
    unknown_group: int = 0
    revoked: int = 0
    consents: int = 0
    mentions: int = 0
    interactions_moved: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    problems_left_out: int = 0

    def problem(self, line: int, kind: str, message: str, msgid: str | None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"line": line, "kind": kind, "msgid": msgid, "message": message})
        else:
            self.problems_left_out += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "broken": self.broken,
            "unknown_msgtype": self.unknown_msgtype,
            "switches": self.switches,
            "unknown_staff": self.unknown_staff,
            "unknown_customer": self.unknown_customer,
            "unknown_group": self.unknown_group,
            "revoked": self.revoked,
            "consents": self.consents,
            "mentions": self.mentions,
            "interactions_moved": self.interactions_moved,
            "problems": self.problems,
            "problems_left_out": self.problems_left_out,
        }

    def add(self, other: ArchiveReport) -> None:
        for key, value in other.as_dict().items():
            if isinstance(value, int):
                setattr(self, key, getattr(self, key) + value)
        for p in other.problems:
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append(p)
            else:
                self.problems_left_out += 1


class Resolver:
    """Staff userid, customer external_userid, group chat id and staff name (for @-mentions)
    → siyu ids (cached; staff and groups loaded once)."""

    CUSTOMER_CACHE = 200_000

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        staff = session.execute(
            select(Staff.userid, Staff.id, Staff.name).where(Staff.workspace_id == workspace_id)
        ).all()
        self.staff = {userid: sid for userid, sid, _ in staff}
        self.mentions = MentionIndex((name, sid) for _, sid, name in staff)
        self.groups = dict(
            session.execute(select(Group.chat_id, Group.id).where(Group.workspace_id == workspace_id)).all()
        )
        self.customers: dict[str, int | None] = {}
        self._vault = get_vault()

    def load_customers(self, session: Session, external_ids: Iterable[str]) -> None:
        wanted = {e for e in external_ids if e not in self.customers}
        if not wanted:
            return
        if len(self.customers) > self.CUSTOMER_CACHE:
            self.customers.clear()
        by_hash = {self._vault.identity_hash("external_userid", e): e for e in wanted}
        owners = identity_owners(
            session, workspace_id=self.workspace_id, kind="external_userid", platform="", hashes=list(by_hash)
        )
        for h, ext in by_hash.items():
            self.customers[ext] = owners.get(h)


@dataclass(slots=True)
class _Row:
    line: int
    record: ArchiveRecord
    values: dict[str, Any]


def _link(rec: ArchiveRecord, res: Resolver, report: ArchiveReport, line: int) -> dict[str, Any]:
    """The message row's ids and direction; unknown parties reported (the row is kept)."""
    payload = dict(rec.payload)
    staff_id = customer_id = group_id = None
    unknown: list[tuple[str, str]] = []

    def customer(ext: str) -> int | None:
        cid = res.customers.get(ext)
        if cid is None:
            payload["external_userid"] = ext
            unknown.append(("unknown_customer", f"customer {ext!r} is not known (sync WeCom contacts first)"))
        return cid

    def member(userid: str) -> int | None:
        sid = res.staff.get(userid)
        if sid is None:
            payload["userid"] = userid
            unknown.append(("unknown_staff", f"staff account {userid!r} is not known"))
        return sid

    if rec.roomid:
        group_id = res.groups.get(rec.roomid)
        if group_id is None:
            payload["roomid"] = rec.roomid
    if rec.consent_of is not None:
        direction = "in"
        customer_id = customer(rec.consent_of)
        others = [t for t in (rec.sender, *rec.tolist) if not is_external(t)]
        if others:
            staff_id = res.staff.get(others[0])
    elif is_external(rec.sender):
        direction = "in"
        customer_id = customer(rec.sender)
        if not rec.roomid and rec.tolist:
            staff_id = member(rec.tolist[0])
    else:
        staff_id = member(rec.sender)
        if rec.roomid:
            direction = (
                "out" if group_id is not None or any(is_external(t) for t in rec.tolist) else "internal"
            )
        else:
            peer = rec.tolist[0] if rec.tolist else ""
            if is_external(peer):
                direction = "out"
                customer_id = customer(peer)
            else:
                direction = "internal"
                payload.setdefault("to", peer)
    if rec.roomid and group_id is None and direction != "internal":
        unknown.append(("unknown_group", f"group {rec.roomid!r} is not known (sync WeCom groups first)"))
    if rec.pre_msgid:
        payload["pre_msgid"] = rec.pre_msgid
    for kind, message in unknown:
        setattr(report, kind, getattr(report, kind) + 1)
        report.problem(line, kind, message + "; stored unlinked", rec.msgid)
    return {
        "direction": direction,
        "staff_id": staff_id,
        "customer_id": customer_id,
        "group_id": group_id,
        "payload": payload or None,
    }


def import_batch(
    session: Session,
    *,
    workspace_id: int,
    items: Iterable[tuple[int, ArchiveRecord | LineProblem]],
    resolver: Resolver,
    store_text: bool,
    source: str = SOURCE,
) -> ArchiveReport:
    """Store one batch of parsed lines (``(line number, record or problem)``); never commits."""
    report = ArchiveReport()
    vault = get_vault()
    fresh: dict[str, tuple[int, ArchiveRecord]] = {}
    for line, item in items:
        report.lines += 1
        if isinstance(item, LineProblem):
            if item.kind == "switch":
                report.switches += 1
                continue
            setattr(report, item.kind, getattr(report, item.kind) + 1)
            report.problem(line, item.kind, item.message, item.msgid)
            continue
        if item.msgid in fresh:
            report.duplicates += 1
            report.problem(line, "duplicate", f"msgid already on line {fresh[item.msgid][0]}", item.msgid)
            continue
        fresh[item.msgid] = (line, item)
    if not fresh:
        return report
    ids = list(fresh)
    have: set[str] = set()
    for i in range(0, len(ids), 900):
        have.update(
            session.scalars(
                select(Message.msgid).where(
                    Message.workspace_id == workspace_id,
                    Message.source == source,
                    Message.msgid.in_(ids[i : i + 900]),
                )
            )
        )
    for msgid in sorted(have, key=lambda m: fresh[m][0]):
        report.duplicates += 1
        report.problem(fresh[msgid][0], "duplicate", "msgid already stored (nothing changed)", msgid)
        del fresh[msgid]
    if not fresh:
        return report
    records = [rec for _, rec in fresh.values()]
    resolver.load_customers(
        session, {x for r in records for x in (r.sender, *r.tolist, r.consent_of or "") if is_external(x)}
    )
    # Recalls stored earlier whose message arrives now (a file out of order).
    lo = min(r.sent_at for r in records) - _RECALL_WINDOW
    hi = max(r.sent_at for r in records) + _RECALL_WINDOW
    recalled: dict[str, datetime] = {}
    for payload, at in session.execute(
        select(Message.payload, Message.sent_at).where(
            Message.workspace_id == workspace_id,
            Message.source == source,
            Message.msgtype == "revoke",
            Message.sent_at >= lo,
            Message.sent_at <= hi,
        )
    ):
        if isinstance(payload, dict) and payload.get("pre_msgid"):
            recalled[payload["pre_msgid"]] = at
    for r in records:
        if r.pre_msgid:
            recalled[r.pre_msgid] = r.sent_at
    rows: list[dict[str, Any]] = []
    for line, rec in fresh.values():
        values = _link(rec, resolver, report, line)
        revoked_at = recalled.get(rec.msgid)
        text = rec.text if store_text and rec.text and revoked_at is None else None
        mentions = (
            resolver.mentions.find(rec.text)
            if rec.roomid
            and rec.msgtype in ("text", "mixed")
            and rec.text
            and "@" in rec.text
            and values["direction"] == "in"
            and rec.consent_of is None
            and resolver.mentions
            else None
        )
        if mentions:
            report.mentions += 1
        rows.append(
            {
                "workspace_id": workspace_id,
                "source": source,
                "msgid": rec.msgid,
                "sender": rec.sender,
                "msgtype": rec.msgtype,
                "sent_at": rec.sent_at,
                "revoked_at": revoked_at,
                "text_enc": vault.encrypt(text) if text else None,
                "mentions": mentions or None,
                **values,
            }
        )
        if revoked_at is not None:
            report.revoked += 1
        if rec.consent_of is not None:
            report.consents += 1
            if values["customer_id"] is not None:
                record_event(
                    session,
                    workspace_id=workspace_id,
                    kind="archive.consent",
                    occurred_at=rec.sent_at,
                    source=source,
                    customer_id=values["customer_id"],
                    staff_id=values["staff_id"],
                    dedup_key=f"archive:{rec.msgid}",
                    payload={"agree": rec.msgtype == "agree"},
                )
    _insert_messages(session, rows)
    report.stored += len(rows)
    # Recalls of messages stored earlier.
    for rec in records:
        if rec.pre_msgid and rec.pre_msgid not in fresh:
            result = session.execute(
                update(Message)
                .where(
                    and_(
                        Message.workspace_id == workspace_id,
                        Message.source == source,
                        Message.msgid == rec.pre_msgid,
                        Message.revoked_at.is_(None),
                    )
                )
                .values(revoked_at=rec.sent_at, text_enc=None)
            )
            report.revoked += getattr(result, "rowcount", 0) or 0
    report.interactions_moved += touch_from_messages(session, workspace_id=workspace_id, rows=rows)
    return report


_ROW_KEYS = (
    "workspace_id", "source", "msgid", "sender", "msgtype", "sent_at", "revoked_at", "text_enc",
    "direction", "staff_id", "customer_id", "group_id", "payload", "mentions", "created_at",
)  # fmt: skip


@lru_cache(maxsize=4)
def _insert_plan(dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """The messages INSERT compiled once for the dialect: its SQL, the parameter order
    (positional drivers) and each column's bind processor (dates, JSON)."""
    compiled = _MESSAGES.insert().compile(dialect=dialect, column_keys=list(_ROW_KEYS))
    processors = {}
    for key in _ROW_KEYS:
        proc = _MESSAGES.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            processors[key] = proc
    order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
    return compiled.string, order, processors


def _insert_messages(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the batch's rows (one executemany; no ORM bookkeeping).

    On SQLite straight to the driver: the statement compiled once, each value through its
    column's bind processor (the same values SQLAlchemy would send; its generic per-row
    parameter handling was a fifth of the import's CPU time). Elsewhere SQLAlchemy's own
    executemany (batched multi-row inserts on PostgreSQL).
    """
    conn = session.connection()
    now = utcnow()
    for row in rows:
        row["created_at"] = now
    if conn.dialect.name != "sqlite":
        conn.execute(_MESSAGES.insert(), rows)
        return
    sql, order, processors = _insert_plan(conn.dialect)
    keys = order or _ROW_KEYS
    procs = [processors.get(k) for k in keys]
    conn.exec_driver_sql(
        sql,
        [
            tuple(p(row[k]) if p is not None else row[k] for p, k in zip(procs, keys, strict=True))
            for row in rows
        ],
    )


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if raw.strip():
                yield n, raw


def import_lines(
    session_factory: Callable[[], Session],
    *,
    workspace_id: int,
    lines: Iterable[tuple[int, bytes | str | dict[str, Any]]],
    actor: str = "cli",
    source: str = SOURCE,
    on_batch: Callable[[int], None] | None = None,
    batch_size: int = BATCH,
) -> ArchiveReport:
    """Import numbered lines (JSON text or decoded dicts); one commit per batch."""
    total = ArchiveReport()
    with session_factory() as session:
        ws = session.get(Workspace, workspace_id)
        if ws is None:
            raise Invalid(f"no workspace {workspace_id}", field="workspace")
        store_text = archive_settings(ws.settings).store_text == "encrypted"
        resolver = Resolver(session, workspace_id)
    batch: list[tuple[int, ArchiveRecord | LineProblem]] = []

    def flush() -> None:
        with session_factory() as session, session.begin():
            report = import_batch(
                session,
                workspace_id=workspace_id,
                items=batch,
                resolver=resolver,
                store_text=store_text,
                source=source,
            )
        total.add(report)
        if on_batch is not None:
            on_batch(len(batch))
        batch.clear()

    for n, raw in lines:
        batch.append((n, parse_record(raw) if isinstance(raw, dict) else parse_line(raw)))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    with session_factory() as session, session.begin():
        counts = {k: v for k, v in total.as_dict().items() if isinstance(v, int)}
        audit.record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action="archive.import",
            target_type="messages",
            detail=counts,
        )
    return total


def relink(session: Session, *, workspace_id: int, batch: int = 2000) -> dict[str, int]:
    """Link stored messages whose staff account, customer or group was unknown at import
    (the raw id waits in ``payload``), now that a sync may know them; never commits."""
    resolver = Resolver(session, workspace_id)
    linked = {"customers_linked": 0, "staff_linked": 0, "groups_linked": 0}
    # Rows stored before "no payload" meant SQL NULL held the JSON text ``null``, which
    # ``payload IS NOT NULL`` below would select (every 1:1 message): make them NULL.
    session.execute(
        update(Message)
        .where(
            Message.workspace_id == workspace_id,
            Message.payload.is_not(None),
            cast(Message.payload, Text) == "null",
        )
        .values(payload=None)
    )
    last_id = 0
    touched: list[dict[str, Any]] = []
    while True:
        rows = session.execute(
            select(
                Message.id,
                Message.payload,
                Message.customer_id,
                Message.staff_id,
                Message.group_id,
                Message.direction,
                Message.msgtype,
                Message.sent_at,
            )
            .where(
                Message.workspace_id == workspace_id,
                Message.id > last_id,
                Message.payload.is_not(None),
                (Message.customer_id.is_(None)) | (Message.staff_id.is_(None)) | (Message.group_id.is_(None)),
            )
            .order_by(Message.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        last_id = rows[-1][0]
        resolver.load_customers(
            session,
            {p["external_userid"] for _, p, *_ in rows if isinstance(p, dict) and p.get("external_userid")},
        )
        for mid, payload, cid, sid, gid, direction, msgtype, at in rows:
            if not isinstance(payload, dict):
                continue
            values: dict[str, Any] = {}
            rest = dict(payload)
            if cid is None and payload.get("external_userid"):
                found = resolver.customers.get(payload["external_userid"])
                if found is not None:
                    values["customer_id"] = found
                    rest.pop("external_userid")
                    linked["customers_linked"] += 1
            if sid is None and payload.get("userid") and payload["userid"] in resolver.staff:
                values["staff_id"] = resolver.staff[rest.pop("userid")]
                linked["staff_linked"] += 1
            if gid is None and payload.get("roomid") and payload["roomid"] in resolver.groups:
                values["group_id"] = resolver.groups[rest.pop("roomid")]
                linked["groups_linked"] += 1
            if values:
                session.execute(
                    update(Message).where(Message.id == mid).values(payload=rest or None, **values)
                )
                touched.append(
                    {
                        "customer_id": values.get("customer_id", cid),
                        "staff_id": values.get("staff_id", sid),
                        "group_id": values.get("group_id", gid),
                        "direction": direction,
                        "msgtype": msgtype,
                        "sent_at": at,
                    }
                )
    moved = touch_from_messages(session, workspace_id=workspace_id, rows=touched) if touched else 0
    return {**linked, "interactions_moved": moved}
