"""``/api/v1/tasks``: staff task lists, completion, and the boss's completion figures.

A staff user reads and completes their own tasks; operators and above read anyone's,
set tasks by hand and see completion per account and team.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.execution import tracking
from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import Workspace
from siyu.web.api.common import ERRORS, Id
from siyu.web.auth import CurrentUser, DbSession, OperatorUser

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], responses=ERRORS)


class TaskIn(BaseModel):
    staff_id: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=200)
    due_at: datetime = Field(description="With a time zone.")
    customer_id: int | None = Field(None, ge=1)
    body: str | None = Field(None, max_length=2000)
    content_id: int | None = Field(None, ge=1)
    priority: int = Field(2, ge=1, le=3)


class DoneIn(BaseModel):
    how: Literal["self_reported", "operator"] = "self_reported"


@router.get("", summary="Tasks, most urgent first (staff users: their own)")
def list_tasks(
    user: CurrentUser,
    db: DbSession,
    staff_id: int | None = Query(None, ge=1),
    status: Literal["open", "done", "cancelled", "all"] = "open",
    kind: str | None = Query(None, max_length=32),
    customer_id: int | None = Query(None, ge=1),
    limit: int = Query(100, ge=1, le=500),
) -> list[dict[str, Any]]:
    return tracking.list_tasks(
        db,
        user,
        staff_id=staff_id,
        status=None if status == "all" else status,
        kind=kind,
        customer_id=customer_id,
        limit=limit,
    )


@router.post("", status_code=201, summary="Set a task by hand")
def add_task(body: TaskIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    tid = tracking.add_manual(
        db,
        workspace_id=user.workspace_id,
        staff_id=body.staff_id,
        title=body.title,
        due_at=body.due_at,
        customer_id=body.customer_id,
        body=body.body,
        content_id=body.content_id,
        priority=body.priority,
        actor=user.actor,
    )
    return {"id": tid}


@router.post("/{task_id}/done", summary="Mark done: self-reported (staff) or by an operator")
def done(task_id: Id, body: DoneIn, user: CurrentUser, db: DbSession) -> dict[str, Any]:
    how = body.how if user.sees_all_customers else "self_reported"
    return tracking.task_dict(tracking.mark_done(db, user, task_id=task_id, how=how))


@router.get("/completion", summary="Completion per account and per team")
def completion(user: CurrentUser, db: DbSession, days: int = Query(7, ge=1, le=366)) -> dict[str, Any]:
    ws = db.get(Workspace, user.workspace_id)
    tz = ws.timezone if ws is not None else None
    since = day_start_utc(local_day(utcnow(), tz) - timedelta(days=days - 1), tz)
    return tracking.completion(db, user, since=since, until=utcnow() + timedelta(days=1))
