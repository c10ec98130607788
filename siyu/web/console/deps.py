"""Who is looking at a console page, and what happens when they may not.

The console uses the API's auth (``siyu.web.auth``): the same session cookie, roles and
customer data scope. Pages differ from the API only in how refusals look: a missing
login redirects to ``/login``, a refused role or a stale form shows a page in Chinese.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.kit.errors import NotFound, SiyuError
from siyu.models import Workspace
from siyu.web.auth import CsrfError, DbSession, OptionalUser, PermissionDenied, Principal, csrf_token
from siyu.web.auth.errors import Unauthenticated


class LoginRequired(Exception):
    """A console page was asked for without a valid session."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def mark_console(request: Request) -> None:
    """Router-level dependency: errors on console routes render as pages, not JSON."""
    request.state.console = True


def _workspace(db: Session, workspace_id: int) -> Workspace:
    ws = db.get(Workspace, workspace_id)
    if ws is None:  # the user row exists, so this only happens mid-deletion
        raise NotFound("workspace does not exist", field="workspace")
    return ws


async def console_user(request: Request, user: OptionalUser, db: DbSession) -> Principal:
    """The logged-in user of a console page; redirects to the login when there is none."""
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    ws = _workspace(db, user.workspace_id)
    request.state.console_user = user
    request.state.workspace_name = ws.name
    request.state.workspace_tz = ws.timezone
    return user


ConsoleUser = Annotated[Principal, Depends(console_user)]


def console_role(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A console dependency that lets only ``roles`` through (others get a 403 page)."""

    async def dependency(user: ConsoleUser) -> Principal:
        if user.role not in roles:
            raise PermissionDenied("你的角色无权查看此页面 (your role may not open this page)")
        return user

    return dependency


OperatorPage = Annotated[Principal, Depends(console_role("owner", "admin", "operator"))]
AdminPage = Annotated[Principal, Depends(console_role("owner", "admin"))]


def console_context(request: Request) -> dict[str, Any]:
    """What every page template gets: user, workspace, nav, CSRF token, charts flag."""
    from siyu.web.console.render import NAV, charts_available

    user: Principal | None = getattr(request.state, "console_user", None)
    nav = [
        (path, label)
        for path, label, roles in NAV
        if user is not None and (roles is None or user.role in roles)
    ]
    path = request.url.path
    active = next((p for p, _ in sorted(nav, key=lambda x: -len(x[0])) if path.startswith(p)), "/")
    return {
        "request": request,
        "user": user,
        "workspace_name": getattr(request.state, "workspace_name", ""),
        "tz": getattr(request.state, "workspace_tz", None),
        "nav": nav,
        "active": active,
        "csrf": csrf_token(request),
        "charts": charts_available(),
    }


_MESSAGES = {
    CsrfError: ("表单已过期", "页面已过期或并非来自本站（CSRF 校验失败），请刷新页面后重试。"),
    PermissionDenied: ("没有权限", "你的角色无权进行此操作。如需访问，请联系管理员。"),
    NotFound: ("未找到", "你要找的内容不存在，或你无权查看。"),
}


def install_handlers(app: FastAPI) -> None:
    """Render auth refusals on console routes as pages; elsewhere keep the JSON body."""
    from siyu.web.console.render import render

    async def _login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    async def _page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SiyuError)
        if not getattr(request.state, "console", False):
            # Same body as the app's SiyuError handler, which this one shadows per class.
            return JSONResponse(
                status_code=exc.status_code,
                content={"error": {"code": exc.code, "message": exc.message, "field": exc.field}},
                headers=getattr(exc, "headers", None),
            )
        title, text = next(
            (msg for cls, msg in _MESSAGES.items() if isinstance(exc, cls)), ("出错了", exc.message)
        )
        return render(
            request,
            "error.html",
            {"title": title, "text": text, "detail": exc.message},
            status_code=exc.status_code,
        )

    async def _unauthenticated(request: Request, exc: Exception) -> Response:
        if getattr(request.state, "console", False):
            return await _login_required(request, LoginRequired(request.url.path))
        return await _page_error(request, exc)

    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    for cls in (CsrfError, PermissionDenied, NotFound):
        app.add_exception_handler(cls, _page_error)
