"""Every stored copy of an erased person's identifiers, found and removed.

Anonymising a customer (``siyu.privacy.service.anonymise_customer``) clears the
structured fields it knows (identities, orders, follows, group members, events). The
person's identifiers are also quoted in places that hold other data: the decrypted
WeCom callbacks kept in the inbox, queued and finished jobs, event payloads, import
row errors, sync-run errors, free-text notes on other rows, and upload files still on
disk. This module finds those copies by the identifiers' values and removes them:

- ``collect``: the values to look for (external_userid, unionid, openid, buyer ids,
  the phone in its E.164, national and commonly written forms), read before the
  structured fields are cleared.
- ``scrub_callbacks``: inbox rows about the person that are not processed yet are set
  aside (``ignored``), or lose the person's items when they are a group member change
  naming others too, so that processing cannot bring the person back; the
  ``dedup_key`` stays, so WeCom's retries are still recognised as repeats.
- ``scrub_refetch_jobs``: the person's contacts come out of ``wecom.refetch`` jobs.
- ``scrub_tables``: every text and JSON column of every table (except the audit log,
  which is append-only, and the key columns that name other people) is searched, and
  each occurrence is replaced by ``[erased]``.
- ``scrub_upload_files``: this workspace's upload files still in a siyu upload folder
  (waiting for a worker, being imported, or left behind by a crash) lose the values.
- ``mask``: free text written after the erasure (the reason in the audit entry) keeps
  only masked forms.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, ColumnElement, String, Table, Text, cast, false, or_, select, update
from sqlalchemy.orm import Session

from siyu.community.groups import ERASED_PREFIX
from siyu.kit.pii import PIIError, get_vault, mask_phone
from siyu.models import (
    Base,
    CustomerIdentity,
    Follow,
    GroupMember,
    ImportRun,
    Job,
    Order,
    WeComCallback,
)

REDACTED = "[erased]"
# Shorter values (a two-letter buyer nick) would match unrelated text everywhere.
MIN_LENGTH = 4
UPLOAD_PREFIX = "siyu-upload-"
REFETCH_KIND = "wecom.refetch"
UPLOAD_JOB_KIND = "imports.upload"  # siyu.orders.tasks.UPLOAD_KIND

# Append-only (the audit log is never rewritten; new entries get masked text instead) or
# holding only keyed hashes / the identities themselves (deleted by the erasure).
SKIP_TABLES = frozenset({"audit_log", "customer_identities", "erased_identities"})
# Key columns: they name *other* rows' subjects (another customer with the same buyer
# id on another platform, a staff member), or are dedup keys whose change would let a
# repeat in. The person's own rows in these columns are cleared by the erasure itself.
SKIP_COLUMNS = frozenset(
    {
        ("orders", "buyer_id"),
        ("orders", "external_id"),
        ("follows", "external_userid"),
        ("group_members", "userid"),
        ("staff", "userid"),
        ("users", "name"),
        ("users", "password_hash"),
        ("api_tokens", "token_hash"),
        ("workspaces", "slug"),
        ("wecom_callbacks", "dedup_key"),
        ("events", "dedup_key"),
        ("wecom_apps", "token_enc"),
        ("wecom_apps", "aes_key_enc"),
        ("wecom_apps", "secret_enc"),
    }
)


@dataclass(frozen=True)
class Identifiers:
    """What to look for: every value, longest first (so a longer form is replaced whole)."""

    values: tuple[str, ...]
    external_userids: frozenset[str]
    phones: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.values)


def phone_forms(e164: str) -> list[str]:
    """How a phone is stored or written: +8613800138000, 13800138000, 138 0013 8000, 138-0013-8000."""
    forms = {e164}
    digits = re.sub(r"\D", "", e164)
    if digits.startswith("86"):
        national = digits[2:]
        if national.startswith("1") and len(national) == 11:
            forms.update(
                {
                    national,
                    f"{national[:3]} {national[3:7]} {national[7:]}",
                    f"{national[:3]}-{national[3:7]}-{national[7:]}",
                }
            )
        else:  # a landline: written with its trunk 0
            forms.update({national, "0" + national})
    else:
        forms.add(digits)
    return sorted(forms, key=lambda f: (-len(f), f))


def collect(session: Session, *, workspace_id: int, customer_ids: Sequence[int]) -> Identifiers:
    """The person's identifier values, read before the erasure clears them."""
    vault = get_vault()
    values: set[str] = set()
    externals: set[str] = set()
    phones: set[str] = set()
    for kind, value, value_enc in session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value, CustomerIdentity.value_enc).where(
            CustomerIdentity.workspace_id == workspace_id, CustomerIdentity.customer_id.in_(customer_ids)
        )
    ):
        if kind == "phone":
            if not value_enc:
                continue
            try:
                phone = vault.decrypt(value_enc)
            except (PIIError, ValueError):
                continue
            phones.add(phone)
            values.update(phone_forms(phone))
        elif value:
            values.add(value)
            if kind == "external_userid":
                externals.add(value)
    for (userid,) in session.execute(
        select(Follow.external_userid).where(
            Follow.workspace_id == workspace_id,
            Follow.customer_id.in_(customer_ids),
            Follow.external_userid.is_not(None),
        )
    ):
        if userid:
            values.add(userid)
            externals.add(userid)
    for (userid,) in session.execute(
        select(GroupMember.userid).where(
            GroupMember.workspace_id == workspace_id,
            GroupMember.customer_id.in_(customer_ids),
            GroupMember.staff_id.is_(None),
        )
    ):
        if not userid.startswith(ERASED_PREFIX):
            values.add(userid)
            externals.add(userid)
    for (buyer_id,) in session.execute(
        select(Order.buyer_id).where(
            Order.workspace_id == workspace_id,
            Order.customer_id.in_(customer_ids),
            Order.buyer_id.is_not(None),
        )
    ):
        if buyer_id:
            values.add(buyer_id)
    kept = sorted(
        (v for v in {v.strip() for v in values} if len(v) >= MIN_LENGTH), key=lambda v: (-len(v), v)
    )
    return Identifiers(values=tuple(kept), external_userids=frozenset(externals), phones=frozenset(phones))


