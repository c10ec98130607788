"""Friend adds: the share accepted at once (skip-verify codes) and accept times staff record."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.follows import follow_added
from siyu.customers.service import IdentityInput, resolve_customer
from siyu.kit.db import session_scope
from siyu.models import Channel, Event, FriendAccept
from tests.conftest import CliRun
from tests.wecom.archive.conftest import T0, Corp


def test_add_share_and_recorded_accepts(cli: CliRun, corp: Corp, session: Session) -> None:
    ws = corp.workspace_id
    with session_scope() as s:
        s.add(Channel(workspace_id=ws, name="直播码", state="live", slug="live", skip_verify=True))
        s.add(Channel(workspace_id=ws, name="门店码", state="store", slug="store", skip_verify=False))
        for i, state in enumerate(["live", "live", "store", "store", None]):
            c = resolve_customer(
                s, workspace_id=ws, identities=[IdentityInput("external_userid", f"wmN{i}")], source="test"
            )
            follow_added(
                s,
                workspace_id=ws,
                staff_id=corp.staff["zhou"],
                customer_id=c.id,
                at=T0 + timedelta(hours=i),
                external_userid=f"wmN{i}",
                live_code_state=state,
            )
    cli(
        "wecom",
        "archive",
        "accept",
        "--staff",
        "zhou",
        "--external-userid",
        "wmN2",
        "--requested-at",
        (T0 + timedelta(hours=1, minutes=50)).isoformat(),
        "--accepted-at",
        (T0 + timedelta(hours=2)).isoformat(),
    )
    row = session.scalar(select(FriendAccept))
    assert row is not None
    assert row.accepted_at - row.requested_at == timedelta(minutes=10)
    # the request is on the timeline, where the pass rate's accept times are read
    asked = session.scalar(select(Event).where(Event.kind == "friend.request"))
    assert asked is not None
    assert asked.occurred_at == row.requested_at
    assert asked.staff_id == row.staff_id
    out = cli(
        "wecom",
        "archive",
        "adds",
        "--since",
        T0.isoformat(),
        "--until",
        (T0 + timedelta(days=1)).isoformat(),
        "--json",
    ).stdout
    assert json.loads(out) == {
        "adds": 5,
        "accepted_at_once": 2,
        "accept_recorded": 1,
        "unknown": 2,
        "share_at_once": 0.4,
    }
    bad = cli(
        "wecom",
        "archive",
        "accept",
        "--staff",
        "zhou",
        "--external-userid",
        "wmNOPE",
        "--requested-at",
        T0.isoformat(),
        expect=2,
    )
    assert "external_userid" in bad.stderr
    naive = cli(
        "wecom",
        "archive",
        "accept",
        "--staff",
        "zhou",
        "--external-userid",
        "wmN3",
        "--requested-at",
        datetime(2026, 11, 1).isoformat(),
        expect=2,
    )
    assert "time zone" in naive.stderr
