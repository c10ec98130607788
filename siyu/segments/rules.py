"""Auto-tag rules (自动打标): expression → tags to add / remove, applied set-wise in SQL.

Applying a rule:

* customers matching the expression get each *add* tag with source ``rule`` and
  ``source_ref`` = the rule id (a tag they already have, from any source, is kept as is);
* customers who no longer match lose the tags *this rule* added, and only those:
  manual, synced, keyword or channel tags and other rules' tags are never touched;
* customers matching lose each *remove* tag unless a person put it there
  (source ``manual`` or ``sync``, i.e. set in the console or the WeCom client).

Rules apply in creation order, each seeing the previous ones' changes, so one rule may
build on a tag another adds. Applying twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, exists, func, insert, literal, not_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.customers.tags import MAX_TAG_NAME, ensure_tag, find_tag, record_tag_change
from siyu.kit.audit import record
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.kit.types import UTCDateTime
from siyu.models import AutoTagRule, Customer, CustomerTag
from siyu.segments import repository
from siyu.segments.audience import customer_ids_query, parse, terms
from siyu.segments.audience.compiler import compile_expr
from siyu.segments.schemas import RuleResult

RULE_TAG_GROUP = "自动标签"  # where tags first created by a rule are filed
HUMAN_SOURCES = ("manual", "sync")  # tags a person set: rules never remove them
CHUNK = 1000  # customer ids per statement when a rule is applied to given customers
# Core table, not the ORM entity: set-wise writes without ORM bookkeeping (no fetch of
# every deleted row for session sync) and with a real rowcount on every driver.
_LINKS = cast(Table, CustomerTag.__table__)


def _clean_tags(names: Iterable[str], what: str) -> list[str]:
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            raise Invalid(f"a tag to {what} is empty", field=what)
        if len(name) > MAX_TAG_NAME:
            raise Invalid(f"tag {name!r} is longer than {MAX_TAG_NAME} characters", field=what)
        if name not in out:
            out.append(name)
    return out


def _check_rule_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("rule name must be 1 to 100 characters", field="name")
    return name


def _checked(expression: str, add: Iterable[str], remove: Iterable[str]) -> tuple[Any, list[str], list[str]]:
    """The parsed expression and clean tag lists, or Invalid saying what is wrong."""
    tree = parse(expression)
    add_tags, remove_tags = _clean_tags(add, "add"), _clean_tags(remove, "remove")
    if not add_tags and not remove_tags:
        raise Invalid("a rule needs at least one tag to add (--add) or remove (--remove)", field="add")
    both = set(add_tags) & set(remove_tags)
    if both:
        raise Invalid(f"tag {sorted(both)[0]!r} is both added and removed by this rule", field="remove")
    tested = {t.value for t in terms(tree) if t.field == "tag"} & set(add_tags)
    if tested:
        raise Invalid(
            f"the rule adds tag {sorted(tested)[0]!r} and also tests it in its expression; "
            "it would undo its own work on the next run",
            field="expression",
        )
    return tree, add_tags, remove_tags


def add_rule(
    session: Session,
    *,
    workspace_id: int,
    name: str,
    expression: str,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    enabled: bool = True,
    actor: str = "system",
) -> tuple[AutoTagRule, list[str]]:
    """Create a rule; returns it and warnings about unknown names in its expression."""
    name = _check_rule_name(name)
    tree, add_tags, remove_tags = _checked(expression, add, remove)
    if repository.rule_by_name(session, workspace_id=workspace_id, name=name) is not None:
        raise Conflict(f"a rule named {name!r} already exists", field="name")
    rule = AutoTagRule(
        workspace_id=workspace_id,
        name=name,
        expression=expression.strip(),
        add_tags=add_tags,
        remove_tags=remove_tags,
        enabled=enabled,
    )
    session.add(rule)
    session.flush()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="auto_tag_rule.add",
        target_type="auto_tag_rule",
        target_id=rule.id,
        detail={"name": name, "expression": rule.expression, "add": add_tags, "remove": remove_tags},
    )
    warnings = compile_expr(session, workspace_id=workspace_id, expr=tree).warnings
    return rule, warnings


def update_rule(
    session: Session,
    *,
    workspace_id: int,
    rule_id: int,
    name: str,
    expression: str,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    actor: str = "system",
) -> tuple[AutoTagRule, list[str]]:
    """Change a rule's name, expression or tags; returns it and warnings (as ``add_rule``).

    Tags the rule added stay until it is next applied, which then adds and removes
    exactly what the new version says (a tag it no longer adds comes off).
    """
    rule = session.get(AutoTagRule, rule_id)
    if rule is None or rule.workspace_id != workspace_id:
        raise NotFound(f"no auto-tag rule with id {rule_id}", field="rule_id")
    name = _check_rule_name(name)
    tree, add_tags, remove_tags = _checked(expression, add, remove)
    other = repository.rule_by_name(session, workspace_id=workspace_id, name=name)
    if other is not None and other.id != rule.id:
        raise Conflict(f"a rule named {name!r} already exists", field="name")
    before = {
        "name": rule.name,
        "expression": rule.expression,
        "add": rule.add_tags,
        "remove": rule.remove_tags,
    }
    rule.name, rule.expression = name, expression.strip()
    rule.add_tags, rule.remove_tags = add_tags, remove_tags
    session.flush()
    after = {"name": name, "expression": rule.expression, "add": add_tags, "remove": remove_tags}
    record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="auto_tag_rule.update",
        target_type="auto_tag_rule",
        target_id=rule.id,
        detail={"from": before, "to": after},
    )
    return rule, compile_expr(session, workspace_id=workspace_id, expr=tree).warnings


def get_rule(session: Session, *, workspace_id: int, name: str) -> AutoTagRule:
    """The rule ``name``, or NotFound naming it."""
    rule = repository.rule_by_name(session, workspace_id=workspace_id, name=name.strip())
    if rule is None:
        raise NotFound(f"no auto-tag rule named {name!r} (see `siyu segments rules list`)", field="name")
    return rule


def list_rules(session: Session, *, workspace_id: int) -> Sequence[AutoTagRule]:
    """Every rule, in the order they apply."""
    return repository.list_rules(session, workspace_id=workspace_id)


def set_enabled(
    session: Session, *, workspace_id: int, name: str, enabled: bool, actor: str = "system"
) -> AutoTagRule:
    """Switch a rule on or off (a disabled rule's tags stay until it is deleted); audited."""
    rule = get_rule(session, workspace_id=workspace_id, name=name)
    if rule.enabled != enabled:
        record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action="auto_tag_rule.enable" if enabled else "auto_tag_rule.disable",
            target_type="auto_tag_rule",
            target_id=rule.id,
            detail={"name": rule.name},
        )
    rule.enabled = enabled
    session.flush()
    return rule


