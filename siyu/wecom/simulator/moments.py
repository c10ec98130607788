"""Simulated moments (客户朋友圈): attachments, moment tasks, publishing, likes and comments.

WeCom's flow, kept here: ``media/upload_attachment`` gives a media id (image or video,
10 MB each); ``add_moment_task`` answers a job id at once (at most 10 tasks a minute
per corp) and ``get_moment_task_result`` says when the job finished (processing on the
first look, done after); the moment then waits for each sender to publish it in their
client (``get_moment_task`` publish_status); ``get_moment_list`` lists corp and personal
moments in a window of at most 30 days (cursor, ≤ 20 a page) and
``get_moment_comments`` says who liked or commented and when (never the comment text).

Scenario actions (``/_sim/action/<name>``): ``publish_moment`` (a staff member
publishes a corp moment), ``post_moment`` (a staff member posts a moment of their own),
``like_moment`` and ``comment_moment`` (a customer or a colleague reacts).
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from siyu.wecom.simulator.handlers import HANDLERS, api, need, page
from siyu.wecom.simulator.state import SimError, SimState

TASKS_PER_MINUTE = 10
MAX_TEXT = 2000
MAX_IMAGES = 9
MAX_WINDOW_S = 30 * 86400
MEDIA_LIMITS = {"image": 10 * 1024 * 1024, "video": 10 * 1024 * 1024}
MEDIA_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image": (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"),
    "video": (b"ftyp",),  # MP4: 'ftyp' box at offset 4
}


@dataclass
class SimMoment:
    moment_id: str
    creator: str  # the staff member for a personal moment; "" for a corp task
    create_type: int  # 0 corp (a moment task), 1 personal
    create_time: int
    text: str
    attachments: list[dict[str, Any]]
    # sender userid -> publish time (None until they publish it in their client)
    senders: dict[str, int | None]
    tag_list: list[str] = field(default_factory=list)
    # (staff userid) -> [(external_userid or userid, is_customer, time)]
    likes: dict[str, list[tuple[str, bool, int]]] = field(default_factory=dict)
    comments: dict[str, list[tuple[str, bool, int]]] = field(default_factory=dict)


@dataclass
class MomentStore:
    media: dict[str, tuple[str, int]] = field(default_factory=dict)  # media_id -> (type, size)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    moments: dict[str, SimMoment] = field(default_factory=dict)
    task_calls: deque[float] = field(default_factory=deque)


def store(state: SimState) -> MomentStore:
    """The moments part of a simulated corp (made on first use)."""
    found = state.__dict__.get("_moments")
    if found is None:
        found = state.__dict__["_moments"] = MomentStore()
    assert isinstance(found, MomentStore)
    return found


# --- media ---------------------------------------------------------------------------


def upload_attachment(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    media_type = need(q, "media_type")
    if q.get("attachment_type") not in ("1", "2"):
        raise SimError(40058, "attachment_type must be 1 (moments) or 2 (product album)")
    if media_type not in MEDIA_LIMITS:
        raise SimError(40004, "invalid media type, moments take image or video")
    files = b.get("_files") or {}
    if "media" not in files:
        raise SimError(41005, "media data missing")
    _name, data = files["media"]
    if not data:
        raise SimError(40005, "invalid file type: empty file")
    head = data[:12]
    ok = head.startswith(MEDIA_MAGIC["image"]) if media_type == "image" else head[4:8] == b"ftyp"
    if not ok:
        raise SimError(
            40005,
            f"invalid file type: a {media_type} must be "
            + ("JPG or PNG" if media_type == "image" else "MP4"),
        )
    if len(data) > MEDIA_LIMITS[media_type]:
        raise SimError(40009 if media_type == "image" else 40011, f"invalid {media_type} size: at most 10 MB")
    media_id = "att" + secrets.token_hex(16)
    store(state).media[media_id] = (media_type, len(data))
    return {"type": media_type, "media_id": media_id, "created_at": state.now()}


HANDLERS["media/upload_attachment"] = upload_attachment


# --- moment tasks --------------------------------------------------------------------


def _check_attachments(state: SimState, attachments: list[dict[str, Any]]) -> None:
    kinds = [a.get("msgtype") for a in attachments]
    if any(k not in ("image", "video", "link") for k in kinds):
        raise SimError(40058, "attachments: moments take image, video or link")
    distinct = set(kinds)
    if (
        len(distinct) > 1
        or ("image" in distinct and len(kinds) > MAX_IMAGES)
        or (distinct & {"video", "link"} and len(kinds) > 1)
    ):
        raise SimError(40058, "attachments: 9 images, or 1 video, or 1 link")
    media = store(state).media
    for a in attachments:
        kind = a["msgtype"]
        body = a.get(kind) or {}
        if kind == "link":
            if not body.get("url") or not body.get("title"):
                raise SimError(40058, "link needs title and url")
            mid = body.get("media_id")
            if mid and media.get(mid, ("", 0))[0] != "image":
                raise SimError(40007, "invalid media_id")
            continue
        mid = body.get("media_id")
        if not mid or media.get(mid, ("", 0))[0] != kind:
            raise SimError(40007, "invalid media_id")


@api("add_moment_task")
def add_moment_task(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    text = (b.get("text") or {}).get("content", "")
    attachments = list(b.get("attachments") or [])
    if not text and not attachments:
        raise SimError(40058, "text or attachments is required")
    if len(text) > MAX_TEXT:
        raise SimError(40058, "text.content is longer than 2000 characters")
    _check_attachments(state, attachments)
    st = store(state)
    now = state.clock.now()
    while st.task_calls and st.task_calls[0] <= now - 60:
        st.task_calls.popleft()
    if len(st.task_calls) >= TASKS_PER_MINUTE:
        raise SimError(45009, "api freq out of limit: at most 10 moment tasks a minute")
    st.task_calls.append(now)
    visible = b.get("visible_range") or {}
    senders = list((visible.get("sender_list") or {}).get("user_list") or [])
    tags = list((visible.get("external_contact_list") or {}).get("tag_list") or [])
    invalid = [u for u in senders if u not in state.staff]
    bad_tags = [t for t in tags if state.tag(t) is None]
    valid = [u for u in senders if u in state.staff] or (
        [] if senders else [s.userid for s in state.staff.values() if s.has_permission]
    )
    jobid = secrets.token_hex(12)
    moment_id = "mom" + secrets.token_hex(10)
    st.jobs[jobid] = {"polls": 0, "moment_id": moment_id, "invalid": invalid, "bad_tags": bad_tags}
    st.moments[moment_id] = SimMoment(
        moment_id,
        "",
        0,
        state.now(),
        text,
        attachments,
        dict.fromkeys(valid),
        [t for t in tags if t not in bad_tags],
    )
    return {"jobid": jobid}


@api("get_moment_task_result")
def get_moment_task_result(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    job = store(state).jobs.get(need(q, "jobid"))
    if job is None:
        raise SimError(40058, "invalid jobid")
    job["polls"] += 1
    if job["polls"] == 1:
        return {"status": 2, "type": "add_moment_task"}
    result: dict[str, Any] = {
        "errcode": 0,
        "errmsg": "ok",
        "moment_id": job["moment_id"],
        "invalid_sender_list": {"user_list": job["invalid"]},
    }
    if job["bad_tags"]:
        result["invalid_external_contact_list"] = {"tag_list": job["bad_tags"]}
    return {"status": 3, "type": "add_moment_task", "result": result}


def _moment(state: SimState, moment_id: str) -> SimMoment:
    m = store(state).moments.get(moment_id)
    if m is None:
        raise SimError(40058, "invalid moment_id")
    return m


def _limit(b: dict[str, Any], default: int, hi: int) -> int:
    value = b.get("limit", default)
    if not isinstance(value, int) or not 1 <= value <= hi:
        raise SimError(40058, f"invalid limit, must be 1..{hi}")
    return value


@api("get_moment_task")
def get_moment_task(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    m = _moment(state, need(b, "moment_id"))
    rows = [{"userid": u, "publish_status": 0 if t is None else 1} for u, t in sorted(m.senders.items())]
    chunk, nxt = page(rows, b.get("cursor"), _limit(b, 500, 1000))
    return {"task_list": chunk, "next_cursor": nxt}


def _moment_json(m: SimMoment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "moment_id": m.moment_id,
        "creator": m.creator,
        "create_time": m.create_time,
        "create_type": m.create_type,
        "visible_type": 0 if m.tag_list else 1,
        "text": {"content": m.text},
    }
    images = [a["image"] for a in m.attachments if a.get("msgtype") == "image"]
    if images:
        out["image"] = [{"media_id": i["media_id"]} for i in images]
    for a in m.attachments:
        if a.get("msgtype") in ("video", "link"):
            out[a["msgtype"]] = dict(a[a["msgtype"]])
    return out


@api("get_moment_list")
def get_moment_list(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    start, end = need(b, "start_time"), need(b, "end_time")
    if not isinstance(start, int) or not isinstance(end, int) or end < start:
        raise SimError(40058, "invalid start_time/end_time")
    if end - start > MAX_WINDOW_S:
        raise SimError(40058, "the time span of start_time and end_time must be within 30 days")
    filter_type = b.get("filter_type", 2)
    if filter_type not in (0, 1, 2):
        raise SimError(40058, "invalid filter_type")
    creator = b.get("creator")
    rows = [
        _moment_json(m)
        for m in sorted(store(state).moments.values(), key=lambda m: (m.create_time, m.moment_id))
        if start <= m.create_time <= end
        and (filter_type == 2 or m.create_type == filter_type)
        and (not creator or m.creator == creator)
    ]
    chunk, nxt = page(rows, b.get("cursor"), _limit(b, 20, 20))
    return {"moment_list": chunk, "next_cursor": nxt}


@api("get_moment_comments")
def get_moment_comments(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    m = _moment(state, need(b, "moment_id"))
    userid = need(b, "userid")
    if userid not in m.senders:
        raise SimError(40058, f"{userid} is not a sender of this moment")

    def rows(items: list[tuple[str, bool, int]]) -> list[dict[str, Any]]:
        return [{"external_userid" if cust else "userid": who, "create_time": t} for who, cust, t in items]

    return {"comment_list": rows(m.comments.get(userid, [])), "like_list": rows(m.likes.get(userid, []))}


# --- scenario actions (what staff and customers do in their clients) ----------------


def publish_moment(state: SimState, moment_id: str, userid: str) -> int:
    """A sender publishes a corp moment in their client; the publish time."""
    with state.lock:
        m = _moment(state, moment_id)
        if userid not in m.senders:
            raise SimError(40058, f"{userid} is not a sender of this moment")
        if m.senders[userid] is None:
            m.senders[userid] = state.now()
        published = m.senders[userid]
        assert published is not None
        return published


def post_moment(
    state: SimState, userid: str, text: str, at: int | None = None, moment_id: str | None = None
) -> str:
    """A staff member posts a moment of their own (``at``: a past time, for seeding)."""
    with state.lock:
        state.get_staff(userid)
        when = state.now() if at is None else int(at)
        moment_id = moment_id or "mom" + secrets.token_hex(10)
        store(state).moments[moment_id] = SimMoment(moment_id, userid, 1, when, text, [], {userid: when})
        return moment_id


def _react(state: SimState, kind: str, moment_id: str, userid: str, who: str, at: int | None) -> int:
    with state.lock:
        m = _moment(state, moment_id)
        published = m.senders.get(userid)
        if published is None:
            raise SimError(40058, f"{userid} has not published this moment")
        customer = who in state.customers
        if customer:
            state.follow(userid, who)  # only friends of the sender see it
        elif who not in state.staff:
            raise SimError(40096, f"unknown user {who}")
        when = state.now() if at is None else max(int(at), published)
        box = m.likes if kind == "like" else m.comments
        items = box.setdefault(userid, [])
        if kind == "like" and any(w == who for w, _, _ in items):
            return when  # a like is on or off, not counted twice
        items.append((who, customer, when))
        return when


def like_moment(state: SimState, moment_id: str, userid: str, who: str, at: int | None = None) -> int:
    """``who`` (an external_userid, or a colleague's userid) likes ``userid``'s copy."""
    return _react(state, "like", moment_id, userid, who, at)


def comment_moment(state: SimState, moment_id: str, userid: str, who: str, at: int | None = None) -> int:
    """``who`` comments on ``userid``'s copy (WeCom never tells the text)."""
    return _react(state, "comment", moment_id, userid, who, at)


ACTIONS: dict[str, Callable[..., Any]] = {
    "publish_moment": publish_moment,
    "post_moment": post_moment,
    "like_moment": like_moment,
    "comment_moment": comment_moment,
}
