"""``/api/v1/segments``: count and preview audience expressions, save and list segments.

Handlers call the segments domain only: ``audience.scoped.count`` (the count the CLI
and the console use; the audience index answers whole-workspace callers),
``customers.views.find_customers`` for customer pages, ``audience.saved`` for
segments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.customers.schemas import CustomerRow
from siyu.customers.views import find_customers
from siyu.models import Segment
from siyu.segments.audience import AudienceSyntaxError, saved, scoped
from siyu.web.api.common import ERRORS, Id, Page, Paging
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
    answered_by: Literal["index", "sql"] = Field(
        "sql", description="The audience index (whole workspace, index fresh) or one SQL statement."
    )


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


def _count(db: DbSession, user: Principal, q: str) -> scoped.AudienceCount:
    try:
        return scoped.count(db, user, q)
    except AudienceSyntaxError as exc:
        exc.field = "q"
        raise


def _segment(db: DbSession, user: Principal, segment_id: int) -> Segment:
    return saved.segment_by_id(db, workspace_id=user.workspace_id, segment_id=segment_id)


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


def _counted(result: scoped.AudienceCount) -> CountOut:
    return CountOut(count=result.count, warnings=result.warnings, answered_by=result.source)


@router.post("/count", response_model=CountOut, summary="Count an audience")
def count(body: AudienceIn, user: CurrentUser, db: DbSession) -> CountOut:
    """How many customers (that the caller may see) match the expression."""
    return _counted(_count(db, user, body.q))


@router.get("/count", response_model=CountOut, summary="Count an audience (GET)")
def count_get(
    user: CurrentUser,
    db: DbSession,
    q: Annotated[str, Query(min_length=1, max_length=MAX_EXPRESSION, description="Audience expression.")],
) -> CountOut:
    """The same count as ``POST /count``, for links, dashboards and caches."""
    return _counted(_count(db, user, q))


@router.post("/preview", response_model=PreviewOut, summary="Preview an audience")
def preview(body: PreviewIn, user: CurrentUser, db: DbSession) -> PreviewOut:
    """The count and the newest matching customers (phones masked)."""
    try:
        found = find_customers(db, user, audience=body.q, limit=body.limit)
    except AudienceSyntaxError as exc:
        exc.field = "q"
        raise
    return PreviewOut(
        count=found.total,
        warnings=found.warnings,
        items=found.rows,
        answered_by="index" if found.count_source == "index" else "sql",
    )


@router.get("", response_model=list[SegmentOut], summary="Saved segments")
def list_segments(user: CurrentUser, db: DbSession) -> list[SegmentOut]:
    """Every saved segment of the workspace with its last stored count."""
    return [_out(s, None) for s in saved.list_segments(db, workspace_id=user.workspace_id)]


@router.post("", response_model=SegmentOut, status_code=201, summary="Save a segment")
def create_segment(body: SegmentIn, user: OperatorUser, db: DbSession) -> SegmentOut:
    """Save an expression under a name (checked first; 409 if the name is taken)."""
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
    if user.sees_all_customers:  # a workspace-wide count is worth keeping; a staff user's is a share
        seg = saved.recount_segment(db, workspace_id=user.workspace_id, name=seg.name)
        return _out(seg, seg.last_count)
    return _out(seg, _count(db, user, seg.expression).count)


@router.get("/{segment_id}/customers", response_model=Page[CustomerRow], summary="Customers of a segment")
def segment_customers(segment_id: Id, user: CurrentUser, db: DbSession, paging: Paging) -> Page[CustomerRow]:
    """The matching customers, one page at a time (staff: only those they follow)."""
    seg = _segment(db, user, segment_id)
    found = find_customers(db, user, audience=seg.expression, limit=paging.page_size, offset=paging.offset)
    return Page[CustomerRow](
        items=found.rows, total=found.total, page=paging.page, page_size=paging.page_size
    )


@router.delete("/{segment_id}", status_code=204, summary="Delete a segment")
def delete_segment(segment_id: Id, user: OperatorUser, db: DbSession) -> None:
    """Delete a saved segment (the customers are not touched)."""
    seg = _segment(db, user, segment_id)
    saved.delete_segment(db, workspace_id=user.workspace_id, name=seg.name, actor=user.actor)
