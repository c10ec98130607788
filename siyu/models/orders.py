"""Orders and line items from every platform, and import runs with row errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
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

ORDER_STATUSES = ("pending", "paid", "shipped", "completed", "closed", "refunded")
# The columns of an order that are about the person (PIPL): cleared on erasure, and
# never written for an order that goes to an anonymised customer. ``extra`` (the
# platform's other columns) is cleared with them.
ORDER_PERSONAL_FIELDS = ("buyer_id", "buyer_name", "phone_masked", "city", "district", "buyer_note")


class Order(Base):
    """One order, unique by (workspace, platform, external id). Money in fen."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("workspace_id", "platform", "external_id"),
        Index("ix_orders_customer_id_paid_at", "customer_id", "paid_at"),
        Index("ix_orders_workspace_id_paid_at", "workspace_id", "paid_at"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    customer_id: Mapped[int | None] = fk("customers.id", nullable=True, ondelete="SET NULL", index=False)
    # taobao | youzan | douyin | jd | <generic platform name>
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)
    shop: Mapped[str | None] = mapped_column(String(100))
    # pending | paid | shipped | completed | closed | refunded
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    raw_status: Mapped[str | None] = mapped_column(String(64))
    ordered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the buyer paid (incl. shipping); 0 until paid.
    paid_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Goods total before discounts, shipping charged.
    goods_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    shipping_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Discounts borne by the brand (cost to us) and by the platform / influencer.
    discount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    platform_discount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Cost of goods when known (from the file or the product catalogue).
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    item_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    title: Mapped[str | None] = mapped_column(String(500))
    buyer_id: Mapped[str | None] = mapped_column(String(128))
    buyer_name: Mapped[str | None] = mapped_column(String(100))
    # Masked/encrypted phone fragments from exports: display and hints only.
    phone_masked: Mapped[str | None] = mapped_column(String(64))
    province: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(32))
    # Staff credited by the platform (有赞 销售导购 / 专属导购), attribution hint.
    guide: Mapped[str | None] = mapped_column(String(64))
    buyer_note: Mapped[str | None] = mapped_column(Text)
    import_id: Mapped[int | None] = fk("import_runs.id", nullable=True, ondelete="SET NULL", index=False)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen


class OrderItem(Base):
    """A line item. ``line_key`` is the platform's sub-order id or a stable position key."""

    __tablename__ = "order_items"
    __table_args__ = (UniqueConstraint("order_id", "line_key"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    order_id: Mapped[int] = fk("orders.id")
    line_key: Mapped[str] = mapped_column(String(64), nullable=False)
    sku: Mapped[str | None] = mapped_column(String(64))
    product_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    spec: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str | None] = mapped_column(String(16))


class ImportRun(Base):
    """One run of ``siyu import orders`` over one file (resumable, with row errors)."""

    __tablename__ = "import_runs"

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    # orders | order_items | customers
    kind: Mapped[str] = mapped_column(String(24), nullable=False, default="orders")
    format: Mapped[str] = mapped_column(String(24), nullable=False)
    filename: Mapped[str] = mapped_column(String(500), nullable=False)
    file_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    # running | completed | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    started_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rows_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_ok: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    orders_created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    orders_updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    orders_unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    customers_created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Last data line whose batch is committed: a re-run may skip up to here.
    committed_line: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(64))


class ImportRowError(Base):
    """A row that did not go in: which file, line, field, and why."""

    __tablename__ = "import_row_errors"

    id: Mapped[int] = pk()
    import_id: Mapped[int] = fk("import_runs.id")
    workspace_id: Mapped[int] = workspace_fk()
    filename: Mapped[str] = mapped_column(String(500), nullable=False)
    line: Mapped[int] = mapped_column(Integer, nullable=False)
    field: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text, nullable=False)
