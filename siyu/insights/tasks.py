"""Background work of the insights domain (declared here, run by ``siyu.worker``).

- periodic ``insights.refresh`` (every 60 s): each workspace in turn, one transaction per
  batch, brings the metric aggregates (conversations, staff days, interaction days and
  months, friend counts) up to date with new messages, moments events and friendship
  changes. The position is stored with the rows, so
  a crash re-reads the batch without doubling anything.
- periodic ``insights.pnl_snapshots`` (every 30 minutes): each workspace's P&L of its
  default month and of the current one (each with the month before) answered in this
  process, which keeps those months' order facts exact through the change journal, and
  stored as snapshots (``siyu.insights.pnl_cache``): another process's first answer
  starts from them instead of computing the months.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.insights import pnl_cache, profit
from siyu.insights.aggregates import BATCH, refresh
from siyu.kit.ops import periodic
from siyu.kit.timeutil import local_day, utcnow
from siyu.models import Workspace

# At most this many batches per workspace per tick, so that one busy workspace does not
# hold the worker (the next tick continues).
MAX_BATCHES = 10


@periodic("insights.refresh", every=60, description="update the metric aggregates from new messages")
def _refresh(factory: sessionmaker[Session]) -> dict[str, Any]:
    with factory() as s:
        ids = list(s.scalars(select(Workspace.id).order_by(Workspace.id)))
    done: dict[str, int] = {"workspaces": 0, "messages": 0, "events": 0}
    for ws_id in ids:
        for _ in range(MAX_BATCHES):
            with factory.begin() as s:
                got = refresh(s, ws_id)
            done["messages"] += got["messages"]
            done["events"] += got["events"]
            if got["messages"] < BATCH and got["events"] < BATCH:
                break
        done["workspaces"] += 1
    return done


@periodic(
    "insights.pnl_snapshots",
    every=1800,
    description="store the P&L's month facts, so a new process answers its first P&L fast",
)
def _pnl_snapshots(factory: sessionmaker[Session]) -> dict[str, Any]:
    with factory() as s:
        spaces = list(s.execute(select(Workspace.id, Workspace.timezone).order_by(Workspace.id)))
    stored = 0
    for ws_id, tz in spaces:
        with factory.begin() as s:
            profit.pnl(s, workspace_id=ws_id)
            profit.pnl(s, workspace_id=ws_id, on=local_day(utcnow(), tz))
            stored += pnl_cache.save_snapshots(s, ws_id)
    return {"workspaces": len(spaces), "months": stored}
