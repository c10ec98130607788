"""``/bind/{token}``: the phone page where a friend claims an order (包裹卡 binding).

Public (the signed token is the friend's key; no login, no cookie), zh-CN, no script,
no CDN: it works in WeChat's browser on a phone. The friend types the order number
(and the phone's last four digits where the order has them); five wrong tries in 30
minutes pause the friend for 30 minutes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from siyu.acquisition import binding
from siyu.kit.db import session_scope
from siyu.kit.errors import SiyuError
from siyu.web.console.render import secure_page, templates

router = APIRouter(include_in_schema=False)

MESSAGES = {
    "order_no": "没有找到这个订单号，请核对后重试（订单号可在购物平台的订单详情中复制）。",
    "last4": "手机号后四位与订单不符，请核对收货手机号。",
    "claimed": "这个订单已被其他微信用户领取。如有疑问请联系客服。",
}


def _page(request: Request, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates().TemplateResponse(request, "bind.html", context, status_code=status)
    secure_page(response)
    return response


def _valid(token: str) -> tuple[int, int] | None:
    try:
        return binding.read_token(token)
    except SiyuError:
        return None


@router.get("/bind/{token}", response_class=HTMLResponse)
def bind_form(request: Request, token: str) -> HTMLResponse:
    """The form (or a plain "link not valid" page)."""
    if _valid(token) is None:
        return _page(request, {"invalid": True}, 404)
    return _page(request, {"token": token})


@router.post("/bind/{token}", response_class=HTMLResponse)
def bind_submit(
    request: Request,
    token: str,
    order_no: Annotated[str, Form(max_length=80)] = "",
    last4: Annotated[str, Form(max_length=8)] = "",
) -> HTMLResponse:
    """Check the order and bind it; the answer in plain Chinese."""
    ids = _valid(token)
    if ids is None:
        return _page(request, {"invalid": True}, 404)
    workspace_id, follow_id = ids
    error = ""
    done: dict[str, Any] | None = None
    status = 200
    # Committed even on failure: a wrong try counts towards the pause.
    with session_scope() as session:
        try:
            bound = binding.bind_order(
                session,
                workspace_id=workspace_id,
                follow_id=follow_id,
                order_no=order_no,
                last4=last4 or None,
            )
            done = bound.as_dict()
        except binding.TooManyTries as exc:
            error, status = f"尝试次数过多，请 {exc.minutes} 分钟后再试。", 429
        except SiyuError as exc:
            if exc.field == "last4" and not last4:
                error = "这个订单需要验证收货手机号后四位，请填写后重试。"
            else:
                error = MESSAGES.get(exc.field or "", "") if exc.field != "token" else "链接无效。"
                if exc.code == "conflict":
                    error = MESSAGES["claimed"]
            status = 422 if exc.status_code == 422 else exc.status_code
    return _page(
        request,
        {"token": token, "done": done, "error": error, "order_no": order_no if not done else ""},
        status,
    )
