"""The public landing page of a channel, ``/c/{slug}``: one account per visit.

A store channel's page first asks where the visitor is: a select of the stores' cities
(a plain GET form: works without script) or, optionally, the browser's location
(``navigator.geolocation``, a few lines of inline script allowed by a per-response
nonce); it then shows the nearest store with a free account, and that account's code
(the store's state, so the add is credited to the store).

For exact per-visit routing (WeCom picks among a multi-person code's members by
itself), the page picks one account with the channel's strategy
(``routing.pick``) and shows that account's single-person code (same ``state``, so the
add still maps to the channel). Plain HTML with the QR inlined as SVG: no script, no
CDN; it works in WeChat's browser on a phone (long-press to recognise the code).
"""

from __future__ import annotations

import math
import secrets
from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from siyu.acquisition import qr, routing, stores
from siyu.acquisition.channels import find_by_slug
from siyu.kit.db import session_scope
from siyu.models import Channel, Store

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
select,button{{font-size:16px;padding:10px;margin:6px 0;width:100%;max-width:320px;box-sizing:border-box}}
ul{{list-style:none;padding:0}} li a{{display:block;padding:10px;color:#07c160}}
</style></head>
<body><main><div class="card">
<h1>{title}</h1>
{body}
</div></main></body></html>"""


def _page(title: str, body: str, status: int = 200, nonce: str | None = None) -> HTMLResponse:
    response = HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)
    response.headers["Cache-Control"] = "no-store"  # a new pick on every visit
    script = f"; script-src 'nonce-{nonce}'" if nonce else ""
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'{script}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/c/{slug}", response_class=HTMLResponse)
def landing(
    slug: str,
    city: str | None = None,
    store: str | None = None,
    lat: str | None = None,
    lng: str | None = None,
) -> HTMLResponse:
    """Pick an account for this visit and show its code."""
    with session_scope() as session:
        channel = find_by_slug(session, slug[:40])
        if channel is not None and channel.kind == "store":
            return _store_page(session, channel, city=city, store=store, lat=lat, lng=lng)
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


_LOCATE = """<script nonce="{nonce}">
(function(){{var b=document.getElementById('locate');if(!b||!navigator.geolocation)return;
b.hidden=false;b.onclick=function(){{b.textContent='正在定位…';
navigator.geolocation.getCurrentPosition(function(p){{
location.search='?lat='+p.coords.latitude.toFixed(5)+'&lng='+p.coords.longitude.toFixed(5);}},
function(){{b.textContent='无法获取位置，请选择城市';}},{{timeout:10000,maximumAge:600000}});}};}})();
</script>"""


def _float(value: str | None, limit: float) -> float | None:
    try:
        f = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return f if f is not None and math.isfinite(f) and -limit <= f <= limit else None


def _store_page(
    session: Session,
    channel: Channel,
    *,
    city: str | None,
    store: str | None,
    lat: str | None,
    lng: str | None,
) -> HTMLResponse:
    """Ask where the visitor is, or show the nearest store's code."""
    title = channel.name
    all_stores = stores.channel_stores(session, channel)
    if not all_stores:
        return _page(title, "<p>暂时没有可添加的门店，请稍后再试。</p>", 503)
    flat, flng = _float(lat, 90), _float(lng, 180)
    candidates: list[Store] = []
    if store and store.isdigit():
        candidates = [s for s in all_stores if s.id == int(store)]
    elif flat is not None and flng is not None:
        candidates = sorted(all_stores, key=lambda s: (stores.distance_km(flat, flng, s.lat, s.lng), s.id))
    elif city:
        in_city = [s for s in all_stores if s.city == city[:32]]
        if len(in_city) > 1:
            items = "".join(
                f'<li><a href="?store={s.id}">{escape(s.name)}'
                f"{('<br><small>' + escape(s.address) + '</small>') if s.address else ''}</a></li>"
                for s in in_city
            )
            return _page(title, f"<p>{escape(city)}的门店，请选择离您最近的一家：</p><ul>{items}</ul>")
        candidates = in_city
    if not candidates:
        return _ask_location(title, all_stores, retry=bool(city or store or lat or lng))
    for s in candidates:
        picked = stores.pick_account(session, channel, s)
        if picked is None:
            continue
        _, code = picked
        url = code.get("qr_code")
        if not url:
            continue
        addr = f"<p>{escape(s.address)}</p>" if s.address else ""
        body = (
            f"<p><b>{escape(s.city)} · {escape(s.name)}</b></p>{addr}"
            f'<div class="qr">{qr.svg_inline(url)}</div>'
            f"<p>长按识别二维码，添加门店顾问为企业微信好友</p>"
            f'<p><a href="?">换一家门店</a></p>'
        )
        return _page(title, body)
    return _page(title, "<p>门店顾问暂时都在忙，请稍后再打开本页。</p>", 503)


def _ask_location(title: str, all_stores: list[Store], *, retry: bool) -> HTMLResponse:
    nonce = secrets.token_urlsafe(12)
    options = "".join(f'<option value="{escape(c)}">{escape(c)}</option>' for c in stores.cities(all_stores))
    note = (
        "<p>没有找到这个位置附近的门店，请选择城市。</p>"
        if retry
        else "<p>请选择您所在的城市，为您找到最近的门店</p>"
    )
    body = (
        f"{note}"
        f'<form method="get"><select name="city" aria-label="城市">{options}</select>'
        f'<button type="submit">查看门店</button></form>'
        f'<button id="locate" type="button" hidden>使用我的位置</button>'
        f"{_LOCATE.format(nonce=nonce)}"
    )
    return _page(title, body, nonce=nonce)
