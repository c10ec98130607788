"""Planning moments (checked before anything is stored) and cancelling them; settings.

WeCom has no schedule parameter for moments and each staff member publishes a moment
in their own client: siyu stores the plan, creates the WeCom task at the planned time
(``siyu.automation.moments.wecom``), then follows who published.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import utcnow
from siyu.models import Moment, MomentSender, Staff, Tag, Workspace

CREATE_KIND = "moments.create"
MAX_TEXT = 2000
MAX_IMAGES = 9
MEDIA_MAX_BYTES = 10 * 1024 * 1024
# A plan may be a little late (typed a minute ago); older than this is a mistake.
PAST_GRACE = timedelta(minutes=10)
DEFAULTS: dict[str, int] = {
    "moments_target_min": 3,
    "moments_target_max": 5,
    "moments_min_spacing_minutes": 60,
    "moments_remind_after_minutes": 120,
}


def setting(ws: Workspace, key: str) -> int:
    """A moments setting of the workspace (``DEFAULTS`` unless the workspace sets it)."""
    value = (ws.settings or {}).get(key, DEFAULTS[key])
    return int(value)


@dataclass(frozen=True)
class AttachmentInput:
    """One attachment as the operator gives it: a file, a library item or a link."""

    kind: str  # image | video | link
    path: str | None = None
    content_id: int | None = None
    url: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class MomentInput:
    planned_at: datetime
    staff_userids: Sequence[str]
    text: str = ""
    attachments: Sequence[AttachmentInput] = ()
    content_id: int | None = None
    visible_tags: Sequence[str] = ()  # tag names or ids


def _sniff(path: Path, kind: str) -> int:
    """Size of a media file after checking WeCom's type and size rules (10 MB)."""
    if not path.is_file():
        raise Invalid(f"attachments: no such file {str(path)!r}", field="attachments")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
    if kind == "image" and not (head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG")):
        raise Invalid(f"attachments: {path.name} is not a JPG or PNG image", field="attachments")
    if kind == "video" and head[4:8] != b"ftyp":
        raise Invalid(f"attachments: {path.name} is not an MP4 video", field="attachments")
    if size > MEDIA_MAX_BYTES:
        raise Invalid(
            f"attachments: {path.name} is {size / 1048576:.1f} MB; WeCom takes at most 10 MB",
            field="attachments",
        )
    return size


def _attachments(
    session: Session, workspace_id: int, items: Sequence[AttachmentInput]
) -> list[dict[str, Any]]:
    """Check the WeCom rule (9 images, or 1 video, or 1 link) and the files; stored form."""
    from siyu.automation.content import get_content

    out: list[dict[str, Any]] = []
    for a in items:
        if a.content_id is not None:
            item = get_content(session, workspace_id=workspace_id, content_id=a.content_id)
            if item.kind not in ("image", "video", "link"):
                raise Invalid(
                    f"attachments: content {item.id} is a {item.kind}; "
                    "moments take images, a video or a link",
                    field="attachments",
                )
            body = item.body or {}
            if item.kind == "link":
                out.append({"kind": "link", "content_id": item.id, "url": body.get("url"),
                            "title": body.get("title") or item.title})  # fmt: skip
            else:
                path = body.get("stored_path") or body.get("path")
                if not path:
                    raise Invalid(f"attachments: content {item.id} has no stored file", field="attachments")
                file = Path(str(path))
                size = _sniff(file, item.kind)
                out.append(
                    {
                        "kind": item.kind,
                        "content_id": item.id,
                        "path": str(file),
                        "name": file.name,
                        "size": size,
                    }
                )
            continue
        if a.kind == "link":
            if not a.url or not a.url.startswith(("https://", "http://")):
                raise Invalid("attachments: a link needs an http(s) url", field="attachments")
            if not a.title or not a.title.strip():
                raise Invalid("attachments: a link needs a title", field="attachments")
            out.append({"kind": "link", "url": a.url, "title": a.title.strip()[:64]})
        elif a.kind in ("image", "video"):
            if not a.path:
                raise Invalid(f"attachments: an {a.kind} needs a file", field="attachments")
            path = Path(a.path).resolve()
            out.append({"kind": a.kind, "path": str(path), "name": path.name, "size": _sniff(path, a.kind)})
        else:
            raise Invalid(f"attachments: {a.kind!r} is not image, video or link", field="attachments")
    kinds = [a["kind"] for a in out]
    if len(set(kinds)) > 1:
        raise Invalid(
            "attachments: a moment takes up to 9 images, or 1 video, or 1 link, not a mix",
            field="attachments",
        )
    if kinds.count("image") > MAX_IMAGES:
        raise Invalid(f"attachments: at most 9 images, not {kinds.count('image')}", field="attachments")
    if len(kinds) > 1 and kinds[0] in ("video", "link"):
        raise Invalid(f"attachments: at most 1 {kinds[0]}", field="attachments")
    return out


# The seam to the tag push (acquisition's tag write-back): siyu hands it the visibility
# tags that have no WeCom id yet; it queues their push to WeCom (add_corp_tag, and
# mark_tag on the senders' relations with the customers holding them) and answers
# whether it did (False: no WeCom connection). A test may set a push that gives the
# WeCom id at once. Called with (session, workspace_id, tags, sender userids). Unset,
# acquisition's ``tagsync.push_visibility_tags`` is used.
TagPush = Callable[[Session, int, Sequence[Tag], Sequence[str]], object]
TAG_PUSH: TagPush | None = None


def _tag_push() -> TagPush:
    if TAG_PUSH is not None:
        return TAG_PUSH
    from siyu.acquisition.tagsync import push_visibility_tags

    return push_visibility_tags


def resolve_visible_tags(
    session: Session, *, workspace_id: int, names: Sequence[str], senders: Sequence[str] = ()
) -> list[Tag]:
    """The corp tags a moment is limited to: in WeCom, or queued to be pushed there.

    A tag siyu made that WeCom does not know yet is handed to the tag push (``TAG_PUSH``);
    the moment then waits for its WeCom id at the planned time (``moments.create``). A
    tag that cannot be pushed (no WeCom connection) is refused with its name.
    """
    tags: list[Tag] = []
    for name in names:
        key = str(name).strip()
        q = select(Tag).where(Tag.workspace_id == workspace_id, Tag.deleted_at.is_(None))
        q = q.where(Tag.id == int(key)) if key.isdigit() and len(key) < 16 else q.where(Tag.name == key)
        found = list(session.scalars(q))
        if not found:
            raise Invalid(f"visible_tags: no tag {key!r}", field="visible_tags")
        if len(found) > 1:
            raise Invalid(f"visible_tags: several tags are named {key!r}; give its id", field="visible_tags")
        tag = found[0]
        queued: object = False
        if not tag.wecom_tag_id:
            queued = _tag_push()(session, workspace_id, [tag], senders)
        if not tag.wecom_tag_id and not queued:
            raise Invalid(
                f"visible_tags: tag {tag.name!r} is not in WeCom yet (no WeCom tag id); push it to WeCom "
                "and mark it on the customers of every sending staff member first",
                field="visible_tags",
            )
        tags.append(tag)
    return tags


def _staff(session: Session, workspace_id: int, userids: Sequence[str]) -> list[Staff]:
    if not userids:
        raise Invalid("staff: name at least one staff account to publish the moment", field="staff")
    rows = {
        s.userid: s
        for s in session.scalars(
            select(Staff).where(Staff.workspace_id == workspace_id, Staff.userid.in_(userids))
        )
    }
    out: list[Staff] = []
    for u in dict.fromkeys(userids):
        s = rows.get(u)
        if s is None:
            raise Invalid(f"staff: no staff account {u!r}", field="staff")
        if s.status != "active" or not s.has_contact_permission:
            raise Invalid(
                f"staff: {u!r} is {s.status} or lacks the customer-contact permission", field="staff"
            )
        out.append(s)
    return out


def plan_moment(session: Session, *, workspace_id: int, data: MomentInput, actor: str) -> Moment:
    """Store a planned moment and queue its WeCom task for the planned time.

    Everything is checked before anything is written: text ≤ 2,000 characters, up to 9
    images or 1 video or 1 link (files ≤ 10 MB, JPG/PNG or MP4), known active staff,
    visibility tags that exist in WeCom.
    """
    text = data.text or ""
    if data.planned_at.tzinfo is None:
        raise Invalid("planned_at must carry a time zone", field="planned_at")
    now = utcnow()
    if data.planned_at < now - PAST_GRACE:
        raise Invalid("planned_at is in the past", field="planned_at")
    if data.planned_at > now + timedelta(days=366):
        raise Invalid("planned_at is more than a year ahead", field="planned_at")
    content_text = None
    if data.content_id is not None:
        from siyu.automation.content import get_content

        item = get_content(session, workspace_id=workspace_id, content_id=data.content_id)
        content_text = item.text
    text = text or content_text or ""
    if len(text) > MAX_TEXT:
        raise Invalid(f"text: at most {MAX_TEXT} characters, this one has {len(text)}", field="text")
    attachments = _attachments(session, workspace_id, data.attachments)
    if not text.strip() and not attachments:
        raise Invalid("text: a moment needs text or an attachment", field="text")
    staff = _staff(session, workspace_id, data.staff_userids)
    tags = resolve_visible_tags(
        session, workspace_id=workspace_id, names=data.visible_tags, senders=[s.userid for s in staff]
    )
    moment = Moment(
        workspace_id=workspace_id,
        origin="plan",
        status="planned",
        planned_at=data.planned_at,
        text=text,
        attachments=attachments,
        content_id=data.content_id,
        visible_tag_ids=[t.id for t in tags],
        created_by=actor,
    )
    session.add(moment)
    session.flush()
    for s in staff:
        session.add(
            MomentSender(workspace_id=workspace_id, moment_id=moment.id, staff_id=s.id, status="waiting")
        )
    enqueue(
        session,
        kind=CREATE_KIND,
        workspace_id=workspace_id,
        payload={"moment_id": moment.id},
        run_after=max(data.planned_at, now),
        dedup_key=f"{CREATE_KIND}:{moment.id}",
    )
    audit.record(
        session, workspace_id=workspace_id, actor=actor, action="moment.plan", target_type="moment",
        target_id=moment.id,
        detail={"planned_at": data.planned_at.isoformat(), "staff": [s.userid for s in staff],
                "attachments": len(attachments), "visible_tags": [t.name for t in tags]},
    )  # fmt: skip
    session.flush()
    return moment


def get_moment(session: Session, *, workspace_id: int, moment_id: int) -> Moment:
    m = session.scalar(select(Moment).where(Moment.workspace_id == workspace_id, Moment.id == moment_id))
    if m is None:
        raise NotFound(f"no moment {moment_id}", field="moment_id")
    return m


def cancel_moment(session: Session, *, workspace_id: int, moment_id: int, actor: str) -> Moment:
    """Cancel a moment siyu has not handed to WeCom yet."""
    m = get_moment(session, workspace_id=workspace_id, moment_id=moment_id)
    if m.status != "planned":
        raise Conflict(
            f"moment {moment_id} is {m.status}; only a planned moment can be cancelled "
            "(once created, staff simply do not publish it)",
            field="moment_id",
        )
    m.status = "cancelled"
    audit.record(session, workspace_id=workspace_id, actor=actor, action="moment.cancel",
                 target_type="moment", target_id=m.id)  # fmt: skip
    return m


def update_settings(
    session: Session, *, workspace_id: int, values: dict[str, int], actor: str
) -> dict[str, int]:
    """Change the moments settings (target per day, spacing, reminder delay); all of them after."""
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    bounds = {
        "moments_target_min": (0, 50),
        "moments_target_max": (1, 50),
        "moments_min_spacing_minutes": (0, 24 * 60),
        "moments_remind_after_minutes": (5, 7 * 24 * 60),
    }
    for key, value in values.items():
        if key not in bounds:
            raise Invalid(f"{key} is not a moments setting", field=key)
        lo, hi = bounds[key]
        if not lo <= value <= hi:
            raise Invalid(f"{key} must be {lo} to {hi}", field=key)
    merged = {k: setting(ws, k) for k in DEFAULTS} | values
    if merged["moments_target_min"] > merged["moments_target_max"]:
        raise Invalid("the target's minimum is above its maximum", field="moments_target_min")
    ws.settings = {**(ws.settings or {}), **values}
    if values:
        audit.record(session, workspace_id=workspace_id, actor=actor, action="moment.settings",
                     target_type="moment", detail={"changed": values})  # fmt: skip
    return merged
