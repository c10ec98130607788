"""``/api/v1/rules``: auto-tag rules (自动标签), as the console and ``siyu segments rules`` manage them.

Operators and above: a rule tags across the whole workspace. Every change is audited by
``siyu.segments.rules``.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from siyu.kit.errors import NotFound
from siyu.models import AutoTagRule
from siyu.segments import rules as rules_service
from siyu.segments.schemas import RuleResult
from siyu.web.api.common import ERRORS, Id
from siyu.web.auth import DbSession, OperatorUser, Principal

router = APIRouter(prefix="/api/v1/rules", tags=["rules"], responses=ERRORS)


class RuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expression: str = Field(
        min_length=1, max_length=2000, description="Audience expression (docs/audiences.md)."
    )
    add: list[str] = Field(default_factory=list, max_length=20, description="Tag names to add to matches.")
    remove: list[str] = Field(
        default_factory=list, max_length=20, description="Tag names to take off matches."
    )
    enabled: bool = True
    apply_now: bool = Field(False, description="Apply the rule once it is saved.")


class RuleOut(BaseModel):
    id: int
    name: str
    expression: str
    add: list[str]
    remove: list[str]
    enabled: bool
    last_applied_at: datetime | None
    warnings: list[str] = Field(default_factory=list)
    applied: RuleResult | None = None


def _out(rule: AutoTagRule, warnings: list[str] | None = None, applied: RuleResult | None = None) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        expression=rule.expression,
        add=list(rule.add_tags),
        remove=list(rule.remove_tags),
        enabled=rule.enabled,
        last_applied_at=rule.last_applied_at,
        warnings=warnings or [],
        applied=applied,
    )


def _rule(db: DbSession, user: Principal, rule_id: int) -> AutoTagRule:
    rule = db.get(AutoTagRule, rule_id)
    if rule is None or rule.workspace_id != user.workspace_id:
        raise NotFound(f"auto-tag rule {rule_id} does not exist", field="rule_id")
    return rule


def _apply(db: DbSession, user: Principal, rule: AutoTagRule) -> RuleResult:
    (result,) = rules_service.apply_rules(db, workspace_id=user.workspace_id, names=[rule.name])
    return result


@router.get("", response_model=list[RuleOut], summary="Auto-tag rules, in the order they apply")
def list_rules(user: OperatorUser, db: DbSession) -> list[RuleOut]:
    return [_out(r) for r in rules_service.list_rules(db, workspace_id=user.workspace_id)]


@router.post("", response_model=RuleOut, status_code=201, summary="Create an auto-tag rule")
def create_rule(body: RuleIn, user: OperatorUser, db: DbSession) -> RuleOut:
    rule, warnings = rules_service.add_rule(
        db,
        workspace_id=user.workspace_id,
        name=body.name,
        expression=body.expression,
        add=body.add,
        remove=body.remove,
        enabled=body.enabled,
        actor=user.actor,
    )
    return _out(rule, warnings, _apply(db, user, rule) if body.apply_now else None)


@router.put("/{rule_id}", response_model=RuleOut, summary="Change an auto-tag rule")
def update_rule(rule_id: Id, body: RuleIn, user: OperatorUser, db: DbSession) -> RuleOut:
    rule = _rule(db, user, rule_id)
    rule, warnings = rules_service.update_rule(
        db,
        workspace_id=user.workspace_id,
        rule_id=rule.id,
        name=body.name,
        expression=body.expression,
        add=body.add,
        remove=body.remove,
        actor=user.actor,
    )
    rules_service.set_enabled(
        db, workspace_id=user.workspace_id, name=rule.name, enabled=body.enabled, actor=user.actor
    )
    return _out(rule, warnings, _apply(db, user, rule) if body.apply_now else None)


@router.post("/{rule_id}/apply", response_model=RuleResult, summary="Apply an auto-tag rule now")
def apply_rule(rule_id: Id, user: OperatorUser, db: DbSession) -> RuleResult:
    return _apply(db, user, _rule(db, user, rule_id))


@router.delete("/{rule_id}", status_code=204, summary="Delete an auto-tag rule and the tags it added")
def delete_rule(rule_id: Id, user: OperatorUser, db: DbSession, keep_tags: bool = False) -> None:
    rule = _rule(db, user, rule_id)
    rules_service.delete_rule(
        db, workspace_id=user.workspace_id, name=rule.name, keep_tags=keep_tags, actor=user.actor
    )
