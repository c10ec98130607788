"""The set-based P&L equals the order-by-order computation (tests/insights/pnl_reference.py)
on data with edge cases, month by month, for the workspace and each account's view.

Edge cases: a price list whose cost changes mid-month (orders either side of the change's
midnight in the workspace zone), orders either side of the month boundaries in the workspace
zone, lines refunded in part / in full, an order costed by its own cost and refunded in part,
an order with no lines and no cost, an order of no customer, pending and closed orders, a
customer whose owner changes mid-month (the older friendship deleted), two friendships added
at the same instant (the lower id owns), a follow with no add time, a store's per-store
state, group members who quit mid-month, rewards (stated account, stated channel, by
owner, outside), platform fees that round half to even, brand discounts outside the paid
amount, and an account's own view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.insights import pnl_cache, profit
from siyu.kit.db import session_scope
from siyu.kit.timeutil import moved_clock, utcnow
from siyu.models import (
    Channel,
    Customer,
    Follow,
    Group,
    GroupMember,
    Order,
    OrderItem,
    PnlSnapshot,
    Reward,
    SkuCost,
    Staff,
    Workspace,
)
from tests.insights.pnl_reference import reference_pnl
from tests.insights.world import W, at, build, order


def _line_order(
    s: Session,
    w: W,
    cust: str | None,
    ext: str,
    when: object,
    lines: list[tuple[str | None, int, int, int, int | None]],
    *,
    status: str = "completed",
    platform: str = "taobao",
    discount: int = 0,
) -> None:
    """An order with lines (sku, quantity, amount, refunded, line cost)."""
    paid = sum(a for _s, _q, a, _r, _c in lines)
    refunded = sum(r for _s, _q, _a, r, _c in lines)
    o = Order(workspace_id=w.ws, customer_id=w.c[cust] if cust else None, platform=platform,
              external_id=ext, status=status, ordered_at=when, paid_at=when, paid_fen=paid,
              goods_fen=paid, refunded_fen=refunded, discount_fen=discount,
              item_count=sum(q for _s, q, _a, _r, _c in lines))  # fmt: skip
    s.add(o)
    s.flush()
    for i, (sku, qty, amount, ref, cost) in enumerate(lines):
        s.add(OrderItem(workspace_id=w.ws, order_id=o.id, line_key=str(i), sku=sku, title=sku or "",
                        quantity=qty, unit_price_fen=amount // qty, amount_fen=amount, refunded_fen=ref,
                        cost_fen=cost))  # fmt: skip
    s.flush()


@pytest.fixture
def edge(env: object, workspace_id: int) -> Iterator[W]:
    with session_scope() as s:
        w = build(s, workspace_id)
        ws = s.get(Workspace, workspace_id)
        assert ws is not None
        ws.settings = {
            **(ws.settings or {}),
            "insights": {
                "platform_fee_rates": {"taobao": 0.05, "douyin": 0.125},
                "account_cost_yuan": {"alice": 100, "bob": 33.33},
                "discount_in_paid": False,
            },
        }
        for i in (12, 13, 14):
            cu = Customer(workspace_id=workspace_id, name=f"c{i}", first_seen_at=at(9, 1, 10, 0))
            s.add(cu)
            s.flush()
            w.c[f"c{i}"] = cu.id
        alice, bob = w.staff["alice"], w.staff["bob"]
        # SKU-A costs 30 until 14 Nov (Shanghai), 40 from 15 Nov; SKU-B 7.77 in October only.
        s.add_all([
            SkuCost(workspace_id=workspace_id, sku="SKU-A", cost_fen=3000, valid_from=date(2026, 10, 1),
                    valid_to=date(2026, 11, 14)),
            SkuCost(workspace_id=workspace_id, sku="SKU-A", cost_fen=4000, valid_from=date(2026, 11, 15),
                    valid_to=None),
            SkuCost(workspace_id=workspace_id, sku="SKU-B", cost_fen=777, valid_from=date(2026, 10, 1),
                    valid_to=date(2026, 10, 31)),
        ])  # fmt: skip
        # c12: alice's friend since October, deleted 10 Nov; bob's since 1 Nov → owner changes.
        s.add(Follow(workspace_id=workspace_id, staff_id=alice, customer_id=w.c["c12"], state="deleted",
                     added_at=at(10, 2, 9, 0), deleted_at=at(11, 10, 12, 0)))  # fmt: skip
        s.add(Follow(workspace_id=workspace_id, staff_id=bob, customer_id=w.c["c12"], state="active",
                     added_at=at(11, 1, 9, 0), live_code_state="code1~7"))  # fmt: skip
        # c13: two friendships added at the same instant (the first row owns); c14: no add time.
        for sid in (bob, alice):
            s.add(Follow(workspace_id=workspace_id, staff_id=sid, customer_id=w.c["c13"], state="active",
                         added_at=at(11, 2, 9, 0), live_code_state="code1"))  # fmt: skip
        s.add(Follow(workspace_id=workspace_id, staff_id=alice, customer_id=w.c["c14"], state="pending",
                     added_at=None, live_code_state="code1"))  # fmt: skip
        s.add(Channel(workspace_id=workspace_id, name="直播间", state="live1", slug="live1", cost_fen=999))
        # c9 quits the group on 18 Nov; c12 is a member all month.
        for m in s.query(GroupMember).filter_by(customer_id=w.c["c9"]):
            m.quit_time, m.state = at(11, 18, 0, 0), "left"
        s.add(GroupMember(workspace_id=workspace_id, group_id=w.group_id, userid="wm_c12", member_type=2,
                          customer_id=w.c["c12"], join_time=at(10, 15, 8, 0)))  # fmt: skip
        s.flush()
        # Orders (world.py has c8 on 20 Nov and c10 on 20 Dec).
        order(s, w, "c1", "e-oct-end", at(10, 31, 23, 59), 10000)  # October in Shanghai
        order(s, w, "c1", "e-nov-start", at(11, 1, 0, 1), 10010, qty=2)  # November
        order(s, w, "c12", "e-14-late", at(11, 14, 23, 30), 10, qty=3)  # SKU-A at 30
        order(s, w, "c12", "e-15-early", at(11, 15, 0, 30), 30, qty=3)  # SKU-A at 40, bob owns
        order(s, w, "c12", "e-alice", at(11, 5, 12, 0), 9990, platform="douyin")  # alice owned c12
        order(s, w, "c13", "e-tie", at(11, 6, 12, 0), 20000, sku="SKU-B", cost=1234)
        order(s, w, "c9", "e-outside", at(11, 17, 12, 0), 7777, refunded=7777)
        order(s, w, "c9", "e-after-quit", at(11, 19, 12, 0), 5555, sku="NOPRICE")
        order(s, w, "c2", "e-nov-end", at(11, 30, 23, 59), 3333, platform="jd")
        order(s, w, "c2", "e-dec-start", at(12, 1, 0, 0), 4444)
        order(s, w, "", "e-nobody", at(11, 11, 11, 0), 6000)
        _line_order(s, w, "c1", "e-partial", at(11, 12, 10, 0),
                    [("SKU-A", 3, 9000, 3000, None), ("SKU-B", 1, 1001, 0, 555), (None, 2, 2000, 500, 901),
                     ("SKU-A", 1, 3000, 3000, None), ("NOPRICE", 1, 1000, 0, None)],
                    discount=321)  # fmt: skip
        _line_order(
            s, w, "c3", "e-pending", at(11, 12, 10, 0), [("SKU-A", 1, 5000, 0, None)], status="pending"
        )
        _line_order(s, w, "c3", "e-closed", at(11, 12, 10, 0), [("SKU-A", 1, 5000, 0, None)], status="closed")
        for ext, cost, refunded in (("e-own-cost", 2501, 1000), ("e-own-cost-whole", 2500, 0)):
            o = Order(workspace_id=workspace_id, customer_id=w.c["c4"], platform="taobao", external_id=ext,
                      status="completed", paid_at=at(11, 13, 10, 0), paid_fen=7000, goods_fen=7000,
                      refunded_fen=refunded, cost_fen=cost, discount_fen=100)  # fmt: skip
            s.add(o)
        s.add(Order(workspace_id=workspace_id, customer_id=w.c["c5"], platform="taobao",
                    external_id="e-nothing", status="paid", paid_at=at(11, 13, 11, 0), paid_fen=4321,
                    goods_fen=4321))  # fmt: skip
        s.flush()
        live = s.query(Channel).filter_by(state="live1").one()
        s.add_all([
            Reward(workspace_id=workspace_id, customer_id=w.c["c12"], amount_fen=500, kind="red_packet",
                   paid_at=at(11, 5, 10, 0)),  # owner alice then
            Reward(workspace_id=workspace_id, customer_id=w.c["c12"], amount_fen=300, kind="coupon",
                   paid_at=at(11, 20, 10, 0), staff_id=alice, channel_id=live.id),  # stated
            Reward(workspace_id=workspace_id, customer_id=w.c["c9"], amount_fen=200, kind="gift",
                   paid_at=at(11, 10, 10, 0)),  # outside, group member
            Reward(workspace_id=workspace_id, customer_id=w.c["c1"], amount_fen=100, kind="gift",
                   paid_at=at(10, 31, 23, 0)),  # October
        ])  # fmt: skip
        s.add(Staff(workspace_id=workspace_id, userid="carol", name="Carol", status="active"))
        s.add(Group(workspace_id=workspace_id, chat_id="wr2", name="空群", owner_staff_id=bob))
    return w


@pytest.mark.parametrize("month", [date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)])
def test_pnl_equals_the_order_by_order_computation(
    edge: W, session: Session, monkeypatch: pytest.MonkeyPatch, month: date
) -> None:
    for staff_id in (None, *edge.staff.values()):
        for on in (month, month + timedelta(days=20)):
            fast = profit.pnl(session, workspace_id=edge.ws, on=on, staff_id=staff_id)
            slow = reference_pnl(session, monkeypatch, workspace_id=edge.ws, on=on, staff_id=staff_id)
            assert fast == slow, (on, staff_id)
    nov = profit.pnl(session, workspace_id=edge.ws, on=date(2026, 11, 1))
    assert nov["total"]["orders"] == 14  # the cases above all counted (pending / closed not)
    assert nov["groups"]
    assert nov["channels"]
    assert nov["outside"]["orders"] == 3


def test_a_running_month_and_the_default_month_equal_the_reference(
    edge: W, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with moved_clock(at(11, 20, 15, 0)):
        for on in (None, date(2026, 11, 20)):
            fast = profit.pnl(session, workspace_id=edge.ws, on=on)
            assert fast == reference_pnl(session, monkeypatch, workspace_id=edge.ws, on=on)
        assert fast["partial"]
        assert fast["days_elapsed"] == 20


def _changes(edge: W) -> list[Callable[[Session], object]]:
    """Committed changes to everything the P&L reads, one at a time (in this order)."""
    alice, bob, c = edge.staff["alice"], edge.staff["bob"], edge.c
    return [
        # an order refunded, one moved to another customer, one new, one of no customer changed
        lambda s: s.query(Order).filter_by(external_id="e-tie").update({"refunded_fen": 5000}),
        lambda s: s.query(Order).filter_by(external_id="e-alice").update({"customer_id": c["c11"]}),
        lambda s: order(s, edge, "c6", "e-new", at(11, 25, 9, 0), 8800, qty=2),
        lambda s: s.query(Order).filter_by(external_id="e-nobody").update({"refunded_fen": 600}),
        # a line's refund alone (the import marks the order with its run)
        lambda s: (
            s.query(OrderItem)
            .filter_by(order_id=s.query(Order.id).filter_by(external_id="e-nov-start").scalar())
            .update({"refunded_fen": 5005}),
            s.query(Order).filter_by(external_id="e-nov-start").update({"import_id": None}),
        ),
        # owners: c12's friendship with bob dated earlier; c13's with bob deleted; a new add
        lambda s: (
            s.query(Follow)
            .filter_by(customer_id=c["c12"], staff_id=bob)
            .update({"added_at": at(10, 1, 9, 0)})
        ),
        lambda s: (
            s.query(Follow)
            .filter_by(customer_id=c["c13"], staff_id=bob)
            .update({"deleted_at": at(11, 3, 9, 0), "state": "deleted"})
        ),
        lambda s: s.add(
            Follow(
                workspace_id=edge.ws,
                staff_id=bob,
                customer_id=c["c9"],
                state="active",
                added_at=at(11, 16, 9, 0),
                live_code_state="live1",
            )
        ),
        # groups: c12 joined later
        lambda s: (
            s.query(GroupMember).filter_by(customer_id=c["c12"]).update({"join_time": at(11, 16, 0, 0)})
        ),
        # the group left with no order in November (its line goes), and bob with none
        lambda s: (
            s.query(GroupMember)
            .filter(GroupMember.customer_id.in_([c["c8"], c["c9"], c["c12"]]))
            .update({"join_time": at(12, 1, 0, 0)})
        ),
        lambda s: s.query(Follow).filter_by(staff_id=bob).update({"added_at": at(12, 2, 0, 0)}),
        # the price list, the fee rates, the discount rule
        lambda s: s.query(SkuCost).filter_by(sku="SKU-A", cost_fen=4000).update({"cost_fen": 4100}),
        lambda s: s.get(Workspace, edge.ws).__setattr__(
            "settings", {"insights": {"platform_fee_rates": {"taobao": 0.07}, "discount_in_paid": True}}
        ),
        # rewards
        lambda s: s.add(
            Reward(
                workspace_id=edge.ws,
                customer_id=c["c2"],
                amount_fen=999,
                kind="gift",
                paid_at=at(11, 29, 9, 0),
                staff_id=alice,
            )
        ),
    ]


def test_the_kept_months_follow_every_change(
    edge: W, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Warm the cache, then change what the P&L reads, one committed change at a time."""
    nov, dec = date(2026, 11, 1), date(2026, 12, 1)

    def same() -> None:
        session.rollback()  # a new snapshot: what the other transaction committed
        for on in (nov, dec):
            for staff_id in (None, edge.staff["alice"]):
                fast = profit.pnl(session, workspace_id=edge.ws, on=on, staff_id=staff_id)
                assert fast == reference_pnl(
                    session, monkeypatch, workspace_id=edge.ws, on=on, staff_id=staff_id
                )

    same()
    for step in _changes(edge):
        with session_scope() as s:
            step(s)
        same()


