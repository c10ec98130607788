"""The shared tag service: groups, tags, tagging with sources, and workspace safety."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.tags import add_tags, customer_tags, ensure_tag, ensure_tag_group, find_tag, remove_tags
from siyu.kit.errors import Invalid
from siyu.kit.scope import ensure_workspace
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, CustomerTag, Tag


def _customers(session: Session, ws: int, n: int) -> list[int]:
    rows = [Customer(workspace_id=ws, name=f"c{i}") for i in range(n)]
    session.add_all(rows)
    session.flush()
    return [c.id for c in rows]


def test_ensure_tag_is_idempotent_and_revives(session: Session, workspace_id: int) -> None:
    vip = ensure_tag(session, workspace_id=workspace_id, name=" VIP ", group_name="会员等级")
    assert vip.name == "VIP"
    assert ensure_tag(session, workspace_id=workspace_id, name="VIP", group_name="会员等级").id == vip.id
    vip.deleted_at = utcnow()
    assert find_tag(session, workspace_id=workspace_id, name="VIP") is None
    again = ensure_tag(
        session, workspace_id=workspace_id, name="VIP", group_name="会员等级", wecom_tag_id="et1"
    )
    assert (again.id, again.deleted_at, again.wecom_tag_id) == (vip.id, None, "et1")
    assert find_tag(session, workspace_id=workspace_id, name="VIP", group_name="会员等级") is not None
    assert find_tag(session, workspace_id=workspace_id, name="VIP", group_name="其他") is None


@pytest.mark.parametrize(
    ("name", "problem"), [("", "empty"), ("   ", "empty"), ("标" * 31, "longer than 30")]
)
def test_bad_names_are_refused(session: Session, workspace_id: int, name: str, problem: str) -> None:
    with pytest.raises(Invalid, match=problem):
        ensure_tag(session, workspace_id=workspace_id, name=name)
    with pytest.raises(Invalid, match=problem):
        ensure_tag_group(session, workspace_id=workspace_id, name=name)


def test_same_name_in_two_workspaces_is_two_tags(session: Session, workspace_id: int) -> None:
    other = ensure_workspace(session, "other-brand").id
    a = ensure_tag(session, workspace_id=workspace_id, name="VIP")
    b = ensure_tag(session, workspace_id=other, name="VIP")
    assert a.id != b.id
    assert find_tag(session, workspace_id=other, name="VIP") is b


def test_add_tags_keeps_existing_rows_and_records_the_source(session: Session, workspace_id: int) -> None:
    c1, c2 = _customers(session, workspace_id, 2)
    vip = ensure_tag(session, workspace_id=workspace_id, name="VIP")
    assert (
        add_tags(session, workspace_id=workspace_id, customer_ids=[c1], tag_ids=[vip.id], source="manual")
        == 1
    )
    n = add_tags(
        session,
        workspace_id=workspace_id,
        customer_ids=[c1, c2, c2],
        tag_ids=[vip.id],
        source="rule",
        source_ref="7",
    )
    assert n == 1  # c1 keeps its manual row; duplicates in the input count once
    rows = {row[0]: row[1] for row in session.execute(select(CustomerTag.customer_id, CustomerTag.source))}
    assert rows == {c1: "manual", c2: "rule"}
    assert (
        add_tags(session, workspace_id=workspace_id, customer_ids=[], tag_ids=[vip.id], source="manual") == 0
    )


def test_add_tags_refuses_unknown_sources_and_foreign_ids(session: Session, workspace_id: int) -> None:
    other = ensure_workspace(session, "other-brand").id
    (mine,) = _customers(session, workspace_id, 1)
    (theirs,) = _customers(session, other, 1)
    my_tag = ensure_tag(session, workspace_id=workspace_id, name="VIP")
    their_tag = ensure_tag(session, workspace_id=other, name="VIP")
    with pytest.raises(Invalid, match="unknown tag source"):
        add_tags(session, workspace_id=workspace_id, customer_ids=[mine], tag_ids=[my_tag.id], source="robot")
    with pytest.raises(Invalid, match="not a live tag of this workspace"):
        add_tags(
            session, workspace_id=workspace_id, customer_ids=[mine], tag_ids=[their_tag.id], source="manual"
        )
    with pytest.raises(Invalid, match="not a customer of this workspace"):
        add_tags(
            session, workspace_id=workspace_id, customer_ids=[theirs], tag_ids=[my_tag.id], source="manual"
        )
    assert session.scalars(select(CustomerTag.id)).all() == []


def test_remove_tags_by_source(session: Session, workspace_id: int) -> None:
    c1, c2 = _customers(session, workspace_id, 2)
    vip = ensure_tag(session, workspace_id=workspace_id, name="VIP")
    add_tags(session, workspace_id=workspace_id, customer_ids=[c1], tag_ids=[vip.id], source="manual")
    add_tags(session, workspace_id=workspace_id, customer_ids=[c2], tag_ids=[vip.id], source="rule")
    assert (
        remove_tags(
            session, workspace_id=workspace_id, customer_ids=[c1, c2], tag_ids=[vip.id], source="rule"
        )
        == 1
    )
    assert remove_tags(session, workspace_id=workspace_id, customer_ids=[c1, c2], tag_ids=[vip.id]) == 1
    assert session.scalars(select(CustomerTag.id)).all() == []


def test_customer_tags_lists_live_tags_in_group_order(session: Session, workspace_id: int) -> None:
    (c,) = _customers(session, workspace_id, 1)
    b = ensure_tag(session, workspace_id=workspace_id, name="面霜", group_name="品类")
    a = ensure_tag(session, workspace_id=workspace_id, name="VIP", group_name="等级")
    gone = ensure_tag(session, workspace_id=workspace_id, name="旧", group_name="等级")
    add_tags(
        session, workspace_id=workspace_id, customer_ids=[c], tag_ids=[a.id, b.id, gone.id], source="manual"
    )
    gone.deleted_at = utcnow()
    session.flush()
    listed = customer_tags(session, workspace_id=workspace_id, customer_id=c)
    assert [(t.name, g.name, link.source) for t, g, link in listed] == [
        ("面霜", "品类", "manual"),
        ("VIP", "等级", "manual"),
    ]
    assert all(isinstance(t, Tag) for t, _, _ in listed)
