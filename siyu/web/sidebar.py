"""The chat sidebar (聊天工具栏): the page WeCom opens beside a chat, and its JSON API.

``/sidebar/<workspace>/`` is the URL an admin enters in the WeCom admin console (the
app's 聊天工具栏 page, on the app's trusted domain). Flow:

1. no sidebar cookie: redirect to WeCom OAuth2 (``snsapi_base``, silent); WeCom sends
   the member back with ``code``; ``auth/getuserinfo`` gives the userid; siyu finds the
   staff account and sets a signed cookie for this workspace's sidebar path;
2. the page asks ``api/config`` for the ``agentConfig`` signature of its own URL (the
   agent jsapi ticket cached 7,200 s), registers with ``ww.register`` (@wecom/jssdk) or
   ``wx.agentConfig`` (classic), reads ``getContext`` and the current contact or chat,
   and loads the card; scripts are sent with ``sendChatMessage``.

A failure names its step (``oauth``, ``permission``, ``signature``, ``domain``,
``jssdk``, ``context``) on the page. The JS-SDK is served from ``/static/vendor/wecom/``
(vendored, never a CDN); ``/static/sidebar/sidebar.js`` is siyu's own shim over both APIs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.customers import card
from siyu.kit.errors import Forbidden, NotFound, SiyuError
from siyu.models import Staff, Workspace
from siyu.staff.service import find_staff
from siyu.web.api.common import Id
from siyu.web.auth import DbSession
from siyu.web.console.render import templates
from siyu.wecom import jssdk
from siyu.wecom.gateway import client_for
from siyu.wecom.settings import AppConfig, resolve_app

router = APIRouter(prefix="/sidebar", include_in_schema=False)
VERIFY_NAME = re.compile(r"^WW_verify_[A-Za-z0-9]{1,64}\.txt$")
COOKIE = "siyu_sidebar"
COOKIE_TTL = 8 * 3600
TOKEN_HEADER = "X-Sidebar-Token"  # noqa: S105  (a header name)
JSSDK_PATH = "/static/vendor/wecom/jssdk.js"
STEPS = {
    "oauth": "身份验证（OAuth2）",
    "permission": "权限",
    "signature": "JS-SDK 签名",
    "domain": "可信域名",
    "config": "企业微信应用配置",
    "jssdk": "JS-SDK 加载",
    "context": "聊天上下文",
}


class StepError(SiyuError):
    """A sidebar failure that names the step it happened in."""

    status_code = 403
    code = "sidebar"

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message, field=step)
        self.step = step


# --- the signed cookie -----------------------------------------------------------------


def _key() -> bytes:
    return hashlib.sha256(("siyu/sidebar/" + get_settings().secret_key).encode()).digest()


def _mac(text: str) -> str:
    return hmac.new(_key(), text.encode(), hashlib.sha256).hexdigest()[:32]


def make_cookie(workspace_id: int, staff_id: int, now: float | None = None) -> str:
    body = f"{workspace_id}.{staff_id}.{int((now or time.time()) + COOKIE_TTL)}"
    return f"{body}.{_mac(body)}"


def read_cookie(value: str | None, workspace_id: int) -> int | None:
    """The staff id the cookie speaks for, or None (absent, forged, expired, other workspace)."""
    if not value:
        return None
    parts = value.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]):
        return None
    body = ".".join(parts[:3])
    if not hmac.compare_digest(_mac(body), parts[3]):
        return None
    ws, staff, until = (int(p) for p in parts[:3])
    if ws != workspace_id or until < time.time():
        return None
    return staff


def csrf_for(cookie: str) -> str:
    return _mac("csrf:" + cookie)


# --- helpers ---------------------------------------------------------------------------


def _workspace(session: Session, slug: str) -> Workspace:
    ws = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if ws is None:
        raise NotFound(f"no workspace {slug!r}", field="workspace")
    return ws


def _app(session: Session, ws: Workspace) -> AppConfig:
    try:
        app = resolve_app(session, ws)
    except SiyuError as exc:
        raise StepError("config", exc.message) from exc
    if not app.corp_id or not app.secret:
        raise StepError("config", "the workspace's WeCom app has no corp id or secret")
    return app


def _error_page(request: Request, step: str, message: str, status: int = 403) -> HTMLResponse:
    response = templates().TemplateResponse(
        request,
        "sidebar/error.html",
        {"step": step, "step_name": STEPS.get(step, step), "message": message},
        status_code=status,
    )
    _secure(response, None)
    return response


def _secure(response: Response, extra_connect: str | None) -> None:
    connect = "'self'" + (f" {extra_connect}" if extra_connect else "")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"connect-src {connect}; form-action 'self'; base-uri 'none'; object-src 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def _page_url(request: Request, slug: str) -> str:
    return str(request.url.replace(query=None, fragment=None)).rstrip("/").rsplit("/sidebar/", 1)[0] + (
        f"/sidebar/{slug}/"
    )


# --- WeCom's domain verification file -------------------------------------------------

verify_router = APIRouter(include_in_schema=False)


@verify_router.get("/WW_verify_{code}.txt")
def verify_file(code: str, db: DbSession) -> Response:
    """``/WW_verify_….txt``: the file WeCom fetches to trust siyu's domain (可信域名)."""
    name = f"WW_verify_{code}.txt"
    if not VERIFY_NAME.match(name):
        raise NotFound("no such file", field="name")
    for settings in db.scalars(select(Workspace.settings)):
        content = ((settings or {}).get("wecom_verify_files") or {}).get(name)
        if content:
            return Response(content, media_type="text/plain")
    raise NotFound("no such file", field="name")


