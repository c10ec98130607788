"""Library files as WeCom temporary media: uploaded when used, re-uploaded when expired.

WeCom keeps a temporary media (``media/upload``) for 3 days. A send or a welcome
that uses a library image, video or file gets the stored ``media_id`` while it has more
than an hour left, else a fresh upload (checked against WeCom's limits first).
Moments use ``upload_attachment`` instead (the moments calendar's own path).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from siyu.automation.library import check_media, media_kind
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import utcnow
from siyu.models import ContentItem
from siyu.wecom.errors import WeComNetworkError

MEDIA_TTL = timedelta(days=3)
MARGIN = timedelta(hours=1)


class MediaGateway(Protocol):
    def upload_media(self, kind: str, filename: str, data: bytes) -> str: ...


def upload_media(client: Any, kind: str, filename: str, data: bytes) -> str:
    """``media/upload`` (multipart) through a ``WeComClient``; the new media_id."""
    if hasattr(client, "upload_media"):
        return str(client.upload_media(kind, filename, data))
    api = "media/upload"
    client._limiter.acquire(f"{client.corp_id}|{api}")
    try:
        resp = client._http.post(
            f"{client.api_base}/cgi-bin/{api}",
            params={"access_token": client.access_token(), "type": "video" if kind == "video" else kind},
            files={"media": (filename, data)},
        )
    except httpx.TransportError as exc:
        raise WeComNetworkError(f"media/upload: {exc}", api=api) from exc
    body = resp.json()
    if int(body.get("errcode") or 0):
        from siyu.wecom.errors import error_for

        raise error_for(int(body["errcode"]), str(body.get("errmsg", "")), api=api)
    return str(body["media_id"])


def ensure_media(item: ContentItem, gateway: Any) -> str:
    """A media_id valid for at least another hour (uploading the stored file if needed).

    A mini-program's media is its cover picture (``pic_media_id``), uploaded as an image.
    """
    kind = media_kind(item.kind)
    if kind is None:
        raise Invalid(f"content {item.id} is a {item.kind}, not a file", field="content_ids")
    now = utcnow()
    if item.media_id and item.media_expires_at and item.media_expires_at > now + MARGIN:
        return item.media_id
    stored = (item.body or {}).get("stored_path")
    if not stored or not Path(str(stored)).is_file():
        raise Invalid(f"content {item.id} has no stored file to upload; add it again", field="content_ids")
    data = Path(str(stored)).read_bytes()
    name = str((item.body or {}).get("name") or Path(str(stored)).name)
    check_media(kind, name, len(data))
    item.media_id = upload_media(gateway, kind, name, data)
    item.media_expires_at = now + MEDIA_TTL
    return item.media_id
