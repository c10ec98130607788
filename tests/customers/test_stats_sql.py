"""Set-based stats: local purchase days in zones with daylight saving, counters, places."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.customers.stats import _transitions, refresh_stats
from siyu.kit import changes
from siyu.kit.db import session_factory
from siyu.models import Customer, CustomerStats, Order, OrderItem, Workspace


def _order(session: Session, ws: int, cid: int, n: int, paid_at: datetime | None, **kw: object) -> Order:
    values: dict[str, object] = {
        "workspace_id": ws,
        "customer_id": cid,
        "platform": "generic",
        "external_id": f"o{n}",
        "status": "paid",
        "paid_at": paid_at,
        "ordered_at": paid_at,
        "paid_fen": 1000,
        "item_count": 1,
        "extra": {},
    }
    values.update(kw)
    o = Order(**values)
    session.add(o)
    session.flush()
    return o


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Shanghai", "Australia/Lord_Howe"])
def test_purchase_days_are_local_days_across_offset_changes(
    session: Session, workspace_id: int, tz: str
) -> None:
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    ws.timezone = tz
    c = Customer(workspace_id=workspace_id, gender=0, opt_out=False)
    session.add(c)
    session.flush()
    # Instants around New York's and Lord Howe's 2023 switches, and around local midnights.
    zi = ZoneInfo(tz)
    instants = [
        datetime(2023, 3, 12, 4, 30, tzinfo=UTC),
        datetime(2023, 3, 12, 5, 30, tzinfo=UTC),
        datetime(2023, 3, 12, 7, 30, tzinfo=UTC),
        datetime(2023, 4, 1, 13, 15, tzinfo=UTC),
        datetime(2023, 4, 1, 14, 45, tzinfo=UTC),
        datetime(2023, 11, 5, 3, 59, tzinfo=UTC),
        datetime(2023, 11, 5, 4, 1, tzinfo=UTC),
        datetime(2023, 11, 5, 5, 1, tzinfo=UTC),
        datetime(2023, 11, 6, 4, 30, tzinfo=UTC),
        datetime(2023, 11, 6, 5, 30, tzinfo=UTC),
    ]
    for n, at in enumerate(instants):
        _order(session, workspace_id, c.id, n, at)
    refresh_stats(session, workspace_id=workspace_id, customer_ids=[c.id])
    session.expire_all()
    st = session.get(CustomerStats, c.id)
    assert st is not None
    assert st.purchase_days == len({at.astimezone(zi).date() for at in instants})
    assert (st.first_paid_at, st.last_paid_at) == (min(instants), max(instants))


def test_zone_transitions_match_zoneinfo() -> None:
    instants, offsets = _transitions("America/New_York")
    zi = ZoneInfo("America/New_York")
    for at, off in zip(instants[1:], offsets[1:], strict=True):
        before = (at - timedelta(seconds=1)).astimezone(zi).utcoffset()
        after = at.astimezone(zi).utcoffset()
        assert after == timedelta(seconds=off) != before
    # Shanghai: a handful of changes, none since 1991.
    sh, _ = _transitions("Asia/Shanghai")
    assert max(sh) < datetime(1992, 1, 1, tzinfo=UTC)


def test_counters_places_and_first_last_orders(session: Session, workspace_id: int) -> None:
    c = Customer(workspace_id=workspace_id, gender=0, opt_out=False, province="旧省", city="旧市")
    session.add(c)
    session.flush()
    t = datetime(2024, 5, 1, 2, tzinfo=UTC)
    a = _order(session, workspace_id, c.id, 1, t, shop="A店", title="面霜", province="浙江省", city="杭州市")
    b = _order(session, workspace_id, c.id, 2, t, shop="A店", title="x", item_count=3)
    session.add_all(
        [
            OrderItem(workspace_id=workspace_id, order_id=b.id, line_key="1", title="精华", category="护肤",
                      quantity=2, amount_fen=600),
            OrderItem(workspace_id=workspace_id, order_id=b.id, line_key="2", title="", category="护肤",
                      quantity=1, amount_fen=400),
            OrderItem(workspace_id=workspace_id, order_id=b.id, line_key="3", title="退掉", category="彩妆",
                      quantity=1, amount_fen=500, refunded_fen=500),
        ]
    )  # fmt: skip
    # Refunded in full: counted as paid, not as a purchase.
    _order(session, workspace_id, c.id, 3, t + timedelta(days=9), status="refunded", refunded_fen=1000,
           shop="B店", province="广东省", city="深圳市")  # fmt: skip
    _order(session, workspace_id, c.id, 4, None, status="pending", ordered_at=t + timedelta(days=10))
    refresh_stats(session, workspace_id=workspace_id, customer_ids=[c.id, c.id])
    # The audience change journal is told which customers changed.
    assert changes.pending(session)
    session.expire_all()
    st = session.get(CustomerStats, c.id)
    assert st is not None
    assert (st.orders_count, st.paid_orders_count, st.effective_orders_count) == (4, 3, 2)
    assert (st.paid_fen, st.refunded_fen, st.net_fen, st.items_count) == (3000, 1000, 2000, 4)
    # Same payment time: the earlier order id is first, the later one last.
    assert (st.first_order_id, st.last_order_id) == (a.id, b.id)
    assert st.platforms == {"generic": 2}
    assert st.shops == {"A店": 2}
    assert st.products == {"面霜": 1, "精华": 2, "?": 1}
    assert st.categories == {"护肤": 3}
    # The place follows the latest order that has one, refunded or not.
    assert (st.province, st.city) == ("广东省", "深圳市")
    customer = session.scalar(select(Customer).where(Customer.id == c.id))
    assert customer is not None
    assert (customer.province, customer.city, customer.first_seen_at) == ("广东省", "深圳市", t)


def test_stats_are_part_of_the_callers_transaction(
    env: Settings, session: Session, workspace_id: int
) -> None:
    """A service never commits: stats written first in a transaction roll back with it.

    (pysqlite opens a transaction only before INSERT/UPDATE/DELETE/REPLACE; the stats
    statements start with WITH and used to run on their own, committed at once.)
    """
    c = Customer(workspace_id=workspace_id, gender=0, opt_out=False)
    session.add(c)
    session.flush()
    _order(
        session, workspace_id, c.id, 1, datetime(2024, 5, 1, 2, tzinfo=UTC), province="浙江省", city="杭州市"
    )
    session.commit()
    with session_factory()() as fresh:
        refresh_stats(fresh, workspace_id=workspace_id, customer_ids=[c.id])
        assert fresh.get(CustomerStats, c.id) is not None
        fresh.rollback()
    session.expire_all()
    assert session.get(CustomerStats, c.id) is None
    customer = session.get(Customer, c.id)
    assert customer is not None
    assert (customer.province, customer.city) == (None, None)
