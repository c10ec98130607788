"""Inputs and outputs of the customers domain (OneID identities, profile views)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

IDENTITY_KINDS = ("phone", "unionid", "external_userid", "buyer_id", "openid")
# Kinds that mean the same person on every platform; the others are platform-scoped
# (a Taobao nick and a JD account with the same spelling are different people).
GLOBAL_KINDS = frozenset({"phone", "unionid", "external_userid"})


@dataclass(frozen=True, slots=True)
class IdentityInput:
    """A key that identifies a customer: ``kind`` in IDENTITY_KINDS, platform for scoped kinds."""

    kind: str
    value: str
    platform: str = ""


class IdentityOut(BaseModel):
    kind: str
    platform: str
    # Plain value for non-phone kinds; phones only ever appear masked.
    value: str | None
    source: str
    created_at: datetime


class TagOut(BaseModel):
    group: str
    name: str
    source: str


class StatsOut(BaseModel):
    orders_count: int = 0
    paid_orders_count: int = 0
    effective_orders_count: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0
    net_fen: int = 0
    cost_fen: int = 0
    items_count: int = 0
    first_paid_at: datetime | None = None
    last_paid_at: datetime | None = None
    first_order_id: int | None = None
    last_order_id: int | None = None
    purchase_days: int = 0
    categories: dict[str, Any] = {}
    products: dict[str, Any] = {}
    platforms: dict[str, Any] = {}
    shops: dict[str, Any] = {}
    province: str | None = None
    city: str | None = None


class OrderOut(BaseModel):
    id: int
    platform: str
    external_id: str
    shop: str | None
    status: str
    raw_status: str | None
    ordered_at: datetime | None
    paid_at: datetime | None
    paid_fen: int
    refunded_fen: int
    net_fen: int
    item_count: int
    title: str | None


class CustomerRow(BaseModel):
    """One customer in a list: the same row in the CLI, the API and the console.

    Phones only ever masked. ``province`` / ``city`` fall back to the latest order's
    address when the profile has none.
    """

    id: int
    name: str | None
    phone_masked: str | None
    province: str | None
    city: str | None
    opt_out: bool = False
    orders_count: int = 0
    effective_orders_count: int = 0
    net_fen: int = 0
    last_paid_at: datetime | None = None
    layer_tier: str | None = None
    layer_value: str | None = None
    rfm_segment: str | None = None
    platforms: list[str] = []
    tags: list[str] = []
    created_at: datetime


# ``siyu customers list --json`` rows (the name it had before the read model was shared).
CustomerSummary = CustomerRow


class CustomerDetail(BaseModel):
    """``siyu customers show ID --json``: profile, identities, tags, orders, stats."""

    id: int
    name: str | None
    gender: int
    province: str | None
    city: str | None
    opt_out: bool
    first_seen_at: datetime | None
    created_at: datetime
    merged_ids: list[int]
    phone_masked: str | None
    identities: list[IdentityOut]
    tags: list[TagOut]
    stats: StatsOut
    orders: list[OrderOut]
    orders_total: int
