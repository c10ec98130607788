"""Data scopes: which customers a caller may see.

Owners, admins and operators see every customer of their workspace. A staff user sees
only the customers that their linked staff account follows through an active follow
(a current WeCom friendship). Nobody ever sees another workspace: rows of another
workspace answer 404, exactly like rows that do not exist.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, select
from sqlalchemy.orm import Session

from siyu.kit.errors import NotFound
from siyu.models import Customer, Follow
from siyu.web.auth.deps import Principal

# Merges chain (A into B, later B into C); a bound keeps a corrupt cycle from looping.
MAX_MERGE_HOPS = 20


def customer_scope(user: Principal) -> ColumnElement[bool]:
    """A WHERE clause on ``Customer`` limiting rows to what ``user`` may see."""
    in_workspace = Customer.workspace_id == user.workspace_id
    if user.sees_all_customers:
        return in_workspace
    if user.staff_id is None:
        return false()
    followed = select(Follow.customer_id).where(
        Follow.workspace_id == user.workspace_id,
        Follow.staff_id == user.staff_id,
        Follow.state == "active",
    )
    return and_(in_workspace, Customer.id.in_(followed))


def visible_customer(session: Session, user: Principal, customer_id: int) -> Customer:
    """The customer if ``user`` may see it; otherwise 404 (never 403: no existence leaks).

    An id that OneID merged into another profile leads to the surviving profile, so
    that links and exports made before the merge keep working.
    """
    current = customer_id
    for _ in range(MAX_MERGE_HOPS):
        merged_into = session.scalar(
            select(Customer.merged_into_id).where(
                Customer.id == current, Customer.workspace_id == user.workspace_id
            )
        )
        if merged_into is None:
            break
        current = merged_into
    customer = session.scalar(select(Customer).where(Customer.id == current, customer_scope(user)))
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
    return customer


def visible_customer_ids(session: Session, user: Principal, customer_ids: list[int]) -> list[int]:
    """The subset of ``customer_ids`` that ``user`` may see; NotFound naming the first other."""
    wanted = sorted(set(customer_ids))
    seen: set[int] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        seen.update(session.scalars(select(Customer.id).where(Customer.id.in_(chunk), customer_scope(user))))
    for cid in wanted:
        if cid not in seen:
            raise NotFound(f"customer {cid} does not exist", field="customer_ids")
    return wanted
