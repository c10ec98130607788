"""Creating and completing staff tasks (the contract other domains call)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.events import record_event
from siyu.kit.timeutil import utcnow
from siyu.models import StaffTask

DONE_HOW = ("detected", "self_reported", "operator")
PRIORITIES = (1, 2, 3)
TITLE_MAX = 200


@dataclass(frozen=True)
class NewTask:
    """What a caller asks for; ``dedup_key`` makes the creation idempotent."""

    staff_id: int | None
    kind: str
    title: str
    due_at: datetime
    customer_id: int | None = None
    group_id: int | None = None
    body: str | None = None
    content_id: int | None = None
    priority: int = 2
    source: str = "manual"
    source_ref: str | None = None
    dedup_key: str | None = None
    extra: dict[str, Any] | None = None


def _check(task: NewTask) -> None:
    if not task.title.strip():
        raise Invalid("a task needs a title", field="title")
    if len(task.title) > TITLE_MAX:
        raise Invalid(f"a task title is at most {TITLE_MAX} characters", field="title")
    if task.priority not in PRIORITIES:
        raise Invalid("priority is 1 (high), 2 (normal) or 3 (low)", field="priority")
    if task.due_at.tzinfo is None:
        raise Invalid("due_at must carry a time zone", field="due_at")


def create_tasks(session: Session, *, workspace_id: int, tasks: list[NewTask]) -> list[int]:
    """Insert tasks in the caller's transaction; the ids of those created.

    A task whose ``dedup_key`` exists already is skipped (not an error), so a retried or
    re-delivered caller never makes a second task.
    """
    for t in tasks:
        _check(t)
    if not tasks:
        return []
    now = utcnow()
    rows = [_row(workspace_id, t, now) for t in tasks]
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(StaffTask)
    stmt = ins.on_conflict_do_nothing(index_elements=["workspace_id", "dedup_key"]).returning(StaffTask.id)
    ids: list[int] = []
    for row in rows:  # one statement per row: RETURNING with ON CONFLICT across dialects
        got = session.execute(stmt.values(**row)).scalar_one_or_none()
        if got is not None:
            ids.append(got)
    return ids


def add_tasks_bulk(session: Session, *, workspace_id: int, tasks: list[NewTask], chunk: int = 1000) -> int:
    """Insert many tasks at once (multi-row, skipping used ``dedup_key``s); how many were new.

    The morning lists use it (tens of thousands of rows); it returns no ids.
    """
    for t in tasks:
        _check(t)
    if not tasks:
        return 0
    now = utcnow()
    dialect = session.get_bind().dialect.name
    table = cast(Table, StaffTask.__table__)
    # One compiled statement, executed many (SQLAlchemy batches it as multi-row VALUES):
    # compiling a fresh 1,000-row VALUES clause per chunk cost more than the writes.
    stmt = (
        (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        .on_conflict_do_nothing(index_elements=["workspace_id", "dedup_key"])
        .returning(table.c.id)
    )
    conn = session.connection()
    made = 0
    for n in range(0, len(tasks), chunk):
        rows = [_row(workspace_id, t, now) for t in tasks[n : n + chunk]]
        made += len(conn.execute(stmt, rows).all())
    return made


def _row(workspace_id: int, t: NewTask, now: datetime) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "staff_id": t.staff_id,
        "customer_id": t.customer_id,
        "group_id": t.group_id,
        "kind": t.kind,
        "title": t.title.strip(),
        "body": t.body,
        "content_id": t.content_id,
        "priority": t.priority,
        "due_at": t.due_at,
        "status": "open",
        "source": t.source,
        "source_ref": t.source_ref,
        "dedup_key": t.dedup_key,
        "extra": dict(t.extra or {}),
        "created_at": now,
        "updated_at": now,
    }


def create_task(session: Session, *, workspace_id: int, task: NewTask) -> int | None:
    """One task; its id, or None when its ``dedup_key`` was used before."""
    ids = create_tasks(session, workspace_id=workspace_id, tasks=[task])
    return ids[0] if ids else None


def complete_task(
    session: Session, *, workspace_id: int, task_id: int, how: str, at: datetime | None = None
) -> StaffTask:
    """Mark an open task done, saying how siyu knows (``DONE_HOW``); records ``task.done``."""
    if how not in DONE_HOW:
        raise Invalid(f"done_how is one of {', '.join(DONE_HOW)}", field="how")
    task = session.scalar(
        select(StaffTask)
        .where(StaffTask.workspace_id == workspace_id, StaffTask.id == task_id)
        .with_for_update()
    )
    if task is None:
        raise NotFound(f"no task {task_id}", field="task_id")
    if task.status != "open":
        raise Conflict(f"task {task_id} is {task.status}, not open", field="task_id")
    when = at or utcnow()
    task.status = "done"
    task.done_at = when
    task.done_how = how
    record_event(
        session,
        workspace_id=workspace_id,
        kind="task.done",
        occurred_at=when,
        source="siyu",
        customer_id=task.customer_id,
        staff_id=task.staff_id,
        group_id=task.group_id,
        dedup_key=f"task.done:{task.id}",
        payload={"task_id": task.id, "kind": task.kind, "how": how, "on_time": when <= task.due_at},
    )
    return task
