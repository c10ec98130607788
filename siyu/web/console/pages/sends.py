"""群发 and 素材库: mass sends (create, preview, approve, follow, remind, cancel, lift) and the library.

The pages call the same services as ``siyu sends`` / ``siyu content`` and
``/api/v1/sends`` / ``/api/v1/content``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from siyu.automation import library
from siyu.automation.radar import send_opens
from siyu.automation.sends import results, service
from siyu.automation.sends.lift import lift_report
from siyu.automation.sends.tasks import GATEWAY
from siyu.kit.errors import SiyuError
from siyu.kit.timeutil import local_to_utc
from siyu.web.auth import DbSession
from siyu.web.console.deps import ConsoleUser, OperatorPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()

FIELD = {
    "title": "标题",
    "text": "消息内容",
    "audience": "人群表达式",
    "scheduled_at": "计划时间",
    "content_ids": "素材",
    "holdout_pct": "对照组比例",
    "sender": "指定发送员工",
    "chat_ids": "群",
    "recurrence": "重复",
    "recurrence_until": "重复截止",
    "url": "链接地址",
    "kind": "类型",
    "send_id": "群发",
    "role": "角色",
    "path": "文件",
}
# (words in the service's message, what the console says)
REASONS = (
    ("quiet hours", "计划时间在免打扰时段内，请换一个时间"),
    ("4000 bytes", "消息超过 4000 字节（企业微信上限）"),
    ("filled per customer", "群发是同一条消息发给所有人，不能用 {客户昵称}，只能用 {员工姓名}"),
    ("unknown variable", "未知变量，可用 {员工姓名}、{客户昵称}"),
    ("audience expression or a saved segment", "请填写人群表达式"),
    ("needs a text or at least one", "请填写消息内容或选择素材"),
    ("at most 9 attachments", "最多 9 个附件"),
    ("title of 1 to 200", "标题需 1 到 200 个字"),
    ("audience:", "人群表达式有误"),
    ("is deleted", "素材已删除"),
    ("is unknown", "素材不存在"),
    ("needs chat ids, owners", "请填写群或群主"),
    ("http:// or https://", "链接地址需以 http:// 或 https:// 开头"),
    ("no staff account", "没有这个员工账号"),
    ("only an owner or admin", "只有所有者或管理员可以审批"),
)


def zh_error(exc: SiyuError) -> str:
    """The service's (English) refusal in the console's words, naming the field."""
    where = FIELD.get(exc.field or "", "输入")
    for words, said in REASONS:
        if words in exc.message:
            return f"{where}：{said}"
    return f"{where}有误，请检查后重试"


def _new(form: dict[str, str], tz: str) -> service.NewSend:
    at: datetime | None = None
    if form.get("scheduled_at"):
        try:
            at = local_to_utc(datetime.fromisoformat(form["scheduled_at"]), tz)
        except ValueError as exc:
            raise SiyuError("计划时间格式不对", field="scheduled_at") from exc
    chats = [c.strip() for c in form.get("chat_ids", "").replace("，", ",").split(",") if c.strip()]
    owners = [c.strip() for c in form.get("owners", "").replace("，", ",").split(",") if c.strip()]
    holdout = form.get("holdout_pct", "").strip()
    return service.NewSend(
        title=form.get("title", ""),
        kind="group" if form.get("kind") == "group" else "customer",
        text=form.get("text") or None,
        content_ids=[int(c) for c in form.get("content_ids", "").split(",") if c.strip().isdigit()],
        audience=(form.get("audience") or None) if form.get("kind") != "group" else None,
        chat_ids=chats,
        owners=owners,
        sender=form.get("sender") or None,
        holdout_pct=int(holdout) if holdout.isdigit() else None,
        scheduled_at=at,
        recurrence=form.get("recurrence") or None,
    )


def _list(request: Request, db: Any, user: Any, **extra: Any) -> HTMLResponse:
    waiting = (
        service.waiting_for_staff(db, workspace_id=user.workspace_id, staff_id=user.staff_id)
        if user.staff_id is not None
        else []
    )
    sends = [] if user.role == "staff" else service.list_sends(db, workspace_id=user.workspace_id)
    items = library.list_items(db, workspace_id=user.workspace_id, limit=50)
    knobs = service.knobs_of(db, user.workspace_id)
    context = {"sends": sends, "waiting": waiting, "items": items, "knobs": knobs, "form": {}, **extra}
    return render(request, "sends.html", context)


@router.get("/sends", response_class=HTMLResponse)
def sends_page(request: Request, user: ConsoleUser, db: DbSession) -> HTMLResponse:
    """Operators: sends and the form; staff: the sends waiting for their confirmation."""
    return _list(request, db, user)


FormText = Annotated[str, Form()]


@router.post("/sends")
def sends_create(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    title: FormText = "",
    kind: FormText = "customer",
    text: FormText = "",
    content_ids: FormText = "",
    audience: FormText = "",
    chat_ids: FormText = "",
    owners: FormText = "",
    sender: FormText = "",
    holdout_pct: FormText = "",
    scheduled_at: FormText = "",
    recurrence: FormText = "",
    action: FormText = "create",
) -> Response:
    form = {
        "title": title,
        "kind": kind,
        "text": text,
        "content_ids": content_ids,
        "audience": audience,
        "chat_ids": chat_ids,
        "owners": owners,
        "sender": sender,
        "holdout_pct": holdout_pct,
        "scheduled_at": scheduled_at,
        "recurrence": recurrence,
    }
    tz = service.zone_name(db, user.workspace_id)
    try:
        new = _new(form, tz)
        if action == "preview":
            shown = service.preview(db, workspace_id=user.workspace_id, new=new)
            return _list(request, db, user, form=form, preview=shown)
        send = service.create_send(db, workspace_id=user.workspace_id, new=new, actor=user.actor)
    except SiyuError as exc:
        db.rollback()
        return _list(request, db, user, form=form, error=zh_error(exc))
    word = "待管理员审批" if send.status == "pending_approval" else "已排期"
    return redirect_with_flash(f"/sends/{send.id}", f"已创建群发「{send.title}」，{word}")


@router.get("/sends/{send_id}", response_class=HTMLResponse)
def send_page(request: Request, send_id: int, user: OperatorPage, db: DbSession) -> HTMLResponse:
    send = service.get_send(db, workspace_id=user.workspace_id, send_id=send_id)
    lift = lift_report(db, send)
    chart = {
        "windows": [f"{w['days']} 天" for w in lift.get("windows", [])],
        "target": [round(w["net_fen"]["target_mean"] / 100, 2) for w in lift.get("windows", [])],
        "holdout": [round(w["net_fen"]["holdout_mean"] / 100, 2) for w in lift.get("windows", [])],
    }
    context = {
        "send": send,
        "staff": results.staff_progress(db, send.id),
        "results": results.result_counts(db, send.id),
        "opens": send_opens(db, send.id),
        "lift": lift,
        "chart_data": chart,
    }
    return render(request, "send.html", context)


def _act(send_id: int, user: Any, db: Any, what: str) -> Response:
    try:
        send = service.get_send(db, workspace_id=user.workspace_id, send_id=send_id, lock=True)
        if what == "approve":
            service.approve(
                db, workspace_id=user.workspace_id, send_id=send_id, actor=user.actor, role=user.role
            )
            message = "已审批，将按计划时间锁定名单"
        elif what == "remind":
            r = results.remind(db, send, GATEWAY[-1](db, user.workspace_id))
            message = f"已提醒 {r['reminded']} 批；{r['at_limit']} 批已达企业微信每 24 小时 3 次的上限"
        else:
            gateway = GATEWAY[-1](db, user.workspace_id) if send.status in ("delivering", "waiting") else None
            results.cancel(db, send, gateway, user.actor)
            message = "已取消群发（已确认发送的员工不受影响）"
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash(f"/sends/{send_id}", f"未能完成：{zh_error(exc)}", "error")
    return redirect_with_flash(f"/sends/{send_id}", message)


@router.post("/sends/{send_id}/approve")
def send_approve(send_id: int, user: OperatorPage, db: DbSession) -> Response:
    return _act(send_id, user, db, "approve")


@router.post("/sends/{send_id}/remind")
def send_remind(send_id: int, user: OperatorPage, db: DbSession) -> Response:
    return _act(send_id, user, db, "remind")


@router.post("/sends/{send_id}/cancel")
def send_cancel(send_id: int, user: OperatorPage, db: DbSession) -> Response:
    return _act(send_id, user, db, "cancel")


@router.get("/content", response_class=HTMLResponse)
def content_page(
    request: Request, user: OperatorPage, db: DbSession, folder: str | None = None
) -> HTMLResponse:
    items = library.list_items(db, workspace_id=user.workspace_id, folder=folder)
    context = {
        "items": items,
        "folders": library.folders(db, workspace_id=user.workspace_id),
        "folder": folder,
    }
    return render(request, "content.html", context)


@router.post("/content")
def content_add(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    kind: FormText = "text",
    title: FormText = "",
    text: FormText = "",
    url: FormText = "",
    folder: FormText = "",
    tags: FormText = "",
) -> Response:
    try:
        item = library.add_item(
            db,
            workspace_id=user.workspace_id,
            kind=kind,
            title=title,
            text=text or None,
            folder=folder,
            tags=list(tags.replace("，", ",").split(",")),
            body={"url": url} if kind == "link" else {},
            actor=user.actor,
        )
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/content", f"未能保存：{zh_error(exc)}", "error")
    return redirect_with_flash("/content", f"已添加素材「{item.title}」")


@router.post("/content/{content_id}/delete")
def content_delete(content_id: int, user: OperatorPage, db: DbSession) -> Response:
    try:
        item = library.delete_item(db, workspace_id=user.workspace_id, content_id=content_id)
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/content", f"未能删除：{zh_error(exc)}", "error")
    return redirect_with_flash("/content", f"已删除素材「{item.title}」")
