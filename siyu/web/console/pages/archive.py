"""会话存档: search archived chats by customer, staff account, group, word and time.

Only the roles in ``settings.archive.viewer_roles`` may open it (owners and admins by
default); a staff user sees their own account's chats. Every search is audited
(``archive.view``), as through the API and the CLI (``siyu.wecom.archive.service.search``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from siyu.kit.errors import Forbidden, SiyuError
from siyu.models import Group, Staff, Workspace
from siyu.web.auth import DbSession
from siyu.web.console.deps import AdminPage, ConsoleUser
from siyu.web.console.render import redirect_with_flash, render
from siyu.wecom.archive import service

router = APIRouter()
DIRECTION = {"in": "客户发", "out": "员工发", "internal": "内部"}
MSGTYPE = {
    "text": "文字",
    "image": "图片",
    "voice": "语音",
    "video": "视频",
    "file": "文件",
    "link": "链接",
    "agree": "同意存档",
    "disagree": "不同意存档",
    "revoke": "撤回",
    "emotion": "表情",
    "weapp": "小程序",
}


def _day(value: str, tz: ZoneInfo, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        return None
    return datetime.combine(d, time.max if end else time.min, tzinfo=tz)


@router.get("/archive", response_class=HTMLResponse)
def archive_page(
    request: Request,
    user: ConsoleUser,
    db: DbSession,
    customer: Annotated[str, Query(max_length=20)] = "",
    staff: Annotated[str, Query(max_length=64)] = "",
    group: Annotated[str, Query(max_length=128)] = "",
    word: Annotated[str, Query(max_length=50)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    ws = db.get(Workspace, user.workspace_id)
    tz = ZoneInfo(ws.timezone if ws else "Asia/Shanghai")
    context: dict[str, Any] = {
        "form": {
            "customer": customer,
            "staff": staff,
            "group": group,
            "word": word,
            "since": since,
            "until": until,
        },
        "staff_options": db.execute(
            select(Staff.userid, Staff.name)
            .where(Staff.workspace_id == user.workspace_id)
            .order_by(Staff.name)
        ).all(),
        "group_options": db.execute(
            select(Group.chat_id, Group.name)
            .where(Group.workspace_id == user.workspace_id)
            .order_by(Group.name)
        ).all(),
        "directions": DIRECTION,
        "msgtypes": MSGTYPE,
        "tz": tz,
        "items": [],
        "error": None,
        "allowed": True,
    }
    try:
        service.check_viewer(db, workspace_id=user.workspace_id, role=user.role)
    except Forbidden:
        context["allowed"] = False
        return render(request, "archive.html", context, status_code=403)
    context["pull"] = service.pull_status(db, workspace_id=user.workspace_id)
    if user.role in ("owner", "admin"):
        context["settings"] = service.get_settings(db, workspace_id=user.workspace_id)
    q = service.Search(
        customer_id=int(customer) if customer.isdigit() else None,
        staff=staff or None,
        group=group or None,
        word=word or None,
        since=_day(since, tz, False),
        until=_day(until, tz, True),
        limit=100,
        only_staff_id=user.staff_id if user.role == "staff" else None,
    )
    try:
        items = service.search(db, workspace_id=user.workspace_id, role=user.role, actor=user.actor, q=q)[
            "items"
        ]
        for m in items:  # shown in the workspace's time zone
            m["local_time"] = datetime.fromisoformat(m["sent_at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M")
        context["items"] = items
    except SiyuError as exc:
        context["error"] = {
            "staff": "没有这个员工账号",
            "group": "没有这个群",
            "since": "开始日期须早于结束日期",
        }.get(exc.field or "", "查询条件有误")
    return render(request, "archive.html", context)


SETTING_NAMES = {
    "store_text": "消息内容保存方式",
    "retention_days": "内容保留天数",
    "covered": "存档覆盖的员工",
    "viewer_roles": "可查看存档的角色",
}


@router.post("/archive/settings")
def archive_settings_save(
    request: Request,
    user: AdminPage,
    db: DbSession,
    store_text: Annotated[str, Form()] = "encrypted",
    retention_days: Annotated[str, Form(max_length=6)] = "180",
    covered: Annotated[str, Form(max_length=4000)] = "*",
    viewer_roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Admins change the archive settings (checked as a whole, audited)."""
    changes: dict[str, Any] = {
        "store_text": store_text,
        "retention_days": int(retention_days) if retention_days.strip().isdigit() else retention_days,
        "covered": [u for u in re.split(r"[\s,，、]+", covered) if u] or ["*"],
        "viewer_roles": sorted({"owner", *(viewer_roles or [])}),
    }
    try:
        service.set_settings(db, workspace_id=user.workspace_id, changes=changes, actor=user.actor)
    except SiyuError as exc:
        key = (exc.field or "").rsplit(".", 1)[-1]
        return redirect_with_flash("/archive", f"未保存：{SETTING_NAMES.get(key, '设置')}填写有误。", "error")
    return redirect_with_flash("/archive", "会话存档设置已保存。")
