"""Reading new messages (by id position) and acting on the keyword rules they match.

Idempotent: the position moves in the same transaction as the actions, a hit is unique
per (rule, message), tasks and jobs carry dedup keys, alerts dedup keys. Two workers on
PostgreSQL queue on the position row (``FOR UPDATE``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.automation.keywords.alerts import raise_alert
from siyu.automation.keywords.matcher import Matcher, Pattern
from siyu.automation.keywords.rules import TAG_GROUP
from siyu.customers import fields as profile_fields
from siyu.customers.tags import add_tags, ensure_tag
from siyu.execution.service import NewTask, create_task
from siyu.kit.jobs import enqueue
from siyu.kit.pii import PIIError, get_vault
from siyu.kit.timeutil import utcnow
from siyu.models import ContentItem, Group, KeywordHit, KeywordPosition, KeywordRule, Message, SensitiveWord

log = logging.getLogger(__name__)

KF_WINDOW = timedelta(hours=48)  # WeChat customer service: replies within 48 h of the customer's message
REPLY_JOB = "keywords.kf_reply"
TASK_DUE = timedelta(minutes=10)
BATCH = 1000


@dataclass(frozen=True)
class RuleView:
    id: int
    name: str
    sources: frozenset[str]
    actions: dict[str, Any]
    priority: int
    stop: bool
    cooldown_s: int


@dataclass
class Compiled:
    signature: tuple[Any, ...]
    matcher: Matcher
    rules: dict[int, RuleView]
    words: Matcher
    word_text: dict[int, str] = field(default_factory=dict)


_CACHE: dict[int, Compiled] = {}


def _signature(session: Session, workspace_id: int) -> tuple[Any, ...]:
    r = session.execute(
        select(func.count(), func.max(KeywordRule.updated_at), func.max(KeywordRule.id)).where(
            KeywordRule.workspace_id == workspace_id
        )
    ).one()
    w = session.execute(
        select(func.count(), func.max(SensitiveWord.id)).where(SensitiveWord.workspace_id == workspace_id)
    ).one()
    return (*tuple(r), *tuple(w))


def compiled_for(session: Session, workspace_id: int) -> Compiled:
    """The workspace's rules and words compiled (cached until a rule or word changes)."""
    sig = _signature(session, workspace_id)
    hit = _CACHE.get(workspace_id)
    if hit is not None and hit.signature == sig:
        return hit
    rules = list(
        session.scalars(
            select(KeywordRule).where(
                KeywordRule.workspace_id == workspace_id,
                KeywordRule.enabled.is_(True),
                KeywordRule.deleted_at.is_(None),
            )
        )
    )
    patterns = [Pattern(r.id, r.match, kw) for r in rules for kw in r.keywords]
    views = {
        r.id: RuleView(r.id, r.name, frozenset(r.sources), dict(r.actions), r.priority, r.stop, r.cooldown_s)
        for r in rules
    }
    words = list(
        session.execute(
            select(SensitiveWord.id, SensitiveWord.word).where(SensitiveWord.workspace_id == workspace_id)
        )
    )
    compiled = Compiled(
        signature=sig,
        matcher=Matcher(patterns),
        rules=views,
        words=Matcher(Pattern(row[0], "contains", row[1]) for row in words),
        word_text={row[0]: row[1] for row in words},
    )
    _CACHE[workspace_id] = compiled
    return compiled


def _insert(session: Session, model: Any) -> Any:
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(model)


def _position(session: Session, workspace_id: int) -> KeywordPosition:
    session.execute(
        _insert(session, KeywordPosition)
        .values(workspace_id=workspace_id, last_message_id=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["workspace_id"])
    )
    pos = session.scalar(
        select(KeywordPosition).where(KeywordPosition.workspace_id == workspace_id).with_for_update()
    )
    assert pos is not None
    return pos


def message_text(m: Message) -> str | None:
    if not m.text_enc:
        return None
    try:
        return get_vault().decrypt(m.text_enc)
    except (PIIError, ValueError, Exception):  # a key rotated away: nothing to match
        log.warning("message %s: text could not be decrypted", m.id)
        return None


def source_key(m: Message) -> str:
    return "group" if m.group_id is not None else m.source


