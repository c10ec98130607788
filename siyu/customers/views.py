"""Read views of customers: the list and one profile (phones only ever masked)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.customers import repository as repo
from siyu.customers.schemas import CustomerDetail, CustomerSummary, IdentityOut, OrderOut, StatsOut, TagOut
from siyu.customers.tags import customer_tags
from siyu.kit.errors import Invalid, NotFound


def list_customers(
    session: Session, *, workspace_id: int, limit: int = 50, offset: int = 0
) -> list[CustomerSummary]:
    """Live customers (merged tombstones left out), newest first, with their stats."""
    if limit < 1 or offset < 0:
        raise Invalid("limit must be at least 1 and offset at least 0", field="limit")
    rows = repo.list_customers(session, workspace_id=workspace_id, limit=limit, offset=offset)
    phones = repo.masked_phones(session, customer_ids=[c.id for c, _ in rows])
    out = []
    for c, st in rows:
        out.append(
            CustomerSummary(
                id=c.id,
                name=c.name,
                phone_masked=phones.get(c.id),
                province=c.province,
                city=c.city,
                orders_count=st.orders_count if st else 0,
                effective_orders_count=st.effective_orders_count if st else 0,
                net_fen=st.net_fen if st else 0,
                last_paid_at=st.last_paid_at if st else None,
                platforms=sorted(st.platforms) if st else [],
                created_at=c.created_at,
            )
        )
    return out


def customer_detail(
    session: Session, *, workspace_id: int, customer_id: int, orders_limit: int = 50
) -> CustomerDetail:
    """Everything about one customer; a merged id shows the profile it was merged into."""
    live = repo.live_customer_id(session, workspace_id=workspace_id, customer_id=customer_id)
    customer = (
        None if live is None else repo.get_customer(session, workspace_id=workspace_id, customer_id=live)
    )
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist in this workspace", field="customer_id")
    idents = repo.identities_of(session, customer.id)
    st = repo.stats_of(session, customer.id)
    orders, total = repo.orders_of(session, customer.id, orders_limit)
    phone = next((i.value_masked for i in idents if i.kind == "phone" and i.value_masked), None)
    return CustomerDetail(
        id=customer.id,
        name=customer.name,
        gender=customer.gender,
        province=customer.province,
        city=customer.city,
        opt_out=customer.opt_out,
        first_seen_at=customer.first_seen_at,
        created_at=customer.created_at,
        merged_ids=repo.merged_ids_of(session, workspace_id=workspace_id, customer_id=customer.id),
        phone_masked=phone,
        identities=[
            IdentityOut(
                kind=i.kind,
                platform=i.platform,
                value=i.value_masked if i.kind == "phone" else i.value,
                source=i.source,
                created_at=i.created_at,
            )
            for i in idents
        ],
        tags=[
            TagOut(group=g.name, name=t.name, source=ct.source)
            for t, g, ct in customer_tags(session, workspace_id=workspace_id, customer_id=customer.id)
        ],
        stats=StatsOut.model_validate(st, from_attributes=True) if st else StatsOut(),
        orders=[
            OrderOut(
                id=o.id,
                platform=o.platform,
                external_id=o.external_id,
                shop=o.shop,
                status=o.status,
                raw_status=o.raw_status,
                ordered_at=o.ordered_at,
                paid_at=o.paid_at,
                paid_fen=o.paid_fen,
                refunded_fen=o.refunded_fen,
                net_fen=o.net_fen,
                item_count=o.item_count,
                title=o.title,
            )
            for o in orders
        ],
        orders_total=total,
    )
