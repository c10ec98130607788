"""``/api/v1/customers``: list, profile, orders, timeline, phone reveal, tags, opt-out."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.customers.profile import (
    CustomerProfile,
    EventView,
    OrderView,
    event_view,
    order_view,
    orders_query,
    profile,
    reveal_phones,
    timeline_query,
)
from siyu.customers.schemas import CustomerRow
from siyu.customers.tags import add_tags, ensure_tag, find_tag, live_tags, remove_tags
from siyu.customers.views import find_customers
from siyu.kit.errors import NotFound
from siyu.privacy.service import set_opt_out
from siyu.segments.audience import AudienceSyntaxError
from siyu.web.api.common import ERRORS, MAX_ID, Id, Page, Paging, paginate
from siyu.web.auth import AdminUser, CurrentUser, DbSession, visible_customer

router = APIRouter(prefix="/api/v1/customers", tags=["customers"], responses=ERRORS)


class CustomerPage(Page[CustomerRow]):
    warnings: list[str] = Field(default_factory=list, description="Notes about the audience expression.")


class RevealOut(BaseModel):
    customer_id: int
    phones: list[str] = Field(description="Full numbers in E.164; this reveal is in the audit log.")


class OptOutIn(BaseModel):
    opt_out: bool
    reason: str | None = Field(None, max_length=500)


class OptOutOut(BaseModel):
    customer_id: int
    opt_out: bool


class TagRef(BaseModel):
    name: str = Field(min_length=1, max_length=30)
    group: str = Field("默认", min_length=1, max_length=30)


class CustomerTagsIn(BaseModel):
    tag_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=100)
    tags: list[TagRef] = Field(
        default_factory=list, max_length=100, description="Tags by name; created if missing (not for staff)."
    )


class TagsChanged(BaseModel):
    customer_id: int
    added: int = 0
    removed: int = 0


@router.get("", response_model=CustomerPage, summary="List and search customers")
def list_customers(
    user: CurrentUser,
    db: DbSession,
    paging: Paging,
    search: Annotated[
        str | None,
        Query(
            max_length=100,
            description=(
                "Name, staff remark or group nickname contains; four digits: the phone's last four;"
                " or a whole phone number. Never an error."
            ),
        ),
    ] = None,
    q: Annotated[str | None, Query(max_length=10_000, description="Audience expression.")] = None,
    tag_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    sort: Literal["newest", "oldest", "net_desc", "last_paid_desc"] = "newest",
) -> CustomerPage:
    """Customers the caller may see (staff: only those they follow), one page at a time."""
    try:
        found = find_customers(
            db,
            user,
            search=search,
            audience=q,
            tag_id=tag_id,
            sort=sort,
            limit=paging.page_size,
            offset=paging.offset,
        )
    except AudienceSyntaxError as exc:
        exc.field = "q"
        raise
    return CustomerPage(
        items=found.rows,
        total=found.total,
        page=paging.page,
        page_size=paging.page_size,
        warnings=found.warnings,
    )


@router.get("/{customer_id}", response_model=CustomerProfile, summary="A customer's profile")
def get_customer(
    customer_id: Id,
    user: CurrentUser,
    db: DbSession,
    orders_limit: Annotated[int, Query(ge=0, le=200)] = 20,
    events_limit: Annotated[int, Query(ge=0, le=200)] = 50,
) -> CustomerProfile:
    """Identities (masked), tags, follows, stats, layers and scores, predictions, orders, timeline."""
    customer = visible_customer(db, user, customer_id)
    return profile(
        db,
        customer,
        can_reveal_phone=user.can_reveal_phone,
        orders_limit=orders_limit,
        events_limit=events_limit,
    )


@router.get("/{customer_id}/orders", response_model=Page[OrderView], summary="A customer's orders")
def customer_orders(customer_id: Id, user: CurrentUser, db: DbSession, paging: Paging) -> Page[OrderView]:
    """Every order of the customer, newest first."""
    customer = visible_customer(db, user, customer_id)
    rows, total = paginate(db, orders_query(customer), paging)
    return Page[OrderView](
        items=[order_view(o) for o in rows], total=total, page=paging.page, page_size=paging.page_size
    )


@router.get("/{customer_id}/timeline", response_model=Page[EventView], summary="A customer's timeline")
def customer_timeline(
    customer_id: Id,
    user: CurrentUser,
    db: DbSession,
    paging: Paging,
    kind: Annotated[
        str | None, Query(max_length=48, description="Kind prefix, e.g. 'message' or 'order.'")
    ] = None,
) -> Page[EventView]:
    """Events about the customer (messages, friend changes, groups, orders), newest first."""
    customer = visible_customer(db, user, customer_id)
    rows, total = paginate(db, timeline_query(customer, kind), paging)
    return Page[EventView](
        items=[event_view(e) for e in rows], total=total, page=paging.page, page_size=paging.page_size
    )


@router.post("/{customer_id}/reveal-phone", response_model=RevealOut, summary="Show the full phone number")
def reveal_phone(customer_id: Id, user: AdminUser, db: DbSession) -> RevealOut:
    """Decrypt the customer's phone numbers (owner, admin); every reveal is audited."""
    customer = visible_customer(db, user, customer_id)
    phones = reveal_phones(db, customer, actor=user.actor, via=user.via)
    return RevealOut(customer_id=customer.id, phones=phones)


