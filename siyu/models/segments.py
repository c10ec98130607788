"""Saved audience segments and auto-tag rules (expressions in the audience language)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, pk, updated_at, workspace_fk


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    expression: Mapped[str] = mapped_column(Text, nullable=False)
    # The parsed JSON form, kept so that other tools can read it.
    expression_json: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    last_count: Mapped[int | None] = mapped_column(Integer)
    last_counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class AutoTagRule(Base):
    """Expression → tags to add / remove, applied on recompute and on new orders."""

    __tablename__ = "auto_tag_rules"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    expression: Mapped[str] = mapped_column(Text, nullable=False)
    add_tags: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    remove_tags: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    last_applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
