"""Auto-tag rules: tags follow the expression, sources are recorded, people's tags are safe."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.models import AuditLog, AutoTagRule, CustomerStats, CustomerTag, Tag, TagGroup
from siyu.segments.rules import apply_rules
from tests.conftest import CliRun
from tests.segments.test_segments_cli import customer


def tags_of(session: Session, cid: int) -> dict[str, tuple[str, str | None]]:
    """Tag name → (source, source_ref) on one customer."""
    session.expire_all()
    rows = session.execute(
        select(Tag.name, CustomerTag.source, CustomerTag.source_ref)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .where(CustomerTag.customer_id == cid)
    )
    return {name: (source, ref) for name, source, ref in rows}


def set_spent(session: Session, cid: int, yuan: int) -> None:
    stats = session.get(CustomerStats, cid)
    assert stats is not None
    stats.net_fen = yuan * 100
    session.commit()


def test_rule_tags_matching_customers_with_source_rule(
    cli: CliRun, session: Session, workspace_id: int
) -> None:
    rich = customer(session, workspace_id, "王芳", net_yuan=5000, orders=3)
    poor = customer(session, workspace_id, "张伟", net_yuan=100, orders=1)
    out = cli("segments", "rules", "add", "三千会员", "spent>=3000", "--add", "VIP").stdout
    assert "added rule" in out
    rule_id = session.scalar(select(AutoTagRule.id).where(AutoTagRule.name == "三千会员"))
    out = cli("segments", "rules", "apply").stdout
    assert "三千会员: 1 match, 1 tags added, 0 tags removed" in out
    assert tags_of(session, rich) == {"VIP": ("rule", str(rule_id))}
    assert tags_of(session, poor) == {}
    # The tag was created in the rule group.
    group = session.scalar(
        select(TagGroup.name).join(Tag, Tag.group_id == TagGroup.id).where(Tag.name == "VIP")
    )
    assert group == "自动标签"

    # Idempotent: a second run changes nothing.
    again = json.loads(cli("segments", "rules", "apply", "--json").stdout)
    assert again == [{"rule_id": rule_id, "name": "三千会员", "added": 0, "removed": 0, "matched": 1}]


def test_customers_who_stop_matching_lose_only_the_rule_tag(
    cli: CliRun, session: Session, workspace_id: int
) -> None:
    a = customer(session, workspace_id, "A", net_yuan=5000, orders=3)
    b = customer(session, workspace_id, "B", net_yuan=5000, orders=3)
    cli("segments", "rules", "add", "vip", "spent>=3000", "--add", "VIP")
    cli("segments", "rules", "apply")
    # C is a VIP by an operator's hand, whatever the rule says.
    c = customer(session, workspace_id, "C", net_yuan=10, orders=1, tags=("VIP",))
    set_spent(session, a, 10)  # a refund: A no longer qualifies
    out = cli("segments", "rules", "apply").stdout
    assert "1 match, 0 tags added, 1 tags removed" in out
    assert tags_of(session, a) == {}
    assert "VIP" in tags_of(session, b)
    assert tags_of(session, c) == {"VIP": ("manual", None)}  # a person's tag is never removed


def test_existing_manual_tag_stays_manual(cli: CliRun, session: Session, workspace_id: int) -> None:
    a = customer(session, workspace_id, "A", net_yuan=5000, orders=3, tags=("VIP",))
    cli("segments", "rules", "add", "vip", "spent>=3000", "--add", "VIP")
    assert "0 tags added" in cli("segments", "rules", "apply").stdout
    assert tags_of(session, a) == {"VIP": ("manual", None)}
    # The rule reused the existing tag (filed under 默认) instead of creating a twin.
    assert session.scalars(select(Tag.id).where(Tag.name == "VIP")).all().__len__() == 1
    set_spent(session, a, 0)
    cli("segments", "rules", "apply")
    assert tags_of(session, a) == {"VIP": ("manual", None)}


def test_remove_action_spares_tags_people_set(cli: CliRun, session: Session, workspace_id: int) -> None:
    by_rule = customer(session, workspace_id, "A", net_yuan=9000, orders=5)
    by_hand = customer(session, workspace_id, "B", net_yuan=9000, orders=5, tags=("VIP",))
    cli("segments", "rules", "add", "vip", "spent>=3000", "--add", "VIP")
    cli("segments", "rules", "add", "svip", "spent>=8000", "--add", "SVIP", "--remove", "VIP")
    out = cli("segments", "rules", "apply").stdout
    assert "vip: 2 match, 1 tags added" in out
    assert "svip: 2 match, 2 tags added, 1 tags removed" in out
    assert set(tags_of(session, by_rule)) == {"SVIP"}
    assert set(tags_of(session, by_hand)) == {"SVIP", "VIP"}


def test_category_rule(cli: CliRun, session: Session, workspace_id: int) -> None:
    buyer = customer(session, workspace_id, "A", net_yuan=300, orders=1)
    other = customer(session, workspace_id, "B", net_yuan=300, orders=1)
    stats = session.get(CustomerStats, buyer)
    assert stats is not None
    stats.categories = {"面霜": 2}
    session.commit()
    cli("segments", "rules", "add", "面霜", "category:面霜", "--add", "面霜用户")
    cli("segments", "rules", "apply")
    assert set(tags_of(session, buyer)) == {"面霜用户"}
    assert tags_of(session, other) == {}


def test_bad_rules_are_refused_and_nothing_is_written(
    cli: CliRun, session: Session, workspace_id: int
) -> None:
    assert (
        "第 16 列" in cli("segments", "rules", "add", "x", "spent>=3000 AND", "--add", "VIP", expect=2).stderr
    )
    assert "at least one tag" in cli("segments", "rules", "add", "x", "spent>=3000", expect=2).stderr
    err = cli("segments", "rules", "add", "x", "NOT tag:VIP", "--add", "VIP", expect=2).stderr
    assert "undo its own work" in err
    err = cli("segments", "rules", "add", "x", "spent>=1", "--add", "A", "--remove", "A", expect=2).stderr
    assert "both added and removed" in err
    err = cli("segments", "rules", "add", "x", "spent>=1", "--add", "一" * 31, expect=2).stderr
    assert "longer than 30" in err
    cli("segments", "rules", "add", "x", "spent>=1", "--add", "A")
    assert "already exists" in cli("segments", "rules", "add", "x", "spent>=2", "--add", "B", expect=2).stderr
    session.expire_all()
    assert session.scalars(select(AutoTagRule.name)).all() == ["x"]


def test_delete_rule_removes_its_tags_unless_kept(cli: CliRun, session: Session, workspace_id: int) -> None:
    a = customer(session, workspace_id, "A", net_yuan=5000, orders=3)
    cli("segments", "rules", "add", "vip", "spent>=3000", "--add", "VIP")
    cli("segments", "rules", "add", "big", "orders>=3", "--add", "常客")
    cli("segments", "rules", "apply")
    assert set(tags_of(session, a)) == {"VIP", "常客"}
    assert "1 tags it had added removed" in cli("segments", "rules", "delete", "vip").stdout
    cli("segments", "rules", "delete", "big", "--keep-tags")
    assert set(tags_of(session, a)) == {"常客"}
    assert "no auto-tag rule named" in cli("segments", "rules", "delete", "vip", expect=2).stderr
    actions = session.scalars(select(AuditLog.action)).all()
    assert actions.count("auto_tag_rule.delete") == 2


def test_disabled_rules_do_not_run(cli: CliRun, session: Session, workspace_id: int) -> None:
    a = customer(session, workspace_id, "A", net_yuan=5000, orders=3)
    cli("segments", "rules", "add", "vip", "spent>=3000", "--add", "VIP", "--disabled")
    assert "no enabled rules" in cli("segments", "rules", "apply").stdout
    assert tags_of(session, a) == {}
    listed = json.loads(cli("segments", "rules", "list", "--json").stdout)
    assert listed[0]["enabled"] is False
    cli("segments", "rules", "enable", "vip")
    cli("segments", "rules", "apply")
    assert set(tags_of(session, a)) == {"VIP"}


def test_rules_for_given_customers_touch_only_them(session: Session, workspace_id: int) -> None:
    """What the segments.auto_tag subscriber does for the customers of a stats.refreshed event."""
    a = customer(session, workspace_id, "A", net_yuan=5000, orders=3)
    b = customer(session, workspace_id, "B", net_yuan=5000, orders=3)
    with session_scope() as s:
        from siyu.segments.rules import add_rule

        add_rule(s, workspace_id=workspace_id, name="vip", expression="spent>=3000", add=["VIP"])
    with session_scope() as s:
        results = apply_rules(s, workspace_id=workspace_id, customer_ids=[a])
    assert [(r.matched, r.added) for r in results] == [(1, 1)]
    assert set(tags_of(session, a)) == {"VIP"}
    assert tags_of(session, b) == {}
    with session_scope() as s:
        assert [r.matched for r in apply_rules(s, workspace_id=workspace_id, customer_ids=[])] == [0]
        apply_rules(s, workspace_id=workspace_id)
    assert set(tags_of(session, b)) == {"VIP"}


def test_rules_chain_in_creation_order(session: Session, workspace_id: int) -> None:
    a = customer(session, workspace_id, "A", net_yuan=5000, orders=3, tags=("面霜用户",))
    with session_scope() as s:
        from siyu.segments.rules import add_rule

        add_rule(s, workspace_id=workspace_id, name="vip", expression="spent>=3000", add=["VIP"])
        add_rule(
            s, workspace_id=workspace_id, name="vip面霜", expression="tag:VIP AND tag:面霜用户", add=["重点"]
        )
        apply_rules(s, workspace_id=workspace_id)
    assert set(tags_of(session, a)) == {"VIP", "面霜用户", "重点"}


def test_tag_based_rule_follows_its_source_tag(session: Session, workspace_id: int) -> None:
    # The rule's own probes on customer_tags must not get tied to the rows being deleted.
    a = customer(session, workspace_id, "A", tags=("面霜用户", "VIP"))
    b = customer(session, workspace_id, "B", tags=("面霜用户", "VIP"))
    with session_scope() as s:
        from siyu.segments.rules import add_rule

        add_rule(
            s, workspace_id=workspace_id, name="重点", expression="tag:面霜用户 AND tag:VIP", add=["重点"]
        )
        apply_rules(s, workspace_id=workspace_id)
    assert "重点" in tags_of(session, a)
    with session_scope() as s:
        from siyu.customers.tags import find_tag, remove_tags

        vip = find_tag(s, workspace_id=workspace_id, name="VIP")
        assert vip is not None
        remove_tags(s, workspace_id=workspace_id, customer_ids=[a], tag_ids=[vip.id])
        [result] = apply_rules(s, workspace_id=workspace_id)
    assert (result.matched, result.added, result.removed) == (1, 0, 1)
    assert set(tags_of(session, a)) == {"面霜用户"}
    assert set(tags_of(session, b)) == {"面霜用户", "VIP", "重点"}