def process_new(
    session: Session, *, workspace_id: int, limit: int = BATCH, settle_s: float = 0.0
) -> dict[str, int]:
    """Read the workspace's messages after the position, up to ``limit``; act; move on.

    ``settle_s``: leave messages younger than this for the next run (a row with a lower
    id that commits later than a higher one is then still read).
    """
    pos = _position(session, workspace_id)
    stmt = (
        select(Message)
        .where(Message.workspace_id == workspace_id, Message.id > pos.last_message_id)
        .order_by(Message.id)
        .limit(limit)
    )
    if settle_s > 0:
        stmt = stmt.where(Message.created_at <= utcnow() - timedelta(seconds=settle_s))
    msgs = list(session.scalars(stmt))
    counts = {"messages": len(msgs), "hits": 0, "acted": 0, "alerts": 0}
    if not msgs:
        return counts
    compiled = compiled_for(session, workspace_id)
    batch = Batch()
    for m in msgs:
        _handle(session, compiled, m, counts, batch)
    # Tags are added once per rule and tag set for the whole batch, not once per hit.
    for (rule_id, tag_ids), customer_ids in batch.pending_tags.items():
        # The push of these tags to WeCom (mark_tag) is the tagging domain's work.
        add_tags(
            session,
            workspace_id=workspace_id,
            customer_ids=customer_ids,
            tag_ids=tag_ids,
            source="keyword",
            source_ref=f"keyword_rule:{rule_id}",
        )
    pos.last_message_id = msgs[-1].id
    pos.updated_at = utcnow()
    session.flush()
    return counts


@dataclass
class Batch:
    """What one ``process_new`` call gathers: tag ids by name, tags to add at the end."""

    tag_ids: dict[str, int] = field(default_factory=dict)
    pending_tags: dict[tuple[int, tuple[int, ...]], set[int]] = field(default_factory=dict)


def _handle(session: Session, c: Compiled, m: Message, counts: dict[str, int], batch: Batch) -> None:
    if m.direction not in ("in", "out") or m.revoked_at is not None:
        return
    text = message_text(m)
    if text is None:
        return
    if c.word_text:
        found = sorted(c.word_text[i] for i in c.words.match(text))
        if found:
            who = "客户" if m.direction == "in" else "员工"
            if raise_alert(
                session,
                workspace_id=m.workspace_id,
                kind="sensitive_word",
                summary=f"{who}消息含敏感词：{'、'.join(found)}",
                occurred_at=m.sent_at,
                dedup_key=f"sensitive:{m.id}",
                customer_id=m.customer_id,
                staff_id=m.staff_id,
                message_id=m.id,
                detail={"words": found, "direction": m.direction, "source": source_key(m)},
            ):
                counts["alerts"] += 1
    if m.direction != "in" or not c.rules:
        return
    src = source_key(m)
    hit_rules = [c.rules[i] for i in c.matcher.match(text) if src in c.rules[i].sources]
    hit_rules.sort(key=lambda r: (-r.priority, r.id))
    stopped = False
    for rule in hit_rules:
        counts["hits"] += 1
        if stopped:
            outcome = "stopped"
        elif rule.cooldown_s and m.customer_id is not None and _cooling(session, rule, m):
            outcome = "cooldown"
        else:
            outcome = "acted"
        hit_id = session.execute(
            _insert(session, KeywordHit)
            .values(
                workspace_id=m.workspace_id,
                rule_id=rule.id,
                message_id=m.id,
                customer_id=m.customer_id,
                matched_at=m.sent_at,
                outcome=outcome,
                done={},
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["rule_id", "message_id"])
            .returning(KeywordHit.id)
        ).scalar_one_or_none()
        if hit_id is None or outcome != "acted":
            continue
        done = _act(session, rule, m, src, batch)
        session.get(KeywordHit, hit_id).done = done  # type: ignore[union-attr]
        counts["acted"] += 1
        if rule.stop:
            stopped = True


def _cooling(session: Session, rule: RuleView, m: Message) -> bool:
    since = m.sent_at - timedelta(seconds=rule.cooldown_s)
    return bool(
        session.scalar(
            select(
                exists().where(
                    KeywordHit.rule_id == rule.id,
                    KeywordHit.customer_id == m.customer_id,
                    KeywordHit.outcome == "acted",
                    KeywordHit.matched_at > since,
                    KeywordHit.matched_at <= m.sent_at,
                    KeywordHit.message_id != m.id,
                )
            )
        )
    )


