"""OneID: identities find the same person; a shared identity merges two profiles completely."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.customers.schemas import IdentityInput
from siyu.customers.service import merge_customers, refresh_stats, resolve_customer
from siyu.customers.tags import add_tags, ensure_tag
from siyu.kit.errors import Invalid
from siyu.kit.events import record_event
from siyu.models import (
    AuditLog,
    Customer,
    CustomerIdentity,
    CustomerStats,
    CustomerTag,
    Event,
    Follow,
    Group,
    GroupMember,
    Order,
    Staff,
)
from tests.conftest import CliRun

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = datetime(2024, 2, 1, tzinfo=UTC)


def test_phone_in_any_spelling_finds_the_same_customer(session: Session, workspace_id: int) -> None:
    a = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput("phone", "13800138000")], source="test"
    )
    b = resolve_customer(
        session,
        workspace_id=workspace_id,
        identities=[IdentityInput("phone", "+86 138-0013-8000"), IdentityInput("unionid", "oU1")],
        source="test",
        name="张三",
    )
    assert a.id == b.id
    assert b.name == "张三"
    kinds = session.scalars(select(CustomerIdentity.kind).where(CustomerIdentity.customer_id == a.id))
    assert sorted(kinds) == ["phone", "unionid"]


def test_masked_phone_alone_is_not_an_identity(session: Session, workspace_id: int) -> None:
    with pytest.raises(Invalid, match="no usable identity"):
        resolve_customer(
            session,
            workspace_id=workspace_id,
            identities=[IdentityInput("phone", "138****8000")],
            source="test",
        )
    with pytest.raises(Invalid, match="not a"):
        resolve_customer(
            session, workspace_id=workspace_id, identities=[IdentityInput("phone", "12")], source="t"
        )


def test_buyer_ids_are_platform_scoped(session: Session, workspace_id: int) -> None:
    taobao = resolve_customer(
        session,
        workspace_id=workspace_id,
        identities=[IdentityInput("buyer_id", "lily", "taobao")],
        source="t",
    )
    jd = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput("buyer_id", "lily", "jd")], source="t"
    )
    assert taobao.id != jd.id
    with pytest.raises(Invalid, match="platform"):
        resolve_customer(
            session, workspace_id=workspace_id, identities=[IdentityInput("buyer_id", "lily")], source="t"
        )


def _generic(path: Path, rows: list[str]) -> Path:
    path.write_text("order_id,paid_at,amount,buyer_id,phone\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_an_order_linking_two_customers_merges_them_completely(
    cli: CliRun, session: Session, workspace_id: int, tmp_path: Path
) -> None:
    cli(
        "import",
        "orders",
        _generic(tmp_path / "a.csv", ["o1,2024-01-05,10.00,alice,", "o2,2024-01-06,20.00,,13900000000"]),
    )
    first = session.scalar(select(Order.customer_id).where(Order.external_id == "o1"))
    second = session.scalar(select(Order.customer_id).where(Order.external_id == "o2"))
    assert first is not None
    assert second is not None
    assert first != second

    # Give the younger profile a life of its own: friends, tags, a group, events, an opt-out.
    s1 = Staff(workspace_id=workspace_id, userid="guide1", name="导购一")
    s2 = Staff(workspace_id=workspace_id, userid="guide2", name="导购二")
    group = Group(workspace_id=workspace_id, chat_id="wrOgQ1", name="VIP 群")
    session.add_all([s1, s2, group])
    session.flush()
    session.add_all(
        [
            Follow(workspace_id=workspace_id, staff_id=s1.id, customer_id=first, added_at=T1),
            Follow(workspace_id=workspace_id, staff_id=s1.id, customer_id=second, added_at=T0),
            Follow(workspace_id=workspace_id, staff_id=s2.id, customer_id=second, added_at=T1),
            GroupMember(workspace_id=workspace_id, group_id=group.id, userid="wmX", customer_id=second),
        ]
    )
    vip = ensure_tag(session, workspace_id=workspace_id, name="VIP")
    new = ensure_tag(session, workspace_id=workspace_id, name="新客")
    add_tags(
        session, workspace_id=workspace_id, customer_ids=[first, second], tag_ids=[vip.id], source="manual"
    )
    add_tags(session, workspace_id=workspace_id, customer_ids=[second], tag_ids=[new.id], source="rule")
    record_event(
        session,
        workspace_id=workspace_id,
        kind="message.in",
        occurred_at=T1,
        source="wecom",
        customer_id=second,
    )
    session.get(Customer, second).opt_out = True  # type: ignore[union-attr]
    session.commit()

    [summary] = json.loads(
        cli(
            "import",
            "orders",
            _generic(tmp_path / "b.csv", ["o3,2024-01-07,5.00,alice,13900000000"]),
            "--json",
        ).stdout
    )
    assert (summary["customers_merged"], summary["customers_created"]) == (1, 0)
    session.expire_all()
    survivor, merged = min(first, second), max(first, second)
    assert session.get(Customer, merged).merged_into_id == survivor  # type: ignore[union-attr]
    assert session.get(Customer, survivor).opt_out is True  # type: ignore[union-attr]
    assert set(session.scalars(select(Order.customer_id))) == {survivor}
    owners = set(session.scalars(select(CustomerIdentity.customer_id)))
    assert owners == {survivor}
    follows = session.scalars(select(Follow).order_by(Follow.staff_id)).all()
    assert [(f.staff_id, f.customer_id, f.added_at) for f in follows] == [
        (s1.id, survivor, T0),
        (s2.id, survivor, T1),
    ]
    tags = session.execute(select(CustomerTag.customer_id, CustomerTag.tag_id)).all()
    assert sorted(tags) == sorted([(survivor, vip.id), (survivor, new.id)])
    assert session.scalar(select(GroupMember.customer_id)) == survivor
    assert set(session.scalars(select(Event.customer_id).where(Event.customer_id.is_not(None)))) == {survivor}
    assert session.get(CustomerStats, merged) is None
    stats = session.get(CustomerStats, survivor)
    assert stats is not None
    assert (stats.orders_count, stats.paid_fen, stats.net_fen, stats.purchase_days) == (3, 3500, 3500, 3)
    audit = session.scalar(select(AuditLog).where(AuditLog.action == "customer.merge"))
    assert audit is not None
    assert (audit.target_id, audit.detail["merged_id"]) == (str(survivor), merged)
    assert audit.detail["moved"]["orders"] == 1

    listed = json.loads(cli("customers", "list", "--json").stdout)
    assert [c["id"] for c in listed] == [survivor]
    shown = cli("customers", "show", merged, "--json")
    assert f"merged into customer {survivor}" in shown.stderr
    detail = json.loads(shown.stdout)
    assert (detail["id"], detail["merged_ids"], detail["stats"]["net_fen"]) == (survivor, [merged], 3500)


def test_merge_refuses_nonsense(session: Session, workspace_id: int) -> None:
    a = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput("unionid", "u1")], source="t"
    )
    with pytest.raises(Invalid, match="itself"):
        merge_customers(session, workspace_id=workspace_id, survivor_id=a.id, merged_id=a.id)
    b = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput("unionid", "u2")], source="t"
    )
    merge_customers(session, workspace_id=workspace_id, survivor_id=a.id, merged_id=b.id, actor="user:1")
    with pytest.raises(Invalid, match="already merged"):
        merge_customers(session, workspace_id=workspace_id, survivor_id=a.id, merged_id=b.id)
    # The merged profile's identities now find the survivor.
    again = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput("unionid", "u2")], source="t"
    )
    assert again.id == a.id


def test_refresh_stats_for_a_customer_without_orders(session: Session, workspace_id: int) -> None:
    c = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput("external_userid", "wm1")], source="t"
    )
    assert refresh_stats(session, workspace_id=workspace_id, customer_ids=[c.id]) == 1
    st = session.get(CustomerStats, c.id)
    assert st is not None
    assert (st.orders_count, st.net_fen, st.first_paid_at, st.products) == (0, 0, None, {})
    assert session.scalar(select(func.count()).select_from(CustomerStats)) == 1


def test_resolve_customer_merge_keeps_stats_exact(
    cli: CliRun, session: Session, workspace_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "o.csv"
    path.write_text(
        "order_id,paid_at,amount,buyer_id,unionid\no1,2024-01-05,10.00,alice,\no2,2024-01-06,20.50,,oX\n",
        encoding="utf-8",
    )
    cli("import", "orders", path)
    # WeCom learns that the Taobao-less "alice" of the shop and unionid oX are one person.
    c = resolve_customer(
        session,
        workspace_id=workspace_id,
        identities=[IdentityInput("buyer_id", "alice", "generic"), IdentityInput("unionid", "oX")],
        source="wecom",
    )
    st = session.get(CustomerStats, c.id)
    assert st is not None
    assert (st.orders_count, st.net_fen, st.purchase_days) == (2, 3050, 2)
    assert session.scalar(select(func.count()).select_from(CustomerStats)) == 1


def test_a_batch_resolves_lone_buyers_and_linked_ones_alike(session: Session, workspace_id: int) -> None:
    """resolve_batch: a buyer named by one group only gets its customer directly, and still
    follows a merge that another group of the same batch causes."""
    from siyu.customers.service import resolve_batch

    a = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput("phone", "13800000001")], source="t"
    )
    b = resolve_customer(
        session,
        workspace_id=workspace_id,
        identities=[IdentityInput("phone", "13800000002"), IdentityInput("buyer_id", "tb_b", "taobao")],
        source="t",
    )
    groups = [
        [IdentityInput("buyer_id", "tb_b", "taobao")],  # alone in the batch: b's, merged below
        [IdentityInput("phone", "13800000001"), IdentityInput("phone", "13800000002")],  # joins a and b
        [IdentityInput("phone", "13800000003")],  # new, alone
        [IdentityInput("phone", "13800000004")],  # new, shared with the next group
        [IdentityInput("phone", "13800000004"), IdentityInput("unionid", "oU4")],
        [],  # no usable key
        [IdentityInput("phone", "13800000001")],  # a's, but a is named twice in the batch
    ]
    r = resolve_batch(
        session,
        workspace_id=workspace_id,
        groups=groups,
        source="t",
        names=[None, None, "三", "四", None, None, None],
    )
    survivor = min(a.id, b.id)
    assert r.merged == [(survivor, max(a.id, b.id))]
    assert r.customer_ids[0] == r.customer_ids[1] == r.customer_ids[6] == survivor
    assert r.customer_ids[3] == r.customer_ids[4]
    assert r.customer_ids[2] != r.customer_ids[3]
    assert r.customer_ids[5] is None
    assert r.created == 2
    # New customers are numbered in the order of their first group.
    assert r.customer_ids[2] is not None
    assert r.customer_ids[3] is not None
    assert r.customer_ids[2] < r.customer_ids[3]
    new = r.customer_ids[2:4]
    rows = session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(new))).all()
    names = {row.id: row.name for row in rows}
    assert names == {r.customer_ids[2]: "三", r.customer_ids[3]: "四"}
    owner = session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.kind == "unionid"))
    assert owner == r.customer_ids[4]
