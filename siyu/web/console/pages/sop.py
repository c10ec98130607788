"""SOP 计划 in the console: plans, templates, and the plan editor with a timeline preview.

The editor saves the plan as JSON (trigger, audience, steps, exits) through
``siyu.automation.sop.service`` (what ``siyu sop`` and ``/api/v1/sop`` call), shows
when each step would run for someone entering now and how many customers each step
reaches now, and activates the plan after saying how many already match.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.sop import service, spec
from siyu.automation.sop.service import PlanInput
from siyu.automation.sop.templates import TEMPLATES, template
from siyu.kit.errors import Invalid, SiyuError
from siyu.models import ContentItem, Tag
from siyu.web.auth import DbSession, Principal
from siyu.web.console.deps import OperatorPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()

STATUS_LABELS = {"draft": "草稿", "active": "运行中", "paused": "已暂停", "archived": "已归档"}
TRIGGER_LABELS = {
    "friend_added": "添加好友",
    "tag_added": "打上标签",
    "tag_removed": "移除标签",
    "joined_group": "加入群聊",
    "first_order": "首次下单",
    "category_order": "购买某品类",
    "layer_changed": "分层/RFM 变化",
    "inactive": "N 天未下单/未互动",
    "date_field": "生日/日期字段",
    "segment": "进入人群",
    "group_created": "新建客户群",
    "group_type": "群类型",
    "group_age": "建群满 N 天",
}
ACTION_LABELS = {
    "task": "员工任务",
    "send": "1 对 1 发送",
    "group_message": "群发",
    "tag": "调整标签",
    "moment": "朋友圈",
}
EXIT_LABELS = {
    "bought": "下单",
    "opted_out": "退订",
    "left": "删除好友/退群",
    "replied": "回复",
    "tag_added": "打上标签",
    "dismissed": "群解散",
}
SUBJECT_LABELS = {"customer": "客户计划", "group": "客户群计划"}
# The step fields a server error can name, in the editor's words.
FIELD_LABELS = {
    "day": "第几天",
    "at": "时间",
    "delay_minutes": "延迟分钟",
    "action": "动作",
    "title": "标题",
    "content_id": "内容",
    "body": "文案",
    "priority": "优先级",
    "due_hours": "完成时限",
    "add_tags": "打上标签",
    "remove_tags": "移除标签",
    "staff": "发布员工",
    "visible_tags": "可见标签",
}
# How many library items and tags the pickers list (newest content first).
PICKER_LIMIT = 500
ENROLL_LABELS = {
    "active": "进行中",
    "completed": "已完成",
    "exited": "已退出",
    "skipped": "激活前已符合（未加入）",
}


def field_words(field: str | None) -> str:
    """A server error's field in the editor's words: ``steps[2].content_id`` is 第 3 步 · 内容."""
    if not field:
        return ""
    m = _STEP_FIELD.match(field)
    if m:
        n, rest = int(m.group(1)) + 1, m.group(2)
        return f"第 {n} 步 · {FIELD_LABELS.get(rest, rest)}" if rest else f"第 {n} 步"
    if field.startswith("trigger"):
        return "触发条件"
    if field.startswith("exits"):
        return "退出条件"
    words = {
        "name": "名称",
        "subject": "计划对象",
        "audience": "人群条件",
        "steps": "步骤",
        "plan": "高级 JSON",
    }
    return words.get(field, field)


_STEP_FIELD = re.compile(r"^steps\[(\d+)\](?:\.(\w+))?$")


def _editor_options(db: Session, workspace_id: int) -> dict[str, Any]:
    """What the form editor offers: each subject's triggers, actions and exits, the
    content library and the workspace's tags (the server still checks every choice)."""
    contents = db.execute(
        select(ContentItem.id, ContentItem.kind, ContentItem.title)
        .where(ContentItem.workspace_id == workspace_id, ContentItem.deleted_at.is_(None))
        .order_by(ContentItem.id.desc())
        .limit(PICKER_LIMIT)
    ).all()
    tags = db.scalars(
        select(Tag.name)
        .where(Tag.workspace_id == workspace_id, Tag.deleted_at.is_(None))
        .order_by(Tag.name)
        .distinct()
        .limit(PICKER_LIMIT)
    ).all()
    return {
        "subjects": {
            "customer": {
                "label": SUBJECT_LABELS["customer"],
                "triggers": list(spec.TRIGGERS),
                "actions": list(spec.ACTIONS),
                "exits": list(spec.EXITS),
            },
            "group": {
                "label": SUBJECT_LABELS["group"],
                "triggers": list(spec.GROUP_TRIGGERS),
                "actions": list(spec.GROUP_ACTIONS),
                "exits": list(spec.GROUP_EXITS),
            },
        },
        "trigger_labels": TRIGGER_LABELS,
        "action_labels": ACTION_LABELS,
        "exit_labels": EXIT_LABELS,
        "contents": [{"id": i, "kind": k, "title": t} for i, k, t in contents],
        "tags": list(tags),
    }


@router.get("/sop", response_class=HTMLResponse)
def sop_list(request: Request, user: OperatorPage, db: DbSession) -> HTMLResponse:
    plans = [
        {
            **service.plan_dict(p),
            "counts": service.enrollment_counts(db, workspace_id=user.workspace_id, plan_id=p.id),
        }
        for p in service.list_plans(db, workspace_id=user.workspace_id)
    ]
    return render(
        request,
        "sop.html",
        {
            "plans": plans,
            "templates": TEMPLATES,
            "subject_labels": SUBJECT_LABELS,
            "status_labels": STATUS_LABELS,
            "trigger_labels": TRIGGER_LABELS,
            "enroll_labels": ENROLL_LABELS,
            "active": "/sop",
        },
    )


