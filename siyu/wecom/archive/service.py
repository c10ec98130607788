"""Archive services for the CLI, the API and jobs: import a file, settings, purge,
the viewer's search (role-checked, every view audited), consent, coverage, and the
friend-request accept times staff record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from siyu.customers.repository import identity_owners
from siyu.kit import audit
from siyu.kit.errors import Forbidden, Invalid, NotFound
from siyu.kit.events import record_event
from siyu.kit.pii import PIIError, get_vault
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, Follow, FriendAccept, Group, Message, Staff, Workspace
from siyu.wecom.archive.importer import ArchiveReport, import_lines, numbered_lines
from siyu.wecom.archive.settings import ArchiveSettings, archive_settings, update_settings

MAX_PAGE = 200
MAX_WORD_SCAN = 20_000  # messages decrypted for one word search


def import_file(
    session_factory: Callable[[], Session],
    *,
    workspace_id: int,
    path: Path,
    actor: str = "cli",
    on_progress: Callable[[int], None] | None = None,
) -> ArchiveReport:
    """Import one archive export (JSON lines); ``on_progress`` gets bytes read so far."""
    if not path.is_file():
        raise Invalid(f"no such file: {path}", field="file")
    read = 0

    def lines() -> Any:
        nonlocal read
        for n, raw in numbered_lines(path):
            read += len(raw)
            yield n, raw

    def batch_done(_: int) -> None:
        if on_progress is not None:
            on_progress(read)

    return import_lines(
        session_factory, workspace_id=workspace_id, lines=lines(), actor=actor, on_batch=batch_done
    )


def get_settings(session: Session, *, workspace_id: int) -> ArchiveSettings:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound("no such workspace", field="workspace")
    return archive_settings(ws.settings)


def set_settings(
    session: Session, *, workspace_id: int, changes: dict[str, Any], actor: str
) -> ArchiveSettings:
    """Change archive settings (checked as a whole; audited). ``store_text=none`` erases stored text."""
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound("no such workspace", field="workspace")
    before = archive_settings(ws.settings)
    ws.settings = update_settings(ws.settings, changes)
    after = archive_settings(ws.settings)
    erased = 0
    if after.store_text == "none" and before.store_text != "none":
        erased = _erase_text(session, workspace_id=workspace_id, before=None)
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="archive.settings",
        detail={"changes": changes, "texts_erased": erased},
    )
    return after


def _erase_text(session: Session, *, workspace_id: int, before: datetime | None) -> int:
    stmt = update(Message).where(Message.workspace_id == workspace_id, Message.text_enc.is_not(None))
    if before is not None:
        stmt = stmt.where(Message.sent_at < before)
    result = session.execute(stmt.values(text_enc=None))
    return int(getattr(result, "rowcount", 0) or 0)


def purge(session: Session, *, workspace_id: int, actor: str = "system") -> int:
    """Erase message text older than the retention period; returns how many texts went."""
    s = get_settings(session, workspace_id=workspace_id)
    erased = _erase_text(
        session, workspace_id=workspace_id, before=utcnow() - timedelta(days=s.retention_days)
    )
    if erased:
        audit.record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action="archive.purge",
            detail={"texts_erased": erased, "retention_days": s.retention_days},
        )
    return erased


# --- coverage -----------------------------------------------------------------------


def coverage(session: Session, *, workspace_id: int) -> list[dict[str, Any]]:
    """Each staff account: covered by the archive (licence setting) and its last archived message."""
    s = get_settings(session, workspace_id=workspace_id)
    last = dict(
        session.execute(
            select(Message.staff_id, func.max(Message.sent_at))
            .where(
                Message.workspace_id == workspace_id,
                Message.source == "archive",
                Message.staff_id.is_not(None),
            )
            .group_by(Message.staff_id)
        ).all()
    )
    out = []
    for sid, userid, name in session.execute(
        select(Staff.id, Staff.userid, Staff.name)
        .where(Staff.workspace_id == workspace_id)
        .order_by(Staff.userid)
    ).all():
        last_at = last.get(sid)
        out.append(
            {
                "staff_id": sid,
                "userid": userid,
                "name": name,
                "covered": s.covers(userid),
                "last_message_at": last_at.isoformat() if last_at else None,
            }
        )
    return out


def covered_staff_ids(session: Session, *, workspace_id: int) -> set[int]:
    """Staff accounts the archive covers (the metrics' own figures); others use WeCom's."""
    return {row["staff_id"] for row in coverage(session, workspace_id=workspace_id) if row["covered"]}


def consent(session: Session, *, workspace_id: int, customer_id: int) -> dict[str, Any] | None:
    """The customer's latest answer to archiving (agree / disagree) and when, or None."""
    row = session.execute(
        select(Message.msgtype, Message.sent_at)
        .where(
            Message.workspace_id == workspace_id,
            Message.customer_id == customer_id,
            Message.msgtype.in_(("agree", "disagree")),
        )
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(1)
    ).first()
    return None if row is None else {"agree": row[0] == "agree", "at": row[1].isoformat()}


# --- viewer ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Search:
    """What the viewer looks for; every field optional."""

    customer_id: int | None = None
    external_userid: str | None = None
    staff: str | None = None  # userid
    group: str | None = None  # chat id
    word: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    before_id: int | None = None
    only_staff_id: int | None = None  # a staff user sees their own account's chats only


def check_viewer(session: Session, *, workspace_id: int, role: str) -> None:
    s = get_settings(session, workspace_id=workspace_id)
    if role not in s.viewer_roles:
        raise Forbidden(
            f"role {role!r} may not view the conversation archive "
            f"(settings.archive.viewer_roles: {', '.join(s.viewer_roles)})",
            field="role",
        )


def _query(session: Session, workspace_id: int, q: Search) -> Select[Message, str, str, str | None, str]:
    stmt = (
        select(Message, Staff.userid, Staff.name, Customer.name, Group.name)
        .outerjoin(Staff, Staff.id == Message.staff_id)
        .outerjoin(Customer, Customer.id == Message.customer_id)
        .outerjoin(Group, Group.id == Message.group_id)
        .where(Message.workspace_id == workspace_id)
    )
    if q.external_userid:
        owners = identity_owners(
            session,
            workspace_id=workspace_id,
            kind="external_userid",
            platform="",
            hashes=[get_vault().identity_hash("external_userid", q.external_userid)],
        )
        if not owners:
            raise NotFound(f"no customer with external_userid {q.external_userid!r}", field="external_userid")
        stmt = stmt.where(Message.customer_id == next(iter(owners.values())))
    if q.customer_id is not None:
        stmt = stmt.where(Message.customer_id == q.customer_id)
    if q.staff:
        sid = session.scalar(
            select(Staff.id).where(Staff.workspace_id == workspace_id, Staff.userid == q.staff)
        )
        if sid is None:
            raise NotFound(f"no staff account {q.staff!r}", field="staff")
        stmt = stmt.where(Message.staff_id == sid)
    if q.group:
        gid = session.scalar(
            select(Group.id).where(Group.workspace_id == workspace_id, Group.chat_id == q.group)
        )
        if gid is None:
            raise NotFound(f"no group {q.group!r}", field="group")
        stmt = stmt.where(Message.group_id == gid)
    if q.since is not None:
        stmt = stmt.where(Message.sent_at >= q.since)
    if q.until is not None:
        stmt = stmt.where(Message.sent_at < q.until)
    if q.before_id is not None:
        stmt = stmt.where(Message.id < q.before_id)
    if q.only_staff_id is not None:
        stmt = stmt.where(Message.staff_id == q.only_staff_id)
    return stmt.order_by(Message.id.desc())


def search(session: Session, *, workspace_id: int, role: str, actor: str, q: Search) -> dict[str, Any]:
    """Messages matching ``q``, newest first (decrypted for the viewer); audited."""
    check_viewer(session, workspace_id=workspace_id, role=role)
    if not 1 <= q.limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if q.since and q.until and q.since >= q.until:
        raise Invalid("since must be before until", field="since")
    vault = get_vault()
    stmt = _query(session, workspace_id, q)
    word = (q.word or "").strip().lower()
    stmt = stmt.where(Message.text_enc.is_not(None)).limit(MAX_WORD_SCAN) if word else stmt.limit(q.limit)
    items: list[dict[str, Any]] = []
    scanned = 0
    for msg, userid, staff_name, customer_name, group_name in session.execute(stmt).all():
        scanned += 1
        text = None
        if msg.text_enc:
            try:
                text = vault.decrypt(msg.text_enc)
            except (PIIError, ValueError):
                text = None
        if word and (text is None or word not in text.lower()):
            continue
        items.append(
            {
                "id": msg.id,
                "source": msg.source,
                "msgid": msg.msgid,
                "direction": msg.direction,
                "msgtype": msg.msgtype,
                "sent_at": msg.sent_at.isoformat(),
                "staff": userid,
                "staff_name": staff_name,
                "customer_id": msg.customer_id,
                "customer_name": customer_name,
                "group_id": msg.group_id,
                "group_name": group_name,
                "text": text,
                "payload": msg.payload or {},
                "revoked_at": msg.revoked_at.isoformat() if msg.revoked_at else None,
            }
        )
        if len(items) >= q.limit:
            break
    criteria = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in (
            ("customer_id", q.customer_id),
            ("external_userid", q.external_userid),
            ("staff", q.staff),
            ("group", q.group),
            ("word", bool(word)),
            ("since", q.since),
            ("until", q.until),
        )
        if v
    }
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="archive.view",
        target_type="messages",
        detail={"criteria": criteria, "shown": len(items)},
    )
    return {
        "items": items,
        "next_before_id": items[-1]["id"] if len(items) == q.limit else None,
        "scanned": scanned,
    }


