"""RFM: quintile scores (ties, tiny workspaces), the R×F grid, the 8 classes, via the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import CustomerScore
from siyu.segments import rfm
from tests.conftest import CliRun
from tests.segments.scores_factory import make_customer

# METRICS.md's R×F table, written out cell by cell: (R, F) -> label.
EXPECTED_GRID = {
    **{(5, f): "champions" for f in (4, 5)},
    **{(r, f): "loyal" for r in (3, 4) for f in (4, 5)},
    **{(r, f): "potential_loyalists" for r in (4, 5) for f in (2, 3)},
    (5, 1): "new",
    (4, 1): "promising",
    (3, 3): "need_attention",
    **{(3, f): "about_to_sleep" for f in (1, 2)},
    **{(r, f): "at_risk" for r in (1, 2) for f in (3, 4)},
    **{(r, 5): "cant_lose" for r in (1, 2)},
    **{(r, f): "hibernating" for r in (1, 2) for f in (1, 2)},
}


def test_every_rf_cell_has_exactly_one_label() -> None:
    assert len(EXPECTED_GRID) == 25
    r, f = zip(*EXPECTED_GRID, strict=True)
    assert list(rfm.rf_segments(r, f)) == list(EXPECTED_GRID.values())
    assert set(rfm.RF_LABELS) == set(EXPECTED_GRID.values())


def test_scores_outside_one_to_five_are_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and 5"):
        rfm.rf_segments([0], [3])


def test_quintiles_rank_ties_together() -> None:
    # six one-time buyers tie: all F1, however many of them there are
    assert list(rfm.f_scores([1, 1, 1, 1, 1, 1, 2, 3, 4, 5])) == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    # ten distinct values: two per quintile
    assert list(rfm.m_scores(range(10))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_recency_is_flipped_so_recent_scores_high() -> None:
    assert list(rfm.r_scores([0, 10, 20, 30, 40])) == [5, 4, 3, 2, 1]


def test_tiny_and_uniform_workspaces() -> None:
    assert list(rfm.r_scores([])) == []
    # one customer, or everyone alike: nobody is better or worse, so the middle score
    assert list(rfm.r_scores([12])) == [3]
    assert list(rfm.m_scores([500, 500, 500])) == [3, 3, 3]
    assert list(rfm.f_scores([3, 3])) == [3, 3]
    # ...except that one order is the lowest frequency there is
    assert list(rfm.f_scores([1, 1, 1])) == [1, 1, 1]
    # two customers: the better one is above the median, the other is the lowest
    assert list(rfm.m_scores([100, 900])) == [1, 3]


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=200))
def test_quintile_properties(values: list[int]) -> None:
    scores = rfm.quintile_scores(values)
    v = np.array(values)
    assert scores.min() >= 1
    assert scores.max() <= 5
    # ties share a score; a strictly better value never scores lower
    for i in range(len(values)):
        assert np.all(scores[v == v[i]] == scores[i])
        assert np.all(scores[v > v[i]] >= scores[i])
    if len(set(values)) > 1:
        assert scores[v == v.min()].max() == 1
        # no more than (6 - k) fifths of the customers reach score k or above
        for k in range(2, 6):
            assert (scores >= k).sum() <= len(values) * (6 - k) / 5 + 1e-9


def test_rfm8_codes_flip_recency_and_name_all_classes() -> None:
    # recency days, orders, net fen: the first customer bought yesterday, the second long ago
    recency = [1, 400, 2, 300, 3, 500, 4, 600]
    freq = [9, 9, 9, 9, 1, 1, 1, 1]
    money = [900, 900, 10, 10, 900, 900, 10, 10]
    codes = rfm.rfm8_codes(recency, freq, money)
    assert list(codes) == ["111", "011", "110", "010", "101", "001", "100", "000"]
    assert rfm.rfm8_names(codes) == [
        "重要价值",
        "重要保持",
        "一般价值",
        "一般保持",
        "重要发展",
        "重要挽留",
        "一般发展",
        "一般挽留",
    ]


def test_rfm8_at_the_centre_is_low() -> None:
    # equal to the mean is not "high": F = [1, 2, 3] has mean 2
    assert [c[1] for c in rfm.rfm8_codes([1, 1, 1], [1, 2, 3], [1, 1, 1])] == ["0", "0", "1"]
    assert [c[1] for c in rfm.rfm8_codes([1, 1, 1, 1], [1, 1, 1, 9], [1, 1, 1, 1], center="median")] == [
        "0",
        "0",
        "0",
        "1",
    ]


# Ten hand-made buyers: (recency days, orders, net yuan) and what they must score.
BUYERS = [
    ("c0", 0, 9, 5000, (5, 5, 5), "champions", "重要价值"),
    ("c1", 5, 1, 100, (5, 1, 2), "new", "一般发展"),
    ("c2", 12, 6, 3000, (4, 4, 4), "loyal", "重要价值"),
    ("c3", 20, 1, 80, (4, 1, 1), "promising", "一般发展"),
    ("c4", 33, 4, 900, (3, 3, 3), "need_attention", "一般发展"),
    ("c5", 47, 2, 150, (3, 2, 2), "about_to_sleep", "一般发展"),
    ("c6", 60, 3, 400, (2, 3, 3), "at_risk", "一般发展"),
    ("c7", 90, 8, 2500, (2, 4, 4), "at_risk", "重要保持"),
    ("c8", 200, 1, 50, (1, 1, 1), "hibernating", "一般挽留"),
    # bought often and much, but 400 days ago: not 重要价值 (the R-flip bug would say so)
    ("c9", 400, 10, 6000, (1, 5, 5), "cant_lose", "重要保持"),
]


def _scores(session: Session) -> dict[str, CustomerScore]:
    from siyu.models import Customer

    session.expire_all()
    rows = session.execute(select(Customer.name, CustomerScore).join(CustomerScore)).all()
    return dict(rows)


def test_recompute_scores_hand_made_customers(cli: CliRun, session: Session, workspace_id: int) -> None:
    for name, days, orders, net, *_ in BUYERS:
        make_customer(session, workspace_id, name=name, orders=orders, net_yuan=net, last_days_ago=days)
    make_customer(session, workspace_id, name="never bought")
    session.commit()

    out = cli("segments", "recompute", "--as-of", "2026-06-30").stdout
    assert "11 customers" in out
    assert "10 with an effective order" in out

    scores = _scores(session)
    for name, days, _, _, (r, f, m), grid, cls in BUYERS:
        s = scores[name]
        assert (s.recency_days, s.r_score, s.f_score, s.m_score) == (days, r, f, m), name
        assert (s.rfm_segment, s.rfm8) == (grid, cls), name
    lead = scores["never bought"]
    assert (lead.r_score, lead.rfm_segment, lead.rfm8, lead.lifecycle) == (None, None, None, "lead")

    # the median centre moves c4 (R 33 < 40, F 4 > 3.5, M 900 > 650) up and c5 down
    cli("segments", "recompute", "--as-of", "2026-06-30", "--center", "median")
    scores = _scores(session)
    assert scores["c4"].rfm8 == "重要价值"
    assert scores["c5"].rfm8 == "一般挽留"
