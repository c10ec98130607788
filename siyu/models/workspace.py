"""Workspaces (one brand each), staff accounts, console users, tokens, audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import (
    Base,
    BigIntPK,
    JSONType,
    UTCDateTime,
    created_at,
    fk,
    pk,
    updated_at,
    workspace_fk,
)


class Workspace(Base):
    """One brand. An agency may host several; nothing crosses workspaces."""

    __tablename__ = "workspaces"

    id: Mapped[int] = pk()
    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="Asia/Shanghai")
    # Per-workspace knobs: layer thresholds, quotas, reply-rate window... (documented in docs/)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    created_at: Mapped[datetime] = created_at()


class WeComApp(Base):
    """WeCom connection of a workspace (secrets encrypted with the PII vault)."""

    __tablename__ = "wecom_apps"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False, default="contact")
    corp_id: Mapped[str] = mapped_column(String(64), nullable=False)
    agent_id: Mapped[str | None] = mapped_column(String(32))
    token_enc: Mapped[str | None] = mapped_column(Text)
    aes_key_enc: Mapped[str | None] = mapped_column(Text)
    secret_enc: Mapped[str | None] = mapped_column(Text)
    api_base: Mapped[str | None] = mapped_column(String(300))
    last_full_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Staff(Base):
    """A WeCom member account (导购/顾问): the smallest business unit."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("workspace_id", "userid"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    userid: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    department: Mapped[str | None] = mapped_column(String(200))
    # active | resigned | disabled
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    customer_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=5000)
    has_contact_permission: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class User(Base):
    """A console / API user. Role: owner, admin, operator or staff."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # A staff-role user sees only the customers this staff account follows.
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL")
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


class ApiToken(Base):
    """Bearer token for the API; only a SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    user_id: Mapped[int] = fk("users.id")
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Chosen at creation (90 days by default); None only for tokens made before expiry existed.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The token this one replaced (``rotate``), if any.
    rotated_from_id: Mapped[int | None] = fk("api_tokens.id", nullable=True, ondelete="SET NULL", index=False)
    created_at: Mapped[datetime] = created_at()


class UserSession(Base):
    """A console login, ended on the server by logout, disable, password or role change.

    The signed cookie carries a random session id; only its SHA-256 is stored here, and
    a cookie is honoured only while its row exists, is not ended and has not expired.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    user_id: Mapped[int] = fk("users.id")
    sid_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = created_at()
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # logout | disabled | password | role | admin | cli
    ended_reason: Mapped[str | None] = mapped_column(String(32))


class LoginThrottle(Base):
    """Login attempts counted per account or per address in a fixed window.

    A slot is taken (atomically, in the database) before a password is hashed, so the
    limit holds across worker processes and for tries that arrive in parallel.
    """

    __tablename__ = "login_throttle"

    id: Mapped[int] = pk()
    # "account:<workspace id>:<name>" or "address:<ip>", hashed (SHA-256, hex)
    key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class AuditLog(Base):
    """Who did what to whom: merges, phone reveals, exports, deletions, role changes."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("workspace_id", "seq"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    # "user:12", "cli", "system", "wecom"
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    at: Mapped[datetime] = created_at()
    # Tamper evidence (``siyu.kit.audit``): the entry's place in its workspace's chain,
    # the hash of the entry before it and its own hash (SHA-256 over both). Filled when
    # the writing transaction commits.
    seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last entry of a workspace's audit chain; its row lock serializes writers."""

    __tablename__ = "audit_chain_heads"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    last_id: Mapped[int | None] = mapped_column(BigIntPK)
    last_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = updated_at()
