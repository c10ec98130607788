"""``/api/v1/dedup``: matrix duplicates (friends of ≥ 2 accounts) and each channel's policy.

Operators and admins read all and set policies; a staff user reads the duplicates that
involve their own account.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.acquisition import dedup, scope
from siyu.web.api.common import ERRORS
from siyu.web.auth import CurrentUser, DbSession, OperatorUser

router = APIRouter(prefix="/api/v1/dedup", tags=["dedup"], responses=ERRORS)


class PolicyIn(BaseModel):
    channel: str = Field(min_length=1, max_length=64, description="A channel's state or name.")
    policy: Literal["allow", "task", "route_back"]


@router.get("", summary="Matrix duplicates per channel and account")
def duplicates(
    user: CurrentUser,
    db: DbSession,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    staff: Annotated[str | None, Query(max_length=64)] = None,
    sample: Annotated[int, Query(ge=0, le=1000)] = 50,
) -> dict[str, Any]:
    """Customers who are active friends of two or more accounts (by external_userid or OneID);
    a staff user: those involving their own account."""
    return dedup.report(
        db,
        workspace_id=user.workspace_id,
        channel=channel,
        staff=staff,
        sample=sample,
        own_staff_id=scope.own(user.role, user.staff_id),
    ).as_dict()


@router.put("/policy", summary="Set a channel's dedup policy")
def set_policy(body: PolicyIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    row = dedup.set_policy(
        db, workspace_id=user.workspace_id, channel=body.channel, policy=body.policy, actor=user.actor
    )
    return {"channel": row.state, "name": row.name, "policy": dedup.policy_of(row)}
