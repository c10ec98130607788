"""Keyword rules (关键词规则), sensitive words and alerts (预警) in the console.

Rules and words go through ``siyu.automation.keywords`` (what ``siyu keywords ...`` and
``/api/v1/keyword-rules`` call), audited. Operators and above read and edit; the boss
(owner, admin) marks alerts as dealt with.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from siyu.automation.keywords import alerts as alerts_service
from siyu.automation.keywords import rules as rules_service
from siyu.customers.fields import list_fields
from siyu.kit.errors import SiyuError
from siyu.web.auth import DbSession, Principal
from siyu.web.console.deps import OperatorPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()


def _lines(text: str) -> list[str]:
    return [t for t in (line.strip() for line in text.replace("\r", "").split("\n")) if t]


def _tags(text: str) -> list[str]:
    for sep in ("，", "、", ";", "；", "\n"):
        text = text.replace(sep, ",")
    return [t.strip() for t in text.split(",") if t.strip()]


def _page(
    request: Request,
    db: Session,
    user: Principal,
    *,
    form: dict[str, Any] | None = None,
    error: SiyuError | None = None,
) -> HTMLResponse:
    ws = user.workspace_id
    return render(
        request,
        "keywords.html",
        {
            "rules": rules_service.list_rules(db, workspace_id=ws),
            "words": alerts_service.list_words(db, workspace_id=ws),
            "alerts": alerts_service.list_alerts(db, workspace_id=ws, limit=50),
            "open_alerts": alerts_service.open_count(db, workspace_id=ws),
            "fields": list_fields(db, workspace_id=ws),
            "form": form or {"match": "contains", "sources": list(rules_service.SOURCES)},
            "error": error,
            "may_ack": user.role in ("owner", "admin"),
        },
        status_code=422 if error else 200,
    )


@router.get("/keywords", response_class=HTMLResponse)
def keywords_page(request: Request, user: OperatorPage, db: DbSession) -> HTMLResponse:
    """Rules, sensitive words and the latest alerts."""
    return _page(request, db, user)


@router.post("/keywords")
def keywords_save(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    name: Annotated[str, Form()] = "",
    match: Annotated[str, Form()] = "contains",
    keywords: Annotated[str, Form()] = "",
    sources: Annotated[list[str] | None, Form()] = None,
    tags: Annotated[str, Form()] = "",
    field: Annotated[str, Form()] = "",
    field_value: Annotated[str, Form()] = "",
    reply: Annotated[str, Form()] = "",
    task: Annotated[str, Form()] = "",
    priority: Annotated[int, Form()] = 0,
    cooldown_min: Annotated[int, Form()] = 0,
    stop: Annotated[str, Form()] = "",
) -> Response:
    """Create a rule; refused with the reason (which keyword, where in the regex)."""
    form = {
        "name": name,
        "match": match,
        "keywords": keywords,
        "sources": sources or [],
        "tags": tags,
        "field": field,
        "field_value": field_value,
        "reply": reply,
        "task": task,
        "priority": priority,
        "cooldown_min": cooldown_min,
        "stop": bool(stop),
    }
    data = rules_service.RuleInput(
        name=name,
        match=match,
        keywords=_lines(keywords) or ([""] if keywords else []),
        sources=sources or [],
        tags=_tags(tags),
        field_key=field or None,
        field_value=field_value,
        reply=reply,
        task=task,
        priority=priority,
        stop=bool(stop),
        cooldown_s=max(0, cooldown_min) * 60,
    )
    try:
        rule = rules_service.create_rule(db, workspace_id=user.workspace_id, data=data, actor=user.actor)
    except SiyuError as exc:
        db.rollback()
        return _page(request, db, user, form=form, error=exc)
    return redirect_with_flash("/keywords", f"已保存关键词规则「{rule.name}」")


@router.post("/keywords/{rule_id}/toggle")
def keywords_toggle(rule_id: int, user: OperatorPage, db: DbSession) -> Response:
    try:
        rule = rules_service.get_rule(db, workspace_id=user.workspace_id, rule_id=rule_id)
    except SiyuError:
        return redirect_with_flash("/keywords", "这条规则不存在或已删除。", "error")
    data = rules_service.RuleInput(
        name=rule.name,
        match=rule.match,
        keywords=list(rule.keywords),
        sources=list(rule.sources),
        tags=list(rule.actions.get("tags", [])),
        field_key=(rule.actions.get("field") or {}).get("key"),
        field_value=(rule.actions.get("field") or {}).get("value"),
        reply=rule.actions.get("reply"),
        reply_content_id=rule.actions.get("reply_content_id"),
        task=rule.actions.get("task"),
        priority=rule.priority,
        stop=rule.stop,
        cooldown_s=rule.cooldown_s,
        enabled=not rule.enabled,
    )
    rules_service.update_rule(
        db, workspace_id=user.workspace_id, rule_id=rule_id, data=data, actor=user.actor
    )
    return redirect_with_flash("/keywords", f"已{'启用' if data.enabled else '停用'}规则「{rule.name}」")


@router.post("/keywords/{rule_id}/delete")
def keywords_delete(rule_id: int, user: OperatorPage, db: DbSession) -> Response:
    try:
        rules_service.delete_rule(db, workspace_id=user.workspace_id, rule_id=rule_id, actor=user.actor)
    except SiyuError:
        return redirect_with_flash("/keywords", "这条规则不存在或已删除。", "error")
    return redirect_with_flash("/keywords", "已删除规则")


@router.post("/keywords/words")
def keywords_words(
    user: OperatorPage, db: DbSession, words: Annotated[str, Form()] = "", remove: Annotated[str, Form()] = ""
) -> Response:
    """Add the words typed (one a line or comma-separated), or remove one."""
    if remove:
        alerts_service.remove_words(db, workspace_id=user.workspace_id, words=[remove], actor=user.actor)
        return redirect_with_flash("/keywords", f"已删除敏感词「{remove}」")
    try:
        added = alerts_service.add_words(
            db, workspace_id=user.workspace_id, words=_tags(words), actor=user.actor
        )
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/keywords", f"没有保存：{exc.message}", "error")
    return redirect_with_flash("/keywords", f"已添加 {len(added)} 个敏感词")


@router.post("/keywords/alerts/{alert_id}/ack")
def keywords_ack(
    alert_id: int, user: OperatorPage, db: DbSession, note: Annotated[str, Form()] = ""
) -> Response:
    if user.role not in ("owner", "admin"):
        return redirect_with_flash("/keywords", "只有所有者和管理员可以处理预警。", "error")
    try:
        alerts_service.ack_alert(
            db, workspace_id=user.workspace_id, alert_id=alert_id, actor=user.actor, note=note
        )
    except SiyuError:
        return redirect_with_flash("/keywords", "这条预警不存在或已处理。", "error")
    return redirect_with_flash("/keywords", "已标记为已处理")
