"""登录会话: owners and admins see who is logged in to the console and end sessions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from siyu.kit import audit
from siyu.models import User, UserSession
from siyu.web.auth import DbSession, end_user_sessions, open_sessions
from siyu.web.console.deps import AdminPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, user: AdminPage, db: DbSession) -> HTMLResponse:
    """Open console sessions of the workspace, newest first (owners and admins)."""
    users = {u.id: u for u in db.scalars(select(User).where(User.workspace_id == user.workspace_id))}
    rows = [
        {"s": s, "user": users.get(s.user_id), "current": s.id == user.session_id}
        for s in open_sessions(db, workspace_id=user.workspace_id)
    ]
    return render(request, "sessions.html", {"rows": rows})


@router.post("/sessions/{session_id}/end")
def sessions_end(session_id: int, user: AdminPage, db: DbSession) -> Response:
    """End one session: its cookie stops working at once (the CSRF check ran in AdminPage)."""
    row = db.get(UserSession, session_id)
    owner = db.get(User, row.user_id) if row is not None and row.workspace_id == user.workspace_id else None
    if row is None or owner is None:
        return redirect_with_flash("/sessions", "该会话不存在或已结束。", "error")
    if owner.role == "owner" and user.role != "owner":
        return redirect_with_flash("/sessions", "只有所有者可以结束所有者的会话。", "error")
    if end_user_sessions(db, user_id=row.user_id, reason="admin", session_ids=[row.id]):
        audit.record(
            db,
            workspace_id=user.workspace_id,
            actor=user.actor,
            action="session.end",
            target_type="user",
            target_id=row.user_id,
            detail={"session_id": row.id},
        )
    if row.id == user.session_id:
        return redirect_with_flash("/login", "你已结束自己的会话，请重新登录。")
    return redirect_with_flash("/sessions", f"已结束 {owner.name} 的会话。")
