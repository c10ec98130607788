"""``/api/v1/transfers``: staff handovers (在职继承 / 离职继承) and who owned a customer when.

Operators and admins start handovers and read all; a staff user reads the handovers from
or to their own account, and the owners of customers they own or owned.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.acquisition import scope
from siyu.staff import transfers
from siyu.web.api.common import ERRORS, Id
from siyu.web.auth import CurrentUser, DbSession, OperatorUser

router = APIRouter(prefix="/api/v1/transfers", tags=["transfers"], responses=ERRORS)


class TransferIn(BaseModel):
    handover: str = Field(min_length=1, max_length=64, description="userid whose customers move.")
    takeover: str | None = Field(None, max_length=64, description="userid that takes them (rule 'hand').")
    rule: Literal["hand", "least_loaded", "same_team"] = "hand"
    customer_ids: list[int] | None = Field(
        None, max_length=10_000, description="Default: all active friends."
    )
    include_groups: bool = False
    message: str | None = Field(None, description="What the customer sees, ≤ 200 characters (in-service).")


class PlanOut(BaseModel):
    batch: str
    kind: str = Field(description="onjob (transfer_customer) or resigned (resigned/transfer_customer).")
    rule: str
    handover: str
    customers: int
    groups: int
    by_takeover: dict[str, int]
    skipped: list[dict[str, Any]]


class PeriodOut(BaseModel):
    staff_id: int
    userid: str
    name: str
    started_at: str | None
    ended_at: str | None
    reason: str = Field(description="add, transfer or resigned")


@router.post("", response_model=PlanOut, status_code=202, summary="Start a customer handover")
def start(body: TransferIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    """Check everything (422 naming the field when anything is wrong, nothing written) and
    queue the handover; the worker calls WeCom in chunks of 100 and polls the results."""
    plan = transfers.start_transfer(
        db,
        workspace_id=user.workspace_id,
        handover=body.handover,
        takeover=body.takeover,
        rule=body.rule,
        customer_ids=body.customer_ids,
        include_groups=body.include_groups,
        message=body.message,
        actor=user.actor,
    )
    return plan.as_dict()


@router.get("", summary="Handover batches and their results")
def batches(
    user: CurrentUser,
    db: DbSession,
    batch: Annotated[str | None, Query(max_length=32)] = None,
) -> list[dict[str, Any]]:
    """Newest first: per batch, customers per status (waiting, done, refused, receiver_full,
    none, failed with WeCom's reason) and groups per status. A staff user: the batches from
    their account (every row) and to it (its rows only)."""
    return transfers.batch_status(
        db, workspace_id=user.workspace_id, batch=batch, staff_id=scope.own(user.role, user.staff_id)
    )


@router.get("/customers/{customer_id}", response_model=list[PeriodOut], summary="Who owned a customer when")
def owners(customer_id: Id, user: CurrentUser, db: DbSession) -> list[dict[str, Any]]:
    """Ownership periods, oldest first (reports credit each period to its owner). A staff
    user: only for a customer their account owns or owned (404 otherwise)."""
    periods = transfers.ownership(
        db,
        workspace_id=user.workspace_id,
        customer_id=customer_id,
        staff_id=scope.own(user.role, user.staff_id),
    )
    return [p.as_dict() for p in periods]
