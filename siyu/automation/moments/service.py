"""Planning moments, the week calendar and the cadence per staff account.

WeCom has no schedule parameter for moments and each staff member publishes a moment
in their own client: siyu stores the plan, creates the WeCom task at the planned time
(``siyu.automation.moments.wecom``), then follows who published.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import day_start_utc, local_day, utcnow
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
                path = body.get("path")
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


# The seam to the tag push (acquisition's tag write-back): when set, siyu hands it the
# visibility tags that have no WeCom id yet before refusing them; it pushes the tags to
# WeCom (add_corp_tag + mark_tag on each sender's relation) and sets ``wecom_tag_id``.
# Called with (session, workspace_id, tags, sender userids).
TagPush = Callable[[Session, int, Sequence[Tag], Sequence[str]], None]
TAG_PUSH: TagPush | None = None


def resolve_visible_tags(
    session: Session, *, workspace_id: int, names: Sequence[str], senders: Sequence[str] = ()
) -> list[Tag]:
    """The corp tags a moment is limited to; each must exist in WeCom already.

    The tag push to WeCom belongs to acquisition (tag write-back, ``TAG_PUSH``): a tag
    that still has no WeCom id cannot limit a moment, so it is refused with its name.
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
        if not tag.wecom_tag_id and TAG_PUSH is not None:
            TAG_PUSH(session, workspace_id, [tag], senders)
        if not tag.wecom_tag_id:
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


# --- reading: the calendar and the cadence -----------------------------------------


@dataclass
class SenderView:
    staff_id: int
    userid: str
    name: str
    status: str
    published_at: datetime | None
    reminded_at: datetime | None
    # With visibility tags: this sender's active friends who carry one of them in siyu
    # (who can see it once WeCom has the tags on the relation too). None: all friends.
    reach: int | None = None


@dataclass
class MomentView:
    id: int
    origin: str
    status: str
    planned_at: datetime
    text: str
    attachments: list[dict[str, Any]]
    visible_tags: list[str]
    wecom_moment_id: str | None
    error: str | None
    senders: list[SenderView] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "origin": self.origin,
            "status": self.status,
            "planned_at": self.planned_at.isoformat(),
            "text": self.text,
            "attachments": [{k: v for k, v in a.items() if k != "path"} for a in self.attachments],
            "visible_tags": self.visible_tags,
            "wecom_moment_id": self.wecom_moment_id,
            "error": self.error,
            "senders": [
                {
                    "staff_id": s.staff_id,
                    "userid": s.userid,
                    "name": s.name,
                    "status": s.status,
                    "published_at": s.published_at.isoformat() if s.published_at else None,
                    "reminded_at": s.reminded_at.isoformat() if s.reminded_at else None,
                    "reach": s.reach,
                }
                for s in self.senders
            ],
        }


def list_moments(
    session: Session, *, workspace_id: int, start: datetime, end: datetime, staff_id: int | None = None
) -> list[MomentView]:
    """Moments planned (or posted) in [start, end), oldest first, with their senders."""
    q = (
        select(Moment)
        .where(Moment.workspace_id == workspace_id, Moment.planned_at >= start, Moment.planned_at < end)
        .order_by(Moment.planned_at, Moment.id)
    )
    if staff_id is not None:
        q = q.where(Moment.id.in_(select(MomentSender.moment_id).where(MomentSender.staff_id == staff_id)))
    moments = list(session.scalars(q))
    return _views(session, workspace_id, moments)


