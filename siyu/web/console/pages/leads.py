"""客户公海: buyers with a phone who are no one's friend yet, add-a-friend tasks, conversion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from siyu.acquisition import leads, scope
from siyu.kit.errors import SiyuError
from siyu.web.auth import DbSession
from siyu.web.console.deps import ConsoleUser, OperatorPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()


@router.get("/leads", response_class=HTMLResponse)
def leads_page(request: Request, user: ConsoleUser, db: DbSession) -> HTMLResponse:
    """The pool's size, the forms, and each account's conversion as a card; a staff user:
    their own conversion and add-a-friend tasks, nothing to assign or upload."""
    mine = scope.own(user.role, user.staff_id)
    if mine is not None:
        return render(
            request,
            "leads.html",
            {
                "own_view": True,
                "pool": None,
                "rows": leads.conversion(db, workspace_id=user.workspace_id, staff_id=mine),
                "tasks": leads.tasks_of(db, workspace_id=user.workspace_id, staff_id=mine),
            },
        )
    # Read-only: tasks are completed by the acquisition.leads subscriber and sweep;
    # conversion() counts a lead added since then as added already.
    return render(
        request,
        "leads.html",
        {
            "own_view": False,
            "pool": leads.pool(db, workspace_id=user.workspace_id),
            "rows": leads.conversion(db, workspace_id=user.workspace_id),
            "tasks": [],
        },
    )


@router.post("/leads/assign")
def leads_assign(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    limit: Annotated[int, Form(ge=1, le=leads.MAX_ASSIGN)] = 200,
) -> Response:
    try:
        done = leads.assign(db, workspace_id=user.workspace_id, limit=limit)
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/leads", f"未能分配：{exc.message}", "error")
    return redirect_with_flash(
        "/leads", f"已为 {len(done.by_staff)} 位员工生成 {done.tasks} 个加好友任务，公海剩余 {done.left} 位。"
    )


@router.post("/leads/upload")
def leads_upload(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    phones: Annotated[str, Form(max_length=2_000_000)] = "",
) -> Response:
    try:
        got = leads.upload_phones(db, workspace_id=user.workspace_id, text=phones, actor=user.actor)
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/leads", f"未导入：{exc.message}", "error")
    return redirect_with_flash(
        "/leads", f"已导入 {got.rows} 个手机号：{got.leads} 位进入公海，{got.already_friends} 位已是好友。"
    )
