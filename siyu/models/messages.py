"""Chat messages: the conversation archive (1:1 and group) and WeChat customer service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import NullableJSONType
from siyu.models.base import Base, UTCDateTime, created_at, fk, pk, workspace_fk


class Message(Base):
    """One message, as the archive or WeChat customer service gave it.

    ``direction``: ``in`` (a customer wrote), ``out`` (a staff account wrote to a
    customer or a group), ``internal`` (staff to staff). ``text_enc`` is the text
    encrypted with the vault, or NULL when the workspace keeps no message text (a
    setting) or the message has none. Consumers that act on new messages (keyword
    rules, task completion, metrics) keep their own position by ``id``.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("workspace_id", "source", "msgid"),
        Index("ix_messages_workspace_id_sent_at", "workspace_id", "sent_at"),
        Index("ix_messages_customer_id_sent_at", "customer_id", "sent_at"),
        Index("ix_messages_staff_id_sent_at", "staff_id", "sent_at"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # archive | kf
    msgid: Mapped[str] = mapped_column(String(128), nullable=False)
    direction: Mapped[str] = mapped_column(String(8), nullable=False)  # in | out | internal
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    customer_id: Mapped[int | None] = fk("customers.id", nullable=True, ondelete="SET NULL", index=False)
    group_id: Mapped[int | None] = fk("groups.id", nullable=True, ondelete="SET NULL")
    sender: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    msgtype: Mapped[str] = mapped_column(String(32), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    text_enc: Mapped[str | None] = mapped_column(Text)
    # the type's body without personal text (file name and size, link title, ...); SQL NULL
    # when there is none (never the JSON text ``null``: relink selects ``payload IS NOT NULL``)
    payload: Mapped[dict[str, Any] | None] = mapped_column(NullableJSONType)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # group text a customer wrote: the staff accounts it @-mentions (ids, read from the text
    # at import: WeCom's archive carries no mention list); SQL NULL when none
    mentions: Mapped[list[int] | None] = mapped_column(NullableJSONType)
    created_at: Mapped[datetime] = created_at()
