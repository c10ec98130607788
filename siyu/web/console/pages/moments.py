"""朋友圈日历: a week of moments per staff account, cadence flags, planning.

WeCom has no schedule parameter and each staff member publishes a moment in their own
client; the page says so. It reads and writes through ``siyu.automation.moments``, as
the API and ``siyu moments`` do. Staff users see their own account only.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from siyu.automation import library
from siyu.automation.moments import service, views
from siyu.kit.errors import SiyuError
from siyu.kit.timeutil import local_day, local_to_utc, utcnow, zone
from siyu.models import Staff, Workspace
from siyu.web.auth import DbSession
from siyu.web.console.deps import ConsoleUser, OperatorPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()

STATUS = {
    "planned": "待创建",
    "creating": "创建中",
    "created": "企业微信处理中",
    "ready": "待员工发表",
    "failed": "失败",
    "cancelled": "已取消",
}
SENDER_STATUS = {"waiting": "未到时间", "unpublished": "未发表", "published": "已发表", "invalid": "无效账号"}
ORIGIN = {"plan": "计划", "personal": "员工自发", "corp": "企业发表"}
FLAGS = {"gap": "空档", "under": "低于目标", "over": "超出目标", "burst": "过于密集"}
WEEKDAYS = "一二三四五六日"
KIND_LABELS = {"image": "图片", "video": "视频", "link": "链接"}
UPLOAD_MAX = 10 * 1024 * 1024  # WeCom: images and videos up to 10 MB
FIELD = {"text": "正文", "attachments": "附件", "visible_tags": "可见标签", "staff": "员工账号",
         "planned_at": "计划时间", "moment_id": "朋友圈", "path": "上传文件",
         "content_id": "素材"}  # fmt: skip
_MESSAGES = [
    (re.compile(r"at most 2000 characters, this one has (\d+)"), "正文最多 2000 字，当前 {0} 字"),
    (re.compile(r"at most 9 images, not (\d+)"), "最多 9 张图片，当前 {0} 张"),
    (re.compile(r"of at most 10 MB; this one is ([\d.]+) MB"), "图片和视频最大 10 MB，当前 {0} MB"),
    (re.compile(r"as JPG/JPEG/PNG only"), "图片只支持 JPG 或 PNG"),
    (re.compile(r"as MP4 only"), "视频只支持 MP4"),
    (re.compile(r"at most 1 (video|link)"), "视频或链接只能有 1 个"),
    (re.compile(r"not a mix"), "一条朋友圈只能带最多 9 张图片、或 1 个视频、或 1 个链接，不能混合"),
    (
        re.compile(r"tag '(.+)' is not in WeCom yet"),
        "标签「{0}」尚未同步到企业微信，请先推送到企业微信并为各发送员工的客户打上",
    ),
    (re.compile(r"no tag '(.+)'"), "没有标签「{0}」"),
    (re.compile(r"no staff account '(.+)'"), "没有员工账号「{0}」"),
    (re.compile(r"at least one staff"), "请至少选择一个发送员工"),
    (re.compile(r"planned_at is in the past"), "计划时间已过"),
    (re.compile(r"needs text or an attachment"), "请填写正文或添加附件"),
    (re.compile(r"a link needs an http"), "链接需以 http:// 或 https:// 开头"),
    (re.compile(r"a link needs a title"), "链接需要标题"),
    (re.compile(r"only a planned moment can be cancelled"), "只有尚未创建到企业微信的朋友圈可以取消"),
]


def zh_error(exc: SiyuError) -> str:
    """The service's error in plain zh-CN (the field named)."""
    for pattern, words in _MESSAGES:
        found = pattern.search(exc.message)
        if found:
            return words.format(*found.groups())
    return f"{FIELD.get(exc.field or '', '输入')}有误：{exc.message}"


def _week_start(value: str, today: date) -> date:
    try:
        day = date.fromisoformat(value) if value else today
    except ValueError:
        day = today
    return day - timedelta(days=day.weekday())


