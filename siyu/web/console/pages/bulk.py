"""Bulk actions on the customer list: tag, untag or export the ticked rows or the whole result.

The list's bulk form posts either ticked ``customer_id`` values or ``scope=all`` with the
list's expression ``q`` (every customer it finds, within the user's scope). The work is
done by ``siyu.customers.selection``, as for the API and the CLI.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.selection import Selection, bulk_tag
from siyu.customers.tags import ensure_tag
from siyu.kit.errors import SiyuError
from siyu.models import Tag, TagGroup
from siyu.web.api.customer_bulk import caller_of, export_response
from siyu.web.auth import DbSession, PermissionDenied, Principal
from siyu.web.console.deps import ConsoleUser
from siyu.web.console.render import redirect_with_flash, tag_name_problem

router = APIRouter()
EXPORT_ROLES = ("owner", "admin", "operator")


def _back(q: str, message: str, kind: str = "ok") -> Response:
    return redirect_with_flash("/customers" + (f"?{urlencode({'q': q})}" if q else ""), message, kind)


def _selection(scope: str, q: str, ids: list[str]) -> Selection:
    if scope == "all":
        return Selection(box=q.strip()) if q.strip() else Selection(everyone=True)
    return Selection(customer_ids=tuple(int(i) for i in ids if i.strip().isdigit()))


def may_export(user: Principal) -> bool:
    return user.role in EXPORT_ROLES


def bulk_context(db: Session, user: Principal) -> dict[str, Any]:
    """What the customer list's bulk form needs: the live tags and what the user may do."""
    tags = [
        {"id": t.id, "name": t.name, "group": g.name}
        for t, g in db.execute(
            select(Tag, TagGroup)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(
                Tag.workspace_id == user.workspace_id, Tag.deleted_at.is_(None), TagGroup.deleted_at.is_(None)
            )
            .order_by(TagGroup.sort_order, TagGroup.id, Tag.sort_order, Tag.id)
        ).all()
    ]
    return {"bulk_tags": tags, "can_export": may_export(user), "can_full_phones": user.can_reveal_phone}


@router.post("/customers/bulk/tag")
def bulk_tag_page(
    user: ConsoleUser,
    db: DbSession,
    action: Annotated[str, Form()] = "tag",
    scope: Annotated[str, Form()] = "selected",
    q: Annotated[str, Form()] = "",
    customer_id: Annotated[list[str] | None, Form()] = None,
    tag_id: Annotated[str, Form()] = "",
    new_tag: Annotated[str, Form()] = "",
) -> Response:
    """Tag or untag the ticked customers, or every customer of the filter."""
    selection = _selection(scope, q, customer_id or [])
    if scope != "all" and not selection.customer_ids:
        return _back(q, "请先勾选客户，或选择「全部筛选结果」。", "error")
    remove = action == "untag"
    try:
        if new_tag.strip() and not remove:
            problem = tag_name_problem(new_tag, "")
            if problem:
                return _back(q, f"无法打标签：{problem}", "error")
            tag_ids = [ensure_tag(db, workspace_id=user.workspace_id, name=new_tag).id]
        elif tag_id.strip().isdigit():
            tag_ids = [int(tag_id)]
        else:
            return _back(q, "请选择一个标签。", "error")
        result = bulk_tag(db, caller_of(user), selection, tag_ids=tag_ids, remove=remove)
    except SiyuError as exc:
        db.rollback()
        return _back(q, f"{'移除' if remove else '打'}标签失败：{exc.message}", "error")
    tag = "、".join(f"「{t}」" for t in result.tags)
    if remove:
        message = f"已为 {result.customers:,} 位客户移除标签{tag}（{result.changed:,} 位原有此标签）"
    else:
        message = f"已为 {result.customers:,} 位客户打上标签{tag}（新增 {result.changed:,} 位）"
    return _back(q, message)


@router.post("/customers/bulk/export")
def bulk_export_page(
    user: ConsoleUser,
    db: DbSession,
    scope: Annotated[str, Form()] = "selected",
    q: Annotated[str, Form()] = "",
    customer_id: Annotated[list[str] | None, Form()] = None,
    format: Annotated[str, Form()] = "csv",
    phones: Annotated[str, Form()] = "masked",
) -> Response:
    """Download the ticked customers, or every customer of the filter, as CSV or XLSX."""
    if not may_export(user):
        raise PermissionDenied("你的角色不能导出客户")
    selection = _selection(scope, q, customer_id or [])
    if scope != "all" and not selection.customer_ids:
        return _back(q, "请先勾选客户，或选择「全部筛选结果」。", "error")
    try:
        return export_response(db, caller_of(user, via="console"), selection, format, phones == "full")
    except SiyuError as exc:
        db.rollback()
        return _back(q, f"导出失败：{exc.message}", "error")
