"""Conversation archive (会话内容存档) plumbing: the corp's keys, the pull position, rows
that could not be decrypted yet, and friend-request accept times staff record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, UTCDateTime, created_at, fk, pk, updated_at, workspace_fk


class ArchiveKey(Base):
    """One of the corp's archive RSA private keys (PEM, encrypted with the vault), by version."""

    __tablename__ = "archive_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "version"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # publickey_ver
    private_key_enc: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at()


class ArchiveCursor(Base):
    """Where the Finance SDK pull stands (``seq``) and when it last moved."""

    __tablename__ = "archive_cursors"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    advanced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = updated_at()


class ArchivePending(Base):
    """A pulled row that could not be decrypted yet (no key of its ``publickey_ver``)."""

    __tablename__ = "archive_pending"
    __table_args__ = (UniqueConstraint("workspace_id", "msgid"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    msgid: Mapped[str] = mapped_column(String(128), nullable=False)
    publickey_ver: Mapped[int] = mapped_column(Integer, nullable=False)
    encrypt_random_key: Mapped[str] = mapped_column(Text, nullable=False)
    encrypt_chat_msg: Mapped[str] = mapped_column(Text, nullable=False)
    error: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    created_at: Mapped[datetime] = created_at()


class FriendAccept(Base):
    """When a staff account accepted a friend request that waited for verification.

    WeCom raises no event for a waiting request, so no API sees the accept time: staff
    record it (``source`` = ``staff``); adds through codes that skip verification are
    accepted at once and need no row.
    """

    __tablename__ = "friend_accepts"
    __table_args__ = (UniqueConstraint("workspace_id", "staff_id", "customer_id"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int] = fk("staff.id")
    customer_id: Mapped[int] = fk("customers.id")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = created_at()


class KfCursor(Base):
    """Where ``kf/sync_msg`` stands for one customer-service account (``open_kfid``; "" = all)."""

    __tablename__ = "kf_cursors"
    __table_args__ = (UniqueConstraint("workspace_id", "open_kfid"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    open_kfid: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    cursor: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = updated_at()