@router.get("/moments", response_class=HTMLResponse)
def moments_page(
    request: Request,
    user: ConsoleUser,
    db: DbSession,
    start: Annotated[str, Query(max_length=10)] = "",
    staff_id: Annotated[int | None, Query()] = None,
) -> HTMLResponse:
    """The week calendar (Monday to Sunday) per staff account, with the cadence flags."""
    ws = db.get(Workspace, user.workspace_id)
    assert ws is not None
    today = local_day(utcnow(), ws.timezone)
    first = _week_start(start, today)
    if user.role == "staff":
        staff_id = user.staff_id if user.staff_id is not None else -1
    wk = views.week(db, workspace_id=ws.id, start=first, days=7, staff_id=staff_id)
    staff = list(
        db.scalars(
            select(Staff)
            .where(
                Staff.workspace_id == ws.id, Staff.status == "active", Staff.has_contact_permission.is_(True)
            )
            .order_by(Staff.userid)
        )
    )
    tz = zone(ws.timezone)
    context: dict[str, Any] = {
        "week": wk,
        "first": first,
        "prev": (first - timedelta(days=7)).isoformat(),
        "next": (first + timedelta(days=7)).isoformat(),
        "today": today,
        "weekdays": WEEKDAYS,
        "staff": staff,
        "staff_id": staff_id,
        "status_labels": STATUS,
        "sender_labels": SENDER_STATUS,
        "origin_labels": ORIGIN,
        "flag_labels": FLAGS,
        "can_plan": user.role in ("owner", "admin", "operator"),
        "library": [
            (i.id, KIND_LABELS[i.kind], i.title)
            for kind in ("image", "video", "link")
            for i in library.list_items(db, workspace_id=ws.id, kind=kind, limit=100)
        ],
        "default_at": (datetime.now(tz) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:00"),
        "hhmm": lambda iso: datetime.fromisoformat(iso).astimezone(tz).strftime("%H:%M"),
    }
    return render(request, "moments.html", context)


@router.post("/moments")
def moments_plan(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    planned_at: Annotated[str, Form()] = "",
    staff: Annotated[list[str] | None, Form()] = None,
    text: Annotated[str, Form(max_length=20_000)] = "",
    link_url: Annotated[str, Form()] = "",
    link_title: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
    content_ids: Annotated[list[int] | None, Form()] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Plan a moment from the form; errors come back in plain words, nothing stored.

    Attachments: library items (images, a video or a link, by id), uploaded images or a
    video (kept in the library, folder 朋友圈), or a link typed in; WeCom's rule (9
    images, or 1 video, or 1 link) is checked by the service as for the API and CLI.
    """
    ws = db.get(Workspace, user.workspace_id)
    assert ws is not None
    try:
        when = local_to_utc(datetime.fromisoformat(planned_at), ws.timezone)
    except ValueError:
        return redirect_with_flash("/moments", "请填写计划时间", "error")
    items = [service.AttachmentInput("content", content_id=c) for c in content_ids or []]
    if link_url.strip():
        items.append(service.AttachmentInput("link", url=link_url.strip(), title=link_title))
    uploads = [f for f in files or [] if f.filename]
    names = [t for t in re.split(r"[,，\s]+", tags) if t]
    try:
        with db.begin_nested():  # uploads join the library only if the moment is planned
            for f in uploads:
                raw = f.file.read(UPLOAD_MAX + 1)
                name = f.filename or "upload"
                kind = "video" if name.lower().endswith(".mp4") else "image"
                added = library.add_item(db, workspace_id=ws.id, kind=kind, title=name[:200], folder="朋友圈",
                                         upload=(name, raw), actor=user.actor)  # fmt: skip
                items.append(service.AttachmentInput("content", content_id=added.id))
            data = service.MomentInput(planned_at=when, staff_userids=staff or [], text=text,
                                       attachments=items, visible_tags=names)  # fmt: skip
            m = service.plan_moment(db, workspace_id=ws.id, data=data, actor=user.actor)
    except SiyuError as exc:
        return redirect_with_flash("/moments", zh_error(exc), "error")
    day = local_day(m.planned_at, ws.timezone).isoformat()
    return redirect_with_flash(
        f"/moments?start={day}",
        "已计划。到时间 siyu 会在企业微信创建朋友圈任务，员工需在企业微信手机端自行点击发表。",
    )


@router.post("/moments/{moment_id}/cancel")
def moments_cancel(moment_id: int, user: OperatorPage, db: DbSession) -> Response:
    try:
        service.cancel_moment(db, workspace_id=user.workspace_id, moment_id=moment_id, actor=user.actor)
    except SiyuError as exc:
        return redirect_with_flash("/moments", zh_error(exc), "error")
    return redirect_with_flash("/moments", f"已取消朋友圈计划 #{moment_id}")