def test_a_session_sees_its_own_uncommitted_orders(edge: W, session: Session) -> None:
    nov = date(2026, 11, 1)
    before = profit.pnl(session, workspace_id=edge.ws, on=nov)["total"]["orders"]
    order(session, edge, "c6", "e-uncommitted", at(11, 26, 9, 0), 1000)
    assert profit.pnl(session, workspace_id=edge.ws, on=nov)["total"]["orders"] == before + 1
    session.rollback()
    assert profit.pnl(session, workspace_id=edge.ws, on=nov)["total"]["orders"] == before


def _whole_months(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """The months whose facts get computed whole (not one customer's at a time) from now on."""
    computed: list[date] = []
    facts = profit._facts

    def counting(*args: Any, **kwargs: Any) -> Any:
        if "who" not in kwargs:
            computed.append(args[2])
        return facts(*args, **kwargs)

    monkeypatch.setattr(profit, "_facts", counting)
    return computed


def _snapshot(workspace_id: int) -> int:
    """What the worker's ``insights.pnl_snapshots`` job stores, from this process's months."""
    with session_scope() as s:
        return pnl_cache.save_snapshots(s, workspace_id)


def test_a_new_process_starts_from_the_snapshot_and_replays_every_change(
    edge: W, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that keeps no month (a CLI call, a restarted server) starts from the stored
    snapshot and the journal since, and answers exactly, change after change."""
    nov = date(2026, 11, 1)
    profit.pnl(session, workspace_id=edge.ws, on=nov)
    session.rollback()
    assert _snapshot(edge.ws) == 2  # November and October
    computed = _whole_months(monkeypatch)

    def cold_equals_reference() -> None:
        session.rollback()
        pnl_cache.forget()
        for staff_id in (None, edge.staff["alice"]):
            fast = profit.pnl(session, workspace_id=edge.ws, on=nov, staff_id=staff_id)
            assert fast == reference_pnl(
                session, monkeypatch, workspace_id=edge.ws, on=nov, staff_id=staff_id
            )

    cold_equals_reference()
    assert computed == [], "a snapshot with nothing changed since is used as it is"
    changes = _changes(edge)
    prices_change = next(i for i, step in enumerate(changes) if "SkuCost" in step.__code__.co_names)
    for i, step in enumerate(changes):
        with session_scope() as s:
            step(s)
        computed.clear()
        cold_equals_reference()
        if i < prices_change:
            # only the changed customers' facts were read (the snapshot is never written again)
            assert computed == [], f"change {i}: the snapshot was not used"
        else:
            assert nov in computed, f"change {i}: the price list changed, the snapshot must not be used"
    # the worker stores the months again: the next new process starts from them
    profit.pnl(session, workspace_id=edge.ws, on=nov)
    session.rollback()
    assert _snapshot(edge.ws) == 2
    computed.clear()
    cold_equals_reference()
    assert computed == []


def test_a_snapshot_older_than_the_journal_can_vouch_for_is_not_used(
    edge: W, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    nov = date(2026, 11, 1)
    profit.pnl(session, workspace_id=edge.ws, on=nov)
    session.rollback()
    _snapshot(edge.ws)
    computed = _whole_months(monkeypatch)
    pnl_cache.forget()
    with moved_clock(utcnow() + pnl_cache.STALE_AFTER + timedelta(minutes=1)):
        fast = profit.pnl(session, workspace_id=edge.ws, on=nov)
    assert sorted(computed) == [date(2026, 10, 1), nov]
    assert fast == reference_pnl(session, monkeypatch, workspace_id=edge.ws, on=nov)


def test_the_worker_stores_the_default_and_the_current_month(edge: W, session: Session) -> None:
    from siyu.insights.tasks import _pnl_snapshots
    from siyu.kit.db import session_factory
    from siyu.kit.ops import discover

    assert "insights.pnl_snapshots" in discover().periodic
    pnl_cache.forget()
    with moved_clock(at(12, 10, 12, 0)):
        got = _pnl_snapshots(session_factory())
    assert got["months"] >= 3
    stored = set(session.scalars(select(PnlSnapshot.month).where(PnlSnapshot.workspace_id == edge.ws)))
    # the latest complete month with orders (November), the month before it, and this one
    assert {date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)} <= stored
