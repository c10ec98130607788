"""What staff add to a customer's profile from the chat sidebar: custom fields, notes,
order numbers they bind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, fk, pk, updated_at, workspace_fk


class ProfileField(Base):
    """A custom profile field of a workspace (生日, 肤质 ...).

    ``kind``: ``text`` | ``date`` (``YYYY-MM-DD``; SOP date triggers read these) |
    ``number`` | ``choice`` (one of ``options``). ``key`` is the stable name plans and
    keyword rules use; ``label`` what staff read.
    """

    __tablename__ = "profile_fields"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    key: Mapped[str] = mapped_column(String(40), nullable=False)
    label: Mapped[str] = mapped_column(String(40), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="text")
    options: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = created_at()
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CustomerFieldValue(Base):
    """One customer's value of one custom field (text form; dates as ``YYYY-MM-DD``)."""

    __tablename__ = "customer_field_values"
    __table_args__ = (
        UniqueConstraint("customer_id", "field_id"),
        Index("ix_customer_field_values_workspace_id_field_id", "workspace_id", "field_id"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    customer_id: Mapped[int] = fk("customers.id", index=False)
    field_id: Mapped[int] = fk("profile_fields.id", index=False)
    value: Mapped[str] = mapped_column(String(500), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="sidebar")
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    updated_at: Mapped[datetime] = updated_at()


class CustomerNote(Base):
    """A follow-up note (跟进记录) a staff member wrote about a customer."""

    __tablename__ = "customer_notes"
    __table_args__ = (Index("ix_customer_notes_customer_id_created_at", "customer_id", "created_at"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    customer_id: Mapped[int] = fk("customers.id", index=False)
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at()
