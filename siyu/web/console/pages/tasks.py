"""任务 (my tasks) and 任务完成率 (completion): frontline lists on a phone, figures for the boss.

A staff user sees their own open tasks with the customer's summary and suggested words,
and marks one done (self-reported); operators and above pick an account. The same
services as ``siyu tasks`` and ``/api/v1/tasks`` (``siyu.execution.tracking``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from siyu.execution import tracking
from siyu.kit.errors import SiyuError
from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import Staff
from siyu.web.auth import DbSession
from siyu.web.console.deps import ConsoleUser, OperatorPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()

KIND_LABELS = {
    "reply_sla": "待回复",
    "greet": "新好友问候",
    "lead_add": "群成员加好友",
    "coverage": "本月触达",
    "wakeup": "沉默唤醒",
    "post_purchase": "售后关怀",
    "churn": "流失提醒",
    "sop_step": "SOP 步骤",
    "manual": "手动任务",
    "escalation": "逾期上报",
    "send_confirm": "确认发送",
    "moment_publish": "发朋友圈",
    "lead_pool": "线索分配",
    "matrix_duplicate": "多号重复",
}
DONE_HOW_LABELS = {"detected": "系统识别", "self_reported": "员工自报", "operator": "运营标记"}
PRIORITY_LABELS = {1: "紧急", 2: "普通", 3: "低"}


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(
    request: Request,
    user: ConsoleUser,
    db: DbSession,
    staff: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[str, Query(max_length=8)] = "open",
) -> HTMLResponse:
    """Open tasks, most urgent first (staff: their own; others: every account or one)."""
    chosen = status if status in ("open", "done") else "open"
    rows = tracking.list_tasks(db, user, staff_id=staff, status=chosen, limit=200)
    accounts = (
        list(
            db.execute(
                select(Staff.id, Staff.name, Staff.userid)
                .where(Staff.workspace_id == user.workspace_id)
                .order_by(Staff.name)
            )
        )
        if user.sees_all_customers
        else []
    )
    context: dict[str, Any] = {
        "rows": rows,
        "status": chosen,
        "staff": staff,
        "accounts": accounts,
        "kind_labels": KIND_LABELS,
        "done_how_labels": DONE_HOW_LABELS,
        "priority_labels": PRIORITY_LABELS,
    }
    return render(request, "tasks.html", {**context, "active": "/tasks"})


@router.post("/tasks/{task_id}/done")
def task_done(task_id: int, user: ConsoleUser, db: DbSession) -> Response:
    """Mark a task done: staff self-report; operators mark it as an operator."""
    how = "operator" if user.sees_all_customers and user.staff_id is None else "self_reported"
    try:
        tracking.mark_done(db, user, task_id=task_id, how=how)
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/tasks", f"无法完成：{exc.message}", "error")
    return redirect_with_flash("/tasks", "已标记完成" + ("（员工自报）" if how == "self_reported" else ""))


@router.get("/tasks/completion", response_class=HTMLResponse)
def completion_page(
    request: Request, user: OperatorPage, db: DbSession, days: Annotated[int, Query(ge=1, le=90)] = 7
) -> HTMLResponse:
    """Completion per account and per team for tasks due in the last ``days`` days."""
    from siyu.models import Workspace

    ws = db.get(Workspace, user.workspace_id)
    tz = ws.timezone if ws is not None else None
    since = day_start_utc(local_day(utcnow(), tz) - timedelta(days=days - 1), tz)
    data = tracking.completion(db, user, since=since, until=utcnow() + timedelta(days=1))
    return render(request, "task_completion.html", {**data, "days": days, "active": "/tasks/completion"})