def delete_rule(
    session: Session, *, workspace_id: int, name: str, keep_tags: bool = False, actor: str = "system"
) -> int:
    """Delete a rule and (unless ``keep_tags``) the tags it added; returns tags removed."""
    rule = get_rule(session, workspace_id=workspace_id, name=name)
    removed = 0
    if not keep_tags:
        gone = session.execute(
            delete(_LINKS)
            .where(
                CustomerTag.workspace_id == workspace_id,
                CustomerTag.source == "rule",
                CustomerTag.source_ref == str(rule.id),
            )
            .returning(_LINKS.c.customer_id, _LINKS.c.tag_id)
        ).all()
        removed = len(gone)
        record_tag_change(
            session,
            workspace_id=workspace_id,
            customer_ids=[int(r[0]) for r in gone],
            removed=[int(r[1]) for r in gone],
            source="rule",
            source_ref=str(rule.id),
        )
    record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="auto_tag_rule.delete",
        target_type="auto_tag_rule",
        target_id=rule.id,
        detail={"name": rule.name, "expression": rule.expression, "tags_removed": removed},
    )
    session.delete(rule)
    session.flush()
    return removed


def apply_rules(
    session: Session,
    *,
    workspace_id: int,
    customer_ids: Iterable[int] | None = None,
    names: Iterable[str] | None = None,
    now: datetime | None = None,
) -> list[RuleResult]:
    """Apply every enabled rule (or those in ``names``) to all customers or to ``customer_ids``."""
    now = now or utcnow()
    rules = repository.list_rules(session, workspace_id=workspace_id, enabled_only=names is None)
    if names is not None:
        wanted = [n.strip() for n in names]
        by_name = {r.name: r for r in rules}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise NotFound(f"no auto-tag rule named {missing[0]!r}", field="name")
        rules = [by_name[n] for n in wanted]
    scopes: list[list[int] | None]
    if customer_ids is None:
        scopes = [None]
    else:
        ids = sorted(set(customer_ids))
        scopes = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    results = []
    for rule in rules:
        result = RuleResult(rule_id=rule.id, name=rule.name, added=0, removed=0, matched=0)
        add_ids = [_tag_for_rule(session, workspace_id, n) for n in rule.add_tags]
        remove_ids = [
            t.id for n in rule.remove_tags if (t := find_tag(session, workspace_id=workspace_id, name=n))
        ]
        for scope in scopes:
            matched = customer_ids_query(
                session, workspace_id=workspace_id, expr=parse(rule.expression), now=now
            )
            if scope is not None:
                matched = matched.where(Customer.id.in_(scope))
            _apply_one(session, workspace_id, rule, matched, scope, add_ids, remove_ids, now, result)
        rule.last_applied_at = now
        results.append(result)
    session.flush()
    return results