def _reply_text(session: Session, m: Message, actions: dict[str, Any]) -> tuple[str | None, int | None]:
    text = actions.get("reply")
    content_id = actions.get("reply_content_id")
    if content_id is not None:
        item = session.scalar(
            select(ContentItem).where(
                ContentItem.workspace_id == m.workspace_id,
                ContentItem.id == content_id,
                ContentItem.deleted_at.is_(None),
            )
        )
        if item is None or not item.text:
            content_id = None
        elif not text:
            text = item.text
    return text, content_id


def _act(session: Session, rule: RuleView, m: Message, src: str, batch: Batch) -> dict[str, Any]:
    done: dict[str, Any] = {}
    a = rule.actions
    if a.get("tags") and m.customer_id is not None:
        for name in a["tags"]:
            if name not in batch.tag_ids:
                batch.tag_ids[name] = ensure_tag(
                    session, workspace_id=m.workspace_id, name=name, group_name=TAG_GROUP
                ).id
        key = (rule.id, tuple(sorted(batch.tag_ids[name] for name in a["tags"])))
        batch.pending_tags.setdefault(key, set()).add(m.customer_id)
        done["tags"] = list(a["tags"])
    if a.get("field") and m.customer_id is not None:
        try:
            profile_fields.set_values(
                session,
                workspace_id=m.workspace_id,
                customer_id=m.customer_id,
                values={a["field"]["key"]: a["field"]["value"]},
                source="keyword",
            )
            done["field"] = a["field"]["key"]
        except Exception as exc:  # the field was deleted after the rule was saved
            done["field_error"] = str(exc)[:200]
    reply, content_id = _reply_text(session, m, a)
    if reply and src == "kf":
        if utcnow() - m.sent_at <= KF_WINDOW:
            enqueue(
                session,
                kind=REPLY_JOB,
                workspace_id=m.workspace_id,
                payload={"message_id": m.id, "rule_id": rule.id, "text": reply},
                dedup_key=f"{REPLY_JOB}:{rule.id}:{m.id}",
            )
            done["reply"] = "queued"
        else:
            done["reply"] = "window_closed"
    elif (reply or a.get("task")) and src != "kf":
        staff_id = m.staff_id
        if staff_id is None and m.group_id is not None:
            staff_id = session.scalar(select(Group.owner_staff_id).where(Group.id == m.group_id))
        title = a.get("task") or f"关键词「{rule.name}」：回复客户"
        task_id = create_task(
            session,
            workspace_id=m.workspace_id,
            task=NewTask(
                staff_id=staff_id,
                kind="keyword_reply",
                title=title[:200],
                due_at=m.sent_at + TASK_DUE,
                customer_id=m.customer_id,
                group_id=m.group_id,
                body=reply,
                content_id=content_id,
                priority=2,
                source="keyword_rule",
                source_ref=str(rule.id),
                dedup_key=f"keyword:{rule.id}:{m.id}",
                extra={"message_id": m.id, "suggested_reply": reply} if reply else {"message_id": m.id},
            ),
        )
        done["task_id"] = task_id
    return done


def staff_deleted_customer(
    session: Session,
    *,
    workspace_id: int,
    event_id: int,
    occurred_at: datetime,
    customer_id: int | None,
    staff_id: int | None,
    payload: dict[str, Any],
) -> int | None:
    """The alert for ``friend.delete_by_staff`` (WeCom's ``del_external_contact``)."""
    from siyu.models import Customer, Staff

    staff = session.get(Staff, staff_id) if staff_id else None
    customer = session.get(Customer, customer_id) if customer_id else None
    who = staff.name or staff.userid if staff else "员工"
    whom = (customer.name if customer and customer.name else None) or "客户"
    return raise_alert(
        session,
        workspace_id=workspace_id,
        kind="staff_deleted_customer",
        summary=f"{who} 删除了客户 {whom}",
        occurred_at=occurred_at,
        dedup_key=f"staff_deleted:{event_id}",
        customer_id=customer_id,
        staff_id=staff_id,
        detail={"event_id": event_id, **{k: v for k, v in payload.items() if k in ("source", "userid")}},
    )
