"""One customer's profile as the API serves it: identities, tags, follows, stats, scores,
orders and timeline (phones only ever masked).

The list is ``siyu.customers.views.find_customers``; both are read models of the
customers domain, shared by every door (the web layer only checks who may see whom).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from siyu.customers import repository as repo
from siyu.customers.tags import customer_tags
from siyu.kit import audit
from siyu.kit.errors import NotFound
from siyu.kit.pii import PIIError, get_vault
from siyu.models import (
    Customer,
    CustomerIdentity,
    CustomerScore,
    CustomerStats,
    CustomerTag,
    Event,
    Follow,
    Order,
    Staff,
    Tag,
    TagGroup,
)


def mask_identifier(value: str) -> str:
    """Keep the ends of an id so that people can tell ids apart: ``wmAB…Xy9``."""
    if len(value) <= 6:
        return value[:1] + "*" * (len(value) - 1)
    keep = min(4, len(value) // 4)
    return value[:keep] + "…" + value[-keep:]


class IdentityView(BaseModel):
    id: int
    kind: str
    platform: str
    # Phones: always the masked form. Other ids: full for owner/admin, shortened otherwise.
    value: str | None
    source: str
    created_at: datetime


class TagView(BaseModel):
    id: int
    name: str
    group: str
    source: str
    source_ref: str | None
    added_at: datetime


class FollowView(BaseModel):
    staff_id: int
    staff_userid: str
    staff_name: str
    state: str
    add_way: int | None
    live_code_state: str | None
    remark: str | None
    added_at: datetime | None
    deleted_at: datetime | None
    deleted_by: str | None


class OrderView(BaseModel):
    id: int
    platform: str
    external_id: str
    shop: str | None
    status: str
    ordered_at: datetime | None
    paid_at: datetime | None
    paid_fen: int
    refunded_fen: int
    net_fen: int
    item_count: int
    title: str | None
    province: str | None
    city: str | None


class EventView(BaseModel):
    id: int
    kind: str
    occurred_at: datetime
    source: str
    staff_id: int | None
    group_id: int | None
    order_id: int | None
    payload: dict[str, Any]


class ScoresView(BaseModel):
    recency_days: int | None = None
    r_score: int | None = None
    f_score: int | None = None
    m_score: int | None = None
    rfm_segment: str | None = None
    rfm8: str | None = None
    layer_age: str | None = None
    layer_tier: str | None = None
    layer_value: str | None = None
    lifecycle: str | None = None
    preferred_category: str | None = None
    computed_at: datetime | None = None


class PredictionsView(BaseModel):
    expected_purchases_90d: float | None = None
    p_alive: float | None = None
    expected_value_fen: int | None = None


class StatsView(BaseModel):
    orders_count: int = 0
    paid_orders_count: int = 0
    effective_orders_count: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0
    net_fen: int = 0
    items_count: int = 0
    first_paid_at: datetime | None = None
    last_paid_at: datetime | None = None
    purchase_days: int = 0
    categories: dict[str, Any] = {}
    platforms: dict[str, Any] = {}
    last_interaction_at: datetime | None = None


class CustomerProfile(BaseModel):
    """Everything a user may read about one customer (phones masked)."""

    id: int
    name: str | None
    gender: int
    province: str | None
    city: str | None
    birthday: str | None
    opt_out: bool
    opt_out_at: datetime | None
    anonymised_at: datetime | None
    first_seen_at: datetime | None
    created_at: datetime
    phone_masked: str | None
    can_reveal_phone: bool
    identities: list[IdentityView]
    tags: list[TagView]
    follows: list[FollowView]
    stats: StatsView
    scores: ScoresView
    predictions: PredictionsView
    orders: list[OrderView]
    orders_total: int
    timeline: list[EventView]
    timeline_total: int


def order_view(o: Order) -> OrderView:
    return OrderView(
        id=o.id,
        platform=o.platform,
        external_id=o.external_id,
        shop=o.shop,
        status=o.status,
        ordered_at=o.ordered_at,
        paid_at=o.paid_at,
        paid_fen=o.paid_fen,
        refunded_fen=o.refunded_fen,
        net_fen=o.net_fen,
        item_count=o.item_count,
        title=o.title,
        province=o.province,
        city=o.city,
    )


def event_view(e: Event) -> EventView:
    return EventView(
        id=e.id,
        kind=e.kind,
        occurred_at=e.occurred_at,
        source=e.source,
        staff_id=e.staff_id,
        group_id=e.group_id,
        order_id=e.order_id,
        payload=e.payload or {},
    )


def orders_query(customer: Customer) -> Select[Order]:
    return repo.orders_query(workspace_id=customer.workspace_id, customer_id=customer.id)


def timeline_query(customer: Customer, kind_prefix: str | None = None) -> Select[Event]:
    return repo.timeline_query(
        workspace_id=customer.workspace_id, customer_id=customer.id, kind_prefix=kind_prefix
    )


def profile(
    session: Session,
    customer: Customer,
    *,
    can_reveal_phone: bool,
    orders_limit: int = 20,
    events_limit: int = 50,
) -> CustomerProfile:
    """The profile of a customer the caller may see (check that first).

    ``can_reveal_phone``: the reader may see other ids in full (owners, admins);
    phones are masked for everyone.
    """
    identities = repo.identities_of(session, customer.id)
    id_views = [
        IdentityView(
            id=i.id,
            kind=i.kind,
            platform=i.platform,
            value=(
                i.value_masked
                if i.kind == "phone"
                else (i.value if can_reveal_phone or i.value is None else mask_identifier(i.value))
            ),
            source=i.source,
            created_at=i.created_at,
        )
        for i in identities
    ]
    tags = [
        TagView(
            id=t.id,
            name=t.name,
            group=g.name,
            source=ct.source,
            source_ref=ct.source_ref,
            added_at=ct.created_at,
        )
        for t, g, ct in customer_tags(session, workspace_id=customer.workspace_id, customer_id=customer.id)
    ]
    follows = [
        FollowView(
            staff_id=s.id,
            staff_userid=s.userid,
            staff_name=s.name,
            state=f.state,
            add_way=f.add_way,
            live_code_state=f.live_code_state,
            remark=f.remark,
            added_at=f.added_at,
            deleted_at=f.deleted_at,
            deleted_by=f.deleted_by,
        )
        for f, s in repo.follows_of(session, workspace_id=customer.workspace_id, customer_id=customer.id)
    ]
    st = session.get(CustomerStats, customer.id)
    sc = session.get(CustomerScore, customer.id)
    stats = StatsView.model_validate(st, from_attributes=True) if st is not None else StatsView()
    scores = ScoresView.model_validate(sc, from_attributes=True) if sc is not None else ScoresView()
    predictions = (
        PredictionsView.model_validate(sc, from_attributes=True) if sc is not None else PredictionsView()
    )
    oq = orders_query(customer)
    orders = [order_view(o) for o in session.scalars(oq.limit(orders_limit))]
    orders_total = session.scalar(select(func.count()).select_from(oq.order_by(None).subquery())) or 0
    tq = timeline_query(customer)
    events = [event_view(e) for e in session.scalars(tq.limit(events_limit))]
    events_total = session.scalar(select(func.count()).select_from(tq.order_by(None).subquery())) or 0
    phone = next((i.value_masked for i in identities if i.kind == "phone" and i.value_masked), None)
    return CustomerProfile(
        id=customer.id,
        name=customer.name,
        gender=customer.gender,
        province=customer.province,
        city=customer.city,
        birthday=customer.birthday.isoformat() if customer.birthday else None,
        opt_out=customer.opt_out,
        opt_out_at=customer.opt_out_at,
        anonymised_at=customer.anonymised_at,
        first_seen_at=customer.first_seen_at,
        created_at=customer.created_at,
        phone_masked=phone,
        can_reveal_phone=can_reveal_phone,
        identities=id_views,
        tags=tags,
        follows=follows,
        stats=stats,
        scores=scores,
        predictions=predictions,
        orders=orders,
        orders_total=int(orders_total),
        timeline=events,
        timeline_total=int(events_total),
    )


def reveal_phones(session: Session, customer: Customer, *, actor: str, via: str) -> list[str]:
    """Decrypt the customer's phone numbers, audited (check the reader's role first).

    NotFound when none is on file (or none can be decrypted).
    """
    rows = list(
        session.scalars(
            select(CustomerIdentity)
            .where(CustomerIdentity.customer_id == customer.id, CustomerIdentity.kind == "phone")
            .order_by(CustomerIdentity.id)
        )
    )
    vault = get_vault()
    phones: list[str] = []
    for row in rows:
        if not row.value_enc:
            continue
        try:
            phones.append(vault.decrypt(row.value_enc))
        except (PIIError, ValueError):
            continue
    if not phones:
        raise NotFound(f"customer {customer.id} has no phone number on file", field="phone")
    audit.record(
        session,
        workspace_id=customer.workspace_id,
        actor=actor,
        action="phone.reveal",
        target_type="customer",
        target_id=customer.id,
        detail={"identities": [r.id for r in rows], "via": via},
    )
    return phones


@dataclass
class ProfileRecords:
    """The rows a profile page shows (the console labels them; nothing is masked here,
    so the page must show phones only as ``value_masked``)."""

    identities: list[CustomerIdentity]
    tags: list[tuple[Tag, TagGroup, CustomerTag]]
    other_tags: list[tuple[Tag, TagGroup]]  # live tags the customer does not have
    stats: CustomerStats | None
    score: CustomerScore | None
    orders: list[Order]
    orders_total: int
    follows: list[tuple[Follow, Staff]]
    events: list[Event]


def profile_records(
    session: Session, customer: Customer, *, orders_limit: int = 50, events_limit: int = 50
) -> ProfileRecords:
    """Everything about one customer the caller may see (check that first)."""
    ws = customer.workspace_id
    identities = list(
        session.scalars(
            select(CustomerIdentity)
            .where(CustomerIdentity.workspace_id == ws, CustomerIdentity.customer_id == customer.id)
            .order_by(CustomerIdentity.kind, CustomerIdentity.id)
        )
    )
    tags = list(customer_tags(session, workspace_id=ws, customer_id=customer.id))
    have = {t.id for t, _, _ in tags}
    other_tags = [
        (t, g)
        for t, g in session.execute(
            select(Tag, TagGroup)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(Tag.workspace_id == ws, Tag.deleted_at.is_(None), TagGroup.deleted_at.is_(None))
            .order_by(TagGroup.sort_order, TagGroup.id, Tag.sort_order, Tag.id)
        ).tuples()
        if t.id not in have
    ]
    order_where = (Order.workspace_id == ws, Order.customer_id == customer.id)
    orders = list(
        session.scalars(
            select(Order)
            .where(*order_where)
            .order_by(Order.paid_at.desc().nulls_last(), Order.id.desc())
            .limit(orders_limit)
        )
    )
    orders_total = int(session.scalar(select(func.count()).select_from(Order).where(*order_where)) or 0)
    return ProfileRecords(
        identities=identities,
        tags=tags,
        other_tags=other_tags,
        stats=session.get(CustomerStats, customer.id),
        score=session.get(CustomerScore, customer.id),
        orders=orders,
        orders_total=orders_total,
        follows=list(repo.follows_of(session, workspace_id=ws, customer_id=customer.id)),
        events=list(
            session.scalars(repo.timeline_query(workspace_id=ws, customer_id=customer.id).limit(events_limit))
        ),
    )
