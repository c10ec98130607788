"""The simulator's outbound side: temporary media (media/upload) and staff-made mass sends.

``media/upload`` takes a multipart file (``media``) like WeCom and enforces its limits
(image 10 MB JPG/PNG, video 10 MB MP4, file 20 MB); a media id lives 3 days, and
``add_msg_template`` refuses an expired or unknown one (40007). ``staff_mass_send`` is
what a staff member does in the client (群发助手): a send with ``create_type`` 1, which
counts against the customers' quota once confirmed like any other.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from siyu.wecom.simulator.handlers import HANDLERS
from siyu.wecom.simulator.state import MassSend, SimError, SimState, new_id

MB = 1024 * 1024
MEDIA_TTL = 3 * 86400
LIMITS = {"image": (10 * MB, (".jpg", ".jpeg", ".png")), "video": (10 * MB, (".mp4",)), "file": (20 * MB, ())}
MEDIA_KEYS = {"image": "media_id", "video": "media_id", "file": "media_id", "miniprogram": "pic_media_id"}


def _media(state: SimState) -> dict[str, tuple[str, float]]:
    store: dict[str, tuple[str, float]] | None = getattr(state, "media", None)
    if store is None:
        store = {}
        state.media = store  # type: ignore[attr-defined]
    return store


def upload(state: SimState, kind: str, filename: str, data: bytes) -> dict[str, Any]:
    if kind not in LIMITS:
        raise SimError(40004, f"invalid media type {kind}")
    limit, exts = LIMITS[kind]
    if exts and not filename.lower().endswith(exts):
        raise SimError(40005, "invalid file type")
    if not data or len(data) > limit:
        raise SimError(40006, "invalid file size")
    media_id = "3" + new_id("", 40)
    _media(state)[media_id] = (kind, state.clock.now())
    return {"type": kind, "media_id": media_id, "created_at": str(state.now())}


def check_miniprogram(body: Any) -> None:
    """WeCom's miniprogram attachment: title (≤ 64 bytes), pic_media_id, appid, page (.html)."""
    if not isinstance(body, dict):
        raise SimError(40058, "miniprogram is required")
    for key in ("title", "pic_media_id", "appid", "page"):
        if not str(body.get(key) or "").strip():
            raise SimError(40058, f"miniprogram.{key} is required")
    if len(str(body["title"]).encode()) > 64:
        raise SimError(40058, "miniprogram.title is longer than 64 bytes")
    if not str(body["page"]).split("?", 1)[0].endswith(".html"):
        raise SimError(40058, "miniprogram.page must end with .html")


def check_attachments(state: SimState, attachments: list[dict[str, Any]]) -> None:
    """40007 for an attachment whose media id is unknown or older than 3 days; a
    miniprogram's fields as WeCom checks them."""
    now = state.clock.now()
    for a in attachments:
        kind = a.get("msgtype")
        if kind == "miniprogram":
            check_miniprogram(a.get("miniprogram"))
        key = MEDIA_KEYS.get(str(kind))
        if key is None:
            continue
        media_id = (a.get(str(kind)) or {}).get(key)
        found = _media(state).get(str(media_id))
        if found is None or found[1] + MEDIA_TTL <= now:
            raise SimError(40007, "invalid media_id")


_add_msg_template = HANDLERS["externalcontact/add_msg_template"]


def add_msg_template(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    if len(b.get("attachments") or []) > 9:
        raise SimError(40058, "at most 9 attachments")
    check_attachments(state, list(b.get("attachments") or []))
    return _add_msg_template(state, q, b)


HANDLERS["externalcontact/add_msg_template"] = add_msg_template

_send_welcome_msg = HANDLERS["externalcontact/send_welcome_msg"]


def send_welcome_msg(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    """A welcome's attachments are checked like a mass send's: a mini-program's fields and
    every media id (a mini-program's cover included) known and younger than 3 days
    (40007), the text ≤ 4,000 bytes."""
    text = b.get("text")
    if isinstance(text, dict) and len(str(text.get("content", "")).encode()) > 4000:
        raise SimError(40058, "text.content is longer than 4000 bytes")
    if len(b.get("attachments") or []) > 9:
        raise SimError(40058, "at most 9 attachments")
    check_attachments(state, [a for a in b.get("attachments") or [] if isinstance(a, dict)])
    return _send_welcome_msg(state, q, b)


HANDLERS["externalcontact/send_welcome_msg"] = send_welcome_msg


_get_groupmsg_list_v2 = HANDLERS["externalcontact/get_groupmsg_list_v2"]


def get_groupmsg_list_v2(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    """``filter_type``: 0 sends the corp created (API, admin console), 1 staff-made, 2 all (default)."""
    filter_type = b.get("filter_type", 2)
    if filter_type not in (0, 1, 2):
        raise SimError(40058, "filter_type must be 0, 1 or 2")
    if filter_type == 2:
        return _get_groupmsg_list_v2(state, q, b)
    everything = list(state.mass_sends.items())  # same dict, same order afterwards
    state.mass_sends.clear()
    state.mass_sends.update((k, m) for k, m in everything if m.create_type == filter_type)
    try:
        return _get_groupmsg_list_v2(state, q, b)
    finally:
        state.mass_sends.clear()
        state.mass_sends.update(everything)


HANDLERS["externalcontact/get_groupmsg_list_v2"] = get_groupmsg_list_v2


def staff_mass_send(state: SimState, userid: str, external_userids: list[str], text: str) -> str:
    """A staff member's own mass send from the client (create_type 1); returns its msgid."""
    with state.lock:
        state.get_staff(userid)
        targets = [e for e in external_userids if (userid, e) in state.follows]
        msgid = "msg" + new_id("", 24)
        state.mass_sends[msgid] = MassSend(
            msgid=msgid,
            chat_type="single",
            create_time=state.now(),
            create_type=1,
            creator=userid,
            text={"content": text},
            attachments=[],
            targets={userid: targets},
        )
        return msgid


def install(app: FastAPI, state: SimState) -> None:
    """Serve ``/cgi-bin/media/upload`` (multipart) ahead of the JSON ``/cgi-bin`` route."""

    async def media_upload(request: Request) -> JSONResponse:
        q = dict(request.query_params)
        form = await request.form()
        item = form.get("media")
        with state.lock:
            try:
                state.check_token(q.get("access_token"))
                state.count_call("media/upload")
                if item is None or isinstance(item, str):
                    raise SimError(41005, "media data missing")
                data = await item.read()
                answer = upload(state, q.get("type", ""), item.filename or "", data)
            except SimError as exc:
                return JSONResponse({"errcode": exc.errcode, "errmsg": exc.errmsg})
        return JSONResponse({"errcode": 0, "errmsg": "ok", **answer})

    app.add_api_route("/cgi-bin/media/upload", media_upload, methods=["POST"])
    route = app.router.routes.pop()
    app.router.routes.insert(0, route)
