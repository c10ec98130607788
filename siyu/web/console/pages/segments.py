"""Segments: an expression editor with live count and preview, and saved segments.

Operators and above only: a segment counts the whole workspace, which a staff user's
data scope does not cover.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from siyu.kit.errors import Conflict, Invalid, NotFound, SiyuError
from siyu.kit.money import format_fen
from siyu.models import Segment
from siyu.segments import audience
from siyu.segments.audience import saved
from siyu.web.auth import DbSession, Principal
from siyu.web.console.deps import OperatorPage
from siyu.web.console.pages.customers import MAX_EXPRESSION, expression_error
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()
MAX_NAME = 100


def _segments(db: Session, workspace_id: int) -> list[Segment]:
    return list(saved.list_segments(db, workspace_id=workspace_id))


@router.get("/segments", response_class=HTMLResponse)
def segments_page(request: Request, user: OperatorPage, db: DbSession, q: str = "") -> HTMLResponse:
    """The editor (prefilled from ``?q=``) and the saved segments."""
    return render(request, "segments.html", {"q": q.strip(), "segments": _segments(db, user.workspace_id)})


@router.get("/segments/preview")
def segments_preview(user: OperatorPage, db: DbSession, q: str = "", limit: int = 20) -> JSONResponse:
    """Count and the first customers of an expression (phones masked), for the editor."""
    q = q.strip()
    if not q:
        return JSONResponse({"error": {"message": "请输入表达式", "column": None, "expected": None}}, 422)
    if len(q) > MAX_EXPRESSION:
        return JSONResponse(
            {
                "error": {
                    "message": f"表达式过长（最多 {MAX_EXPRESSION} 个字符）",
                    "column": None,
                    "expected": None,
                }
            },
            422,
        )
    try:
        result = audience.preview(db, workspace_id=user.workspace_id, expr=q, limit=max(1, min(limit, 50)))
    except SiyuError as exc:
        return JSONResponse({"error": expression_error(exc)}, status_code=422)
    return JSONResponse(
        {
            "count": result.count,
            "warnings": list(result.warnings),
            "rows": [
                {
                    "id": r.id,
                    "name": r.name or f"客户 #{r.id}",
                    "phone": r.phone_masked or "—",
                    "city": r.city or r.province or "—",
                    "net": format_fen(r.net_fen),
                    "orders": r.orders,
                    "tags": r.tags[:5],
                }
                for r in result.rows
            ],
        }
    )


def save_segment(
    db: Session, user: Principal, *, name: str, expression: str, description: str
) -> tuple[Segment, bool]:
    """Create or replace the segment ``name`` through the one save path; (segment, created)."""
    if not name.strip():
        raise Invalid("请给人群起个名字", field="name")
    if len(name.strip()) > MAX_NAME:
        raise Invalid(f"人群名称最多 {MAX_NAME} 个字符", field="name")
    created = name.strip() not in {s.name for s in saved.list_segments(db, workspace_id=user.workspace_id)}
    seg, _ = saved.save_segment(
        db,
        workspace_id=user.workspace_id,
        name=name,
        expression=expression,
        description=description.strip() or None,
        replace=True,
        actor=user.actor,
    )
    return seg, created


@router.post("/segments")
def segments_save(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    name: Annotated[str, Form()] = "",
    expression: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    """Save the expression under a name (an existing name is updated)."""
    try:
        seg, created = save_segment(db, user, name=name, expression=expression, description=description)
    except SiyuError as exc:
        db.rollback()
        return render(
            request,
            "segments.html",
            {
                "q": expression.strip(),
                "name": name,
                "description": description,
                "save_error": expression_error(exc),
                "segments": _segments(db, user.workspace_id),
            },
            status_code=422,
        )
    verb = "已保存" if created else "已更新"
    return redirect_with_flash("/segments", f"{verb}人群「{seg.name}」（{seg.last_count} 人）")


@router.post("/segments/{segment_id}/delete")
def segments_delete(segment_id: int, user: OperatorPage, db: DbSession) -> Response:
    """Delete a saved segment (audited; refused while other segments or rules use it)."""
    try:
        seg = saved.segment_by_id(db, workspace_id=user.workspace_id, segment_id=segment_id)
        name = seg.name
        saved.delete_segment(db, workspace_id=user.workspace_id, name=name, actor=user.actor)
    except NotFound:
        return redirect_with_flash("/segments", "这个人群不存在或已删除。", "error")
    except Conflict as exc:
        return redirect_with_flash("/segments", f"无法删除：{exc.message}", "error")
    return redirect_with_flash("/segments", f"已删除人群「{name}」")
