"""``/api/v1/sends`` and ``/api/v1/content``: mass sends and the content library."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field

from siyu.automation import library
from siyu.automation.content import get_content
from siyu.automation.radar import send_opens
from siyu.automation.sends import results, service
from siyu.automation.sends.lift import lift_report
from siyu.automation.sends.tasks import GATEWAY
from siyu.kit.errors import Forbidden, Invalid
from siyu.web.api.common import ERRORS, MAX_ID, Id
from siyu.web.auth import CurrentUser, DbSession, OperatorUser

router = APIRouter(prefix="/api/v1", tags=["sends"], responses=ERRORS)


ContentId = Annotated[int, Field(ge=1, le=MAX_ID)]


class SendIn(BaseModel):
    title: str
    text: str | None = None
    content_ids: list[ContentId] = Field(default_factory=list)
    audience: str | None = Field(None, description="An audience expression (or give `segment`).")
    segment: str | None = Field(None, description="A saved segment's name.")
    chat_ids: list[str] = Field(default_factory=list, description="Group send: chosen groups.")
    owners: list[str] = Field(default_factory=list, description="Group send: every group of these owners.")
    group_type: str | None = None
    sender: str | None = Field(
        None, description="Named sender (staff userid) for customers who are their friend."
    )
    holdout_pct: int | None = Field(None, description="Holdout percent; default the workspace's (10).")
    scheduled_at: datetime | None = None
    recurrence: str | None = Field(None, description="daily or weekly")
    recurrence_until: datetime | None = None

    def new(self) -> service.NewSend:
        group = bool(self.chat_ids or self.owners or self.group_type)
        return service.NewSend(kind="group" if group else "customer", **self.model_dump())


def _full(db: Any, send: Any) -> dict[str, Any]:
    return service.send_json(send) | {
        "staff": results.staff_progress(db, send.id),
        "results": results.result_counts(db, send.id),
        "opens": send_opens(db, send.id),
    }


@router.get("/sends", summary="Mass sends, newest first")
def list_sends(user: CurrentUser, db: DbSession, status: str | None = None) -> list[dict[str, Any]]:
    return [
        service.send_json(s) for s in service.list_sends(db, workspace_id=user.workspace_id, status=status)
    ]


@router.post("/sends", status_code=201, summary="Create a send (scheduled, or waiting for approval)")
def create_send(body: SendIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    send = service.create_send(db, workspace_id=user.workspace_id, new=body.new(), actor=user.actor)
    return service.send_json(send)


@router.post("/sends/preview", summary="What planning now would do (nothing is kept)")
def preview(body: SendIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    return service.preview(db, workspace_id=user.workspace_id, new=body.new())


@router.get("/sends/waiting", summary="Sends the caller's staff account still has to confirm")
def waiting(user: CurrentUser, db: DbSession) -> list[dict[str, Any]]:
    if user.staff_id is None:
        raise Forbidden("only a staff user has sends to confirm", field="staff_id")
    return service.waiting_for_staff(db, workspace_id=user.workspace_id, staff_id=user.staff_id)


@router.get("/sends/{send_id}", summary="A send: counts, staff confirmation, results")
def get_send(send_id: Id, user: CurrentUser, db: DbSession) -> dict[str, Any]:
    return _full(db, service.get_send(db, workspace_id=user.workspace_id, send_id=send_id))


@router.post("/sends/{send_id}/approve", summary="Approve a send over the size limit (owner, admin)")
def approve(send_id: Id, user: CurrentUser, db: DbSession) -> dict[str, Any]:
    send = service.approve(
        db, workspace_id=user.workspace_id, send_id=send_id, actor=user.actor, role=user.role
    )
    return service.send_json(send)


@router.post("/sends/{send_id}/remind", summary="Remind staff who have not confirmed (3 per 24 h)")
def remind(send_id: Id, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    send = service.get_send(db, workspace_id=user.workspace_id, send_id=send_id, lock=True)
    return results.remind(db, send, GATEWAY[-1](db, user.workspace_id))


@router.post("/sends/{send_id}/cancel", summary="Cancel a send for staff who have not confirmed")
def cancel(send_id: Id, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    send = service.get_send(db, workspace_id=user.workspace_id, send_id=send_id, lock=True)
    gateway = GATEWAY[-1](db, user.workspace_id) if send.status in ("delivering", "waiting") else None
    return results.cancel(db, send, gateway, user.actor)


@router.get("/sends/{send_id}/lift", summary="Targeted vs holdout after 1, 7 and 30 days")
def lift(send_id: Id, user: CurrentUser, db: DbSession) -> dict[str, Any]:
    return lift_report(db, service.get_send(db, workspace_id=user.workspace_id, send_id=send_id))


class ContentIn(BaseModel):
    kind: str
    title: str
    text: str | None = None
    folder: str = ""
    tags: list[str] = Field(default_factory=list)
    body: dict[str, Any] = Field(
        default_factory=dict, description="A link's url/desc, a mini-program's appid/page"
    )


class ContentPatch(BaseModel):
    title: str | None = None
    text: str | None = None
    folder: str | None = None
    tags: list[str] | None = None
    body: dict[str, Any] | None = None


@router.get("/content", summary="The content library")
def list_content(
    user: CurrentUser,
    db: DbSession,
    kind: str | None = None,
    folder: str | None = None,
    tag: str | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    items = library.list_items(
        db, workspace_id=user.workspace_id, kind=kind, folder=folder, tag=tag, search=q
    )
    return [library.item_json(i) for i in items]


@router.post("/content", status_code=201, summary="Add a library item")
def add_content(body: ContentIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    item = library.add_item(db, workspace_id=user.workspace_id, actor=user.actor, **body.model_dump())
    return library.item_json(item)


UPLOAD_MAX = 20 * 1024 * 1024  # WeCom's largest media (a file); images and videos 10 MB


@router.post("/content/upload", status_code=201, summary="Add a library image, video, file or mini-program")
async def upload_content(
    user: OperatorUser,
    db: DbSession,
    kind: Annotated[str, Form(description="image, video, file or miniprogram (the file is its cover)")],
    file: Annotated[UploadFile, File(description="JPG/PNG ≤ 10 MB, MP4 ≤ 10 MB, or a file ≤ 20 MB")],
    title: Annotated[str, Form(max_length=200)] = "",
    folder: Annotated[str, Form(max_length=200)] = "",
    tags: Annotated[str, Form(max_length=2000, description="Comma-separated")] = "",
    appid: Annotated[str, Form(max_length=64, description="A mini-program's appid")] = "",
    page: Annotated[str, Form(max_length=500, description="A mini-program's page (ends in .html)")] = "",
) -> dict[str, Any]:
    """Checked against WeCom's limits before it is stored; then usable by id in sends,
    moments (``{"kind": "content", "content_id": N}``) and the rest of siyu."""
    data = await file.read(UPLOAD_MAX + 1)
    if len(data) > UPLOAD_MAX:
        raise Invalid(f"WeCom takes files of at most {UPLOAD_MAX // (1024 * 1024)} MB", field="file")
    name = file.filename or "upload"
    body = {"appid": appid, "page": page} if kind == "miniprogram" else {}
    item = library.add_item(
        db,
        workspace_id=user.workspace_id,
        kind=kind,
        title=title or name,
        folder=folder,
        tags=tags.replace("，", ",").split(","),
        body=body,
        upload=(name, data),
        actor=user.actor,
    )
    return library.item_json(item)


@router.get("/content/{content_id}", summary="A library item")
def show_content(content_id: Id, user: CurrentUser, db: DbSession) -> dict[str, Any]:
    return library.item_json(get_content(db, workspace_id=user.workspace_id, content_id=content_id))


@router.patch("/content/{content_id}", summary="Edit a library item")
def edit_content(content_id: Id, body: ContentPatch, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    item = library.update_item(db, workspace_id=user.workspace_id, content_id=content_id, **body.model_dump())
    return library.item_json(item)


@router.delete("/content/{content_id}", status_code=204, summary="Delete a library item")
def delete_content(content_id: Id, user: OperatorUser, db: DbSession) -> None:
    library.delete_item(db, workspace_id=user.workspace_id, content_id=content_id)
