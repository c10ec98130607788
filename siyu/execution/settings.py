"""The task knobs a workspace may set under ``settings["tasks"]`` (docs/tasks.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.kit.errors import NotFound
from siyu.kit.timeutil import local_day, zone
from siyu.models import Workspace


@dataclass(frozen=True)
class TaskSettings:
    tz: str
    reply_sla_minutes: int = 10
    greet_after_minutes: int = 30
    lead_add_hours: int = 24
    wakeup_days: int = 60
    post_purchase_days: int = 1
    due_hour: int = 21  # local hour that day's list is due by
    working_days: tuple[int, ...] = (1, 2, 3, 4, 5)  # ISO weekdays
    team_leads: dict[str, str] = field(default_factory=dict)  # department -> lead's userid
    content: dict[str, int] = field(default_factory=dict)  # task kind -> suggested content id


def task_settings(session: Session, workspace_id: int) -> TaskSettings:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound(f"no workspace {workspace_id}", field="workspace_id")
    raw: dict[str, Any] = dict((ws.settings or {}).get("tasks") or {})
    known = {k: v for k, v in raw.items() if k in TaskSettings.__dataclass_fields__ and k != "tz"}
    if "working_days" in known:
        known["working_days"] = tuple(int(d) for d in known["working_days"])
    return TaskSettings(tz=ws.timezone, **known)


def due_on(day: date, s: TaskSettings) -> datetime:
    """``due_hour`` o'clock of a local ``day`` in the workspace's zone, as a UTC instant."""
    return datetime.combine(day, time(s.due_hour), tzinfo=zone(s.tz)).astimezone(UTC)


def next_due(now: datetime, s: TaskSettings) -> datetime:
    """The first ``due_hour`` o'clock (workspace zone) after ``now``: today's if it is still
    ahead, else tomorrow's."""
    today = local_day(now, s.tz)
    due = due_on(today, s)
    return due if due > now else due_on(today + timedelta(days=1), s)