def _views(session: Session, workspace_id: int, moments: list[Moment]) -> list[MomentView]:
    ids = [m.id for m in moments]
    senders: dict[int, list[SenderView]] = {}
    if ids:
        rows = session.execute(
            select(MomentSender, Staff.userid, Staff.name)
            .join(Staff, Staff.id == MomentSender.staff_id)
            .where(MomentSender.moment_id.in_(ids))
            .order_by(Staff.userid)
        )
        for ms, userid, name in rows:
            senders.setdefault(ms.moment_id, []).append(
                SenderView(ms.staff_id, userid, name or userid, ms.status, ms.published_at, ms.reminded_at)
            )
    tag_ids = {t for m in moments for t in m.visible_tag_ids}
    names = (
        dict(session.execute(select(Tag.id, Tag.name).where(Tag.id.in_(tag_ids))).all()) if tag_ids else {}
    )
    for m in moments:
        if m.visible_tag_ids:
            for sv in senders.get(m.id, []):
                sv.reach = _reach(session, workspace_id, sv.staff_id, list(m.visible_tag_ids))
    return [
        MomentView(
            m.id,
            m.origin,
            m.status,
            m.planned_at,
            m.text,
            list(m.attachments),
            [names.get(t, str(t)) for t in m.visible_tag_ids],
            m.wecom_moment_id,
            m.error,
            senders.get(m.id, []),
        )
        for m in moments
    ]


def _reach(session: Session, workspace_id: int, staff_id: int, tag_ids: list[int]) -> int:
    """Active friends of a staff account carrying any of these tags (in siyu)."""
    from siyu.models import CustomerTag, Follow

    q = (
        select(func.count(func.distinct(Follow.customer_id)))
        .join(CustomerTag, CustomerTag.customer_id == Follow.customer_id)
        .where(
            Follow.workspace_id == workspace_id,
            Follow.staff_id == staff_id,
            Follow.state == "active",
            CustomerTag.tag_id.in_(tag_ids),
        )
    )
    return int(session.scalar(q) or 0)


def moment_view(session: Session, *, workspace_id: int, moment_id: int) -> MomentView:
    return _views(
        session, workspace_id, [get_moment(session, workspace_id=workspace_id, moment_id=moment_id)]
    )[0]


@dataclass
class DayCadence:
    day: date
    published: int
    planned: int
    flags: list[str]  # gap | under | over | burst
    moments: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return self.published + self.planned


@dataclass
class StaffCadence:
    staff_id: int
    userid: str
    name: str
    days: list[DayCadence]
    likes: int = 0  # customers' likes and comments on this account's moments in the window
    comments: int = 0


@dataclass
class Week:
    start: date
    days: list[date]
    target_min: int
    target_max: int
    min_spacing_minutes: int
    staff: list[StaffCadence]

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "days": [d.isoformat() for d in self.days],
            "target": {
                "min": self.target_min,
                "max": self.target_max,
                "min_spacing_minutes": self.min_spacing_minutes,
            },
            "staff": [
                {
                    "staff_id": s.staff_id,
                    "userid": s.userid,
                    "name": s.name,
                    "likes": s.likes,
                    "comments": s.comments,
                    "days": [
                        {
                            "day": d.day.isoformat(),
                            "published": d.published,
                            "planned": d.planned,
                            "flags": d.flags,
                            "moments": d.moments,
                        }
                        for d in s.days
                    ],
                }
                for s in self.staff
            ],
        }


LIVE = ("planned", "creating", "created", "ready")


