"""Who sees which customers: the viewer every read of customers is asked for.

A *viewer* is anything with ``workspace_id``, ``staff_id`` and ``sees_all_customers``:
the web's ``Principal`` (owners, admins and operators see the whole workspace; a staff
user only the customers their staff account follows through an active follow) or
``WholeWorkspace`` for the CLI and jobs. Counts, lists and profiles take a viewer, so
the CLI, the API and the console answer the same question the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, Select, and_, false, select

from siyu.models import Customer, Follow


class Viewer(Protocol):
    """The reader of customers: a workspace, and a staff account when scoped to one."""

    @property
    def workspace_id(self) -> int: ...

    @property
    def staff_id(self) -> int | None: ...

    @property
    def sees_all_customers(self) -> bool: ...


@dataclass(frozen=True)
class WholeWorkspace:
    """Every customer of one workspace (the CLI, jobs, owners and operators)."""

    workspace_id: int
    staff_id: int | None = None

    @property
    def sees_all_customers(self) -> bool:
        return True


def followed_by(viewer: Viewer) -> Select[int]:
    """Ids of the customers the viewer's staff account follows (an active follow)."""
    return select(Follow.customer_id).where(
        Follow.workspace_id == viewer.workspace_id,
        Follow.staff_id == viewer.staff_id,
        Follow.state == "active",
    )


def visible(viewer: Viewer) -> ColumnElement[bool]:
    """A WHERE clause on ``Customer`` limiting rows to what ``viewer`` may see."""
    in_workspace = Customer.workspace_id == viewer.workspace_id
    if viewer.sees_all_customers:
        return in_workspace
    if viewer.staff_id is None:
        return false()
    return and_(in_workspace, Customer.id.in_(followed_by(viewer)))


def live() -> ColumnElement[bool]:
    """Merged tombstones and anonymised profiles are no one to work with or count."""
    return and_(Customer.merged_into_id.is_(None), Customer.anonymised_at.is_(None))
