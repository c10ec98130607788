"""What one staff account's batch says: the text with staff variables filled, the attachments."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.automation.content import get_content
from siyu.automation.library import check_text, fill
from siyu.kit.errors import Invalid
from siyu.models import ContentItem, Send, Staff

MAX_ATTACHMENTS = 9
# Kinds a mass send can carry (files go up as temporary media when the batch is called).
SENDABLE = ("text", "script", "link", "image", "video", "file", "miniprogram")
MEDIA = ("image", "video", "file")


def check_message(session: Session, *, workspace_id: int, text: str | None, content_ids: list[int]) -> None:
    """Refuse a message WeCom would refuse (or siyu cannot fill) before anything is planned."""
    if not (text or "").strip() and not content_ids:
        raise Invalid("a send needs a text or at least one library item", field="text")
    check_text(text, per_customer=False)
    if len(content_ids) > MAX_ATTACHMENTS:
        raise Invalid(f"WeCom takes at most {MAX_ATTACHMENTS} attachments", field="content_ids")
    for cid in content_ids:
        item = get_content(session, workspace_id=workspace_id, content_id=cid)
        if item.kind not in SENDABLE:
            raise Invalid(
                f"content {cid} is a {item.kind}; a mass send carries texts, scripts, links, "
                "images, videos, files and mini-programs",
                field="content_ids",
            )
        if item.kind == "miniprogram" and not (item.body or {}).get("stored_path"):
            raise Invalid(
                f"content {cid} (mini-program) has no cover picture; add it again with one",
                field="content_ids",
            )
        check_text(item.text, per_customer=False, field="content_ids")


def _items(session: Session, send: Send) -> list[ContentItem]:
    return [
        get_content(session, workspace_id=send.workspace_id, content_id=c, live=False)
        for c in send.content_ids
    ]


def text_for(send: Send, staff: Staff, session: Session | None = None) -> str:
    """The batch's text: the send's text, then library texts, staff variables filled."""
    parts = [send.text or ""]
    if session is not None:
        parts += [i.text or "" for i in _items(session, send) if i.kind in ("text", "script")]
    text = "\n\n".join(p for p in parts if p.strip())
    return fill(text, {"staff_name": staff.name or staff.userid})


def attachments_for(session: Session, send: Send, staff: Staff, gateway: Any = None) -> list[dict[str, Any]]:
    """WeCom attachments of the send (files uploaded or re-uploaded through ``gateway``)."""
    out: list[dict[str, Any]] = []
    for item in _items(session, send):
        found = item_attachment(session, item, gateway, send_id=send.id, staff_id=staff.id)
        if found is not None:
            out.append(found)
    return out


def item_attachment(
    session: Session, item: ContentItem, gateway: Any, *, send_id: int | None, staff_id: int | None
) -> dict[str, Any] | None:
    """One library item as a WeCom attachment (``add_msg_template`` and ``send_welcome_msg``
    take the same shape); None for a text or script (those go into the text).

    Images, videos and files are temporary media (uploaded, or re-uploaded when expired);
    a mini-program's cover too; a link is the radar's tracked URL for ``send_id`` /
    ``staff_id`` (a welcome has no send: one token per item and staff account).
    """
    from siyu.automation.media import ensure_media

    if item.kind in MEDIA:
        return {"msgtype": item.kind, item.kind: {"media_id": ensure_media(item, gateway)}}
    if item.kind == "miniprogram":
        return {"msgtype": "miniprogram", "miniprogram": miniprogram_attachment(item, gateway)}
    if item.kind == "link":
        body = item.body or {}
        from siyu.automation.radar import tracked_url

        url = tracked_url(session, item=item, send_id=send_id, staff_id=staff_id)
        link = {"title": item.title, "url": url, "desc": str(body.get("desc") or "")}
        if body.get("picurl"):
            link["picurl"] = str(body["picurl"])
        return {"msgtype": "link", "link": link}
    return None


def miniprogram_attachment(item: ContentItem, gateway: Any) -> dict[str, str]:
    """``add_msg_template`` / ``send_welcome_msg``'s miniprogram body for a library item
    (the cover uploaded, or re-uploaded when expired, as temporary media)."""
    from siyu.automation.media import ensure_media

    body = item.body or {}
    return {
        "title": item.title,
        "pic_media_id": ensure_media(item, gateway),
        "appid": str(body.get("appid") or ""),
        "page": str(body.get("page") or ""),
    }
