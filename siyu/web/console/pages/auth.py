"""Login and logout pages (the API's auth: argon2 passwords, signed cookie, CSRF)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.kit.db import session_scope
from siyu.models import Workspace
from siyu.web.auth import (
    DbSession,
    OptionalUser,
    RateLimited,
    Unauthenticated,
    client_ip,
    csrf_token,
    end_session,
    logout_session,
    password_login,
    read_session,
    valid_csrf,
)
from siyu.web.console.deps import ConsoleUser
from siyu.web.console.render import secure_page, templates

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only local paths: a login link must not bounce the user to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    # Browsers drop tabs and newlines from URLs, so "/\t/evil.example" would become "//…".
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return "/"
    return target


def _workspace_count(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(Workspace)) or 0)


def _login_page(
    request: Request,
    *,
    error: str | None = None,
    name: str = "",
    workspace: str = "",
    next_path: str = "/",
    status_code: int = 200,
) -> Response:
    with session_scope() as db:
        several = _workspace_count(db) > 1
    # The pre-login CSRF cookie goes on the page's response when the browser has none yet.
    carrier = Response()
    token = csrf_token(request, carrier)
    response = templates().TemplateResponse(
        request,
        "console/login.html",
        {
            "error": error,
            "name": name,
            "workspace": workspace or get_settings().default_workspace,
            "ask_workspace": several,
            "next": next_path,
            "csrf": token,
        },
        status_code=status_code,
    )
    response.raw_headers.extend(h for h in carrier.raw_headers if h[0] == b"set-cookie")
    secure_page(response)
    return response


@router.get("/login")
def login_form(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    """The login form (already logged in: straight to the page asked for)."""
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next_path=_safe_next(next))


@router.post("/login")
def login_submit(
    request: Request,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    workspace: Annotated[str, Form()] = "",
    csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the CSRF token and the password; set the session cookie on success."""
    next_path = _safe_next(next)
    again = {"name": name, "workspace": workspace, "next_path": next_path}
    if not valid_csrf(request, csrf_token_field):
        return _login_page(request, error="页面已过期，请重新输入后登录。", status_code=403, **again)
    if not name.strip() or not password:
        return _login_page(request, error="请输入用户名和密码。", status_code=422, **again)
    slug = workspace.strip() or get_settings().default_workspace
    response = RedirectResponse(next_path, status_code=303)
    try:
        password_login(
            response, request=request, workspace=slug, name=name, password=password, ip=client_ip(request)
        )
    except RateLimited as exc:
        minutes = (exc.retry_after + 59) // 60
        return _login_page(
            request, error=f"登录失败次数过多，请 {minutes} 分钟后再试。", status_code=429, **again
        )
    except Unauthenticated:
        return _login_page(request, error="用户名或密码错误。", status_code=401, **again)
    return response


@router.post("/logout")
def logout(request: Request, user: ConsoleUser, db: DbSession) -> Response:
    """End the console session on the server (the CSRF check ran in the user dependency)."""
    del user
    data = read_session(request)
    if data is not None:
        end_session(db, data.sid, reason="logout")
    response = RedirectResponse("/login", status_code=303)
    logout_session(response, request)
    return response