def _insert_ignoring_conflicts(session: Session) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: an import's hook and a recompute may tag at once."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(_LINKS).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(_LINKS).on_conflict_do_nothing()
    return insert(_LINKS)


def _tag_for_rule(session: Session, workspace_id: int, name: str) -> int:
    # Reuse a live tag of that name wherever it is filed; create it in the rule group otherwise.
    tag = find_tag(session, workspace_id=workspace_id, name=name)
    if tag is None:
        tag = ensure_tag(session, workspace_id=workspace_id, name=name, group_name=RULE_TAG_GROUP)
    return tag.id


def _apply_one(
    session: Session,
    workspace_id: int,
    rule: AutoTagRule,
    matched: Select[int],
    scope: list[int] | None,
    add_ids: list[int],
    remove_ids: list[int],
    now: datetime,
    result: RuleResult,
) -> None:
    ref = str(rule.id)
    result.matched += session.scalar(select(func.count()).select_from(matched.subquery())) or 0
    added: list[tuple[int, int]] = []
    for tag_id in add_ids:
        rows = matched.with_only_columns(
            literal(workspace_id),
            Customer.id,
            literal(tag_id),
            literal("rule"),
            literal(ref),
            bindparam("now", now, type_=UTCDateTime),
        ).where(
            not_(
                exists()
                .where(CustomerTag.customer_id == Customer.id, CustomerTag.tag_id == tag_id)
                .correlate(Customer)
            )
        )
        ins = _insert_ignoring_conflicts(session).from_select(
            ["workspace_id", "customer_id", "tag_id", "source", "source_ref", "created_at"], rows
        )
        made = session.execute(ins.returning(_LINKS.c.customer_id, _LINKS.c.tag_id)).all()
        result.added += len(made)
        added.extend((int(r[0]), int(r[1])) for r in made)
    # Tags this rule added to customers who no longer match (or that it no longer adds).
    stale = delete(_LINKS).where(
        CustomerTag.workspace_id == workspace_id,
        CustomerTag.source == "rule",
        CustomerTag.source_ref == ref,
        not_(CustomerTag.customer_id.in_(matched)) | not_(CustomerTag.tag_id.in_(add_ids or [-1])),
    )
    if scope is not None:
        stale = stale.where(CustomerTag.customer_id.in_(scope))
    removed = list(session.execute(stale.returning(_LINKS.c.customer_id, _LINKS.c.tag_id)).all())
    if remove_ids:
        gone = delete(_LINKS).where(
            CustomerTag.workspace_id == workspace_id,
            CustomerTag.tag_id.in_(remove_ids),
            CustomerTag.source.not_in(HUMAN_SOURCES),
            CustomerTag.customer_id.in_(matched),
        )
        removed.extend(session.execute(gone.returning(_LINKS.c.customer_id, _LINKS.c.tag_id)).all())
    result.removed += len(removed)
    # One tag.changed event for the adds, one for the removals (acquisition pushes them to WeCom).
    record_tag_change(
        session,
        workspace_id=workspace_id,
        customer_ids=[c for c, _ in added],
        added=[t for _, t in added],
        source="rule",
        source_ref=ref,
    )
    record_tag_change(
        session,
        workspace_id=workspace_id,
        customer_ids=[int(r[0]) for r in removed],
        removed=[int(r[1]) for r in removed],
        source="rule",
        source_ref=ref,
    )
