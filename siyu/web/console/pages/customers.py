"""Customer list (search box: name, phone digits or audience; live count; pagination) and
the customer profile. Reads go through the customers domain's read models."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from siyu.automation.sop.service import customer_enrollments
from siyu.customers import search
from siyu.customers.tags import add_tags, ensure_tag, live_tags, remove_tags
from siyu.kit.errors import Invalid, NotFound, SiyuError
from siyu.kit.events import record_event
from siyu.kit.timeutil import utcnow
from siyu.segments.audience import scoped
from siyu.web.auth import DbSession, visible_customer
from siyu.web.console.customer_data import (
    EVENT_LABELS,
    PAGE_SIZE,
    PLATFORM_LABELS,
    SORTS,
    STATUS_LABELS,
    list_page,
    profile,
)
from siyu.web.console.deps import ConsoleUser
from siyu.web.console.labels import expression_expected, expression_problem
from siyu.web.console.pages.bulk import bulk_context
from siyu.web.console.queries import LAYER_LABELS, RFM_LABELS
from siyu.web.console.render import redirect_with_flash, render, tag_name_problem

router = APIRouter()
MAX_EXPRESSION = 2000


def expression_error(exc: SiyuError) -> dict[str, Any]:
    """An audience error as the page shows it: message, column and what would fit."""
    return {
        "message": expression_problem(exc.message),
        "column": getattr(exc, "column", None),
        "expected": expression_expected(getattr(exc, "expected", None)),
    }


def _check_length(q: str) -> None:
    if len(q) > MAX_EXPRESSION:
        raise Invalid(f"表达式过长（最多 {MAX_EXPRESSION} 个字符）", field="q")


@router.get("/customers", response_class=HTMLResponse)
def customers_page(
    request: Request,
    user: ConsoleUser,
    db: DbSession,
    q: str = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    sort: str = "new",
) -> HTMLResponse:
    """All customers the user may see; the box takes a name, a phone's last four digits
    or an audience expression."""
    q = q.strip()
    sort = sort if sort in SORTS else "new"
    error: dict[str, Any] | None = None
    warnings: list[str] = []
    rows: list[Any] = []
    total = 0
    try:
        _check_length(q)
        found = list_page(db, user, q=q, page=page, sort=sort)
        rows, total, warnings = found.rows, found.total, [expression_problem(w) for w in found.warnings]
    except SiyuError as exc:
        error = expression_error(exc)
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)

    def page_url(n: int) -> str:
        params: dict[str, str | int] = {"q": q} if q else {}
        if sort != "new":
            params["sort"] = sort
        params["page"] = n
        return "/customers?" + urlencode(params)

    return render(
        request,
        "customers.html",
        {
            "q": q,
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "page_url": page_url,
            "sort": sort,
            "sorts": SORTS,
            "error": error,
            "warnings": warnings,
            "layer_labels": LAYER_LABELS,
            "rfm_labels": RFM_LABELS,
            **bulk_context(db, user),
        },
        status_code=422 if error else 200,
    )


@router.get("/customers/count")
def customers_count(user: ConsoleUser, db: DbSession, q: str = "") -> JSONResponse:
    """Live count for the search box: ``{"count", "warnings"}`` or an error with its column.

    An audience expression is counted by ``audience.scoped.count``, the count of the CLI
    and the API; a name or phone digits by the customer list's own count.
    """
    q = q.strip()
    try:
        _check_length(q)
        if search.read(q).kind == "audience":
            counted = scoped.count(db, user, q)
            warned = [expression_problem(w) for w in counted.warnings]
            return JSONResponse({"count": counted.count, "warnings": warned})
        found = list_page(db, user, q=q, page=1)
    except SiyuError as exc:
        return JSONResponse({"error": expression_error(exc)}, status_code=422)
    return JSONResponse({"count": found.total, "warnings": found.warnings})


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, customer_id: int, user: ConsoleUser, db: DbSession) -> HTMLResponse:
    """One customer's profile: identities (masked), tags, orders, stats, layers, CLV, timeline."""
    p = profile(db, user, customer_id)
    return render(
        request,
        "customer.html",
        {
            "p": p,
            "layer_labels": LAYER_LABELS,
            "rfm_labels": RFM_LABELS,
            "status_labels": STATUS_LABELS,
            "platform_labels": PLATFORM_LABELS,
            "event_labels": EVENT_LABELS,
            "can_reveal": user.can_reveal_phone,
            "sop": customer_enrollments(db, workspace_id=user.workspace_id, customer_id=p.customer.id),
        },
    )


