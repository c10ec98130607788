"""The execution leaderboard: parts, weights and the profit factor."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.models import StaffTask
from tests.conftest import CliRun
from tests.insights.world import W, at, build


@pytest.fixture
def world(env: Settings, workspace_id: int) -> W:
    with session_scope() as s:
        w = build(s, workspace_id)
        due = at(11, 10, 18, 0)
        for i, done_at in enumerate((due - timedelta(hours=1), due + timedelta(hours=1), None, None)):
            status = "done" if done_at else "open"
            s.add(StaffTask(workspace_id=workspace_id, staff_id=w.staff["alice"], kind="manual",
                            title=f"t{i}", due_at=due, status=status, done_at=done_at,
                            dedup_key=f"t{i}"))  # fmt: skip
        s.add(StaffTask(workspace_id=workspace_id, staff_id=w.staff["alice"], kind="manual", title="x",
                        due_at=due, status="cancelled", dedup_key="tx"))  # fmt: skip
        return w


def test_leaderboard_parts_and_ranking(cli: CliRun, world: W) -> None:
    cli("insights", "refresh")
    data = json.loads(cli("insights", "score", "--on", "2026-11-20", "--json").stdout)
    alice = next(a for a in data["accounts"] if a["userid"] == "alice")
    # pass 1/2, reply 3/5, coverage 5/8, tasks 1 of 4 on time (the cancelled one is not due).
    assert alice["parts"] == {"pass": 0.5, "reply": 0.6, "coverage": 0.625, "tasks": 0.25}
    assert (alice["tasks_due"], alice["tasks_done_on_time"]) == (4, 1)
    assert alice["score"] == pytest.approx(100 * (0.5 + 0.6 + 0.625 + 0.25) / 4, abs=0.05)
    assert alice["weakest"] == "tasks"
    assert alice["weakest_label"] == "任务完成"
    bob = next(a for a in data["accounts"] if a["userid"] == "bob")
    # bob: only WeCom's reply figure (50 %) is known.
    assert bob["parts"] == {"pass": None, "reply": 0.5, "coverage": None, "tasks": None}
    assert bob["score"] == 50.0
    assert [a["rank"] for a in data["accounts"]] == [1, 2]
    mine = json.loads(cli("insights", "score", "--on", "2026-11-20", "--json", "--staff", "bob").stdout)
    assert [a["userid"] for a in mine["accounts"]] == ["bob"]
    assert mine["accounts"][0]["rank"] == 2
