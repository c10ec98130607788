"""客户转接: hand an account's customers and groups to others (在职 / 离职继承), and the results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from siyu.acquisition import scope
from siyu.kit.errors import SiyuError
from siyu.models import Staff
from siyu.staff import transfers
from siyu.web.auth import DbSession
from siyu.web.console.deps import ConsoleUser, OperatorPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()
STATUS_LABELS = {
    "queued": "待发送",
    "waiting": "等待接替（24 小时内客户可拒绝）",
    "done": "接替完毕",
    "refused": "客户拒绝",
    "receiver_full": "接替成员客户已达上限",
    "none": "无接替记录",
    "failed": "企业微信拒绝",
}
KIND_LABELS = {"onjob": "在职继承", "resigned": "离职继承"}
RULE_LABELS = {"hand": "指定接替成员", "least_loaded": "按负载自动分配", "same_team": "同部门按负载分配"}
FIELD_LABELS = {
    "handover": "原跟进成员",
    "takeover": "接替成员",
    "rule": "分配方式",
    "message": "转接提示语",
    "customer_ids": "客户",
}


@router.get("/transfers", response_class=HTMLResponse)
def transfers_page(request: Request, user: ConsoleUser, db: DbSession) -> HTMLResponse:
    """Recent batches (one card each) and the form to start one; a staff user: the batches
    from or to their own account, read only."""
    mine = scope.own(user.role, user.staff_id)
    staff = (
        list(
            db.scalars(
                select(Staff)
                .where(Staff.workspace_id == user.workspace_id)
                .order_by(Staff.status, Staff.name)
            )
        )
        if mine is None
        else []
    )
    context: dict[str, Any] = {
        "own_view": mine is not None,
        "batches": transfers.batch_status(db, workspace_id=user.workspace_id, staff_id=mine),
        "staff": staff,
        "status_labels": STATUS_LABELS,
        "kind_labels": KIND_LABELS,
        "rule_labels": RULE_LABELS,
        "max_message": transfers.MAX_MESSAGE,
    }
    return render(request, "transfers.html", context)


@router.post("/transfers")
def transfers_start(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    handover: Annotated[str, Form(max_length=64)] = "",
    takeover: Annotated[str, Form(max_length=64)] = "",
    rule: Annotated[str, Form(max_length=16)] = "hand",
    message: Annotated[str, Form(max_length=1000)] = "",
    include_groups: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Queue a handover; the background worker calls WeCom."""
    try:
        plan = transfers.start_transfer(
            db,
            workspace_id=user.workspace_id,
            handover=handover,
            takeover=takeover or None,
            rule=rule,
            include_groups=bool(include_groups),
            message=message or None,
            actor=user.actor,
        )
    except SiyuError as exc:
        db.rollback()
        where = FIELD_LABELS.get(exc.field or "", "")
        return redirect_with_flash("/transfers", f"未能转接（{where}）：{exc.message}", "error")
    return redirect_with_flash(
        "/transfers",
        f"已提交转接：{plan.customers} 位客户、{plan.groups} 个客户群（{KIND_LABELS[plan.kind]}），"
        f"跳过 {len(plan.skipped)} 位；客户 24 小时内可拒绝，结果每小时更新。",
    )