@router.post("/sop/from-template")
def sop_from_template(user: OperatorPage, db: DbSession, name: Annotated[str, Form()] = "") -> Response:
    try:
        plan = service.create_plan(
            db, workspace_id=user.workspace_id, data=PlanInput.from_dict(template(name)), actor=user.actor
        )
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/sop", f"无法创建：{exc.message}", "error")
    return redirect_with_flash(f"/sop/{plan.id}", f"已从模板创建草稿「{plan.name}」")


def _editor(
    request: Request,
    db: Session,
    user: Principal,
    plan_id: int,
    *,
    text: str | None = None,
    error: str | None = None,
    error_field: str | None = None,
) -> HTMLResponse:
    plan = service.get_plan(db, workspace_id=user.workspace_id, plan_id=plan_id)
    data = service.plan_dict(plan)
    keys = ("name", "subject", "description", "trigger", "audience", "steps", "exits")
    editable = {k: data[k] for k in keys}
    dry = (
        service.activate(
            db, workspace_id=user.workspace_id, plan_id=plan_id, enroll_existing=True, dry_run=True
        )
        if plan.status != "archived"
        else None
    )
    return render(
        request,
        "sop_plan.html",
        {
            "plan": data,
            "text": text if text is not None else json.dumps(editable, ensure_ascii=False, indent=2),
            "error": error,
            "error_field": error_field or "",
            "options": _editor_options(db, user.workspace_id),
            # which saved step a row is (its reach now is that step's), also after a move
            "saved_keys": [[s["day"], s.get("at"), s["action"], s["title"]] for s in plan.steps],
            "subject_labels": SUBJECT_LABELS,
            "preview": service.preview(db, workspace_id=user.workspace_id, plan_id=plan_id),
            "already_matching": dry.already_matching if dry else 0,
            "status_labels": STATUS_LABELS,
            "trigger_labels": TRIGGER_LABELS,
            "action_labels": ACTION_LABELS,
            "enroll_labels": ENROLL_LABELS,
            "active": "/sop",
        },
        status_code=422 if error else 200,
    )


@router.get("/sop/{plan_id}", response_class=HTMLResponse)
def sop_plan(plan_id: int, request: Request, user: OperatorPage, db: DbSession) -> HTMLResponse:
    return _editor(request, db, user, plan_id)


@router.post("/sop/{plan_id}")
def sop_save(
    plan_id: int, request: Request, user: OperatorPage, db: DbSession, plan: Annotated[str, Form()] = ""
) -> Response:
    """Save the edited plan (checked whole; an error names the field and saves nothing)."""
    try:
        try:
            data: Any = json.loads(plan)
        except ValueError as exc:
            raise Invalid(f"计划不是有效的 JSON：{exc}", field="plan") from None
        if isinstance(data, dict) and "template" not in data:
            # The editor does not show which template the plan came from: saving keeps it.
            data["template"] = service.get_plan(db, workspace_id=user.workspace_id, plan_id=plan_id).template
        service.update_plan(
            db,
            workspace_id=user.workspace_id,
            plan_id=plan_id,
            data=PlanInput.from_dict(data),
            actor=user.actor,
        )
    except SiyuError as exc:
        db.rollback()
        where = f"（{field_words(exc.field)}：{exc.field}）" if exc.field else ""
        return _editor(
            request, db, user, plan_id, text=plan, error=f"{exc.message}{where}", error_field=exc.field
        )
    return redirect_with_flash(f"/sop/{plan_id}", "已保存")


@router.post("/sop/{plan_id}/activate")
def sop_activate(
    plan_id: int, user: OperatorPage, db: DbSession, existing: Annotated[str, Form()] = ""
) -> Response:
    try:
        act = service.activate(
            db,
            workspace_id=user.workspace_id,
            plan_id=plan_id,
            enroll_existing=bool(existing),
            actor=user.actor,
        )
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash(f"/sop/{plan_id}", f"无法启动：{exc.message}", "error")
    how = (
        f"已加入 {act.enrolled:,} 位已符合的客户"
        if existing
        else f"{act.already_matching:,} 位已符合的客户不加入，只有之后触发的客户加入"
    )
    return redirect_with_flash(f"/sop/{plan_id}", f"计划已启动；{how}")


@router.post("/sop/{plan_id}/pause")
def sop_pause(plan_id: int, user: OperatorPage, db: DbSession) -> Response:
    try:
        service.set_status(
            db, workspace_id=user.workspace_id, plan_id=plan_id, status="paused", actor=user.actor
        )
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash(f"/sop/{plan_id}", f"无法暂停：{exc.message}", "error")
    return redirect_with_flash(f"/sop/{plan_id}", "已暂停：不再执行新的步骤")


@router.post("/sop/{plan_id}/copy")
def sop_copy(plan_id: int, user: OperatorPage, db: DbSession) -> Response:
    plan = service.copy_plan(db, workspace_id=user.workspace_id, plan_id=plan_id, actor=user.actor)
    return redirect_with_flash(f"/sop/{plan.id}", f"已复制为草稿「{plan.name}」")
