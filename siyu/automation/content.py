"""The content library's contract: look up and create reusable materials.

Sends, moments, welcomes, SOP steps, tasks and the sidebar refer to an item by id and
read it through ``get_content``; a deleted item is refused where it would be used.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.errors import Invalid, NotFound
from siyu.models import ContentItem

KINDS = ("text", "image", "link", "miniprogram", "video", "file", "script")
TITLE_MAX = 200


def get_content(session: Session, *, workspace_id: int, content_id: int, live: bool = True) -> ContentItem:
    """The item, or NotFound; with ``live`` a deleted item is NotFound too."""
    item = session.scalar(
        select(ContentItem).where(ContentItem.workspace_id == workspace_id, ContentItem.id == content_id)
    )
    if item is None or (live and item.deleted_at is not None):
        state = "deleted" if item is not None else "unknown"
        raise NotFound(f"content {content_id} is {state}", field="content_id")
    return item


def create_content(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    title: str,
    text: str | None = None,
    folder: str = "",
    tags: list[str] | None = None,
    body: dict[str, Any] | None = None,
    actor: str = "system",
) -> ContentItem:
    """Store a new item (checks only what every kind shares; kinds check their body)."""
    if kind not in KINDS:
        raise Invalid(f"content kind is one of {', '.join(KINDS)}, not {kind!r}", field="kind")
    if not title.strip() or len(title) > TITLE_MAX:
        raise Invalid(f"a title of 1 to {TITLE_MAX} characters is needed", field="title")
    item = ContentItem(
        workspace_id=workspace_id,
        kind=kind,
        title=title.strip(),
        text=text,
        folder=folder,
        tags=list(tags or []),
        body=dict(body or {}),
        created_by=actor,
    )
    session.add(item)
    session.flush()
    return item
