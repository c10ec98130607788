"""Keyword rules on incoming messages, sensitive words and the alerts they raise."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import (
    Base,
    JSONType,
    UTCDateTime,
    created_at,
    fk,
    pk,
    updated_at,
    workspace_fk,
)


class KeywordRule(Base):
    """A rule: when a customer's message matches one of ``keywords``, do ``actions``.

    ``match``: ``exact`` | ``contains`` | ``regex``. ``sources``: which messages it reads
    (``kf`` WeChat customer service, ``archive`` 1:1 chats, ``group`` group chats in the
    archive). ``actions``: ``{"tags": [names], "field": {"key", "value"}, "reply": text,
    "reply_content_id": id, "task": text}``. A higher ``priority`` runs first; with
    ``stop`` no lower rule acts on the same message. ``cooldown_s``: a customer who hit
    the rule acts again only after this long.
    """

    __tablename__ = "keyword_rules"
    __table_args__ = (Index("ix_keyword_rules_workspace_id_enabled", "workspace_id", "enabled"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    match: Mapped[str] = mapped_column(String(16), nullable=False)
    keywords: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    sources: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    actions: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    stop: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    cooldown_s: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False, default="system")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KeywordHit(Base):
    """One rule matching one message, and what was done (``outcome``: ``acted`` |
    ``cooldown`` | ``stopped``); unique per (rule, message), so a replay acts once."""

    __tablename__ = "keyword_hits"
    __table_args__ = (
        UniqueConstraint("rule_id", "message_id"),
        Index("ix_keyword_hits_rule_id_customer_id_matched_at", "rule_id", "customer_id", "matched_at"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    rule_id: Mapped[int] = fk("keyword_rules.id", index=False)
    message_id: Mapped[int] = fk("messages.id", index=False)
    customer_id: Mapped[int | None] = fk("customers.id", nullable=True, ondelete="SET NULL", index=False)
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    done: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    created_at: Mapped[datetime] = created_at()


class KeywordPosition(Base):
    """How far the keyword consumer has read ``messages`` (by id), per workspace."""

    __tablename__ = "keyword_positions"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    last_message_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime] = updated_at()


class SensitiveWord(Base):
    """A word the boss wants to hear about when a customer or a staff member writes it."""

    __tablename__ = "sensitive_words"
    __table_args__ = (UniqueConstraint("workspace_id", "word"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    word: Mapped[str] = mapped_column(String(100), nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False, default="system")
    created_at: Mapped[datetime] = created_at()


class Alert(Base):
    """Something the boss should see: ``kind`` ``sensitive_word`` (a message with a
    listed word) or ``staff_deleted_customer`` (``del_external_contact``). ``dedup_key``
    makes raising it idempotent; ``acked_at`` / ``acked_by`` when someone dealt with it."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedup_key"),
        Index("ix_alerts_workspace_id_occurred_at", "workspace_id", "occurred_at"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    customer_id: Mapped[int | None] = fk("customers.id", nullable=True, ondelete="SET NULL", index=False)
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    message_id: Mapped[int | None] = fk("messages.id", nullable=True, ondelete="SET NULL", index=False)
    summary: Mapped[str] = mapped_column(String(300), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acked_by: Mapped[str | None] = mapped_column(String(128))
    dedup_key: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = created_at()
    note: Mapped[str | None] = mapped_column(Text)
