"""接入检查: ``siyu wecom doctor`` in the console (admins): each check with the page that fixes it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from siyu.models import Workspace
from siyu.web.auth import DbSession, PermissionDenied, Principal
from siyu.web.console.deps import ConsoleUser
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

# What each outcome means, in Chinese (the English detail folds away under 技术细节).
MEANING = {
    ("config", "ok"): "已配置企业 ID 与 Secret。",
    ("config", "fail"): "还没有配置企业 ID 或 Secret。",
    ("token", "ok"): "企业 ID 与 Secret 可以换取 access_token。",
    ("token", "fail"): "企业微信拒绝了企业 ID 或 Secret。",
    ("contact_api", "ok"): "当前 Secret 可以调用客户联系接口。",
    (
        "contact_api",
        "fail",
    ): "当前 Secret 无法调用客户联系接口：需使用自建应用的 Secret 并把应用加入客户联系「可调用接口的应用」"
    "（2023 年 12 月后创建的企业不能使用客户联系 Secret），或本服务器 IP 不在应用的企业可信 IP 中。",
    ("directory_api", "ok"): "可以读取员工的通讯录信息。",
    ("directory_api", "fail"): "应用的可见范围不包含这些员工，无法读取其通讯录信息。",
    ("directory_api", "skip"): "还没有员工账号，请先同步企业微信。",
    ("pool_members", "ok"): "所有员工都有客户联系权限。",
    ("pool_members", "warn"): "以下员工没有客户联系权限，客户无法通过活码添加他们：",
    ("pool_members", "skip"): "客户联系接口未响应，暂无法检查。",
    ("callback", "ok"): "回调 Token 与 EncodingAESKey 校验通过，近期收到过回调。",
    ("callback", "warn"): "回调密钥有效，但近期没有收到回调：请确认 URL 已在企业微信后台保存并验证。",
    ("callback", "fail"): "未配置回调或回调密钥无效：siyu 收不到加好友、删好友等事件。",
    ("welcome_code", "ok"): "近期通过活码添加的好友都带有欢迎语 WelcomeCode。",
    (
        "welcome_code",
        "warn",
    ): "部分通过活码添加的好友没有 WelcomeCode（后台设置的欢迎语或其他应用会占用），以下员工受影响：",
    ("welcome_code", "skip"): "近 7 天没有通过活码添加的好友。",
    ("sidebar", "ok"): "侧边栏可信域名与校验文件已配置。",
    ("sidebar", "fail"): "侧边栏可信域名缺少企业微信的校验文件 WW_verify_*.txt。",
    ("sidebar", "skip"): "尚未配置侧边栏可信域名。",
    ("archive", "ok"): "会话存档 Secret 与私钥已配置。",
    ("archive", "fail"): "会话存档缺少 Secret 或私钥文件。",
    ("archive", "skip"): "尚未开通会话内容存档。",
}


async def setup_page_user(user: ConsoleUser) -> Principal:
    """Owners and admins; others get the 403 page saying the check is an admin's setup tool."""
    if user.role not in ("owner", "admin"):
        raise PermissionDenied(
            "接入检查是管理员的企业微信设置工具，你的角色无需也无权运行；如企业微信接入有问题，请联系管理员。"
        )
    return user


@router.get("/wecom/doctor", response_class=HTMLResponse)
def doctor_page(
    request: Request, user: Annotated[Principal, Depends(setup_page_user)], db: DbSession
) -> HTMLResponse:
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
            "meaning": MEANING,
        },
    )
