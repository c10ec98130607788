"""Read views of customers: the list and one profile (phones only ever masked).

``find_customers`` is the one customer list: the CLI (``siyu customers list``), the
API (``GET /api/v1/customers``) and the console's customer page all call it with
their viewer (``siyu.customers.visibility``), so they filter, count and order alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from siyu.customers import repository as repo
from siyu.customers import search as box
from siyu.customers.schemas import (
    CustomerDetail,
    CustomerRow,
    IdentityOut,
    OrderOut,
    StatsOut,
    TagOut,
)
from siyu.customers.tags import customer_tags
from siyu.customers.visibility import Viewer, WholeWorkspace, live, visible
from siyu.kit.errors import Invalid, NotFound
from siyu.models import Customer, CustomerStats, CustomerTag

Sort = Literal["newest", "oldest", "net_desc", "last_paid_desc"]
SORTS: dict[str, tuple[Any, ...]] = {
    "newest": (Customer.id.desc(),),
    "oldest": (Customer.id.asc(),),
    "net_desc": (func.coalesce(CustomerStats.net_fen, 0).desc(), Customer.id.desc()),
    "last_paid_desc": (CustomerStats.last_paid_at.desc().nulls_last(), Customer.id.desc()),
}


@dataclass
class CustomerList:
    """One page of customers, the total, notes for the user, and what counted them."""

    rows: list[CustomerRow]
    total: int
    warnings: list[str] = field(default_factory=list)
    # "index": the total came from the audience index (an audience filter, whole workspace)
    count_source: str = "sql"


def find_customers(
    session: Session,
    viewer: Viewer,
    *,
    box_text: str | None = None,
    search: str | None = None,
    audience: str | None = None,
    tag_id: int | None = None,
    sort: str = "newest",
    limit: int = 20,
    offset: int = 0,
) -> CustomerList:
    """Live customers ``viewer`` may see, filtered, in ``sort`` order, one page.

    ``box_text``: what was typed in a search box (``siyu.customers.search``): an
    audience expression, or else a plain-text / phone search. ``search``: always a
    plain-text / phone search. ``audience``: an audience expression (a bad one raises
    ``AudienceSyntaxError``). All given filters apply together.
    """
    if limit < 1 or offset < 0:
        raise Invalid("limit must be at least 1 and offset at least 0", field="limit")
    if sort not in SORTS:
        raise Invalid(f"unknown sort {sort!r}; one of {', '.join(SORTS)}", field="sort")
    where: list[ColumnElement[bool]] = [visible(viewer), live()]
    notes: list[str] = []
    texts = [box.read(t) for t in (box_text, search) if t and t.strip()]
    if search and search.strip() and texts[-1].kind == "audience":
        texts[-1] = box.Search("text", search.strip()[: box.MAX_TEXT])
    for found in texts:
        if found.kind == "audience":
            audience = f"({audience}) AND ({found.value})" if audience and audience.strip() else found.value
            continue
        where.append(box.clause(viewer.workspace_id, found))
        if found.note:
            notes.append(found.note)
    if tag_id is not None:
        where.append(
            Customer.id.in_(
                select(CustomerTag.customer_id).where(
                    CustomerTag.workspace_id == viewer.workspace_id, CustomerTag.tag_id == tag_id
                )
            )
        )
    ids_from_index = None
    audience_query = None
    source = "sql"
    if audience and audience.strip():
        from siyu.segments.audience.scoped import matching

        found_set = matching(session, viewer, audience)
        notes.extend(found_set.warnings)
        audience_query = found_set.query
        if found_set.ids is not None and len(where) == 2:
            ids_from_index = found_set.ids  # nothing else filters: the index's set is the answer
            source = "index"
        else:
            where.append(Customer.id.in_(audience_query()))
    if ids_from_index is not None:
        total = len(ids_from_index)
    else:
        total = int(session.scalar(select(func.count()).select_from(Customer).where(*where)) or 0)
    if ids_from_index is not None and sort in ("newest", "oldest"):
        ordered = ids_from_index if sort == "newest" else ids_from_index[::-1]
        page_ids = [int(i) for i in ordered[offset : offset + limit]]
    else:
        if ids_from_index is not None and audience_query is not None:
            where.append(Customer.id.in_(audience_query()))
        stmt = select(Customer.id).where(*where)
        if sort in ("net_desc", "last_paid_desc"):
            stmt = stmt.outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        page_ids = list(session.scalars(stmt.order_by(*SORTS[sort]).limit(limit).offset(offset)))
    return CustomerList(rows_for(session, page_ids), total, notes, source)


def rows_for(session: Session, customer_ids: list[int]) -> list[CustomerRow]:
    """List rows for these customers, in this order (a few batch queries, no N+1)."""
    found = repo.customers_with_stats_and_scores(session, customer_ids=customer_ids)
    ids = [c.id for c, _, _ in found]
    phones = repo.masked_phones(session, customer_ids=ids)
    tags = repo.tag_names(session, customer_ids=ids)
    out = []
    for c, st, sc in found:
        out.append(
            CustomerRow(
                id=c.id,
                name=c.name,
                phone_masked=phones.get(c.id),
                province=c.province or (st.province if st else None),
                city=c.city or (st.city if st else None),
                opt_out=c.opt_out,
                orders_count=st.orders_count if st else 0,
                effective_orders_count=st.effective_orders_count if st else 0,
                net_fen=st.net_fen if st else 0,
                last_paid_at=st.last_paid_at if st else None,
                layer_tier=sc.layer_tier if sc else None,
                layer_value=sc.layer_value if sc else None,
                rfm_segment=sc.rfm_segment if sc else None,
                platforms=sorted(st.platforms or {}) if st else [],
                tags=tags.get(c.id, []),
                created_at=c.created_at,
            )
        )
    return out


def list_customers(
    session: Session, *, workspace_id: int, limit: int = 50, offset: int = 0
) -> list[CustomerRow]:
    """Live customers of the whole workspace, newest first (``siyu customers list``)."""
    return find_customers(session, WholeWorkspace(workspace_id), limit=limit, offset=offset).rows


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
