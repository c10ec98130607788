"""The demo brand's archive: months of chats, guides that differ, and a right silent layer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.models import CustomerScore, CustomerStats, Follow, Message, Staff
from siyu.wecom.simulator.archive import Habit, simulate_archive
from tests.conftest import DemoBrand
from tests.wecom.archive.conftest import T0


def _answered_share(session: Session, userid: str) -> float:
    """Share of runs of customer messages (1:1) that a staff message ended."""
    sid = session.scalar(select(Staff.id).where(Staff.userid == userid))
    rows = session.execute(
        select(Message.customer_id, Message.direction, Message.sent_at)
        .where(Message.staff_id == sid, Message.group_id.is_(None), Message.msgtype == "text")
        .order_by(Message.customer_id, Message.sent_at)
    ).all()
    runs = answered = 0
    waiting = False
    for prev, (cid, d, at) in zip([None, *rows], rows, strict=False):
        same = prev is not None and prev[0] == cid
        gap = at - prev[2] if prev is not None and same else timedelta.max
        if not same:
            waiting = False
        if d == "in":
            # a new question: not a follow-up, not a "thanks" soon after an answer
            if gap >= timedelta(hours=16) or (
                prev is not None and prev[1] == "out" and gap >= timedelta(hours=3)
            ):
                runs += 1
                waiting = True
        elif waiting:
            answered += 1
            waiting = False
    return answered / runs


@pytest.mark.xdist_group("demo")
def test_demo_has_months_of_chats_and_few_silent_friends(session: Session, demo_brand: DemoBrand) -> None:
    n = session.scalar(select(func.count()).select_from(Message))
    assert n
    assert n > 1000
    first, last = session.execute(select(func.min(Message.sent_at), func.max(Message.sent_at))).one()
    assert last - first > timedelta(days=90)
    # reply habits differ: 林小青 answers nearly everything, 刘欣妍 forgets many
    assert _answered_share(session, "qh_lin") - _answered_share(session, "qh_liu") > 0.2
    # the archive covers every guide but the Hangzhou store's (no messages of hers)
    from siyu.wecom.archive.service import covered_staff_ids

    covered = covered_staff_ids(session, workspace_id=session.scalar(select(Staff.workspace_id).limit(1)))
    zhao = session.scalar(select(Staff.id).where(Staff.userid == "qh_zhao"))
    assert zhao not in covered
    assert len(covered) == 6
    assert not session.scalar(select(func.count()).select_from(Message).where(Message.staff_id == zhao))
    # members @ their group's owner in the groups, and those threads are conversations of
    # the reply rate (answered by the owner's habit)
    from siyu.models import Conversation

    mentioned = session.scalar(select(func.count()).select_from(Message).where(Message.mentions.is_not(None)))
    assert mentioned is not None
    assert mentioned > 20
    threads = session.scalar(
        select(func.count()).select_from(Conversation).where(Conversation.group_id.is_not(None))
    )
    assert threads is not None
    assert threads > 10
    # store guides recorded most accept times of requests through their (verified) codes
    from siyu.models import FriendAccept

    accepts = session.scalars(select(FriendAccept)).all()
    assert accepts
    assert all(a.accepted_at > a.requested_at for a in accepts)
    # nobody with a two-way chat in the last 90 days is silent
    cutoff = last - timedelta(days=60)  # (the layers are computed as of today, after the demo day)
    talked = select(CustomerStats.customer_id).where(CustomerStats.last_interaction_at >= cutoff)
    silent_talkers = session.scalar(
        select(func.count())
        .select_from(CustomerScore)
        .where(CustomerScore.layer_value == "silent", CustomerScore.customer_id.in_(talked))
    )
    assert silent_talkers == 0
    friends = select(Follow.customer_id).where(Follow.state == "active")
    silent_friends = session.scalar(
        select(func.count(func.distinct(CustomerScore.customer_id))).where(
            CustomerScore.layer_value == "silent", CustomerScore.customer_id.in_(friends)
        )
    )
    n_friends = session.scalar(
        select(func.count(func.distinct(Follow.customer_id))).where(Follow.state == "active")
    )
    assert n_friends
    assert silent_friends is not None
    assert silent_friends / n_friends < 0.2


def test_simulated_archive_is_deterministic_and_timely() -> None:
    follows = [("lin", f"wm{i}", T0 - timedelta(days=40)) for i in range(30)]
    args = {
        "start": T0 - timedelta(days=30),
        "end": T0,
        "habits": {"lin": Habit(median_minutes=5)},
        "seed": 3,
    }
    a = list(simulate_archive(follows, **args))  # type: ignore[arg-type]
    assert a == list(simulate_archive(follows, **args))  # type: ignore[arg-type]
    assert a
    assert all(args["start"].timestamp() * 1000 <= r["msgtime"] < T0.timestamp() * 1000 for r in a)
    assert [r["msgtime"] for r in a] == sorted(r["msgtime"] for r in a)
    assert len({r["msgid"] for r in a}) == len(a)
