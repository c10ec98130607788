"""Reading the moments calendar: moments with their senders, the week per staff account
with its cadence flags, and the likes and comments (the console, API and CLI share these).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.automation.moments.service import get_moment, setting
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import Moment, MomentSender, Staff, Tag, Workspace


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
