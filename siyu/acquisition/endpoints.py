"""The public landing page of a channel, ``/c/{slug}``: one account per visit.

For exact per-visit routing (WeCom picks among a multi-person code's members by
itself), the page picks one account with the channel's strategy
(``routing.pick``) and shows that account's single-person code (same ``state``, so the
add still maps to the channel). Plain HTML with the QR inlined as SVG: no script, no
CDN; it works in WeChat's browser on a phone (long-press to recognise the code).
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from siyu.acquisition import qr, routing
from siyu.acquisition.channels import find_by_slug
from siyu.kit.db import session_scope

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body{{margin:0;background:#f5f6f7;color:#222;
font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif}}
main{{max-width:420px;margin:0 auto;padding:24px 16px;text-align:center}}
.card{{background:#fff;border-radius:12px;padding:24px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}}
.qr svg{{width:240px;height:240px;max-width:80vw;max-height:80vw}}
h1{{font-size:20px;margin:0 0 8px}} p{{color:#666;font-size:15px;line-height:1.6}}
</style></head>
<body><main><div class="card">
<h1>{title}</h1>
{body}
</div></main></body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    response = HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)
    response.headers["Cache-Control"] = "no-store"  # a new pick on every visit
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/c/{slug}", response_class=HTMLResponse)
def landing(slug: str) -> HTMLResponse:
    """Pick an account for this visit and show its code."""
    with session_scope() as session:
        channel = find_by_slug(session, slug[:40])
        if channel is None or channel.kind != "contact_way":
            return _page("页面不存在", "<p>这个活动已结束或链接有误。</p>", 404)
        account = routing.pick(session, channel)
        codes = (channel.settings or {}).get("staff_codes") or {}
        code = codes.get(str(account.staff_id)) if account is not None else None
        url = (code or {}).get("qr_code") or (channel.qr_url if account is not None else None)
        title = channel.name
        who = account.name if account is not None else ""
    if not url:
        return _page(title, "<p>客服暂时都在忙，请稍后再打开本页。</p>", 503)
    body = (
        f'<div class="qr">{qr.svg_inline(url)}</div>'
        f"<p>长按识别二维码，添加{escape(who) or '专属顾问'}为企业微信好友</p>"
    )
    return _page(title, body)