@router.put("/{customer_id}/opt-out", response_model=OptOutOut, summary="Opt a customer out of marketing")
def put_opt_out(customer_id: Id, body: OptOutIn, user: CurrentUser, db: DbSession) -> OptOutOut:
    """Record the customer's refusal (or renewed consent) of automated marketing; audited."""
    customer = visible_customer(db, user, customer_id)
    set_opt_out(
        db,
        workspace_id=user.workspace_id,
        customer_id=customer.id,
        opt_out=body.opt_out,
        actor=user.actor,
        reason=body.reason,
    )
    return OptOutOut(customer_id=customer.id, opt_out=customer.opt_out)


def _live_tag_ids(db: DbSession, workspace_id: int, tag_ids: list[int]) -> list[int]:
    return sorted(t.id for t in live_tags(db, workspace_id=workspace_id, tag_ids=tag_ids))


@router.post("/{customer_id}/tags", response_model=TagsChanged, summary="Tag a customer")
def tag_customer(customer_id: Id, body: CustomerTagsIn, user: CurrentUser, db: DbSession) -> TagsChanged:
    """Add tags by id or by name (names are created if missing, except by staff)."""
    customer = visible_customer(db, user, customer_id)
    tag_ids = _live_tag_ids(db, user.workspace_id, body.tag_ids)
    for ref in body.tags:
        if user.role == "staff":
            found = find_tag(db, workspace_id=user.workspace_id, name=ref.name, group_name=ref.group)
            if found is None:
                raise NotFound(
                    f"tag {ref.name!r} in group {ref.group!r} does not exist; ask an operator to create it",
                    field="tags",
                )
            tag_ids.append(found.id)
        else:
            tag_ids.append(
                ensure_tag(db, workspace_id=user.workspace_id, name=ref.name, group_name=ref.group).id
            )
    added = add_tags(
        db,
        workspace_id=user.workspace_id,
        customer_ids=[customer.id],
        tag_ids=tag_ids,
        source="manual",
        source_ref=user.actor,
        staff_id=user.staff_id,
    )
    return TagsChanged(customer_id=customer.id, added=added)


@router.delete("/{customer_id}/tags/{tag_id}", response_model=TagsChanged, summary="Untag a customer")
def untag_customer(customer_id: Id, tag_id: Id, user: CurrentUser, db: DbSession) -> TagsChanged:
    """Remove one tag from the customer (whatever put it there)."""
    customer = visible_customer(db, user, customer_id)
    _live_tag_ids(db, user.workspace_id, [tag_id])
    removed = remove_tags(db, workspace_id=user.workspace_id, customer_ids=[customer.id], tag_ids=[tag_id])
    return TagsChanged(customer_id=customer.id, removed=removed)