# --- friend-request accept times -------------------------------------------------------


def record_accept(
    session: Session,
    *,
    workspace_id: int,
    staff_userid: str,
    external_userid: str,
    requested_at: datetime,
    accepted_at: datetime,
    actor: str,
) -> FriendAccept:
    """Staff record when they accepted a request that waited for verification (upsert)."""
    if accepted_at < requested_at:
        raise Invalid("accepted_at is before requested_at", field="accepted_at")
    if accepted_at > utcnow() + timedelta(minutes=5):
        raise Invalid("accepted_at is in the future", field="accepted_at")
    staff = session.scalar(
        select(Staff).where(Staff.workspace_id == workspace_id, Staff.userid == staff_userid)
    )
    if staff is None:
        raise NotFound(f"no staff account {staff_userid!r}", field="staff")
    follow = session.scalar(
        select(Follow).where(
            Follow.workspace_id == workspace_id,
            Follow.staff_id == staff.id,
            Follow.external_userid == external_userid,
        )
    )
    if follow is None:
        raise NotFound(f"{staff_userid!r} has no friend {external_userid!r}", field="external_userid")
    row = session.scalar(
        select(FriendAccept).where(
            FriendAccept.workspace_id == workspace_id,
            FriendAccept.staff_id == staff.id,
            FriendAccept.customer_id == follow.customer_id,
        )
    )
    if row is None:
        row = FriendAccept(
            workspace_id=workspace_id,
            staff_id=staff.id,
            customer_id=follow.customer_id,
            requested_at=requested_at,
            accepted_at=accepted_at,
            recorded_by=actor,
        )
        session.add(row)
    else:
        row.requested_at, row.accepted_at, row.recorded_by = requested_at, accepted_at, actor
    session.flush()
    # the request on the customer's timeline: the pass rate's accept times read it
    record_event(
        session,
        workspace_id=workspace_id,
        kind="friend.request",
        occurred_at=requested_at,
        source="staff",
        customer_id=follow.customer_id,
        staff_id=staff.id,
        dedup_key=f"friend.request:{staff.id}:{follow.customer_id}:{requested_at.isoformat()}",
        payload={"accepted_at": accepted_at.isoformat(), "recorded_by": actor},
    )
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="friend.accept_recorded",
        target_type="follow",
        target_id=follow.id,
        detail={"minutes": round((accepted_at - requested_at).total_seconds() / 60, 1)},
    )
    return row


