"""Saving keyword rules: every keyword checked, nothing half-written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.keywords.matcher import KINDS
from siyu.kit import audit
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import ContentItem, KeywordRule, ProfileField

SOURCES = ("kf", "archive", "group")
MAX_KEYWORDS = 200
MAX_KEYWORD = 200
MAX_COOLDOWN_S = 90 * 86400
REPLY_MAX = 2048  # WeChat customer service text limit (characters)
TAG_GROUP = "关键词"
# A group with a quantifier inside, itself quantified: (a+)+, (\w*)*, (?:x+){2,} …
_NESTED = re.compile(r"\((?:[^()\\]|\\.)*[+*](?:[^()\\]|\\.)*\)[+*{]")


@dataclass
class RuleInput:
    name: str
    match: str
    keywords: list[str]
    sources: list[str] = field(default_factory=lambda: list(SOURCES))
    tags: list[str] = field(default_factory=list)
    field_key: str | None = None
    field_value: str | None = None
    reply: str | None = None
    reply_content_id: int | None = None
    task: str | None = None
    priority: int = 0
    stop: bool = False
    cooldown_s: int = 0
    enabled: bool = True


def check_regex(pattern: str, index: int) -> None:
    """Raise ``Invalid`` naming the keyword and the position where ``pattern`` breaks."""
    try:
        re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise Invalid(
            f"keyword {index + 1} {pattern!r} is not a valid regular expression{where}: {exc.msg}",
            field=f"keywords[{index}]",
        ) from exc
    nested = _NESTED.search(pattern)
    if nested:
        raise Invalid(
            f"keyword {index + 1} {pattern!r} repeats a group that itself repeats (at position "
            f"{nested.start()}): such a pattern can take minutes on one message; drop the outer + or *",
            field=f"keywords[{index}]",
        )
    if re.search(pattern, "") is not None and pattern.strip() in ("", "^", "$", "^$", ".*", "(?:)"):
        raise Invalid(f"keyword {index + 1} {pattern!r} matches every message", field=f"keywords[{index}]")


def _validate(session: Session, workspace_id: int, data: RuleInput) -> dict[str, Any]:
    name = data.name.strip()
    if not name:
        raise Invalid("a rule needs a name", field="name")
    if len(name) > 100:
        raise Invalid("a rule name is at most 100 characters", field="name")
    if data.match not in KINDS:
        raise Invalid(f"match is one of {', '.join(KINDS)}", field="match")
    if not data.keywords:
        raise Invalid("a rule needs at least one keyword", field="keywords")
    if len(data.keywords) > MAX_KEYWORDS:
        raise Invalid(f"a rule has at most {MAX_KEYWORDS} keywords", field="keywords")
    keywords: list[str] = []
    for i, kw in enumerate(data.keywords):
        if not kw.strip():
            raise Invalid(f"keyword {i + 1} is empty", field=f"keywords[{i}]")
        if len(kw) > MAX_KEYWORD:
            raise Invalid(f"keyword {i + 1} is longer than {MAX_KEYWORD} characters", field=f"keywords[{i}]")
        if data.match == "regex":
            check_regex(kw, i)
            keywords.append(kw)
        else:
            keywords.append(kw.strip())
    sources = list(dict.fromkeys(data.sources))
    if not sources:
        raise Invalid("a rule reads at least one source", field="sources")
    for s in sources:
        if s not in SOURCES:
            raise Invalid(f"unknown source {s!r}; one of {', '.join(SOURCES)}", field="sources")
    if not -1000 <= data.priority <= 1000:
        raise Invalid("priority is between -1000 and 1000", field="priority")
    if not 0 <= data.cooldown_s <= MAX_COOLDOWN_S:
        raise Invalid(f"cooldown is 0 to {MAX_COOLDOWN_S} seconds", field="cooldown_s")
    actions: dict[str, Any] = {}
    tags = [t.strip() for t in data.tags if t.strip()]
    for t in tags:
        if len(t) > 30:
            raise Invalid(f"tag {t!r} is longer than 30 characters", field="tags")
    if tags:
        actions["tags"] = tags
    if data.field_key:
        pf = session.scalar(
            select(ProfileField).where(
                ProfileField.workspace_id == workspace_id,
                ProfileField.key == data.field_key,
                ProfileField.deleted_at.is_(None),
            )
        )
        if pf is None:
            raise Invalid(f"no profile field {data.field_key!r} in this workspace", field="field_key")
        if not (data.field_value or "").strip():
            raise Invalid("setting a profile field needs a value", field="field_value")
        if pf.kind == "choice" and data.field_value not in pf.options:
            raise Invalid(f"{pf.label} is one of {', '.join(pf.options)}", field="field_value")
        actions["field"] = {"key": data.field_key, "value": (data.field_value or "").strip()}
    if data.reply is not None and data.reply.strip():
        if len(data.reply) > REPLY_MAX:
            raise Invalid(f"a reply is at most {REPLY_MAX} characters", field="reply")
        actions["reply"] = data.reply.strip()
    if data.reply_content_id is not None:
        item = session.scalar(
            select(ContentItem).where(
                ContentItem.workspace_id == workspace_id,
                ContentItem.id == data.reply_content_id,
                ContentItem.deleted_at.is_(None),
            )
        )
        if item is None:
            raise Invalid(f"no content item {data.reply_content_id}", field="reply_content_id")
        if item.kind not in ("text", "script") or not item.text:
            raise Invalid("an automatic reply takes a text or script item", field="reply_content_id")
        actions["reply_content_id"] = item.id
    if data.task is not None and data.task.strip():
        actions["task"] = data.task.strip()[:200]
    if not actions:
        raise Invalid("a rule needs at least one action (tags, field, reply or task)", field="actions")
    return {
        "name": name,
        "match": data.match,
        "keywords": keywords,
        "sources": sources,
        "actions": actions,
        "priority": data.priority,
        "stop": data.stop,
        "cooldown_s": data.cooldown_s,
        "enabled": data.enabled,
    }


def create_rule(session: Session, *, workspace_id: int, data: RuleInput, actor: str) -> KeywordRule:
    values = _validate(session, workspace_id, data)
    rule = KeywordRule(workspace_id=workspace_id, created_by=actor, **values)
    session.add(rule)
    session.flush()
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="keyword_rule.create",
        target_type="keyword_rule",
        target_id=rule.id,
        detail={"name": rule.name, "match": rule.match, "keywords": len(rule.keywords)},
    )
    return rule


def get_rule(session: Session, *, workspace_id: int, rule_id: int) -> KeywordRule:
    rule = session.scalar(
        select(KeywordRule).where(
            KeywordRule.workspace_id == workspace_id,
            KeywordRule.id == rule_id,
            KeywordRule.deleted_at.is_(None),
        )
    )
    if rule is None:
        raise NotFound(f"no keyword rule {rule_id}", field="rule_id")
    return rule


def update_rule(
    session: Session, *, workspace_id: int, rule_id: int, data: RuleInput, actor: str
) -> KeywordRule:
    rule = get_rule(session, workspace_id=workspace_id, rule_id=rule_id)
    values = _validate(session, workspace_id, data)
    for k, v in values.items():
        setattr(rule, k, v)
    rule.updated_at = utcnow()
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="keyword_rule.update",
        target_type="keyword_rule",
        target_id=rule.id,
        detail={"name": rule.name, "enabled": rule.enabled},
    )
    return rule


def delete_rule(session: Session, *, workspace_id: int, rule_id: int, actor: str) -> None:
    rule = get_rule(session, workspace_id=workspace_id, rule_id=rule_id)
    rule.deleted_at = utcnow()
    rule.enabled = False
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="keyword_rule.delete",
        target_type="keyword_rule",
        target_id=rule.id,
        detail={"name": rule.name},
    )


def list_rules(session: Session, *, workspace_id: int) -> list[KeywordRule]:
    return list(
        session.scalars(
            select(KeywordRule)
            .where(KeywordRule.workspace_id == workspace_id, KeywordRule.deleted_at.is_(None))
            .order_by(KeywordRule.priority.desc(), KeywordRule.id)
        )
    )


def rule_json(rule: KeywordRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "match": rule.match,
        "keywords": list(rule.keywords),
        "sources": list(rule.sources),
        "actions": dict(rule.actions),
        "priority": rule.priority,
        "stop": rule.stop,
        "cooldown_s": rule.cooldown_s,
        "enabled": rule.enabled,
        "created_at": rule.created_at.isoformat() if rule.created_at else None,
    }