# --- the page --------------------------------------------------------------------------


@router.get("/{slug}/", response_class=HTMLResponse)
def page(request: Request, slug: str, db: DbSession, code: str | None = None) -> Response:
    """The sidebar page (OAuth2 first when the member is not known yet)."""
    try:
        ws = _workspace(db, slug)
        app = _app(db, ws)
    except StepError as exc:
        return _error_page(request, exc.step, exc.message)
    except NotFound as exc:
        return _error_page(request, "config", exc.message, 404)
    here = _page_url(request, slug)
    staff_id = read_cookie(request.cookies.get(COOKIE), ws.id)
    if staff_id is None and code is None:
        return RedirectResponse(jssdk.authorize_url(app, here, state="sidebar"), status_code=302)
    if code is not None:
        try:
            with client_for(db, ws) as client:
                userid = jssdk.user_for_code(client, code)
        except Exception as exc:  # the code was used, expired or forged
            return _error_page(request, "oauth", f"WeCom did not accept the sign-in code: {exc}")
        if not userid:
            return _error_page(
                request, "oauth", "this page is for members of the company (not an outside user)"
            )
        staff = find_staff(db, workspace_id=ws.id, userid=userid)
        if staff is None or staff.status != "active":
            return _error_page(request, "permission", f"{userid} is not an active staff account in siyu")
        value = make_cookie(ws.id, staff.id)
        back = RedirectResponse(here, status_code=302)
        back.set_cookie(
            COOKIE,
            value,
            max_age=COOKIE_TTL,
            path=f"/sidebar/{slug}/",
            httponly=True,
            samesite="lax",
            secure=here.startswith("https://"),
        )
        return back
    staff = db.get(Staff, staff_id)
    assert staff is not None
    cookie = request.cookies[COOKIE]
    oauth = jssdk.oauth_base(app)
    response = templates().TemplateResponse(
        request,
        "sidebar/page.html",
        {
            "base": f"/sidebar/{slug}/",
            "csrf": csrf_for(cookie),
            "staff_name": staff.name or staff.userid,
            "jssdk_src": JSSDK_PATH,
            "steps": STEPS,
        },
    )
    _secure(response, None if oauth == jssdk.OAUTH_BASE else _origin(oauth))
    return response


# --- the API ---------------------------------------------------------------------------


class Me(BaseModel):
    workspace_id: int
    staff_id: int
    slug: str


def me(
    slug: str, request: Request, db: DbSession, token: str | None = Header(None, alias=TOKEN_HEADER)
) -> Me:
    ws = _workspace(db, slug)
    cookie = request.cookies.get(COOKIE)
    staff_id = read_cookie(cookie, ws.id)
    if staff_id is None or cookie is None:
        raise StepError("oauth", "not signed in: open the sidebar from WeCom again")
    if request.method != "GET" and not (token and hmac.compare_digest(token, csrf_for(cookie))):
        raise Forbidden("missing or wrong sidebar token", field=TOKEN_HEADER)
    staff = db.get(Staff, staff_id)
    if staff is None or staff.status != "active":
        raise StepError("permission", "this staff account is not active")
    return Me(workspace_id=ws.id, staff_id=staff_id, slug=slug)


MeDep = Depends(me)