def week(
    session: Session,
    *,
    workspace_id: int,
    start: date | None = None,
    days: int = 7,
    staff_id: int | None = None,
) -> Week:
    """The calendar: per staff account and day, moments published and still planned,
    against the target (default 3–5 a day), with flags: ``gap`` (none at all), ``under``
    / ``over`` the target, ``burst`` (two closer than the minimum spacing, default 60 min).
    """
    if not 1 <= days <= 31:
        raise Invalid("days: 1 to 31", field="days")
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    tz = ws.timezone
    first = start or local_day(utcnow(), tz)
    if not date(2000, 1, 1) <= first <= date(9000, 1, 1):
        raise Invalid("start: a day between 2000 and 9000", field="start")
    day_list = [first + timedelta(days=i) for i in range(days)]
    lo, hi = day_start_utc(first, tz), day_start_utc(first + timedelta(days=days), tz)
    tmin, tmax = setting(ws, "moments_target_min"), setting(ws, "moments_target_max")
    spacing = timedelta(minutes=setting(ws, "moments_min_spacing_minutes"))
    q = (
        select(MomentSender, Moment)
        .join(Moment, Moment.id == MomentSender.moment_id)
        .where(
            MomentSender.workspace_id == workspace_id,
            Moment.status.in_((*LIVE, "failed")),  # failed ones are shown, not counted
            MomentSender.status != "invalid",
            # published in the window, or planned in it and not yet published
            ((MomentSender.published_at >= lo) & (MomentSender.published_at < hi))
            | (MomentSender.published_at.is_(None) & (Moment.planned_at >= lo) & (Moment.planned_at < hi)),
        )
    )
    if staff_id is not None:
        q = q.where(MomentSender.staff_id == staff_id)
    per: dict[int, dict[date, list[tuple[datetime, bool, Moment, str]]]] = {}
    for ms, m in session.execute(q):
        at = ms.published_at or m.planned_at
        per.setdefault(ms.staff_id, {}).setdefault(local_day(at, tz), []).append(
            (at, ms.published_at is not None, m, ms.status)
        )
    from siyu.models import MomentInteraction

    reactions: dict[int, dict[str, int]] = {}
    for sid, kind, n in session.execute(
        select(MomentInteraction.staff_id, MomentInteraction.kind, func.count())
        .where(
            MomentInteraction.workspace_id == workspace_id,
            MomentInteraction.occurred_at >= lo,
            MomentInteraction.occurred_at < hi,
        )
        .group_by(MomentInteraction.staff_id, MomentInteraction.kind)
    ):
        reactions.setdefault(sid, {})[kind] = int(n)
    staff_q = select(Staff).where(Staff.workspace_id == workspace_id, Staff.status == "active",
                                  Staff.has_contact_permission.is_(True)).order_by(Staff.userid)  # fmt: skip
    if staff_id is not None:
        staff_q = staff_q.where(Staff.id == staff_id)
    out: list[StaffCadence] = []
    for s in session.scalars(staff_q):
        row: list[DayCadence] = []
        for d in day_list:
            shown = sorted(per.get(s.id, {}).get(d, []), key=lambda x: x[0])
            items = [i for i in shown if i[2].status in LIVE]
            published = sum(1 for _, p, _, _ in items if p)
            total = len(items)
            flags: list[str] = []
            if total == 0:
                flags.append("gap")
            elif total < tmin:
                flags.append("under")
            elif total > tmax:
                flags.append("over")
            if any(b[0] - a[0] < spacing for a, b in itertools.pairwise(items)):
                flags.append("burst")
            row.append(
                DayCadence(
                    d,
                    published,
                    total - published,
                    flags,
                    [
                        {
                            "id": m.id,
                            "at": at.isoformat(),
                            "text": m.text[:60],
                            "status": st,
                            "origin": m.origin,
                            "moment_status": m.status,
                        }
                        for at, _, m, st in shown
                    ],
                )
            )
        got = reactions.get(s.id, {})
        out.append(
            StaffCadence(s.id, s.userid, s.name or s.userid, row, got.get("like", 0), got.get("comment", 0))
        )
    return Week(first, day_list, tmin, tmax, int(spacing.total_seconds() // 60), out)


def list_interactions(
    session: Session, *, workspace_id: int, since: datetime, staff_id: int | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Likes and comments since a time, newest first (who, on whose moment, when)."""
    from siyu.models import Customer, MomentInteraction

    q = (
        select(MomentInteraction, Staff.userid, Customer.name)
        .join(Staff, Staff.id == MomentInteraction.staff_id)
        .join(Customer, Customer.id == MomentInteraction.customer_id)
        .where(MomentInteraction.workspace_id == workspace_id, MomentInteraction.occurred_at >= since)
        .order_by(MomentInteraction.occurred_at.desc(), MomentInteraction.id.desc())
        .limit(limit)
    )
    if staff_id is not None:
        q = q.where(MomentInteraction.staff_id == staff_id)
    return [
        {
            "moment_id": i.moment_id,
            "kind": i.kind,
            "staff_id": i.staff_id,
            "staff": userid,
            "customer_id": i.customer_id,
            "customer": name,
            "occurred_at": i.occurred_at.isoformat(),
        }
        for i, userid, name in session.execute(q)
    ]


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
