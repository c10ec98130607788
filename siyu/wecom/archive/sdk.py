"""The Finance SDK (会话内容存档 C SDK, ``libWeWorkFinanceSdk_C.so``) through ctypes.

A pull asks ``GetChatData`` for up to 1,000 rows after the stored ``seq``. Each row
carries ``publickey_ver``, ``encrypt_random_key`` (base64; RSA PKCS#1 v1.5 with the
corp's public key of that version) and ``encrypt_chat_msg``: siyu decrypts the random
key with the private key of that version, hands both to ``DecryptData`` and imports
the JSON message it gets back (``importer.import_batch``). A row whose key version siyu
does not hold yet is kept in ``archive_pending`` and decrypted when the key is added.
The position (``archive_cursors.seq``) moves with every call that brought rows; when
it has not moved for ``settings.archive.stall_minutes`` an ``archive.stalled`` event
is recorded once (the console's alert), and cleared when it moves again.

The library's path is ``settings.archive.sdk_library``; the corp id and the archive's
own secret are the workspace's WeCom app named ``archive`` (``siyu wecom archive
connect``); private keys are ``archive_keys`` rows (PEM, vault-encrypted).
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from siyu.kit import audit
from siyu.kit.errors import Invalid
from siyu.kit.events import record_event
from siyu.kit.pii import get_vault
from siyu.kit.timeutil import utcnow
from siyu.models import ArchiveCursor, ArchiveKey, ArchivePending, Workspace
from siyu.wecom.archive.importer import ArchiveReport, Resolver, import_batch
from siyu.wecom.archive.parse import ArchiveRecord, LineProblem, parse_record
from siyu.wecom.archive.settings import archive_settings

MAX_LIMIT = 1000
log = logging.getLogger(__name__)
APP_NAME = "archive"


class SdkError(Exception):
    """The SDK returned a non-zero code."""

    def __init__(self, call: str, code: int) -> None:
        super().__init__(f"Finance SDK {call} returned {code}")
        self.code = code


class _Slice(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_char_p), ("len", ctypes.c_int)]


class FinanceSdk:
    """One initialised SDK handle (``NewSdk`` + ``Init``); ``close`` destroys it."""

    def __init__(self, library: str, corp_id: str, secret: str) -> None:
        try:
            lib = ctypes.CDLL(library)
        except OSError as exc:
            raise Invalid(
                f"cannot load the Finance SDK library {library!r}: {exc}", field="sdk_library"
            ) from exc
        lib.NewSdk.restype = ctypes.c_void_p
        lib.Init.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.Init.restype = ctypes.c_int
        lib.DestroySdk.argtypes = [ctypes.c_void_p]
        lib.NewSlice.restype = ctypes.POINTER(_Slice)
        lib.FreeSlice.argtypes = [ctypes.POINTER(_Slice)]
        lib.GetContentFromSlice.argtypes = [ctypes.POINTER(_Slice)]
        lib.GetContentFromSlice.restype = ctypes.c_void_p
        lib.GetSliceLen.argtypes = [ctypes.POINTER(_Slice)]
        lib.GetSliceLen.restype = ctypes.c_int
        lib.GetChatData.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulonglong,
            ctypes.c_uint,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(_Slice),
        ]
        lib.GetChatData.restype = ctypes.c_int
        lib.DecryptData.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_Slice)]
        lib.DecryptData.restype = ctypes.c_int
        self._lib = lib
        self._sdk = lib.NewSdk()
        rc = lib.Init(self._sdk, corp_id.encode(), secret.encode())
        if rc != 0:
            lib.DestroySdk(self._sdk)
            raise SdkError("Init", rc)

    def _content(self, s: Any) -> bytes:
        ptr = self._lib.GetContentFromSlice(s)
        n = self._lib.GetSliceLen(s)
        return ctypes.string_at(ptr, n) if ptr and n > 0 else b""

    def get_chat_data(self, seq: int, limit: int = MAX_LIMIT, timeout: int = 10) -> list[dict[str, Any]]:
        """Rows after ``seq`` (at most ``limit``, ≤ 1,000), as the SDK lists them."""
        s = self._lib.NewSlice()
        try:
            rc = self._lib.GetChatData(self._sdk, seq, min(limit, MAX_LIMIT), None, None, timeout, s)
            if rc != 0:
                raise SdkError("GetChatData", rc)
            data = json.loads(self._content(s) or b"{}")
        finally:
            self._lib.FreeSlice(s)
        if data.get("errcode", 0) != 0:
            raise SdkError("GetChatData", int(data["errcode"]))
        rows: list[dict[str, Any]] = data.get("chatdata") or []
        return rows

    def decrypt(self, random_key: bytes, encrypted: str) -> bytes:
        s = self._lib.NewSlice()
        try:
            rc = self._lib.DecryptData(random_key, encrypted.encode(), s)
            if rc != 0:
                raise SdkError("DecryptData", rc)
            return self._content(s)
        finally:
            self._lib.FreeSlice(s)

    def close(self) -> None:
        if self._sdk:
            self._lib.DestroySdk(self._sdk)
            self._sdk = None


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (PKCS#1 or PKCS#8); Invalid naming the field otherwise."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise Invalid(f"not a PEM private key: {exc}", field="private_key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise Invalid("the archive key must be an RSA key", field="private_key")
    return key


def add_key(session: Session, *, workspace_id: int, version: int, pem: str, actor: str) -> ArchiveKey:
    """Store (or replace) the private key of ``publickey_ver`` = ``version``, encrypted."""
    if version <= 0:
        raise Invalid("the key version must be a positive whole number", field="version")
    load_private_key(pem)
    enc = get_vault().encrypt(pem)
    row = session.scalar(
        select(ArchiveKey).where(ArchiveKey.workspace_id == workspace_id, ArchiveKey.version == version)
    )
    if row is None:
        row = ArchiveKey(workspace_id=workspace_id, version=version, private_key_enc=enc)
        session.add(row)
    else:
        row.private_key_enc = enc
    session.flush()
    audit.record(
        session, workspace_id=workspace_id, actor=actor, action="archive.key_add", detail={"version": version}
    )
    return row


def _keys(session: Session, workspace_id: int) -> dict[int, rsa.RSAPrivateKey]:
    vault = get_vault()
    return {
        v: load_private_key(vault.decrypt(enc))
        for v, enc in session.execute(
            select(ArchiveKey.version, ArchiveKey.private_key_enc).where(
                ArchiveKey.workspace_id == workspace_id
            )
        ).all()
    }


@dataclass
class PullReport:
    calls: int = 0
    rows: int = 0
    pending: int = 0
    retried: int = 0
    seq: int = 0
    stalled: bool = False
    imported: ArchiveReport = field(default_factory=ArchiveReport)

    def as_dict(self) -> dict[str, Any]:
        counts = {k: v for k, v in self.imported.as_dict().items() if isinstance(v, int)}
        return {
            "calls": self.calls,
            "rows": self.rows,
            "pending": self.pending,
            "retried": self.retried,
            "seq": self.seq,
            "stalled": self.stalled,
            **counts,
        }


def _open(sdk: FinanceSdk, keys: dict[int, rsa.RSAPrivateKey], row: dict[str, Any]) -> dict[str, Any] | str:
    """The decrypted message of one row, or why not (a str)."""
    key = keys.get(int(row.get("publickey_ver") or 0))
    if key is None:
        return f"no private key of version {row.get('publickey_ver')}"
    try:
        random_key = key.decrypt(base64.b64decode(row.get("encrypt_random_key") or ""), padding.PKCS1v15())
        plain = sdk.decrypt(random_key, str(row.get("encrypt_chat_msg") or ""))
        obj = json.loads(plain)
    except (ValueError, binascii.Error, SdkError) as exc:
        return f"cannot decrypt: {exc}"[:300]
    return obj if isinstance(obj, dict) else "not a JSON object"


def pull(
    factory: Callable[[], Session],
    *,
    workspace_id: int,
    sdk: FinanceSdk,
    max_calls: int = 100,
    limit: int = MAX_LIMIT,
) -> PullReport:
    """Pull from the stored ``seq`` until the SDK has no more rows (commit per call)."""
    report = PullReport()
    with factory() as session:
        ws = session.get(Workspace, workspace_id)
        if ws is None:
            raise Invalid(f"no workspace {workspace_id}", field="workspace")
        s = archive_settings(ws.settings)
        keys = _keys(session, workspace_id)
        resolver = Resolver(session, workspace_id)
    store_text = s.store_text == "encrypted"
    retry_pending(
        factory,
        workspace_id=workspace_id,
        sdk=sdk,
        report=report,
        keys=keys,
        resolver=resolver,
        store_text=store_text,
    )
    for _ in range(max_calls):
        with factory() as session, session.begin():
            cursor = _cursor(session, workspace_id)
            rows = sdk.get_chat_data(cursor.seq, limit)
            report.calls += 1
            now = utcnow()
            cursor.pulled_at = now
            if not rows:
                _check_stall(session, cursor, s.stall_minutes, report)
                report.seq = cursor.seq
                break
            items: list[tuple[int, ArchiveRecord | LineProblem]] = []
            for row in rows:
                seq = int(row.get("seq") or 0)
                opened = _open(sdk, keys, row)
                if isinstance(opened, str):
                    _keep(session, workspace_id, row, opened)
                    report.pending += 1
                else:
                    items.append((seq, parse_record(opened)))
                cursor.seq = max(cursor.seq, seq)
            report.rows += len(rows)
            report.imported.add(
                import_batch(
                    session, workspace_id=workspace_id, items=items, resolver=resolver, store_text=store_text
                )
            )
            cursor.advanced_at, cursor.alerted_at = now, None
            report.seq = cursor.seq
    return report


def _cursor(session: Session, workspace_id: int) -> ArchiveCursor:
    cursor = session.scalar(select(ArchiveCursor).where(ArchiveCursor.workspace_id == workspace_id))
    if cursor is None:
        cursor = ArchiveCursor(workspace_id=workspace_id, seq=0, advanced_at=utcnow())
        session.add(cursor)
        session.flush()
    return cursor


def _check_stall(session: Session, cursor: ArchiveCursor, minutes: int, report: PullReport) -> None:
    now = utcnow()
    since = cursor.advanced_at or cursor.updated_at
    if since is not None and now - since >= timedelta(minutes=minutes):
        report.stalled = True
        if cursor.alerted_at is None:
            log.warning(
                "archive pull of workspace %s stalled at seq %s since %s",
                cursor.workspace_id,
                cursor.seq,
                since,
            )
            cursor.alerted_at = now
            record_event(
                session,
                workspace_id=cursor.workspace_id,
                kind="archive.stalled",
                occurred_at=now,
                source="archive",
                payload={"seq": cursor.seq, "since": since.isoformat()},
            )


def _keep(session: Session, workspace_id: int, row: dict[str, Any], error: str) -> None:
    msgid = str(row.get("msgid") or f"seq:{row.get('seq')}")
    if (
        session.scalar(
            select(ArchivePending.id).where(
                ArchivePending.workspace_id == workspace_id, ArchivePending.msgid == msgid
            )
        )
        is not None
    ):
        return
    session.add(
        ArchivePending(
            workspace_id=workspace_id,
            seq=int(row.get("seq") or 0),
            msgid=msgid,
            publickey_ver=int(row.get("publickey_ver") or 0),
            encrypt_random_key=str(row.get("encrypt_random_key") or ""),
            encrypt_chat_msg=str(row.get("encrypt_chat_msg") or ""),
            error=error[:300],
        )
    )


def retry_pending(
    factory: Callable[[], Session],
    *,
    workspace_id: int,
    sdk: FinanceSdk,
    report: PullReport,
    keys: dict[int, rsa.RSAPrivateKey],
    resolver: Resolver,
    store_text: bool,
) -> None:
    """Decrypt kept rows whose key version is now known; import them and drop them."""
    with factory() as session, session.begin():
        pending = session.scalars(
            select(ArchivePending)
            .where(ArchivePending.workspace_id == workspace_id, ArchivePending.publickey_ver.in_(list(keys)))
            .order_by(ArchivePending.seq)
        ).all()
        items: list[tuple[int, ArchiveRecord | LineProblem]] = []
        done: list[int] = []
        for p in pending:
            opened = _open(
                sdk,
                keys,
                {
                    "publickey_ver": p.publickey_ver,
                    "encrypt_random_key": p.encrypt_random_key,
                    "encrypt_chat_msg": p.encrypt_chat_msg,
                },
            )
            if isinstance(opened, str):
                p.error = opened[:300]
                continue
            items.append((p.seq, parse_record(opened)))
            done.append(p.id)
        if items:
            report.imported.add(
                import_batch(
                    session, workspace_id=workspace_id, items=items, resolver=resolver, store_text=store_text
                )
            )
            session.execute(delete(ArchivePending).where(ArchivePending.id.in_(done)))
            report.retried += len(done)


def open_sdk(session: Session, workspace: Workspace) -> FinanceSdk | None:
    """The workspace's SDK handle when the library and the archive app are configured."""
    from siyu.models import WeComApp

    s = archive_settings(workspace.settings)
    if not s.sdk_library:
        return None
    app = session.scalar(
        select(WeComApp).where(WeComApp.workspace_id == workspace.id, WeComApp.name == APP_NAME)
    )
    if app is None or not app.corp_id or not app.secret_enc:
        return None
    return FinanceSdk(s.sdk_library, app.corp_id, get_vault().decrypt(app.secret_enc))
