"""Background work of the insights domain (declared here, run by ``siyu.worker``).

- periodic ``insights.refresh`` (every 60 s): each workspace in turn, one transaction per
  batch, brings the metric aggregates (conversations, staff days, interaction days and
  months, friend counts) up to date with new messages, moments events and friendship
  changes. The position is stored with the rows, so
  a crash re-reads the batch without doubling anything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.insights.aggregates import BATCH, refresh
from siyu.kit.ops import periodic
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