# WeCom's add_way for adds through a 联系我 code / 获客助手 link; with skip_verify the
# request is accepted at once (add_half_external_contact fires).
def add_share(session: Session, *, workspace_id: int, since: datetime, until: datetime) -> dict[str, Any]:
    """Friend adds in a window: through codes that skip verification (accepted at once),
    with an accept time staff recorded, and the rest (accept time unknown)."""
    rows = session.execute(
        select(Follow.staff_id, Follow.customer_id, Follow.live_code_state).where(
            Follow.workspace_id == workspace_id, Follow.added_at >= since, Follow.added_at < until
        )
    ).all()
    recorded = {
        (s, c)
        for s, c in session.execute(
            select(FriendAccept.staff_id, FriendAccept.customer_id).where(
                FriendAccept.workspace_id == workspace_id
            )
        ).all()
    }
    skip = _skip_verify_states(session, workspace_id=workspace_id)
    at_once = sum(1 for s, c, state in rows if state and state in skip and (s, c) not in recorded)
    with_time = sum(1 for s, c, _ in rows if (s, c) in recorded)
    total = len(rows)
    return {
        "adds": total,
        "accepted_at_once": at_once,
        "accept_recorded": with_time,
        "unknown": total - at_once - with_time,
        "share_at_once": round(at_once / total, 4) if total else None,
    }


def _skip_verify_states(session: Session, *, workspace_id: int) -> set[str]:
    from siyu.models import Channel

    return set(
        session.scalars(
            select(Channel.state).where(Channel.workspace_id == workspace_id, Channel.skip_verify.is_(True))
        )
    )


def pull_status(session: Session, *, workspace_id: int) -> dict[str, Any]:
    """Where the Finance SDK pull stands: position, last move, stall alert, rows waiting for a key."""
    from siyu.models import ArchiveCursor, ArchivePending

    cursor = session.scalar(select(ArchiveCursor).where(ArchiveCursor.workspace_id == workspace_id))
    pending = session.scalar(
        select(func.count()).select_from(ArchivePending).where(ArchivePending.workspace_id == workspace_id)
    )
    versions = sorted(
        set(
            session.scalars(
                select(ArchivePending.publickey_ver).where(ArchivePending.workspace_id == workspace_id)
            ).all()
        )
    )
    return {
        "seq": cursor.seq if cursor else 0,
        "advanced_at": cursor.advanced_at.isoformat() if cursor and cursor.advanced_at else None,
        "pulled_at": cursor.pulled_at.isoformat() if cursor and cursor.pulled_at else None,
        "stalled": bool(cursor and cursor.alerted_at),
        "pending": int(pending or 0),
        "missing_key_versions": versions,
    }
