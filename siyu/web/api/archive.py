"""``/api/v1/archive``: the conversation archive viewer (audited), coverage, settings,
friend-request accept times and the share of adds accepted at once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from siyu.models import Staff
from siyu.web.api.common import ERRORS
from siyu.web.auth import AdminUser, CurrentUser, DbSession
from siyu.wecom.archive import service

router = APIRouter(prefix="/api/v1/archive", tags=["archive"], responses=ERRORS)


class MessageOut(BaseModel):
    id: int
    source: str
    msgid: str
    direction: str = Field(description="in (a customer wrote) | out (staff to customer or group) | internal")
    msgtype: str
    sent_at: datetime
    staff: str | None
    staff_name: str | None
    customer_id: int | None
    customer_name: str | None
    group_id: int | None
    group_name: str | None
    text: str | None = Field(description="Decrypted for the viewer; null when not kept.")
    payload: dict[str, Any]
    revoked_at: datetime | None


class MessagesOut(BaseModel):
    items: list[MessageOut]
    next_before_id: int | None = Field(description="Pass as before_id for the next (older) page.")


@router.get("/messages", response_model=MessagesOut, summary="Search the archive (every view audited)")
def messages(
    user: CurrentUser,
    db: DbSession,
    customer_id: Annotated[int | None, Query(ge=1)] = None,
    external_userid: Annotated[str | None, Query(max_length=128)] = None,
    staff: Annotated[str | None, Query(max_length=64, description="Staff userid.")] = None,
    group: Annotated[str | None, Query(max_length=128, description="Group chat id.")] = None,
    word: Annotated[str | None, Query(max_length=50)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> MessagesOut:
    """Messages newest first, for the roles in ``settings.archive.viewer_roles`` (a staff
    user: their own account's chats only)."""
    q = service.Search(
        customer_id=customer_id,
        external_userid=external_userid,
        staff=staff,
        group=group,
        word=word,
        since=since,
        until=until,
        limit=limit,
        before_id=before_id,
        only_staff_id=user.staff_id if user.role == "staff" else None,
    )
    result = service.search(db, workspace_id=user.workspace_id, role=user.role, actor=user.actor, q=q)
    return MessagesOut(
        items=[MessageOut(**m) for m in result["items"]], next_before_id=result["next_before_id"]
    )


class CoverageOut(BaseModel):
    staff_id: int
    userid: str
    name: str
    covered: bool = Field(description="In the archive licence; false: metrics use WeCom's figures.")
    last_message_at: datetime | None


@router.get("/coverage", response_model=list[CoverageOut], summary="Accounts the archive covers")
def coverage(user: CurrentUser, db: DbSession) -> list[CoverageOut]:
    return [CoverageOut(**r) for r in service.coverage(db, workspace_id=user.workspace_id)]


@router.get("/status", summary="The Finance SDK pull: position, stall alert, rows waiting for a key")
def status(user: AdminUser, db: DbSession) -> dict[str, Any]:
    return service.pull_status(db, workspace_id=user.workspace_id)


class SettingsIn(BaseModel):
    store_text: str | None = None
    retention_days: int | None = None
    covered: list[str] | None = None
    viewer_roles: list[str] | None = None
    stall_minutes: int | None = None


@router.get("/settings", summary="Archive settings")
def get_settings(user: AdminUser, db: DbSession) -> dict[str, Any]:
    return service.get_settings(db, workspace_id=user.workspace_id).as_dict()


@router.patch("/settings", summary="Change archive settings (store_text=none erases stored text)")
def patch_settings(body: SettingsIn, user: AdminUser, db: DbSession) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    return service.set_settings(
        db, workspace_id=user.workspace_id, changes=changes, actor=user.actor
    ).as_dict()


class AcceptIn(BaseModel):
    staff: str | None = Field(None, description="Staff userid (a staff user: their own, the default).")
    external_userid: str = Field(max_length=128)
    requested_at: AwareDatetime
    accepted_at: AwareDatetime


class AcceptOut(BaseModel):
    minutes: float


@router.post("/accepts", response_model=AcceptOut, summary="Record when a friend request was accepted")
def record_accept(body: AcceptIn, user: CurrentUser, db: DbSession) -> AcceptOut:
    """WeCom shows no accept time for requests that waited for verification: staff record it."""
    from siyu.kit.errors import Forbidden, Invalid

    own = db.get(Staff, user.staff_id) if user.staff_id else None
    userid = body.staff or (own.userid if own else None)
    if userid is None:
        raise Invalid("staff is required", field="staff")
    if user.role == "staff" and (own is None or own.userid != userid):
        raise Forbidden("staff users record their own accepts only", field="staff")
    row = service.record_accept(
        db,
        workspace_id=user.workspace_id,
        staff_userid=userid,
        external_userid=body.external_userid,
        requested_at=body.requested_at,
        accepted_at=body.accepted_at,
        actor=user.actor,
    )
    return AcceptOut(minutes=round((row.accepted_at - row.requested_at).total_seconds() / 60, 1))


@router.get("/adds", summary="Friend adds: accepted at once (skip-verify codes), recorded, unknown")
def adds(user: CurrentUser, db: DbSession, since: AwareDatetime, until: AwareDatetime) -> dict[str, Any]:
    return service.add_share(db, workspace_id=user.workspace_id, since=since, until=until)
