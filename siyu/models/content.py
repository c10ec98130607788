"""The content library: reusable texts, images, links, mini-programs, files and scripts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, pk, updated_at, workspace_fk


class ContentItem(Base):
    """One reusable material.

    ``kind``: ``text`` | ``image`` | ``link`` | ``miniprogram`` | ``video`` | ``file`` |
    ``script`` (话术: a text staff copy from). ``text`` may hold variables such as
    ``{客户昵称}`` that siyu fills in (WeCom has none). ``body`` holds the kind's fields
    (a link's url, title and description; a file's name, size, sha256 and stored path;
    a mini-program's appid and page). Deleting sets ``deleted_at``: plans and sends that
    refer to an item keep their history.
    """

    __tablename__ = "content_items"
    __table_args__ = (Index("ix_content_items_workspace_id_folder", "workspace_id", "folder"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    text: Mapped[str | None] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    body: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False, default="system")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The WeCom temporary media of the file (media/upload, valid 3 days): re-uploaded
    # when used after ``media_expires_at``.
    media_id: Mapped[str | None] = mapped_column(String(200))
    media_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How often the item was used in a send, moment or welcome (the library sorts by it).
    uses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