def _back(customer_id: int, message: str, kind: str = "ok") -> Response:
    return redirect_with_flash(f"/customers/{customer_id}#tags", message, kind)


@router.post("/customers/{customer_id}/tags")
def add_tag(
    customer_id: int,
    user: ConsoleUser,
    db: DbSession,
    tag_id: Annotated[str, Form()] = "",
    new_tag: Annotated[str, Form()] = "",
    group: Annotated[str, Form()] = "",
) -> Response:
    """Tag the customer with an existing tag, or a new one created on the spot."""
    customer = visible_customer(db, user, customer_id)
    try:
        if new_tag.strip():
            problem = tag_name_problem(new_tag, group)
            if problem:
                return _back(customer.id, f"无法添加标签：{problem}", "error")
            tag = ensure_tag(
                db, workspace_id=user.workspace_id, name=new_tag, group_name=group.strip() or "默认"
            )
        elif tag_id.strip().isdigit():
            try:
                (tag,) = live_tags(db, workspace_id=user.workspace_id, tag_ids=[int(tag_id)], field="tag_id")
            except NotFound:
                raise NotFound("这个标签不存在或已删除", field="tag_id") from None
        else:
            return _back(customer.id, "请选择一个标签，或输入新标签名。", "error")
    except SiyuError as exc:
        return _back(customer.id, f"无法添加标签：{exc.message}", "error")
    added = add_tags(
        db,
        workspace_id=user.workspace_id,
        customer_ids=[customer.id],
        tag_ids=[tag.id],
        source="manual",
        source_ref=user.actor,
        staff_id=user.staff_id,
    )
    if added:
        record_event(
            db,
            workspace_id=user.workspace_id,
            kind="tag.add",
            occurred_at=utcnow(),
            source="console",
            customer_id=customer.id,
            staff_id=user.staff_id,
            payload={"tag": tag.name, "tag_id": tag.id, "by": user.actor},
        )
        return _back(customer.id, f"已添加标签「{tag.name}」")
    return _back(customer.id, f"客户已有标签「{tag.name}」")


@router.post("/customers/{customer_id}/tags/{tag_id}/remove")
def remove_tag(customer_id: int, tag_id: int, user: ConsoleUser, db: DbSession) -> Response:
    """Take one tag off the customer."""
    customer = visible_customer(db, user, customer_id)
    try:
        (tag,) = live_tags(db, workspace_id=user.workspace_id, tag_ids=[tag_id], field="tag_id")
    except NotFound:
        raise NotFound("这个标签不存在", field="tag_id") from None
    removed = remove_tags(db, workspace_id=user.workspace_id, customer_ids=[customer.id], tag_ids=[tag.id])
    if removed:
        record_event(
            db,
            workspace_id=user.workspace_id,
            kind="tag.remove",
            occurred_at=utcnow(),
            source="console",
            customer_id=customer.id,
            staff_id=user.staff_id,
            payload={"tag": tag.name, "tag_id": tag.id, "by": user.actor},
        )
    return _back(customer.id, f"已移除标签「{tag.name}」")


@router.post("/customers/{customer_id}/opt-out")
def opt_out(
    customer_id: int,
    user: ConsoleUser,
    db: DbSession,
    opt_out: Annotated[str, Form()] = "1",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Record the customer's refusal (or renewed consent) of automated marketing (PIPL)."""
    from siyu.privacy.service import set_opt_out

    customer = visible_customer(db, user, customer_id)
    wanted = opt_out == "1"
    try:
        set_opt_out(
            db,
            workspace_id=user.workspace_id,
            customer_id=customer.id,
            opt_out=wanted,
            actor=user.actor,
            reason=reason.strip() or None,
        )
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash(f"/customers/{customer.id}", f"无法更改营销订阅：{exc.message}", "error")
    message = "已为客户退订自动营销" if wanted else "已恢复客户的营销订阅"
    return redirect_with_flash(f"/customers/{customer.id}", message)
