"""The ``channel:`` audience term takes in a store channel's adds (``<state>~<store id>``),
on the SQL path and the audience index alike; ``channel:<state>~<id>`` is one store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from siyu.customers.follows import follow_added
from siyu.customers.schemas import IdentityInput
from siyu.customers.service import resolve_customer
from siyu.kit.scope import ensure_workspace
from siyu.segments.audience import index
from siyu.segments.audience.query import count_with_warnings
from siyu.staff.service import ensure_staff
from tests.segments.test_audience_index import on_index, sql_ids

AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_indexes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(index, "ENABLED", True)
    monkeypatch.setattr(index, "SYNC_BUILD_MAX", 50_000)
    index._registry.clear()
    yield
    index._registry.clear()


def _friend(session: Session, ws: int, staff_id: int, ext: str, state: str | None) -> int:
    c = resolve_customer(
        session, workspace_id=ws, identities=[IdentityInput("external_userid", ext)], source="test"
    )
    follow_added(session, workspace_id=ws, staff_id=staff_id, customer_id=c.id, at=AT,
                 external_userid=ext, live_code_state=state)  # fmt: skip
    return c.id


def test_channel_term_matches_store_adds_on_sql_and_index(env: object, session: Session) -> None:
    ws = ensure_workspace(session, "default").id
    staff = ensure_staff(session, workspace_id=ws, userid="zs", name="张三").id
    ids = {
        name: _friend(session, ws, staff, f"wm{name}", state)
        for name, state in (
            ("plain", "stores"),
            ("s1", "stores~1"),
            ("s2", "stores~2"),
            ("longer", "storesx"),
            ("other", "live"),
            ("wild", "abc~1"),
            ("none", None),
        )
    }
    session.commit()
    cases = {
        "channel:stores": {ids["plain"], ids["s1"], ids["s2"]},
        "channel:stores~2": {ids["s2"]},
        "channel:live": {ids["other"]},
        "channel:a_c": set(),  # LIKE's wildcards are the state's own characters
        "not channel:stores": {ids["longer"], ids["other"], ids["wild"], ids["none"]},
    }
    for expr, want in cases.items():
        assert sql_ids(session, ws, expr) == want, expr
        assert on_index(session, ws, expr)[0] == want, expr
    # A store channel whose adds all came through its stores is known (no warning).
    only_stores = _friend(session, ws, staff, "wmo", "shop~7")
    session.commit()
    got, warnings = count_with_warnings(session, workspace_id=ws, expr="channel:shop")
    assert (got, warnings) == (1, [])
    assert on_index(session, ws, "channel:shop")[0] == {only_stores}  # a later add reaches the index
    assert count_with_warnings(session, workspace_id=ws, expr="channel:nosuch")[1]
