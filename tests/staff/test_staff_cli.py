"""``siyu staff list``: each account's friends against its WeCom limit, fullest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from siyu.customers.follows import follow_added
from siyu.models import Customer
from siyu.staff.service import ensure_staff
from tests.conftest import CliRun

AT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def _staff_with_friends(
    session: Session, ws: int, userid: str, limit: int, friends: int, pending: int = 0
) -> None:
    staff = ensure_staff(session, workspace_id=ws, userid=userid, name=userid.title(), customer_limit=limit)
    for i in range(friends + pending):
        c = Customer(workspace_id=ws, name=f"{userid}-{i}")
        session.add(c)
        session.flush()
        follow_added(session, workspace_id=ws, staff_id=staff.id, customer_id=c.id, at=AT, half=i >= friends)


def test_list_shows_capacity_fullest_first(cli: CliRun, session: Session, workspace_id: int) -> None:
    _staff_with_friends(session, workspace_id, "amy", limit=10, friends=9, pending=2)
    _staff_with_friends(session, workspace_id, "ben", limit=10, friends=3)
    _staff_with_friends(session, workspace_id, "cai", limit=0, friends=1)
    session.commit()
    rows = json.loads(cli("staff", "list", "--json").stdout)
    assert [(r["userid"], r["friends"], r["pending"], r["usage"], r["near_full"]) for r in rows] == [
        ("amy", 9, 2, 0.9, True),
        ("ben", 3, 0, 0.3, False),
        ("cai", 1, 0, 0.0, False),  # no limit: never "full"
    ]
    by_name = json.loads(cli("staff", "list", "--json", "--sort", "name").stdout)
    assert [r["userid"] for r in by_name] == ["amy", "ben", "cai"]
    out = cli("staff", "list").stdout
    assert "near full" in out
    assert "90%" in out


def test_list_refuses_an_unknown_status(cli: CliRun, session: Session, workspace_id: int) -> None:
    result = cli("staff", "list", "--status", "gone", expect=2)
    assert "staff status 'gone' is not active, resigned or disabled" in result.stderr
