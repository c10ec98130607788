"""Routing strategies, schedules, caps, backups and capacity, as the live code's member list."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from siyu.acquisition import routing
from siyu.acquisition.channels import ChannelInput, create_channel
from siyu.customers.follows import follow_added
from siyu.customers.schemas import IdentityInput
from siyu.customers.service import resolve_customer
from siyu.kit.timeutil import moved_clock
from siyu.models import Channel, Staff
from siyu.staff.service import ensure_staff

# 2026-12-07 is a Monday; 02:00 UTC is 10:00 in Shanghai.
MONDAY_10 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
_SEQ = itertools.count()
MONDAY_23 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def _staff(session: Session, ws: int, *names: str, limit: int = 5000) -> list[Staff]:
    return [ensure_staff(session, workspace_id=ws, userid=n, name=n, customer_limit=limit) for n in names]


def _friends(session: Session, ws: int, staff: Staff, n: int, state: str | None = None) -> None:
    for _ in range(n):
        ext = f"wm{staff.userid}{next(_SEQ):05d}"
        c = resolve_customer(
            session, workspace_id=ws, identities=[IdentityInput("external_userid", ext)], source="test"
        )
        follow_added(
            session, workspace_id=ws, staff_id=staff.id, customer_id=c.id, at=MONDAY_10,
            external_userid=ext, live_code_state=state, half=False,
        )  # fmt: skip
    session.flush()


def _channel(session: Session, ws: int, pool: dict[str, object]) -> Channel:
    return create_channel(session, workspace_id=ws, data=ChannelInput(name="测试", pool=pool), actor="test")


def test_strategies_choose_the_members(session: Session, workspace_id: int) -> None:
    a, b, c = _staff(session, workspace_id, "a", "b", "c", limit=10)
    _friends(session, workspace_id, a, 5)
    _friends(session, workspace_id, b, 9)  # 90 % of the limit
    ids = [a.id, b.id, c.id]
    with moved_clock(MONDAY_10):
        assert routing.plan(session, _channel(session, workspace_id, {"staff_ids": ids})).userids == [
            "a",
            "b",
            "c",
        ]
        cap_first = _channel(session, workspace_id, {"staff_ids": ids, "strategy": "capacity_first"})
        assert routing.plan(session, cap_first).userids == ["a", "c"]
        least = _channel(session, workspace_id, {"staff_ids": ids, "strategy": "least_loaded"})
        assert routing.plan(session, least).userids == ["c"]
        _friends(session, workspace_id, c, 10)  # c is full: out of every pool at once
        assert routing.plan(session, least).userids == ["a"]
        p = routing.plan(session, cap_first)
        assert p.userids == ["a"]
        assert {x.userid: x.status for x in p.accounts} == {"a": "on", "b": "near_full", "c": "full"}


def test_weighted_follows_the_weights_over_adds(session: Session, workspace_id: int) -> None:
    a, b = _staff(session, workspace_id, "a", "b")
    ch = _channel(session, workspace_id, {"staff_ids": [a.id, b.id], "strategy": "weighted",
                                          "weights": {str(a.id): 3, str(b.id): 1}})  # fmt: skip
    counts = {"a": 0, "b": 0}
    with moved_clock(MONDAY_10):
        for _ in range(8):
            (who,) = routing.plan(session, ch).members
            counts[who.userid] += 1
            _friends(session, workspace_id, a if who.userid == "a" else b, 1, state=ch.state)
    assert counts == {"a": 6, "b": 2}


def test_schedules_caps_and_backups(session: Session, workspace_id: int) -> None:
    day, night, backup = _staff(session, workspace_id, "day", "night", "backup")
    ch = _channel(
        session,
        workspace_id,
        {
            "staff_ids": [],
            "schedules": [
                {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00", "staff_ids": [day.id]},
                {"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "08:00", "staff_ids": [night.id]},
            ],
            "backup_staff_ids": [backup.id],
            "daily_caps": {str(day.id): 2},
        },
    )
    with moved_clock(MONDAY_10):
        assert routing.plan(session, ch).userids == ["day"]
        _friends(session, workspace_id, day, 2, state=ch.state)  # today's cap reached
        p = routing.plan(session, ch)
        assert (p.userids, p.used_backup) == (["backup"], True)
        assert {x.userid: x.status for x in p.accounts}["day"] == "capped"
    with moved_clock(MONDAY_23):  # overnight schedule, in the workspace's zone
        assert routing.plan(session, ch).userids == ["night"]
    with moved_clock(datetime(2026, 12, 7, 11, 0, tzinfo=UTC)):  # 19:00: nobody on, backup takes over
        assert routing.plan(session, ch).userids == ["backup"]


def test_replan_queues_a_sync_only_when_members_change(session: Session, workspace_id: int) -> None:
    from sqlalchemy import select

    from siyu.acquisition.tasks import replan_all
    from siyu.models import Job

    day, night = _staff(session, workspace_id, "day", "night")
    ch = _channel(
        session,
        workspace_id,
        {"staff_ids": [night.id], "schedules": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00",
                                                 "staff_ids": [day.id]}]},
    )  # fmt: skip
    ch.config_id, ch.sync_status, ch.settings = "cfg", "ok", {"members": ["day"]}
    session.flush()
    with moved_clock(MONDAY_10):
        assert replan_all(session, workspace_id=workspace_id) == 0
    with moved_clock(MONDAY_23):  # the schedule ended: the base pool takes over
        assert replan_all(session, workspace_id=workspace_id) == 1
        assert replan_all(session, workspace_id=workspace_id) == 0  # same minute: queued once
    reasons = [
        j.payload.get("reason")
        for j in session.scalars(select(Job).where(Job.kind == "acquisition.channel_sync"))
    ]
    assert reasons == ["create", "routing"]
