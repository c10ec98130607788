"""Auto-tag rules (自动标签) in the console: list, create, edit, switch, apply, delete.

The editor counts the customers an expression finds as you type; saving, switching and
applying go through ``siyu.segments.rules`` (what ``siyu segments rules ...`` calls),
so the console and the CLI change rules the same way, audited. Operators and above:
a rule tags across the whole workspace.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from siyu.kit.errors import SiyuError
from siyu.models import AutoTagRule
from siyu.segments import rules as rules_service
from siyu.segments.audience.query import count_with_warnings
from siyu.web.auth import DbSession, Principal
from siyu.web.console.deps import OperatorPage
from siyu.web.console.labels import expression_problem
from siyu.web.console.pages.customers import MAX_EXPRESSION, expression_error
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()


def _tag_list(text: str) -> list[str]:
    """Tags as typed: separated by commas (either width), 、 or new lines."""
    for sep in ("，", "、", "\n", ";", "；"):
        text = text.replace(sep, ",")
    return [t.strip() for t in text.split(",") if t.strip()]


def _page(
    request: Request, db: Session, user: Principal, *, form: dict[str, Any] | None = None, error: Any = None
) -> HTMLResponse:
    rules = list(rules_service.list_rules(db, workspace_id=user.workspace_id))
    edit_id = (form or {}).get("rule_id")
    return render(
        request,
        "rules.html",
        {"rules": rules, "form": form or {}, "editing": edit_id, "save_error": error},
        status_code=422 if error else 200,
    )


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: OperatorPage, db: DbSession, edit: int | None = None) -> HTMLResponse:
    """The rules in the order they apply, and the editor (``?edit=<id>`` loads one)."""
    form: dict[str, Any] = {}
    if edit is not None:
        rule = db.get(AutoTagRule, edit)
        if rule is not None and rule.workspace_id == user.workspace_id:
            form = {
                "rule_id": rule.id,
                "name": rule.name,
                "expression": rule.expression,
                "add": "，".join(rule.add_tags),
                "remove": "，".join(rule.remove_tags),
            }
    return _page(request, db, user, form=form)


@router.get("/rules/count")
def rules_count(user: OperatorPage, db: DbSession, q: str = "") -> JSONResponse:
    """Live count for the editor: customers the expression finds now."""
    q = q.strip()
    if not q:
        return JSONResponse({"error": {"message": "请输入表达式", "column": None, "expected": None}}, 422)
    if len(q) > MAX_EXPRESSION:
        message = f"表达式过长（最多 {MAX_EXPRESSION} 个字符）"
        return JSONResponse({"error": {"message": message, "column": None, "expected": None}}, 422)
    try:
        n, warnings = count_with_warnings(db, workspace_id=user.workspace_id, expr=q)
    except SiyuError as exc:
        return JSONResponse({"error": expression_error(exc)}, status_code=422)
    return JSONResponse({"count": n, "warnings": [expression_problem(w) for w in warnings]})


@router.post("/rules")
def rules_save(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    name: Annotated[str, Form()] = "",
    expression: Annotated[str, Form()] = "",
    add: Annotated[str, Form()] = "",
    remove: Annotated[str, Form()] = "",
    rule_id: Annotated[str, Form()] = "",
    apply_now: Annotated[str, Form()] = "",
) -> Response:
    """Create a rule, or save the one being edited; optionally apply it at once."""
    form: dict[str, Any] = {"name": name, "expression": expression, "add": add, "remove": remove}
    if rule_id.isdigit():
        form["rule_id"] = int(rule_id)
    try:
        if rule_id.isdigit():
            rule, warnings = rules_service.update_rule(
                db,
                workspace_id=user.workspace_id,
                rule_id=int(rule_id),
                name=name,
                expression=expression,
                add=_tag_list(add),
                remove=_tag_list(remove),
                actor=user.actor,
            )
        else:
            rule, warnings = rules_service.add_rule(
                db,
                workspace_id=user.workspace_id,
                name=name,
                expression=expression,
                add=_tag_list(add),
                remove=_tag_list(remove),
                actor=user.actor,
            )
        message = f"已保存规则「{rule.name}」"
        if apply_now:
            (result,) = rules_service.apply_rules(db, workspace_id=user.workspace_id, names=[rule.name])
            message += (
                f"并执行：符合 {result.matched:,} 位，新打标签 {result.added:,}，移除 {result.removed:,}"
            )
    except SiyuError as exc:
        db.rollback()
        return _page(request, db, user, form=form, error=expression_error(exc))
    if warnings:
        message += "（注意：" + "；".join(expression_problem(w) for w in warnings) + "）"
    return redirect_with_flash("/rules", message)


def _rule(db: Session, user: Principal, rule_id: int) -> AutoTagRule | None:
    rule = db.get(AutoTagRule, rule_id)
    return rule if rule is not None and rule.workspace_id == user.workspace_id else None


@router.post("/rules/{rule_id}/toggle")
def rules_toggle(rule_id: int, user: OperatorPage, db: DbSession) -> Response:
    """Switch a rule on or off (its tags stay)."""
    rule = _rule(db, user, rule_id)
    if rule is None:
        return redirect_with_flash("/rules", "这条规则不存在或已删除。", "error")
    rules_service.set_enabled(
        db, workspace_id=user.workspace_id, name=rule.name, enabled=not rule.enabled, actor=user.actor
    )
    return redirect_with_flash("/rules", f"已{'启用' if rule.enabled else '停用'}规则「{rule.name}」")


@router.post("/rules/{rule_id}/apply")
def rules_apply(rule_id: int, user: OperatorPage, db: DbSession) -> Response:
    """Apply one rule now (also when switched off)."""
    rule = _rule(db, user, rule_id)
    if rule is None:
        return redirect_with_flash("/rules", "这条规则不存在或已删除。", "error")
    (r,) = rules_service.apply_rules(db, workspace_id=user.workspace_id, names=[rule.name])
    return redirect_with_flash(
        "/rules",
        f"已执行规则「{rule.name}」：符合 {r.matched:,} 位，新打标签 {r.added:,}，移除 {r.removed:,}",
    )


@router.post("/rules/{rule_id}/delete")
def rules_delete(
    rule_id: int, user: OperatorPage, db: DbSession, keep_tags: Annotated[str, Form()] = ""
) -> Response:
    """Delete a rule and (unless kept) the tags it added."""
    rule = _rule(db, user, rule_id)
    if rule is None:
        return redirect_with_flash("/rules", "这条规则不存在或已删除。", "error")
    name = rule.name
    removed = rules_service.delete_rule(
        db, workspace_id=user.workspace_id, name=name, keep_tags=bool(keep_tags), actor=user.actor
    )
    return redirect_with_flash("/rules", f"已删除规则「{name}」，移除了它打上的 {removed:,} 个标签")
