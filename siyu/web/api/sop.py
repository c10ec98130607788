"""``/api/v1/sop``: SOP plans (save, activate, pause, copy, preview) and enrollments.

Operators and above manage plans; anyone signed in reads them. A customer's
enrollments follow the customer's visibility, a group's the group's.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from siyu.automation.sop import service
from siyu.automation.sop.service import PlanInput
from siyu.automation.sop.templates import TEMPLATES, template
from siyu.community.service import get_group
from siyu.web.api.common import ERRORS, Id
from siyu.web.auth import CurrentUser, DbSession, OperatorUser
from siyu.web.auth.scope import visible_customer

router = APIRouter(prefix="/api/v1/sop", tags=["sop"], responses=ERRORS)


class PlanIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    subject: str = Field(
        "customer",
        max_length=16,
        description="customer (one enrollment per customer and occurrence) or group (one per group).",
    )
    trigger: dict[str, Any] = Field(description="{kind: friend_added | tag_added | ... , ...} (docs/sop.md)")
    steps: list[dict[str, Any]] = Field(min_length=1, max_length=30)
    audience: str | None = Field(
        None, max_length=2000, description="Audience expression (docs/audiences.md)."
    )
    exits: list[Any] = Field(default_factory=list, max_length=10)
    description: str | None = Field(None, max_length=2000)


class FromTemplate(BaseModel):
    template: Literal["onboarding", "post_purchase", "wakeup", "svip", "group_onboarding"]
    name: str | None = Field(None, min_length=1, max_length=100)


class ActivateIn(BaseModel):
    enroll_existing: bool = Field(
        False, description="Enroll customers (a group plan: groups) who already match now."
    )
    dry_run: bool = Field(False, description="Only count who already matches.")


def _input(body: PlanIn) -> PlanInput:
    return PlanInput.from_dict(body.model_dump())


@router.get("/templates", summary="Plan templates from practice")
def list_templates(user: CurrentUser) -> list[dict[str, Any]]:
    return [{"template": k, **v} for k, v in TEMPLATES.items()]


@router.get("/plans", summary="SOP plans with their enrollment counts")
def list_plans(
    user: CurrentUser, db: DbSession, status: Literal["draft", "active", "paused", "archived"] | None = None
) -> list[dict[str, Any]]:
    return [
        {
            **service.plan_dict(p),
            "enrollments": service.enrollment_counts(db, workspace_id=user.workspace_id, plan_id=p.id),
        }
        for p in service.list_plans(db, workspace_id=user.workspace_id, status=status)
    ]


@router.post("/plans", status_code=201, summary="Create a draft plan (checked whole)")
def create_plan(body: PlanIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    plan = service.create_plan(db, workspace_id=user.workspace_id, data=_input(body), actor=user.actor)
    return service.plan_dict(plan)


@router.post("/plans/from-template", status_code=201, summary="Create a draft plan from a template")
def create_from_template(body: FromTemplate, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    data = template(body.template)
    if body.name:
        data["name"] = body.name
    plan = service.create_plan(
        db, workspace_id=user.workspace_id, data=PlanInput.from_dict(data), actor=user.actor
    )
    return service.plan_dict(plan)


@router.get("/plans/{plan_id}", summary="A plan with its timeline and each step's reach now")
def get_plan(plan_id: Id, user: CurrentUser, db: DbSession) -> dict[str, Any]:
    plan = service.get_plan(db, workspace_id=user.workspace_id, plan_id=plan_id)
    return {
        **service.plan_dict(plan),
        "preview": service.preview(db, workspace_id=user.workspace_id, plan_id=plan_id),
    }


@router.put("/plans/{plan_id}", summary="Replace a plan's parts (enrolled customers stay, once)")
def update_plan(plan_id: Id, body: PlanIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    plan = service.update_plan(
        db, workspace_id=user.workspace_id, plan_id=plan_id, data=_input(body), actor=user.actor
    )
    return service.plan_dict(plan)


@router.post("/plans/{plan_id}/copy", status_code=201, summary="A draft copy of a plan")
def copy_plan(plan_id: Id, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    plan = service.copy_plan(db, workspace_id=user.workspace_id, plan_id=plan_id, actor=user.actor)
    return service.plan_dict(plan)


@router.post("/plans/{plan_id}/activate", summary="Start or resume; says how many already match")
def activate(plan_id: Id, body: ActivateIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    act = service.activate(
        db,
        workspace_id=user.workspace_id,
        plan_id=plan_id,
        enroll_existing=body.enroll_existing,
        dry_run=body.dry_run,
        actor=user.actor,
    )
    return dict(act.__dict__)


@router.post("/plans/{plan_id}/pause", summary="Pause: no new steps run")
def pause(plan_id: Id, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    plan = service.set_status(
        db, workspace_id=user.workspace_id, plan_id=plan_id, status="paused", actor=user.actor
    )
    return service.plan_dict(plan)


@router.get("/groups/{group_id}/enrollments", summary="A group's enrollments in group plans")
def group_enrollments(group_id: Id, user: CurrentUser, db: DbSession) -> list[dict[str, Any]]:
    get_group(db, user, group_id=group_id)  # NotFound unless the user may see the group
    return service.group_plan_enrollments(db, workspace_id=user.workspace_id, group_id=group_id)


@router.get("/customers/{customer_id}/enrollments", summary="A customer's SOP enrollments")
def enrollments(customer_id: Id, user: CurrentUser, db: DbSession) -> list[dict[str, Any]]:
    visible_customer(db, user, customer_id)
    return service.customer_enrollments(db, workspace_id=user.workspace_id, customer_id=customer_id)
