"""``/api/v1/segments``: count and preview audience expressions, save and list segments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from siyu.kit.errors import Conflict, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import Segment
from siyu.segments.audience import AudienceSyntaxError, saved
from siyu.web.api.common import ERRORS, Id, Page, Paging, count_of, paginate
from siyu.web.api.customer_views import CustomerRow, list_query, rows_for
from siyu.web.auth import CurrentUser, DbSession, OperatorUser, Principal

router = APIRouter(prefix="/api/v1/segments", tags=["segments"], responses=ERRORS)

MAX_EXPRESSION = 10_000


class AudienceIn(BaseModel):
    q: str = Field(min_length=1, max_length=MAX_EXPRESSION, description="Audience expression.")


class PreviewIn(AudienceIn):
    limit: int = Field(20, ge=1, le=100)


class CountOut(BaseModel):
    count: int
    warnings: list[str]


class PreviewOut(CountOut):
    items: list[CustomerRow]


class SegmentIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    q: str = Field(min_length=1, max_length=MAX_EXPRESSION, description="Audience expression.")
    description: str | None = Field(None, max_length=2000)


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str | None
    expression: str
    expression_json: dict[str, Any]
    count: int | None = Field(description="Customers matching now (those the caller may see).")
    last_count: int | None
    last_counted_at: datetime | None
    created_by: str | None
    created_at: datetime
    warnings: list[str] = Field(default_factory=list, description="Unknown tag or staff names, etc.")


def _count(db: DbSession, user: Principal, q: str) -> tuple[int, list[str]]:
    stmt, warnings = list_query(db, user, audience=q)
    return count_of(db, stmt), warnings


def _segment(db: DbSession, user: Principal, segment_id: int) -> Segment:
    seg = db.scalar(
        select(Segment).where(Segment.workspace_id == user.workspace_id, Segment.id == segment_id)
    )
    if seg is None:
        raise NotFound(f"segment {segment_id} does not exist", field="segment_id")
    return seg


def _out(seg: Segment, count: int | None, warnings: list[str] | None = None) -> SegmentOut:
    return SegmentOut(
        id=seg.id,
        name=seg.name,
        description=seg.description,
        expression=seg.expression,
        expression_json=seg.expression_json or {},
        count=count,
        last_count=seg.last_count,
        last_counted_at=seg.last_counted_at,
        created_by=seg.created_by,
        created_at=seg.created_at,
        warnings=warnings or [],
    )


def _remember(seg: Segment, user: Principal, count: int) -> None:
    # Only a workspace-wide count is worth keeping; a staff user's is their share.
    if user.sees_all_customers:
        seg.last_count = count
        seg.last_counted_at = utcnow()


@router.post("/count", response_model=CountOut, summary="Count an audience")
def count(body: AudienceIn, user: CurrentUser, db: DbSession) -> CountOut:
    """How many customers (that the caller may see) match the expression."""
    n, warnings = _count(db, user, body.q)
    return CountOut(count=n, warnings=warnings)


@router.post("/preview", response_model=PreviewOut, summary="Preview an audience")
def preview(body: PreviewIn, user: CurrentUser, db: DbSession) -> PreviewOut:
    """The count and the newest matching customers (phones masked)."""
    stmt, warnings = list_query(db, user, audience=body.q)
    total = count_of(db, stmt)
    customers = list(db.scalars(stmt.limit(body.limit)))
    return PreviewOut(count=total, warnings=warnings, items=rows_for(db, customers))


@router.get("", response_model=list[SegmentOut], summary="Saved segments")
def list_segments(user: CurrentUser, db: DbSession) -> list[SegmentOut]:
    """Every saved segment of the workspace with its last stored count."""
    rows = db.scalars(select(Segment).where(Segment.workspace_id == user.workspace_id).order_by(Segment.name))
    return [_out(s, None) for s in rows]


@router.post("", response_model=SegmentOut, status_code=201, summary="Save a segment")
def create_segment(body: SegmentIn, user: OperatorUser, db: DbSession) -> SegmentOut:
    """Save an expression under a name (checked first; 409 if the name is taken)."""
    name = body.name.strip()
    if name and db.scalar(
        select(Segment.id).where(Segment.workspace_id == user.workspace_id, Segment.name == name)
    ):
        raise Conflict(
            f"a segment named {name!r} already exists; delete it or pick another name", field="name"
        )
    try:
        seg, warnings = saved.save_segment(
            db,
            workspace_id=user.workspace_id,
            name=body.name,
            expression=body.q,
            description=body.description,
            actor=user.actor,
        )
    except AudienceSyntaxError as exc:
        exc.field = "q"
        raise
    return _out(seg, seg.last_count, warnings)


@router.get("/{segment_id}", response_model=SegmentOut, summary="A segment, counted now")
def get_segment(segment_id: Id, user: CurrentUser, db: DbSession) -> SegmentOut:
    """The segment and how many customers match it now."""
    seg = _segment(db, user, segment_id)
    n, _ = _count(db, user, seg.expression)
    _remember(seg, user, n)
    return _out(seg, n)


@router.get("/{segment_id}/customers", response_model=Page[CustomerRow], summary="Customers of a segment")
def segment_customers(segment_id: Id, user: CurrentUser, db: DbSession, paging: Paging) -> Page[CustomerRow]:
    """The matching customers, one page at a time (staff: only those they follow)."""
    seg = _segment(db, user, segment_id)
    stmt, _ = list_query(db, user, audience=seg.expression)
    customers, total = paginate(db, stmt, paging)
    return Page[CustomerRow](
        items=rows_for(db, customers), total=total, page=paging.page, page_size=paging.page_size
    )


@router.delete("/{segment_id}", status_code=204, summary="Delete a segment")
def delete_segment(segment_id: Id, user: OperatorUser, db: DbSession) -> None:
    """Delete a saved segment (the customers are not touched)."""
    seg = _segment(db, user, segment_id)
    saved.delete_segment(db, workspace_id=user.workspace_id, name=seg.name, actor=user.actor)
