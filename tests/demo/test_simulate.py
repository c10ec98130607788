"""The simulated brand is believable and self-consistent, and the files are reproducible."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.demo.seasonality import festival, intensity
from siyu.demo.simulate import DemoData, simulate
from siyu.demo.writers import write_all
from siyu.kit.pii import normalise_phone

AS_OF = date(2026, 11, 23)


def _check_money(data: DemoData) -> None:
    for o in data.orders:
        assert o.created_at < data.cutoff, o.order_id
        if o.paid_at is None:
            assert o.paid_fen == 0
            assert o.refunded_fen == 0
            assert o.state in ("pending", "unpaid_closed")
            continue
        assert o.created_at <= o.paid_at < data.cutoff
        due = o.goods_fen - o.discount_fen - o.platform_discount_fen - o.talent_discount_fen
        assert o.paid_fen == due + o.shipping_fen > 0
        assert sum(x.paid_fen for x in o.lines) == due
        assert sum(x.amount_fen for x in o.lines) == o.goods_fen
        assert 0 <= o.refunded_fen <= o.paid_fen
        # A full refund returns the shipping too; a returned item does not.
        shipping_back = o.shipping_fen if o.state == "refunded" else 0
        assert sum(x.refunded_fen for x in o.lines) + shipping_back == o.refunded_fen
        if o.state == "refunded":
            assert o.refunded_fen == o.paid_fen
        if o.completed_at is not None:
            assert o.paid_at <= o.completed_at < data.cutoff


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), customers=st.integers(1, 40))
def test_every_order_adds_up_to_the_fen(seed: int, customers: int) -> None:
    _check_money(simulate(customers, seed, AS_OF))


def test_purchases_follow_festivals_and_people_come_back() -> None:
    data = simulate(3000, 7, AS_OF)
    _check_money(data)
    paid = [o for o in data.orders if o.paid_at is not None]
    per_day = Counter(o.paid_at.date() for o in paid if o.paid_at is not None)
    typical = statistics.median(per_day.values())
    # 双11 dwarfs an ordinary day, and Spring Festival week is quiet.
    assert per_day[date(2026, 11, 11)] > 4 * typical
    assert per_day[date(2025, 11, 11)] > 4 * typical
    sf_week = [per_day[date(2026, 2, 17) + timedelta(days=i)] for i in range(7)]
    assert statistics.mean(sf_week) < typical
    # A real repurchase process: many one-off buyers, a solid core of repeat buyers.
    orders_per_buyer = Counter(o.person.idx for o in paid)
    repeat = sum(1 for n in orders_per_buyer.values() if n >= 2) / len(orders_per_buyer)
    assert 0.3 < repeat < 0.7
    assert max(orders_per_buyer.values()) >= 8
    # Every platform and state shows up, with a few percent refunds.
    assert {o.platform for o in data.orders} == {"taobao", "douyin", "youzan", "offline"}
    states = Counter(o.state for o in data.orders)
    assert {"pending", "unpaid_closed", "paid", "shipped", "completed", "refunded"} <= set(states)
    assert 0.02 < states["refunded"] / len(paid) < 0.08
    aov = statistics.mean(o.paid_fen for o in paid) / 100
    assert 150 < aov < 500


def test_people_are_plausible_and_phones_valid() -> None:
    data = simulate(500, 3, AS_OF)
    phones = [p.phone for p in data.persons]
    assert len(set(phones)) == len(phones)
    for phone in phones:
        assert normalise_phone(phone) == "+86" + phone
    assert len({p.taobao_nick for p in data.persons}) == len(data.persons)
    cities = Counter(p.city for p in data.persons)
    assert cities.most_common(1)[0][0] in ("上海市", "北京市", "深圳市", "广州市", "杭州市", "成都市")
    women = sum(1 for p in data.persons if p.gender == 2) / len(data.persons)
    assert 0.75 < women < 0.95
    # Store customers invited to the member mall buy on both, under the same phone.
    both = [
        p
        for p in data.persons
        if {"youzan", "offline"} <= {o.platform for o in data.orders if o.person is p and o.paid_at}
    ]
    assert len(both) >= 10


def test_festival_calendar() -> None:
    assert festival(date(2025, 11, 11)) == "双11"
    assert festival(date(2025, 6, 18)) == "618"
    assert festival(date(2026, 1, 25)) == "年货节"  # Spring Festival 2026 is on 17 February
    assert festival(date(2025, 8, 5)) is None
    assert intensity(date(2025, 11, 11)) > intensity(date(2025, 6, 18)) > intensity(date(2025, 8, 5))


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    a = write_all(simulate(120, 5, AS_OF), tmp_path / "a")
    b = write_all(simulate(120, 5, AS_OF), tmp_path / "b")
    c = write_all(simulate(120, 6, AS_OF), tmp_path / "c")
    assert [f.path.name for f in a] == [f.path.name for f in b]
    for fa, fb in zip(a, b, strict=True):
        assert fa.path.read_bytes() == fb.path.read_bytes()
    other = {f.path.name: f.path.read_bytes() for f in c}
    for fa in a:
        assert fa.path.read_bytes() != other.get(fa.path.name)
    assert not list((tmp_path / "a").glob("*.part"))
