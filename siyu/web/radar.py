"""``/r/<token>``: the public landing of tracked links (内容雷达); no login, no console frame."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from siyu.automation import radar
from siyu.kit.errors import NotFound
from siyu.web.auth import DbSession

router = APIRouter(include_in_schema=False)


@router.get("/r/{token}")
def landing(token: str, db: DbSession) -> Response:
    """Count the open and send the reader on to the real address."""
    try:
        url = radar.open_link(db, token)
    except NotFound:
        return Response("链接不存在或已失效", status_code=404, media_type="text/plain; charset=utf-8")
    return RedirectResponse(url, status_code=302)


@router.post("/r/{token}/ping", status_code=204)
def ping(token: str, db: DbSession, s: int = 10) -> Response:
    """Reading-time beacon from pages that send one (adds up to 60 s a ping)."""
    try:
        radar.ping(db, token, s)
    except NotFound:
        return Response(status_code=404)
    return Response(status_code=204)