def redact_text(text: str, ids: Identifiers, replacement: str = REDACTED) -> str:
    """The text with every identifier value replaced."""
    for value in ids.values:
        if value in text:
            text = text.replace(value, replacement)
    return text


def redact_json(value: Any, ids: Identifiers) -> Any:
    """A JSON value with every identifier replaced in its strings and keys."""
    if isinstance(value, str):
        return redact_text(value, ids)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return REDACTED if str(value) in ids.values else value
    if isinstance(value, list):
        return [redact_json(v, ids) for v in value]
    if isinstance(value, dict):
        return {redact_text(str(k), ids): redact_json(v, ids) for k, v in value.items()}
    return value


def mask(text: str | None, ids: Identifiers) -> str | None:
    """Free text with the person's phone masked (138****8000) and other identifiers erased."""
    if not text:
        return text
    for phone in sorted(ids.phones):
        masked = mask_phone(phone)
        for form in phone_forms(phone):
            text = text.replace(form, masked)
    return redact_text(text, ids)


def _is_json(column: Any) -> bool:
    return isinstance(column.type, JSON)


def _is_text(column: Any) -> bool:
    return isinstance(column.type, String) or _is_json(column)


def _json_forms(value: str) -> set[str]:
    """How a value reads inside stored JSON text (SQLite escapes non-ASCII as \\uXXXX)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def _mentions(column: Any, ids: Identifiers) -> ColumnElement[bool]:
    if _is_json(column):
        forms = sorted({f for v in ids.values for f in _json_forms(v)})
        expr: Any = cast(column, Text)
    else:
        forms = list(ids.values)
        expr = column
    if not forms:
        return false()
    return or_(*(expr.contains(f, autoescape=True) for f in forms))


SET_ASIDE = "the customer was erased (PIPL) before this callback was processed"


def _without_members(body: str, externals: frozenset[str]) -> str | None:
    """A group member change without the person's items, if it names other members too."""
    from siyu.wecom.callbacks.inbox import parse_event  # the inbox's own parser
    from siyu.wecom.crypto import MalformedXML

    try:
        ev = parse_event(body)
    except MalformedXML:
        return None
    gone = set(ev.members) & externals
    others = tuple(m for m in ev.members if m not in externals)
    if not gone or not others:
        return None
    for ext in gone:
        body = re.sub(r"<Item>\s*(?:<!\[CDATA\[)?" + re.escape(ext) + r"(?:\]\]>)?\s*</Item>", "", body)
    try:
        return body if parse_event(body).members == others else None
    except MalformedXML:  # pragma: no cover - only whole items were taken out
        return None


