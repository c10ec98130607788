"""``/api/v1/leads``: the lead pool (客户公海), add-a-friend tasks and conversion per account.

Operators and admins read all, assign and upload; a staff user reads their own lead tasks
and conversion (the pool's size is not theirs: ``pool`` is null).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.acquisition import leads, scope
from siyu.web.api.common import ERRORS
from siyu.web.auth import CurrentUser, DbSession, OperatorUser

router = APIRouter(prefix="/api/v1/leads", tags=["leads"], responses=ERRORS)


class AssignIn(BaseModel):
    rule: Literal["least_loaded", "shop"] = "least_loaded"
    staff: list[str] | None = Field(None, max_length=500, description="Accounts (userids); default all.")
    shops: dict[str, list[str]] | None = Field(None, description="Shop → accounts, for the shop rule.")
    limit: int = Field(500, ge=1, le=leads.MAX_ASSIGN)


class UploadIn(BaseModel):
    phones: list[str] = Field(
        min_length=1, max_length=leads.MAX_UPLOAD, description="Mainland mobile numbers."
    )


@router.get("", summary="Lead pool and conversion per account")
def stats(
    user: CurrentUser,
    db: DbSession,
    staff: Annotated[
        str | None, Query(max_length=64, description="One account (userid): its tasks too.")
    ] = None,
) -> dict[str, Any]:
    """The pool's size and each account's conversion; with ``staff`` (a staff user: always
    their own) that account's conversion and its add-a-friend tasks (``tasks``)."""
    staff_id = scope.own(user.role, user.staff_id)
    mine = staff_id is not None
    if staff_id is None:
        staff_id = scope.staff_id_of(db, workspace_id=user.workspace_id, userid=staff)
    out: dict[str, Any] = {
        "pool": None if mine else leads.pool(db, workspace_id=user.workspace_id),
        "staff": leads.conversion(db, workspace_id=user.workspace_id, staff_id=staff_id),
    }
    if staff_id is not None:
        out["tasks"] = leads.tasks_of(db, workspace_id=user.workspace_id, staff_id=staff_id)
    return out


@router.post("/assign", summary="Give leads to accounts as add-a-friend tasks")
def assign(body: AssignIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    return leads.assign(
        db,
        workspace_id=user.workspace_id,
        rule=body.rule,
        staff=body.staff,
        shops=body.shops,
        limit=body.limit,
    ).as_dict()


@router.post("/upload", summary="Add a phone list to the pool")
def upload(body: UploadIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    """Checked whole first (422 naming the lines when a phone is wrong; nothing written)."""
    return leads.upload_phones(
        db, workspace_id=user.workspace_id, text="\n".join(body.phones), actor=user.actor
    ).as_dict()
