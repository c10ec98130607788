"""Acquisition channels (渠道): live codes, group codes, 获客助手 links and store landings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, pk, updated_at, workspace_fk


class Channel(Base):
    """One public channel a brand puts a code or link on (the parcel card, a store, a live room).

    ``kind``: ``contact_way`` (a 1:1 live code, single- or multi-person), ``join_way``
    (a group live code), ``link`` (a 获客助手 link; ``config_id`` is its link id and
    ``link_url`` the link with ``customer_channel`` = the state), ``store`` (a landing
    that routes to the nearest store's pool; each store's adds carry ``<state>~<store id>``).
    ``state`` (≤ 30 characters, unique in the workspace) is what WeCom hands back on
    each add (``follows.live_code_state``), so a follow maps back to its channel.
    ``config_id`` is WeCom's id of the code (WeCom cannot list codes made through the
    API: this row is the only record). ``pool`` holds the staff pool and the routing
    settings, ``welcome`` the channel's welcome, ``tag_ids`` the entry tags, ``settings``
    the rest (dedup policy, order binding, store codes, referral campaign ...).
    """

    __tablename__ = "channels"
    __table_args__ = (
        UniqueConstraint("workspace_id", "state"),
        UniqueConstraint("workspace_id", "slug"),
        Index("ix_channels_workspace_id_group_name", "workspace_id", "group_name"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    group_name: Mapped[str] = mapped_column(String(64), nullable=False, default="默认")
    kind: Mapped[str] = mapped_column(String(24), nullable=False, default="contact_way")
    state: Mapped[str] = mapped_column(String(30), nullable=False)
    slug: Mapped[str] = mapped_column(String(40), nullable=False)
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    skip_verify: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    tag_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    welcome: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    pool: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    config_id: Mapped[str | None] = mapped_column(String(64))
    qr_url: Mapped[str | None] = mapped_column(String(512))
    link_url: Mapped[str | None] = mapped_column(String(512))
    sync_status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    sync_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WelcomeSend(Base):
    """One welcome decision for one friend add: sent, skipped (with why) or an error.

    ``dedup_key`` is the ``friend.add`` event's key (one row per add, whichever path
    greets: the callback endpoint after its 200, or the worker's fallback), so a welcome
    is sent at most once. ``status``: ``sending`` (claimed), ``sent``, ``skipped``,
    ``error``; ``reason`` says why for anything but a send (``no_welcome_code``,
    ``expired``, ``greeted_today``, ``no_welcome``, or WeCom's error in plain words).
    """

    __tablename__ = "welcome_sends"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedup_key"),
        Index("ix_welcome_sends_workspace_id_external_userid", "workspace_id", "external_userid"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    dedup_key: Mapped[str] = mapped_column(String(64), nullable=False)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    userid: Mapped[str] = mapped_column(String(64), nullable=False)
    external_userid: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="sending")
    reason: Mapped[str | None] = mapped_column(String(300))
    # campaign | channel | staff | department | workspace: which welcome; variant: day/night/weekend
    source: Mapped[str | None] = mapped_column(String(16))
    variant: Mapped[str | None] = mapped_column(String(16))
    via: Mapped[str] = mapped_column(String(16), nullable=False, default="callback")
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    latency_ms: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at()


class WelcomeDefault(Base):
    """A default welcome: the workspace's (``staff_id`` and ``department`` NULL), one
    department's (``department``, a path like ``华东/上海``) or one staff member's."""

    __tablename__ = "welcome_defaults"
    __table_args__ = (UniqueConstraint("workspace_id", "staff_id", "department"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    department: Mapped[str | None] = mapped_column(String(200))
    welcome: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    updated_at: Mapped[datetime] = updated_at()


class Store(Base):
    """A physical store (门店) a store channel routes to: where it is and who serves there.

    ``staff_ids``: the store's staff pool (its accounts' single-person codes are shown on
    the store channel's landing page). A store channel's adds carry the state
    ``<channel state>~<store id>``, so each friend (and the funnel) is credited to the store.
    """

    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    city: Mapped[str] = mapped_column(String(32), nullable=False)
    address: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lng: Mapped[float] = mapped_column(Float, nullable=False)
    staff_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