def scrub_callbacks(session: Session, *, workspace_id: int, ids: Identifiers) -> int:
    """Inbox rows about the person still waiting to be processed; returns how many changed.

    Processing them after the erasure would write the person's identifiers again. A
    group member change that names other members too loses only the person's items and
    stays in the queue; any other is set aside (``ignored``, with the reason in
    ``error``). The ``dedup_key`` stays, so WeCom's retries are still recognised, and
    ``scrub_tables`` then redacts the bodies like every processed one.
    """
    if not ids:
        return 0
    changed = 0
    rows = session.execute(
        select(WeComCallback.id, WeComCallback.body).where(
            WeComCallback.workspace_id == workspace_id,
            WeComCallback.status.in_(("pending", "failed")),
            _mentions(WeComCallback.body, ids),
        )
    ).all()
    for callback_id, body in rows:
        trimmed = _without_members(body, ids.external_userids)
        if trimmed is not None and not any(v in trimmed for v in ids.values):
            values: dict[str, Any] = {"body": trimmed}
        else:
            values = {"status": "ignored", "error": SET_ASIDE}
        session.execute(
            update(WeComCallback)
            .where(WeComCallback.id == callback_id)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        changed += 1
    return changed


def scrub_refetch_jobs(session: Session, *, workspace_id: int, ids: Identifiers) -> int:
    """The person's contacts come out of re-fetch jobs (a queued one would re-read them).

    Returns how many jobs changed.
    """
    if not ids.external_userids:
        return 0
    changed = 0
    for job in session.scalars(
        select(Job).where(
            Job.workspace_id == workspace_id, Job.kind == REFETCH_KIND, _mentions(Job.payload, ids)
        )
    ):
        payload = dict(job.payload or {})
        contacts = payload.get("contacts") or []
        kept = [
            c
            for c in contacts
            if not (isinstance(c, dict) and c.get("external_userid") in ids.external_userids)
        ]
        if len(kept) != len(contacts):
            payload["contacts"] = kept
            job.payload = payload
            changed += 1
    session.flush()
    return changed


def text_tables() -> Iterable[tuple[Table, list[Any]]]:
    """Every table with its text and JSON columns, less the append-only and key ones."""
    for table in Base.metadata.sorted_tables:
        if table.name in SKIP_TABLES:
            continue
        columns = [c for c in table.columns if _is_text(c) and (table.name, c.name) not in SKIP_COLUMNS]
        if columns:
            yield table, columns


def scrub_tables(session: Session, *, workspace_id: int, ids: Identifiers) -> dict[str, int]:
    """Replace the identifiers in every text/JSON column of the workspace; rows changed per table."""
    counts: dict[str, int] = {}
    if not ids:
        return counts
    session.flush()
    for table, columns in text_tables():
        where: list[Any] = [or_(*(_mentions(c, ids) for c in columns))]
        if "workspace_id" in table.c:
            where.append(table.c.workspace_id == workspace_id)
        elif table.name == "workspaces":
            where.append(table.c.id == workspace_id)
        pk = list(table.primary_key.columns)
        if not pk:  # pragma: no cover - every siyu table has a primary key
            continue
        changed = 0
        for row in session.execute(select(*pk, *columns).where(*where)).all():
            values: dict[str, Any] = {}
            for i, column in enumerate(columns, start=len(pk)):
                old = row[i]
                if old is None:
                    continue
                new = redact_json(old, ids) if _is_json(column) else redact_text(old, ids)
                if new != old:
                    values[column.name] = new
            if values:
                session.execute(update(table).where(*(c == row[j] for j, c in enumerate(pk))).values(values))
                changed += 1
        if changed:
            counts[table.name] = changed
    return counts


def upload_root() -> Path:
    """Where the API and the console keep uploads while they are imported."""
    return Path(tempfile.gettempdir()).resolve()


def _file_forms(value: str) -> set[bytes]:
    # Chinese platforms export GBK/GB18030 as well as UTF-8; gb18030 encodes all of Unicode.
    return {value.encode("utf-8"), value.encode("gb18030")}


def _upload_paths(session: Session, workspace_id: int) -> set[str]:
    """Files this workspace's imports read: queued upload jobs' and import runs' files."""
    paths = set(
        session.scalars(select(ImportRun.filename).where(ImportRun.workspace_id == workspace_id).distinct())
    )
    for payload in session.scalars(
        select(Job.payload).where(Job.workspace_id == workspace_id, Job.kind == UPLOAD_JOB_KIND)
    ):
        listed = (payload or {}).get("paths")
        if isinstance(listed, list):
            paths.update(p for p in listed if isinstance(p, str))
    return paths


def scrub_upload_files(session: Session, *, workspace_id: int, ids: Identifiers) -> int:
    """Upload files of this workspace still on disk lose the identifiers; returns files changed.

    An upload waits in its folder until a worker has imported it (or stays there when
    an import was cut short). Only files in a siyu upload folder are touched, never a
    file an operator imported from their own disk with ``siyu import orders``. The file
    is rewritten (a new file renamed over it) with each value removed, so that the
    import still to come finds an empty cell.
    """
    if not ids:
        return 0
    root = upload_root()
    changed = 0
    for filename in sorted(_upload_paths(session, workspace_id)):
        path = Path(filename)
        if not path.is_absolute() or not path.parent.name.startswith(UPLOAD_PREFIX):
            continue
        try:
            if path.resolve().parent.parent != root or not path.is_file():
                continue
            data = path.read_bytes()
        except OSError:
            continue
        new = data
        for value in ids.values:
            for form in _file_forms(value):
                new = new.replace(form, b"")
        if new == data:
            continue
        tmp = path.with_name(f".{path.name}.erasing")
        tmp.write_bytes(new)
        os.replace(tmp, path)
        changed += 1
    return changed
