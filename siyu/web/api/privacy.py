"""PIPL requests and the audit log: export, anonymise (owner/admin), audit listing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from siyu.kit.errors import Invalid
from siyu.models import AuditLog
from siyu.privacy.service import anonymise_customer, export_customer
from siyu.web.api.common import ERRORS, Id, Page, Paging, paginate
from siyu.web.auth import AdminUser, DbSession, visible_customer

router = APIRouter(prefix="/api/v1", tags=["privacy"], responses=ERRORS)


class AnonymiseIn(BaseModel):
    confirm: Literal[True] = Field(description="Must be true: anonymising cannot be undone.")
    reason: str | None = Field(None, max_length=500, description="E.g. the ticket of the person's request.")


class AnonymiseOut(BaseModel):
    customer_id: int
    anonymised: bool
    counts: dict[str, int] = Field(description="Rows cleared or removed, per table.")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    detail: dict[str, Any]


@router.get(
    "/customers/{customer_id}/export",
    summary="Export everything about a customer (PIPL)",
    response_model=dict[str, Any],
)
def export(customer_id: Id, user: AdminUser, db: DbSession) -> JSONResponse:
    """All data about one person as JSON, full phone numbers included (owner, admin; audited)."""
    customer = visible_customer(db, user, customer_id)
    data = export_customer(db, workspace_id=user.workspace_id, customer_id=customer.id, actor=user.actor)
    return JSONResponse(
        data,
        headers={
            "Content-Disposition": f'attachment; filename="customer-{customer.id}-export.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/customers/{customer_id}/anonymise",
    response_model=AnonymiseOut,
    summary="Anonymise a customer on request (PIPL)",
)
def anonymise(customer_id: Id, body: AnonymiseIn, user: AdminUser, db: DbSession) -> AnonymiseOut:
    """Remove identities, name, phone, addresses and notes; keep orders and stats (audited)."""
    customer = visible_customer(db, user, customer_id)
    counts = anonymise_customer(
        db, workspace_id=user.workspace_id, customer_id=customer.id, actor=user.actor, reason=body.reason
    )
    return AnonymiseOut(customer_id=customer_id, anonymised=True, counts=counts)


@router.get("/audit", response_model=Page[AuditOut], tags=["audit"], summary="The audit log")
def audit_log(
    user: AdminUser,
    db: DbSession,
    paging: Paging,
    action: Annotated[str | None, Query(max_length=64, description="Exact action, e.g. phone.reveal")] = None,
    actor: Annotated[str | None, Query(max_length=64, description="E.g. user:3, cli, system")] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditOut]:
    """Who did what to whom, newest first (owner, admin)."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Invalid(f"{name} needs a time zone, e.g. 2026-01-31T08:00:00+08:00", field=name)
    stmt = select(AuditLog).where(AuditLog.workspace_id == user.workspace_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if actor:
        stmt = stmt.where(AuditLog.actor == actor)
    if target_type:
        stmt = stmt.where(AuditLog.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditLog.target_id == target_id)
    if since is not None:
        stmt = stmt.where(AuditLog.at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.at < until)
    rows, total = paginate(db, stmt.order_by(AuditLog.id.desc()), paging)
    return Page[AuditOut](
        items=[
            AuditOut(
                id=r.id,
                at=r.at,
                actor=r.actor,
                action=r.action,
                target_type=r.target_type,
                target_id=r.target_id,
                detail=r.detail or {},
            )
            for r in rows
        ],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )
