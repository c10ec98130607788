"""``/api/v1/keyword-rules``, ``/api/v1/sensitive-words``, ``/api/v1/alerts``, ``/api/v1/profile-fields``.

Rules and words: operators and above. Alerts (sensitive words, staff deleting
customers): operators and above read them; the boss (owner, admin) deals with them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from siyu.automation.keywords import alerts as alerts_service
from siyu.automation.keywords import rules as rules_service
from siyu.customers import fields as fields_service
from siyu.kit import audit
from siyu.web.api.common import ERRORS, Id
from siyu.web.auth import AdminUser, DbSession, OperatorUser

router = APIRouter(prefix="/api/v1", tags=["keywords"], responses=ERRORS)


class KeywordRuleIn(BaseModel):
    name: str = Field(max_length=100)
    match: str = Field("contains", description="exact, contains or regex.")
    keywords: list[str] = Field(max_length=rules_service.MAX_KEYWORDS)
    sources: list[str] = Field(
        default_factory=lambda: list(rules_service.SOURCES), description="kf, archive, group."
    )
    tags: list[str] = Field(
        default_factory=list, max_length=20, description="Tag names to add to the customer."
    )
    field_key: str | None = Field(None, description="A custom profile field to set.")
    field_value: str | None = None
    reply: str | None = Field(
        None, description="Automatic reply (customer service) or suggested reply (a task)."
    )
    reply_content_id: int | None = None
    task: str | None = Field(None, description="Title of a task for the staff member.")
    priority: int = 0
    stop: bool = False
    cooldown_s: int = 0
    enabled: bool = True


def _input(body: KeywordRuleIn) -> rules_service.RuleInput:
    return rules_service.RuleInput(**body.model_dump())


@router.get("/keyword-rules", summary="Keyword rules, highest priority first")
def list_rules(user: OperatorUser, db: DbSession) -> list[dict[str, Any]]:
    return [rules_service.rule_json(r) for r in rules_service.list_rules(db, workspace_id=user.workspace_id)]


@router.post("/keyword-rules", status_code=201, summary="Create a keyword rule")
def create_rule(body: KeywordRuleIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    rule = rules_service.create_rule(db, workspace_id=user.workspace_id, data=_input(body), actor=user.actor)
    return rules_service.rule_json(rule)


@router.put("/keyword-rules/{rule_id}", summary="Replace a keyword rule")
def update_rule(rule_id: Id, body: KeywordRuleIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    rule = rules_service.update_rule(
        db, workspace_id=user.workspace_id, rule_id=rule_id, data=_input(body), actor=user.actor
    )
    return rules_service.rule_json(rule)


@router.delete("/keyword-rules/{rule_id}", status_code=204, summary="Delete a keyword rule")
def delete_rule(rule_id: Id, user: OperatorUser, db: DbSession) -> None:
    rules_service.delete_rule(db, workspace_id=user.workspace_id, rule_id=rule_id, actor=user.actor)


class WordsIn(BaseModel):
    words: list[str] = Field(min_length=1, max_length=1000)


@router.get("/sensitive-words", summary="The workspace's sensitive words")
def list_words(user: OperatorUser, db: DbSession) -> list[str]:
    return alerts_service.list_words(db, workspace_id=user.workspace_id)


@router.post("/sensitive-words", status_code=201, summary="Add sensitive words")
def add_words(body: WordsIn, user: OperatorUser, db: DbSession) -> dict[str, list[str]]:
    return {
        "added": alerts_service.add_words(
            db, workspace_id=user.workspace_id, words=body.words, actor=user.actor
        )
    }


@router.post("/sensitive-words/remove", summary="Remove sensitive words")
def remove_words(body: WordsIn, user: OperatorUser, db: DbSession) -> dict[str, int]:
    n = alerts_service.remove_words(db, workspace_id=user.workspace_id, words=body.words, actor=user.actor)
    return {"removed": n}


@router.get("/alerts", summary="Alerts for the boss, newest first")
def list_alerts(
    user: OperatorUser, db: DbSession, kind: str | None = None, open_only: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    rows = alerts_service.list_alerts(
        db, workspace_id=user.workspace_id, kind=kind, open_only=open_only, limit=max(1, min(limit, 500))
    )
    return [alerts_service.alert_json(a) for a in rows]


class AckIn(BaseModel):
    note: str | None = Field(None, max_length=500)


@router.post("/alerts/{alert_id}/ack", summary="Mark an alert as dealt with")
def ack_alert(alert_id: Id, body: AckIn, user: AdminUser, db: DbSession) -> dict[str, Any]:
    a = alerts_service.ack_alert(
        db, workspace_id=user.workspace_id, alert_id=alert_id, actor=user.actor, note=body.note
    )
    return alerts_service.alert_json(a)


class FieldIn(BaseModel):
    key: str = Field(max_length=40, description="Stable key, e.g. birthday.")
    label: str = Field(max_length=40)
    kind: str = Field("text", description="text, date, number or choice.")
    options: list[str] = Field(default_factory=list, max_length=50)


@router.get("/profile-fields", summary="Custom profile fields (the sidebar's 客户资料)")
def list_fields(user: OperatorUser, db: DbSession) -> list[dict[str, Any]]:
    return [
        {"key": f.key, "label": f.label, "kind": f.kind, "options": list(f.options)}
        for f in fields_service.list_fields(db, workspace_id=user.workspace_id)
    ]


@router.post("/profile-fields", status_code=201, summary="Create or change a custom profile field")
def define_field(body: FieldIn, user: AdminUser, db: DbSession) -> dict[str, Any]:
    f = fields_service.define_field(
        db,
        workspace_id=user.workspace_id,
        key=body.key,
        label=body.label,
        kind=body.kind,
        options=body.options,
    )
    audit.record(
        db,
        workspace_id=user.workspace_id,
        actor=user.actor,
        action="profile_field.define",
        target_type="profile_field",
        target_id=f.id,
        detail={"key": f.key, "kind": f.kind},
    )
    return {"key": f.key, "label": f.label, "kind": f.kind, "options": list(f.options)}
