"""接入检查: ``siyu wecom doctor`` in the console (admins): each check with the page that fixes it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from siyu.models import Workspace
from siyu.web.auth import DbSession
from siyu.web.console.deps import AdminPage
from siyu.web.console.render import render
from siyu.wecom import doctor

router = APIRouter()
STATUS_LABELS = {"ok": "正常", "warn": "需留意", "fail": "有问题", "skip": "未配置"}
NAME_LABELS = {
    "config": "企业 ID 与 Secret",
    "token": "获取 access_token",
    "contact_api": "客户联系接口权限",
    "directory_api": "通讯录读取（可见范围）",
    "pool_members": "成员的客户联系权限",
    "callback": "接收事件服务器（回调）",
    "welcome_code": "欢迎语 WelcomeCode",
    "sidebar": "侧边栏可信域名",
    "archive": "会话内容存档",
}


@router.get("/wecom/doctor", response_class=HTMLResponse)
def doctor_page(request: Request, user: AdminPage, db: DbSession) -> HTMLResponse:
    """Runs every check now (calls WeCom)."""
    ws = db.get(Workspace, user.workspace_id)
    assert ws is not None
    checks = doctor.run_checks(db, ws)
    return render(
        request,
        "doctor.html",
        {
            "checks": checks,
            "overall": doctor.summary(checks),
            "status_labels": STATUS_LABELS,
            "name_labels": NAME_LABELS,
        },
    )
