"""``/api/v1/customers/bulk``: tag, untag and export a selection of customers.

A selection is ``customer_ids`` (at most 10,000) or an audience ``expression`` (every
customer it finds, however many). Every action runs inside the caller's data scope: a
staff user reaches only the customers their account follows. Export is for owners,
admins and operators; full phone numbers only for owners and admins (``phones=full``),
and every export is in the audit log. The console and ``siyu customers tag / untag /
export`` call the same functions (``siyu.customers.selection``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, model_validator
from starlette.background import BackgroundTask

from siyu.customers.selection import MAX_EXPRESSION, MAX_IDS, Caller, Selection, bulk_tag, export
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import utcnow, zone
from siyu.web.api.common import ERRORS, MAX_ID
from siyu.web.auth import CurrentUser, DbSession, OperatorUser, Principal

router = APIRouter(prefix="/api/v1/customers/bulk", tags=["customers"], responses=ERRORS)

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def caller_of(user: Principal, via: str | None = None) -> Caller:
    """The domain's view of a logged-in user: workspace, audit name, scope, phone right."""
    scope = None if user.sees_all_customers else (user.staff_id if user.staff_id is not None else -1)
    return Caller(
        workspace_id=user.workspace_id,
        actor=user.actor,
        scope_staff_id=scope,
        staff_id=user.staff_id,
        may_see_phones=user.can_reveal_phone,
        via=via or user.via,
    )


class SelectionIn(BaseModel):
    customer_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        default_factory=list, max_length=MAX_IDS, description="Ticked customers (or give expression)."
    )
    expression: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_EXPRESSION,
        description="Every customer of this audience expression.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> SelectionIn:
        if bool(self.customer_ids) == (self.expression is not None):
            raise ValueError("give either customer_ids or expression")
        return self

    def selection(self) -> Selection:
        if self.expression is not None:
            return Selection(expression=self.expression)
        return Selection(customer_ids=tuple(self.customer_ids))


class BulkTagIn(SelectionIn):
    tag_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=20)


class BulkTagOut(BaseModel):
    customers: int = Field(description="Customers in the selection.")
    changed: int = Field(description="Tag links added (or removed).")
    tags: list[str]


class ExportIn(SelectionIn):
    format: Literal["csv", "xlsx"] = "csv"
    phones: Literal["masked", "full"] = Field("masked", description="full: owners and admins only; audited.")


@router.post("/tag", response_model=BulkTagOut, summary="Tag a selection of customers")
def bulk_tag_customers(body: BulkTagIn, user: CurrentUser, db: DbSession) -> BulkTagOut:
    """Put the tags on every customer of the selection (inside the caller's scope); audited."""
    r = bulk_tag(db, caller_of(user), body.selection(), tag_ids=body.tag_ids)
    return BulkTagOut(customers=r.customers, changed=r.changed, tags=r.tags)


@router.post("/untag", response_model=BulkTagOut, summary="Untag a selection of customers")
def bulk_untag_customers(body: BulkTagIn, user: CurrentUser, db: DbSession) -> BulkTagOut:
    """Take the tags off every customer of the selection (inside the caller's scope); audited."""
    r = bulk_tag(db, caller_of(user), body.selection(), tag_ids=body.tag_ids, remove=True)
    return BulkTagOut(customers=r.customers, changed=r.changed, tags=r.tags)


def export_response(
    db: DbSession, caller: Caller, selection: Selection, fmt: str, full: bool
) -> StreamingResponse:
    """Write the export to a temporary file and stream it back as a download."""
    if fmt not in CONTENT_TYPES:
        raise Invalid("导出格式只能是 csv 或 xlsx", field="format")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the response's background task)
    try:
        # The audit entry commits with the request, before the file goes out.
        export(db, caller, selection, fmt=fmt, out=spool, full_phones=full)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    stamp = utcnow().astimezone(zone(None)).strftime("%Y%m%d-%H%M")
    name = f"客户导出-{stamp}.{fmt}"

    def chunks() -> Iterator[bytes]:
        while block := spool.read(1 << 16):
            yield block

    return StreamingResponse(
        chunks(),
        media_type=CONTENT_TYPES[fmt],
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"customers-{stamp}.{fmt}\"; filename*=UTF-8''{quote(name)}"
            ),
            "Cache-Control": "no-store",
        },
        background=BackgroundTask(spool.close),
    )


@router.post(
    "/export",
    summary="Export a selection of customers (CSV or XLSX)",
    responses={200: {"content": {CONTENT_TYPES["csv"]: {}, CONTENT_TYPES["xlsx"]: {}}}},
)
def export_customers(body: ExportIn, user: OperatorUser, db: DbSession) -> StreamingResponse:
    """The selection as a file: id, name, phone (masked unless ``phones=full``), place, orders,
    net spend, last payment, layer, RFM, tags. Audited with the selection and the phone choice."""
    return export_response(db, caller_of(user), body.selection(), body.format, body.phones == "full")
