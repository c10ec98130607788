"""One line of a decrypted archive export → an :class:`ArchiveRecord`, or a :class:`LineProblem`.

The Finance SDK yields one JSON object per message once decrypted: ``msgid``,
``action`` (send | recall | switch), ``from``, ``tolist``, ``roomid``, ``msgtime``
(milliseconds since the epoch), ``msgtype`` and a body named after the type. The
``switch`` action (a member switched devices) carries ``time`` and ``user`` and no
message: it is skipped, not an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Message types of the archive (the Finance SDK's documented list). Anything else is
# reported as an unknown type and not stored.
KNOWN_MSGTYPES = frozenset(
    {
        "text",
        "image",
        "revoke",
        "agree",
        "disagree",
        "voice",
        "video",
        "card",
        "location",
        "emotion",
        "file",
        "link",
        "weapp",
        "chatrecord",
        "todo",
        "vote",
        "collect",
        "redpacket",
        "meeting",
        "docmsg",
        "markdown",
        "news",
        "calendar",
        "mixed",
        "meeting_voice_call",
        "voip_doc_share",
        "external_redpacket",
        "sphfeed",
        "voiptext",
        "qydiskfile",
        "meeting_notification",
    }
)
# Types whose body is the customer's or staff's own words (kept encrypted or not at all);
# a ``mixed`` message's words are its text items (:func:`_mixed_text`).
TEXT_FIELDS = {"text": "content", "markdown": "content", "voiptext": "content"}
# What may stay in ``payload`` of each body: sizes, titles, names, never free text.
KEEP_FIELDS = {
    "image": ("filesize",),
    "voice": ("voice_size", "play_length"),
    "video": ("filesize", "play_length"),
    "file": ("filename", "fileext", "filesize"),
    "link": ("title", "link_url"),
    "weapp": ("title", "displayname"),
    "emotion": ("type",),
    "card": ("corpname",),
    "redpacket": ("type", "totalcnt", "totalamount"),
    "external_redpacket": ("type", "totalcnt", "totalamount"),
    "meeting": ("topic", "starttime", "endtime"),
    "calendar": ("title", "starttime", "endtime"),
    "docmsg": ("title",),
    "sphfeed": ("feed_type", "sph_name"),
}
MAX_ID = 128


@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """A decrypted archive message, checked."""

    msgid: str
    action: str
    sender: str
    tolist: tuple[str, ...]
    roomid: str
    sent_at: datetime
    msgtype: str
    text: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    pre_msgid: str | None = None  # revoke: the recalled message
    consent_of: str | None = None  # agree / disagree: the customer's external_userid


@dataclass(frozen=True, slots=True)
class LineProblem:
    """Why a line was not stored (``kind``: broken | unknown_msgtype | switch)."""

    kind: str
    message: str
    msgid: str | None = None


def _text_of(body: Any, key: str) -> str | None:
    if isinstance(body, dict):
        value = body.get(key)
        if isinstance(value, str):
            return value
    return None


def _mixed_text(body: Any) -> str | None:
    """The words of a ``mixed`` message (text and images in one bubble): its ``text``
    items' ``content``, joined. WeCom gives each item's ``content`` as a JSON string
    (``{"content":"你好"}``); an already-decoded object or a bare string is read too."""
    if not isinstance(body, dict) or not isinstance(body.get("item"), list):
        return None
    parts: list[str] = []
    for item in body["item"]:
        if not isinstance(item, dict) or item.get("type") != "text":
            continue
        content = item.get("content")
        if isinstance(content, str):
            try:
                decoded = json.loads(content)
            except ValueError:
                decoded = content
            content = decoded
        if isinstance(content, dict):
            content = content.get("content")
        if isinstance(content, str) and content.strip():
            parts.append(content.strip())
    return "\n".join(parts) or None


def _kept(msgtype: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    return {
        k: body[k] for k in KEEP_FIELDS.get(msgtype, ()) if k in body and not isinstance(body[k], dict | list)
    }


def parse_line(line: str | bytes) -> ArchiveRecord | LineProblem:
    """Parse one line; never raises."""
    try:
        # bytes decoded here: json.loads would first sniff the encoding of every line
        obj = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
    except (ValueError, UnicodeDecodeError) as exc:
        return LineProblem("broken", f"not JSON: {exc}")
    if not isinstance(obj, dict):
        return LineProblem("broken", "not a JSON object")
    return parse_record(obj)


def parse_record(obj: dict[str, Any]) -> ArchiveRecord | LineProblem:
    """Check one decrypted record (a dict as the SDK gives it); never raises."""
    msgid = obj.get("msgid")
    if not isinstance(msgid, str) or not msgid.strip() or len(msgid) > MAX_ID:
        return LineProblem("broken", f"msgid must be a non-empty string of at most {MAX_ID} characters")
    action = obj.get("action", "send")
    if action == "switch":
        return LineProblem("switch", "a device switch, not a message", msgid)
    msgtype = obj.get("msgtype")
    if not isinstance(msgtype, str) or not msgtype:
        return LineProblem("broken", "msgtype is missing", msgid)
    if msgtype not in KNOWN_MSGTYPES:
        return LineProblem("unknown_msgtype", f"unknown msgtype {msgtype[:40]!r}", msgid)
    sender = obj.get("from")
    if not isinstance(sender, str) or not sender or len(sender) > MAX_ID:
        return LineProblem("broken", "from must be a non-empty string", msgid)
    tolist = obj.get("tolist", [])
    if not isinstance(tolist, list) or not all(isinstance(t, str) and 0 < len(t) <= MAX_ID for t in tolist):
        return LineProblem("broken", "tolist must be a list of ids", msgid)
    roomid = obj.get("roomid") or ""
    if not isinstance(roomid, str) or len(roomid) > MAX_ID:
        return LineProblem("broken", "roomid must be a string", msgid)
    ms = obj.get("msgtime")
    if isinstance(ms, bool) or not isinstance(ms, int) or not 0 < ms < 10**14:
        return LineProblem("broken", "msgtime must be milliseconds since 1970 (a whole number)", msgid)
    sent_at = datetime.fromtimestamp(ms / 1000, UTC)
    body = obj.get(msgtype)
    pre_msgid = consent_of = None
    if msgtype == "revoke":
        pre_msgid = _text_of(body, "pre_msgid")
        if not pre_msgid:
            return LineProblem("broken", "revoke without revoke.pre_msgid", msgid)
    elif msgtype in ("agree", "disagree"):
        consent_of = _text_of(body, "userid") or sender
    if msgtype == "mixed":
        text = _mixed_text(body)
    else:
        text = _text_of(body, TEXT_FIELDS[msgtype]) if msgtype in TEXT_FIELDS else None
    return ArchiveRecord(
        msgid=msgid,
        action=str(action),
        sender=sender,
        tolist=tuple(tolist),
        roomid=roomid,
        sent_at=sent_at,
        msgtype=msgtype,
        text=text,
        payload=_kept(msgtype, body),
        pre_msgid=pre_msgid,
        consent_of=consent_of,
    )


def is_external(userid: str) -> bool:
    """External contacts' ids start with ``wo`` or ``wm`` (robots with ``wb``)."""
    return userid.startswith(("wo", "wm"))
