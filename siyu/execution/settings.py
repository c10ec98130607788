"""The task knobs a workspace may set under ``settings["tasks"]`` (docs/tasks.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from siyu.kit.errors import NotFound
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
