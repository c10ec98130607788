"""Jinja2 rendering for the console: one environment, zh-CN filters, the page frame."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from siyu.kit.money import format_fen
from siyu.kit.timeutil import zone
from siyu.web.console.labels import register as register_labels

WEB = Path(__file__).resolve().parent.parent
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
ECHARTS = STATIC / "vendor" / "echarts.min.js"

# The left navigation: (path, label, roles allowed or None for everyone).
NAV: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("/", "数据看板", None),
    ("/insights", "经营指标", None),
    ("/customers", "客户", None),
    ("/segments", "人群", ("owner", "admin", "operator")),
    ("/tags", "标签", None),
    ("/rules", "自动标签", ("owner", "admin", "operator")),
    ("/tasks", "任务", None),
    ("/tasks/completion", "任务完成率", ("owner", "admin", "operator")),
    ("/sop", "SOP 计划", ("owner", "admin", "operator")),
    ("/keywords", "关键词与预警", ("owner", "admin", "operator")),
    ("/sends", "群发", None),
    ("/content", "素材库", ("owner", "admin", "operator")),
    ("/imports", "订单导入", ("owner", "admin", "operator")),
    ("/staff", "员工", None),
    ("/moments", "朋友圈", None),
    ("/channels", "渠道活码", None),
    ("/funnel", "渠道漏斗", None),
    ("/transfers", "客户转接", None),
    ("/dedup", "矩阵去重", None),
    ("/leads", "客户公海", None),
    ("/wecom/doctor", "接入检查", ("owner", "admin")),
    ("/wecom", "企业微信", ("owner", "admin", "operator")),
    ("/archive", "会话存档", None),
    ("/jobs", "后台任务", ("owner", "admin")),
    ("/audit", "审计日志", ("owner", "admin")),
    ("/sessions", "登录会话", ("owner", "admin")),
)

FLASH_COOKIE = "siyu_flash"
ROLE_LABELS = {"owner": "所有者", "admin": "管理员", "operator": "运营", "staff": "员工"}


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else format_fen(int(fen))


def _num(value: int | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def _pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _local(value: datetime | str | None, tz: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC instant (or its ISO text, as the JSON-shaped page data carries it) shown in
    the workspace time zone (Asia/Shanghai by default)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone(tz)).strftime(fmt)


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The console's template environment (autoescaping on, as for every .html)."""
    tpl = Jinja2Templates(directory=str(TEMPLATES))
    tpl.env.filters.update(yuan=_yuan, num=_num, pct=_pct, local=_local)
    tpl.env.globals.update(role_labels=ROLE_LABELS)
    register_labels(tpl.env.filters, tpl.env.globals, tpl.env.tests)
    return tpl


def charts_available() -> bool:
    """True when ECharts was installed at set-up (scripts/fetch_assets.py)."""
    return ECHARTS.is_file()


def redirect_with_flash(url: str, message: str, kind: str = "ok") -> RedirectResponse:
    """Post/redirect/get with a one-time message shown on the next page.

    The message travels in a short-lived cookie rather than the URL, so that nobody can
    craft a link that makes the console display words of their choosing.
    """
    response = RedirectResponse(url, status_code=303)
    value = base64.urlsafe_b64encode(json.dumps({"m": message[:300], "k": kind}).encode()).decode()
    response.set_cookie(FLASH_COOKIE, value, max_age=60, httponly=True, samesite="lax", path="/")
    return response


def _take_flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return str(data["m"]), "error" if data.get("k") == "error" else "ok"
    except (ValueError, KeyError, TypeError):
        return None


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render ``console/<name>`` inside the frame (nav, user, CSRF token, chart availability)."""
    from siyu.web.console.deps import console_context

    ctx = console_context(request)
    flash = _take_flash(request)
    if flash is not None:
        ctx["flash"], ctx["flash_kind"] = flash
    ctx.update(context or {})
    response: HTMLResponse = templates().TemplateResponse(
        request, f"console/{name}", ctx, status_code=status_code
    )
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")
    secure_page(response)
    return response


# Scripts only from our own files (no inline script, no eval): an injected <script> or
# onclick= would not run. Inline style attributes stay allowed for bar widths.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def secure_page(response: Response) -> None:
    """Headers every console page carries: CSP, no framing, no caching of customer data."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # Pages show customer data: keep them out of shared caches and the back-forward cache.
    response.headers["Cache-Control"] = "no-store"


def tag_name_problem(name: str, group: str) -> str | None:
    """A tag or group name WeCom would refuse, said in Chinese (None when it is fine)."""
    from siyu.customers.tags import MAX_TAG_NAME

    if not name.strip():
        return "请输入标签名。"
    for label, value in (("标签名", name), ("标签组名", group)):
        if len(value.strip()) > MAX_TAG_NAME:
            return f"{label}最多 {MAX_TAG_NAME} 个字（企业微信的限制），现在是 {len(value.strip())} 个。"
    return None
