"""``/api/v1/moments``: the moments calendar (客户朋友圈).

WeCom has no schedule parameter and each staff member publishes a moment in their own
client: siyu creates the WeCom task at the planned time, follows who published,
reminds the others, and fetches who liked or commented (never the comment text).
Operators plan and cancel; a staff user sees their own account's calendar only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.automation.moments import service, views
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.web.api.common import ERRORS, MAX_ID, Id
from siyu.web.auth import AdminUser, CurrentUser, DbSession, OperatorUser, Principal

router = APIRouter(prefix="/api/v1/moments", tags=["moments"], responses=ERRORS)


class AttachmentIn(BaseModel):
    kind: Literal["link", "content"] = Field(
        description="`link` (url + title) or `content` (a content-library image, video or link by id). "
        "Files are uploaded to the content library first (`POST /api/v1/content/upload`, "
        "kind image or video), then given here by id."
    )
    url: str | None = Field(None, max_length=2000)
    title: str | None = Field(None, max_length=200)
    content_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class MomentIn(BaseModel):
    planned_at: datetime = Field(description="When siyu creates the WeCom task (with a time zone).")
    staff: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=1000, description="Sending staff userids."
    )
    text: str = Field("", max_length=20_000, description="At most 2,000 characters (checked by siyu).")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    content_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(
        None, description="Take the text from this content-library item."
    )
    visible_tags: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=100, description="Corp tag names or ids that limit who sees it."
    )


def _own_staff(user: Principal, staff_id: int | None) -> int | None:
    """A staff user reads their own account only."""
    if user.role == "staff":
        return user.staff_id if user.staff_id is not None else -1
    return staff_id


@router.get("/week", summary="The calendar: moments per staff account and day, with cadence flags")
def get_week(
    user: CurrentUser,
    db: DbSession,
    start: date | None = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
    staff_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> dict[str, Any]:
    """Per account and day: published, still planned, flags (gap, under, over, burst)."""
    wk = views.week(
        db, workspace_id=user.workspace_id, start=start, days=days, staff_id=_own_staff(user, staff_id)
    )
    return wk.as_json()


@router.get("", summary="Moments planned or posted in a time range")
def list_moments(
    user: CurrentUser,
    db: DbSession,
    start: datetime | None = None,
    end: datetime | None = None,
    staff_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[dict[str, Any]]:
    lo = start or utcnow() - timedelta(days=7)
    if lo.tzinfo is None or (end is not None and end.tzinfo is None):
        raise Invalid("start and end need a time zone", field="start")
    if not 2000 <= lo.year <= 9000:
        raise Invalid("start: a time between 2000 and 9000", field="start")
    hi = end or lo + timedelta(days=14)
    rows = views.list_moments(
        db, workspace_id=user.workspace_id, start=lo, end=hi, staff_id=_own_staff(user, staff_id)
    )
    return [m.as_json() for m in rows]


@router.get("/interactions", summary="Who liked or commented on which moment, and when")
def list_interactions(
    user: CurrentUser, db: DbSession, days: Annotated[int, Query(ge=1, le=365)] = 30
) -> list[dict[str, Any]]:
    return views.list_interactions(
        db,
        workspace_id=user.workspace_id,
        since=utcnow() - timedelta(days=days),
        staff_id=_own_staff(user, None),
    )


class SettingsIn(BaseModel):
    moments_target_min: int | None = Field(None, description="Fewest moments a day per account (default 3).")
    moments_target_max: int | None = Field(None, description="Most moments a day per account (default 5).")
    moments_min_spacing_minutes: int | None = Field(None, description="Closer than this is a burst (60).")
    moments_remind_after_minutes: int | None = Field(
        None, description="Remind unpublished staff after (120)."
    )


@router.get("/settings", summary="The cadence target and the reminder delay")
def get_settings(user: CurrentUser, db: DbSession) -> dict[str, int]:
    return service.update_settings(db, workspace_id=user.workspace_id, values={}, actor=user.actor)


@router.put("/settings", summary="Change the cadence target or the reminder delay (admins)")
def put_settings(body: SettingsIn, user: AdminUser, db: DbSession) -> dict[str, int]:
    values = {k: v for k, v in body.model_dump().items() if v is not None}
    return service.update_settings(db, workspace_id=user.workspace_id, values=values, actor=user.actor)


@router.get("/{moment_id}", summary="One moment and its senders' publishing")
def get_moment(moment_id: Id, user: CurrentUser, db: DbSession) -> dict[str, Any]:
    view = views.moment_view(db, workspace_id=user.workspace_id, moment_id=moment_id)
    if user.role == "staff" and all(s.staff_id != user.staff_id for s in view.senders):
        raise NotFound(f"no moment {moment_id}", field="moment_id")
    return view.as_json()


@router.post("", status_code=201, summary="Plan a moment (operators)")
def plan(body: MomentIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    """Checked before anything is stored: text ≤ 2,000 characters; up to 9 images, or
    1 video, or 1 link; known active staff; visibility tags that exist in WeCom."""
    items = [
        service.AttachmentInput(a.kind, url=a.url, title=a.title, content_id=a.content_id)
        for a in body.attachments
    ]
    data = service.MomentInput(
        planned_at=body.planned_at, staff_userids=body.staff, text=body.text, attachments=items,
        content_id=body.content_id, visible_tags=body.visible_tags,
    )  # fmt: skip
    m = service.plan_moment(db, workspace_id=user.workspace_id, data=data, actor=user.actor)
    return views.moment_view(db, workspace_id=user.workspace_id, moment_id=m.id).as_json()


@router.post("/{moment_id}/cancel", summary="Cancel a moment not yet handed to WeCom (operators)")
def cancel(moment_id: Id, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    m = service.cancel_moment(db, workspace_id=user.workspace_id, moment_id=moment_id, actor=user.actor)
    return {"id": m.id, "status": m.status}
