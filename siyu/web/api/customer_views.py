"""Read-side queries of the customer API: the list, the profile, the timeline.

Every query here is built on ``customer_scope`` so that a staff user only ever reads
the customers their staff account follows.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from siyu.customers import repository as repo
from siyu.customers.tags import customer_tags
from siyu.kit.errors import Invalid
from siyu.kit.pii import PIIError, get_vault, normalise_phone
from siyu.models import (
    Customer,
    CustomerIdentity,
    CustomerScore,
    CustomerStats,
    CustomerTag,
    Event,
    Order,
)
from siyu.web.auth import Principal, customer_scope

# Digits with the usual separators: a search that looks like a phone number.
_PHONEISH = re.compile(r"^\+?[\d\s\-()]{7,}$")
SORTS = {
    "newest": (Customer.id.desc(),),
    "oldest": (Customer.id.asc(),),
    "net_desc": (func.coalesce(CustomerStats.net_fen, 0).desc(), Customer.id.desc()),
    "last_paid_desc": (CustomerStats.last_paid_at.desc().nulls_last(), Customer.id.desc()),
}


class CustomerRow(BaseModel):
    """One customer in a list (phones masked)."""

    id: int
    name: str | None
    phone_masked: str | None
    province: str | None
    city: str | None
    opt_out: bool
    orders_count: int
    effective_orders_count: int
    net_fen: int
    last_paid_at: datetime | None
    layer_tier: str | None
    layer_value: str | None
    rfm_segment: str | None
    tags: list[str]
    created_at: datetime


def search_clause(workspace_id: int, search: str) -> ColumnElement[bool]:
    """Name contains ``search``; a phone-like search matches the phone's HMAC exactly."""
    text = search.strip()
    if _PHONEISH.match(text):
        try:
            e164 = normalise_phone(text)
        except PIIError:
            raise Invalid(
                f"{text!r} is not a complete phone number; phone search needs the whole number "
                "(numbers are stored hashed, so partial numbers cannot be searched)",
                field="search",
            ) from None
        if e164 is None:
            raise Invalid("a masked phone number cannot be searched", field="search")
        digest = get_vault().identity_hash("phone", e164)
        return Customer.id.in_(
            select(CustomerIdentity.customer_id).where(
                CustomerIdentity.workspace_id == workspace_id,
                CustomerIdentity.kind == "phone",
                CustomerIdentity.value_hash == digest,
            )
        )
    pattern = f"%{repo.escape_like(text)}%"
    return or_(Customer.name.like(pattern, escape="\\"), Customer.city.like(pattern, escape="\\"))


def list_query(
    session: Session,
    user: Principal,
    *,
    search: str | None = None,
    audience: str | None = None,
    tag_id: int | None = None,
    sort: str = "newest",
) -> tuple[Select[Customer], list[str]]:
    """The customers ``user`` may see, filtered; returns (query, audience warnings)."""
    stmt = (
        select(Customer)
        .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        # Merged tombstones and anonymised profiles are no one to work with: like every
        # count and audience, the list leaves them out (they stay readable by id).
        .where(customer_scope(user), Customer.merged_into_id.is_(None), Customer.anonymised_at.is_(None))
    )
    warnings: list[str] = []
    if search and search.strip():
        stmt = stmt.where(search_clause(user.workspace_id, search))
    if audience and audience.strip():
        from siyu.segments.audience import AudienceSyntaxError, compile_expr

        try:
            compiled = compile_expr(session, workspace_id=user.workspace_id, expr=audience)
        except AudienceSyntaxError as exc:
            exc.field = "q"
            raise
        warnings = list(compiled.warnings)
        stmt = stmt.where(Customer.id.in_(compiled.query))
    if tag_id is not None:
        stmt = stmt.where(
            Customer.id.in_(
                select(CustomerTag.customer_id).where(
                    CustomerTag.workspace_id == user.workspace_id, CustomerTag.tag_id == tag_id
                )
            )
        )
    return stmt.order_by(*SORTS[sort]), warnings


def rows_for(session: Session, customers: list[Customer]) -> list[CustomerRow]:
    """List rows for a page of customers (a handful of batch queries, no N+1)."""
    ids = [c.id for c in customers]
    stats = repo.stats_by_customer(session, customer_ids=ids)
    scores = repo.scores_by_customer(session, customer_ids=ids)
    phones = repo.masked_phones(session, customer_ids=ids)
    tags = repo.tag_names(session, customer_ids=ids)
    out = []
    for c in customers:
        st = stats.get(c.id)
        sc = scores.get(c.id)
        out.append(
            CustomerRow(
                id=c.id,
                name=c.name,
                phone_masked=phones.get(c.id),
                province=c.province,
                city=c.city,
                opt_out=c.opt_out,
                orders_count=st.orders_count if st else 0,
                effective_orders_count=st.effective_orders_count if st else 0,
                net_fen=st.net_fen if st else 0,
                last_paid_at=st.last_paid_at if st else None,
                layer_tier=sc.layer_tier if sc else None,
                layer_value=sc.layer_value if sc else None,
                rfm_segment=sc.rfm_segment if sc else None,
                tags=tags.get(c.id, []),
                created_at=c.created_at,
            )
        )
    return out


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
    session: Session, user: Principal, customer: Customer, *, orders_limit: int = 20, events_limit: int = 50
) -> CustomerProfile:
    """The profile of a customer the caller may see (check that first)."""
    identities = repo.identities_of(session, customer.id)
    id_views = [
        IdentityView(
            id=i.id,
            kind=i.kind,
            platform=i.platform,
            value=(
                i.value_masked
                if i.kind == "phone"
                else (i.value if user.can_reveal_phone or i.value is None else mask_identifier(i.value))
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
        can_reveal_phone=user.can_reveal_phone,
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
