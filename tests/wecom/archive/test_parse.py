"""The archive line parser never raises, and two-way exchanges are found as defined."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.wecom.archive.interactions import exchange_times
from siyu.wecom.archive.parse import ArchiveRecord, LineProblem, parse_line
from tests.wecom.archive.conftest import T0, msg

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_record_or_a_problem(raw: bytes) -> None:
    assert isinstance(parse_line(raw), ArchiveRecord | LineProblem)


@settings(deadline=None)  # under a loaded CI machine the default 200 ms deadline flakes
@given(
    st.dictionaries(
        st.sampled_from(
            ["msgid", "from", "tolist", "roomid", "msgtime", "msgtype", "text", "action", "revoke"]
        ),
        json_values,
    )
)
def test_any_object_gives_a_record_or_a_problem(obj: dict) -> None:
    got = parse_line(json.dumps(obj))
    assert isinstance(got, ArchiveRecord | LineProblem)
    if isinstance(got, ArchiveRecord):
        assert got.msgid == obj["msgid"]
        assert got.sent_at.tzinfo is not None


def test_valid_record() -> None:
    rec = parse_line(json.dumps(msg("m1", "wmA", ["lin"], T0, "hi")))
    assert isinstance(rec, ArchiveRecord)
    assert (rec.sender, rec.tolist, rec.sent_at, rec.text) == ("wmA", ("lin",), T0, "hi")


def test_exchange_needs_both_sides_within_a_day() -> None:
    m = timedelta(minutes=1)
    got = exchange_times(
        [
            (1, 10, "in", T0),
            (1, 10, "out", T0 + 9 * m),  # answered: exchange at the answer
            (2, 10, "out", T0),
            (2, 10, "out", T0 + m),  # one-sided: none
            (3, 10, "in", T0),
            (3, 10, "out", T0 + timedelta(days=2)),  # too late: none
            (4, 10, "out", T0),
            (4, 11, "in", T0 + m),  # different staff: two chats, none
        ]
    )
    assert got == {1: T0 + 9 * m}