@router.get("/{slug}/api/config")
def config(slug: str, url: str, request: Request, db: DbSession, who: Me = MeDep) -> dict[str, Any]:
    """The ``agentConfig`` / ``ww.register`` signature for the page at ``url``."""
    ws = _workspace(db, slug)
    if urlsplit(url).netloc != request.headers.get("host", urlsplit(str(request.url)).netloc):
        raise StepError("domain", f"the page runs at {urlsplit(url).netloc}, not on siyu's domain")
    app = _app(db, ws)
    try:
        with client_for(db, ws) as client:
            cfg = jssdk.agent_config(app, client, url)
    except Exception as exc:
        raise StepError("signature", f"could not get the agent jsapi ticket: {exc}") from exc
    return {
        "corpid": cfg.corpid,
        "agentid": cfg.agentid,
        "timestamp": cfg.timestamp,
        "nonceStr": cfg.nonceStr,
        "signature": cfg.signature,
        "jsApiList": ["getContext", "getCurExternalContact", "getCurExternalChat", "sendChatMessage"],
    }


@router.get("/{slug}/api/customer")
def customer(external_userid: str, db: DbSession, who: Me = MeDep) -> dict[str, Any]:
    try:
        return card.customer_card(
            db, workspace_id=who.workspace_id, staff_id=who.staff_id, external_userid=external_userid
        )
    except Forbidden as exc:
        raise StepError("permission", exc.message) from exc


@router.get("/{slug}/api/group")
def group(chat_id: str, db: DbSession, who: Me = MeDep) -> dict[str, Any]:
    try:
        return card.group_card(db, workspace_id=who.workspace_id, staff_id=who.staff_id, chat_id=chat_id)
    except Forbidden as exc:
        raise StepError("permission", exc.message) from exc


@router.get("/{slug}/api/scripts")
def scripts(db: DbSession, q: str = "", who: Me = MeDep) -> list[dict[str, Any]]:
    return card.scripts(db, workspace_id=who.workspace_id, query=q[:50])


class TagsIn(BaseModel):
    add: list[str] = Field(default_factory=list, max_length=20)
    remove: list[int] = Field(default_factory=list, max_length=50)


@router.post("/{slug}/api/customers/{customer_id}/tags")
def tags(customer_id: Id, body: TagsIn, db: DbSession, who: Me = MeDep) -> list[dict[str, Any]]:
    return card.change_tags(
        db,
        workspace_id=who.workspace_id,
        staff_id=who.staff_id,
        customer_id=customer_id,
        add=body.add,
        remove=body.remove,
    )


class FieldsIn(BaseModel):
    values: dict[str, str] = Field(max_length=50)


@router.post("/{slug}/api/customers/{customer_id}/fields")
def fields(customer_id: Id, body: FieldsIn, db: DbSession, who: Me = MeDep) -> dict[str, str]:
    return card.set_fields(
        db,
        workspace_id=who.workspace_id,
        staff_id=who.staff_id,
        customer_id=customer_id,
        values=body.values,
        actor=f"staff:{who.staff_id}",
    )


class NoteIn(BaseModel):
    text: str = Field(max_length=card.NOTE_MAX)


@router.post("/{slug}/api/customers/{customer_id}/notes", status_code=201)
def note(customer_id: Id, body: NoteIn, db: DbSession, who: Me = MeDep) -> dict[str, Any]:
    n = card.add_note(
        db, workspace_id=who.workspace_id, staff_id=who.staff_id, customer_id=customer_id, text=body.text
    )
    return {"id": n.id, "text": n.text, "created_at": n.created_at.isoformat()}


class OrderIn(BaseModel):
    order_no: str = Field(max_length=card.ORDER_NO_MAX)


@router.post("/{slug}/api/customers/{customer_id}/orders", status_code=201)
def bind(customer_id: Id, body: OrderIn, db: DbSession, who: Me = MeDep) -> dict[str, Any]:
    b = card.bind_order(
        db,
        workspace_id=who.workspace_id,
        staff_id=who.staff_id,
        customer_id=customer_id,
        order_no=body.order_no,
        actor=f"staff:{who.staff_id}",
    )
    return {"order_no": b["order_no"], "order_id": b["order_id"]}


@router.post("/{slug}/api/tasks/{task_id}/done")
def done(task_id: Id, db: DbSession, who: Me = MeDep) -> dict[str, Any]:
    t = card.finish_task(db, workspace_id=who.workspace_id, staff_id=who.staff_id, task_id=task_id)
    return {"id": t.id, "status": t.status, "done_how": t.done_how}
