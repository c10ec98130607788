"""``/api/v1/bindings``: order binding (包裹卡) — friends' links, binding by hand, the list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.acquisition import binding
from siyu.web.api.common import ERRORS, Paging
from siyu.web.auth import DbSession, OperatorUser

router = APIRouter(prefix="/api/v1/bindings", tags=["bindings"], responses=ERRORS)


class BindIn(BaseModel):
    userid: str = Field(min_length=1, max_length=64)
    external_userid: str = Field(min_length=1, max_length=128)
    order_no: str = Field(min_length=1, max_length=80)
    last4: str | None = Field(None, max_length=8)


@router.post("", status_code=201, summary="Bind an order to a friend by hand")
def bind(body: BindIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    """Checked as on the binding page (order number, the phone's last four where the order
    has them, one friend per order); the friend joins the order's buyer through OneID."""
    link = binding.link_for(
        db, workspace_id=user.workspace_id, userid=body.userid, external_userid=body.external_userid
    )
    bound = binding.bind_order(
        db,
        workspace_id=user.workspace_id,
        follow_id=link["follow_id"],
        order_no=body.order_no,
        last4=body.last4,
        source="operator",
        actor=user.actor,
    )
    return bound.as_dict()


@router.get("", summary="Order bindings")
def bindings(user: OperatorUser, db: DbSession, paging: Paging) -> dict[str, Any]:
    rows, total = binding.list_bindings(
        db, workspace_id=user.workspace_id, limit=paging.page_size, offset=paging.offset
    )
    return {"items": rows, "total": total, "page": paging.page, "page_size": paging.page_size}


@router.get("/link", summary="A friend's binding page link")
def link(
    user: OperatorUser,
    db: DbSession,
    userid: Annotated[str, Query(min_length=1, max_length=64)],
    external_userid: Annotated[str, Query(min_length=1, max_length=128)],
) -> dict[str, Any]:
    return binding.link_for(
        db, workspace_id=user.workspace_id, userid=userid, external_userid=external_userid
    )
