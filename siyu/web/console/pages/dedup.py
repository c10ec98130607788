"""矩阵去重: customers who are friends of two or more accounts, and each channel's policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from siyu.acquisition import dedup, scope
from siyu.kit.errors import SiyuError
from siyu.web.auth import DbSession
from siyu.web.console.deps import ConsoleUser, OperatorPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()
POLICY_LABELS = {
    "allow": "允许（不处理）",
    "task": "提醒第二个账号（任务）",
    "route_back": "回流到已添加的账号",
}
BY_LABELS = {
    "external_userid": "同一微信号",
    "oneid": "OneID 合并（手机号 / unionid / 订单绑定）",
}


@router.get("/dedup", response_class=HTMLResponse)
def dedup_page(request: Request, user: ConsoleUser, db: DbSession) -> HTMLResponse:
    """Counts per channel (with its policy) and per account, and a sample of customers; a
    staff user: the duplicates involving their own account, policies read only."""
    mine = scope.own(user.role, user.staff_id)
    rep = dedup.report(db, workspace_id=user.workspace_id, sample=30, own_staff_id=mine)
    return render(
        request,
        "dedup.html",
        {
            "rep": rep,
            "policy_labels": POLICY_LABELS,
            "by_labels": BY_LABELS,
            "own_view": mine is not None,
        },
    )


@router.post("/dedup/policy")
def dedup_policy(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    channel: Annotated[str, Form(max_length=64)] = "",
    policy: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Store a channel's policy."""
    try:
        row = dedup.set_policy(
            db, workspace_id=user.workspace_id, channel=channel, policy=policy, actor=user.actor
        )
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/dedup", f"未能保存：{exc.message}", "error")
    return redirect_with_flash("/dedup", f"渠道「{row.name}」的去重策略已改为：{POLICY_LABELS[policy]}。")
