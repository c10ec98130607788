"""OneID customers, their identities, follows (staff × customer), tags, stats, scores."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
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


class Customer(Base):
    """One person, across every platform and staff account (OneID)."""

    __tablename__ = "customers"

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    name: Mapped[str | None] = mapped_column(String(100))
    # 0 unknown, 1 male, 2 female (WeCom's coding)
    gender: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    avatar: Mapped[str | None] = mapped_column(String(500))
    province: Mapped[str | None] = mapped_column(String(32), index=True)
    city: Mapped[str | None] = mapped_column(String(32), index=True)
    birthday: Mapped[date | None] = mapped_column(Date)
    # PIPL: opted out of automated marketing; automation must honour it.
    opt_out: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    opt_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when this profile was merged into another; the row stays as a tombstone.
    merged_into_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # Who referred this customer (wave 2 referral; lifecycle "advocate").
    referred_by_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class CustomerIdentity(Base):
    """A key that identifies a customer: phone, unionid, external_userid, buyer id.

    ``value_hash`` is an HMAC of (kind, platform, value) and is what matching uses.
    Phones keep no plain value: ``value_enc`` holds the ciphertext and
    ``value_masked`` the display form. Other kinds keep the plain ``value`` because
    the WeCom API and platform exports need it.
    """

    __tablename__ = "customer_identities"
    __table_args__ = (
        UniqueConstraint("workspace_id", "kind", "platform", "value_hash"),
        # The search box's "last four digits of the phone".
        Index("ix_customer_identities_workspace_id_phone_last4", "workspace_id", "phone_last4"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    customer_id: Mapped[int] = fk("customers.id")
    # phone | unionid | external_userid | buyer_id | openid
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    # taobao | youzan | douyin | jd | wecom | <generic platform> | "" for global kinds
    platform: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    value_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[str | None] = mapped_column(String(200))
    value_enc: Mapped[str | None] = mapped_column(Text)
    value_masked: Mapped[str | None] = mapped_column(String(64))
    # Phones only: the last four digits, for search (never enough to identify anyone).
    phone_last4: Mapped[str | None] = mapped_column(String(4))
    # import:<id> | wecom | manual | api
    source: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = created_at()


class ErasedIdentity(Base):
    """The keyed hash of an identity that a PIPL erasure removed (a suppression key).

    No value, ciphertext or mask is kept: only ``value_hash``, the same HMAC that
    matching uses, and the anonymised customer it belonged to. OneID sends an old
    export's row with this key to that anonymised profile (stored without personal data)
    instead of building a new profile of the person who asked to be erased.
    """

    __tablename__ = "erased_identities"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "platform", "value_hash"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    customer_id: Mapped[int] = fk("customers.id")
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    platform: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    value_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    erased_at: Mapped[datetime] = created_at()


class Follow(Base):
    """The relation between one staff account and one customer (a WeCom friendship)."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("workspace_id", "staff_id", "customer_id"),
        Index("ix_follows_workspace_id_state", "workspace_id", "state"),
        # Audiences: "friends of this staff account" read from the index alone.
        Index("ix_follows_staff_id_state_customer_id", "staff_id", "state", "customer_id"),
        # Insights: adds in a period (pass rate, conversion, channel adds), counted per
        # account from the index alone.
        Index(
            "ix_follows_workspace_id_added_at_covering",
            "workspace_id",
            "added_at",
            "staff_id",
            "customer_id",
            "live_code_state",
        ),
        # P&L: the owner of a customer at a time (the oldest friendship then), read
        # from the index alone.
        Index(
            "ix_follows_customer_id_added_at",
            "customer_id",
            "added_at",
            "id",  # the rule's tie-break, so that no sort is needed
            "deleted_at",
            "staff_id",
            "live_code_state",
        ),
        # P&L: friends at month end and adds per account and channel, from indexes alone:
        # all adds (one pass), adds in a period (the covering index above), and deletions
        # before a time (the few).
        Index(
            "ix_follows_workspace_id_staff_id_counts",
            "workspace_id",
            "staff_id",
            "live_code_state",
            "added_at",
        ),
        Index(
            "ix_follows_workspace_id_deleted_at",
            "workspace_id",
            "deleted_at",
            "added_at",
            "staff_id",
            "live_code_state",
            sqlite_where=text("deleted_at IS NOT NULL"),
            postgresql_where=text("deleted_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int] = fk("staff.id")
    customer_id: Mapped[int] = fk("customers.id")
    external_userid: Mapped[str | None] = mapped_column(String(128), index=True)
    # active | deleted_by_customer | deleted_by_staff | transferred | pending (half add)
    state: Mapped[str] = mapped_column(String(24), nullable=False, default="active")
    # WeCom add_way code (0 unknown, 1 QR, 2 phone search, ...)
    add_way: Mapped[int | None] = mapped_column(Integer)
    # The live code "state" the customer came through: attribution key for channels.
    live_code_state: Mapped[str | None] = mapped_column(String(64), index=True)
    remark: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(300))
    oper_userid: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # customer | staff | transfer
    deleted_by: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class TagGroup(Base):
    __tablename__ = "tag_groups"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    wecom_group_id: Mapped[str | None] = mapped_column(String(64), index=True)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("workspace_id", "group_id", "name"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    group_id: Mapped[int] = fk("tag_groups.id")
    name: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    wecom_tag_id: Mapped[str | None] = mapped_column(String(64), index=True)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


class CustomerTag(Base):
    """A tag on a customer, with where it came from."""

    __tablename__ = "customer_tags"
    __table_args__ = (
        UniqueConstraint("customer_id", "tag_id"),
        Index("ix_customer_tags_tag_id_customer_id", "tag_id", "customer_id"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    customer_id: Mapped[int] = fk("customers.id", index=False)
    tag_id: Mapped[int] = fk("tags.id", index=False)
    # manual | rule | keyword | channel | sync | import
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="manual")
    # rule id, keyword rule id, live code state, "user:12"...
    source_ref: Mapped[str | None] = mapped_column(String(64))
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    created_at: Mapped[datetime] = created_at()


class CustomerStats(Base):
    """Aggregates maintained on every order write (never recomputed on the hot path)."""

    __tablename__ = "customer_stats"
    __table_args__ = (
        Index("ix_customer_stats_workspace_id_net_fen", "workspace_id", "net_fen"),
        Index("ix_customer_stats_workspace_id_last_paid_at", "workspace_id", "last_paid_at"),
    )

    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = workspace_fk(index=False)
    orders_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    paid_orders_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # paid orders not fully refunded
    effective_orders_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    net_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cost_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    items_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_order_id: Mapped[int | None] = mapped_column(BigIntPK)
    last_order_id: Mapped[int | None] = mapped_column(BigIntPK)
    # distinct paid purchase days (BG/NBD counts one purchase per day)
    purchase_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # {"面霜": 3, ...} paid items per category / product; platform -> orders
    categories: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    products: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    platforms: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    shops: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    province: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(32))
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = updated_at()


class CustomerScore(Base):
    """RFM, layers and CLV predictions, written by ``siyu segments recompute``."""

    __tablename__ = "customer_scores"
    __table_args__ = (
        Index("ix_customer_scores_workspace_id_rfm_segment", "workspace_id", "rfm_segment"),
        Index("ix_customer_scores_workspace_id_rfm8", "workspace_id", "rfm8"),
    )

    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = workspace_fk(index=False)
    recency_days: Mapped[int | None] = mapped_column(Integer)
    r_score: Mapped[int | None] = mapped_column(Integer)
    f_score: Mapped[int | None] = mapped_column(Integer)
    m_score: Mapped[int | None] = mapped_column(Integer)
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    rfm8: Mapped[str | None] = mapped_column(String(16))
    # new | old
    layer_age: Mapped[str | None] = mapped_column(String(8))
    # svip | vip | regular
    layer_tier: Mapped[str | None] = mapped_column(String(8))
    # high_value | potential | silent
    layer_value: Mapped[str | None] = mapped_column(String(16))
    # lead | friend | first_purchase | repeat | advocate
    lifecycle: Mapped[str | None] = mapped_column(String(16))
    preferred_category: Mapped[str | None] = mapped_column(String(64))
    expected_purchases_90d: Mapped[float | None] = mapped_column(Float)
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_value_fen: Mapped[int | None] = mapped_column(BigInteger)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
