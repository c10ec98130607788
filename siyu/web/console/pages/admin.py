"""Tags, staff capacity, WeCom connection status and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from siyu.customers.tags import ensure_tag
from siyu.kit import audit
from siyu.kit.errors import SiyuError
from siyu.models import CustomerTag, Tag, TagGroup
from siyu.web.auth import DbSession
from siyu.web.console.deps import AdminPage, ConsoleUser, OperatorPage
from siyu.web.console.queries import (
    CAPACITY_WARNING,
    audit_actions,
    audit_page,
    scoped_customer_ids,
    staff_rows,
    user_names,
    wecom_status,
)
from siyu.web.console.render import redirect_with_flash, render, tag_name_problem

router = APIRouter()
AUDIT_PAGE_SIZE = 50


@router.get("/tags", response_class=HTMLResponse)
def tags_page(request: Request, user: ConsoleUser, db: DbSession) -> HTMLResponse:
    """Tag groups and tags with how many customers carry each."""
    count_stmt = select(CustomerTag.tag_id, func.count()).where(CustomerTag.workspace_id == user.workspace_id)
    if not user.sees_all_customers:
        # Staff count only the customers in their scope, as everywhere else.
        count_stmt = count_stmt.where(CustomerTag.customer_id.in_(scoped_customer_ids(user)))
    counts = dict(db.execute(count_stmt.group_by(CustomerTag.tag_id)).all())
    groups: dict[int, dict[str, object]] = {}
    for tag, group in db.execute(
        select(Tag, TagGroup)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(Tag.workspace_id == user.workspace_id, Tag.deleted_at.is_(None), TagGroup.deleted_at.is_(None))
        .order_by(TagGroup.sort_order, TagGroup.id, Tag.sort_order, Tag.id)
    ).all():
        entry = groups.setdefault(group.id, {"name": group.name, "wecom": group.wecom_group_id, "tags": []})
        entry["tags"].append(  # type: ignore[attr-defined]
            {"id": tag.id, "name": tag.name, "wecom": tag.wecom_tag_id, "count": int(counts.get(tag.id, 0))}
        )
    can_edit = user.role in ("owner", "admin", "operator")
    return render(request, "tags.html", {"groups": list(groups.values()), "can_edit": can_edit})


@router.post("/tags")
def tags_create(
    user: OperatorPage,
    db: DbSession,
    name: Annotated[str, Form()] = "",
    group: Annotated[str, Form()] = "",
) -> Response:
    """Create a tag (and its group when new)."""
    problem = tag_name_problem(name, group)
    if problem:
        return redirect_with_flash("/tags", f"无法创建标签：{problem}", "error")
    try:
        tag = ensure_tag(db, workspace_id=user.workspace_id, name=name, group_name=group.strip() or "默认")
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/tags", f"无法创建标签：{exc.message}", "error")
    audit.record(
        db,
        workspace_id=user.workspace_id,
        actor=user.actor,
        action="tag.create",
        target_type="tag",
        target_id=tag.id,
        detail={"name": tag.name, "group": group.strip() or "默认"},
    )
    return redirect_with_flash("/tags", f"已创建标签「{tag.name}」")


@router.get("/staff", response_class=HTMLResponse)
def staff_page(request: Request, user: ConsoleUser, db: DbSession) -> HTMLResponse:
    """Staff accounts with friends against the per-account friend limit."""
    rows = staff_rows(db, user)
    return render(
        request,
        "staff.html",
        {
            "rows": rows,
            "threshold": CAPACITY_WARNING,
            "near": [r for r in rows if r.near_capacity and r.status == "active"],
        },
    )


@router.get("/wecom", response_class=HTMLResponse)
def wecom_page(request: Request, user: OperatorPage, db: DbSession) -> HTMLResponse:
    """The WeCom connection (no secrets shown), recent syncs and the callback inbox."""
    return render(request, "wecom.html", {"s": wecom_status(db, user.workspace_id)})


@router.get("/audit", response_class=HTMLResponse)
def audit_log_page(
    request: Request,
    user: AdminPage,
    db: DbSession,
    action: str = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Who did what, newest first (owners and admins)."""
    rows, total = audit_page(
        db, user.workspace_id, action=action or None, page=page, page_size=AUDIT_PAGE_SIZE
    )
    pages = max(1, (total + AUDIT_PAGE_SIZE - 1) // AUDIT_PAGE_SIZE)
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "action": action,
            "actions": audit_actions(db, user.workspace_id),
            "user_names": user_names(db, user.workspace_id),
        },
    )
