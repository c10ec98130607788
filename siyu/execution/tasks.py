"""Background work of the execution domain: task sources, completion detection, escalation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.execution import sources, tracking
from siyu.kit.ops import Delivered, periodic, subscriber
from siyu.models import Workspace


def _each_workspace(factory: sessionmaker[Session], fn: Callable[..., Any]) -> Mapping[str, Any]:
    """Run ``fn(session, workspace_id=...)`` for every workspace, one transaction each."""
    with factory() as s:
        ids = list(s.scalars(select(Workspace.id)))
    out: dict[str, Any] = {}
    for ws in ids:
        with factory() as s:
            out[str(ws)] = fn(s, workspace_id=ws)
            s.commit()
    return out


@periodic("execution.morning", daily="07:00", long=True, description="build each account's morning task list")
def morning(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    return _each_workspace(factory, sources.morning)


@periodic("execution.slas", every=60, description="tasks for unanswered messages and ungreeted friends")
def slas(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    return _each_workspace(factory, sources.slas)


@periodic("execution.detect", every=60, description="mark tasks done when the data shows them done")
def detect(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    return _each_workspace(factory, tracking.detect_completion)


@periodic("execution.escalate", every=300, description="escalate overdue tasks to team leads")
def escalate(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    return _each_workspace(factory, tracking.escalate_overdue)


@subscriber("execution.churn", kinds=["friend.delete_by_customer"], batch=200)
def churn_alerts(session: Session, events: Sequence[Delivered]) -> None:
    """流失提醒: a customer deleted a staff account."""
    for ev in events:
        if ev.customer_id is None:
            continue
        sources.churn(
            session,
            workspace_id=ev.workspace_id,
            customer_id=ev.customer_id,
            staff_id=ev.staff_id,
            at=ev.occurred_at,
            ref=f"event:{ev.id}",
        )


@subscriber("execution.detect_events", kinds=["moment.comment", "send.confirmed"], batch=500)
def complete_from_events(session: Session, events: Sequence[Delivered]) -> None:
    """A moment comment or a confirmed send completes the staff member's task, detected."""
    for ev in events:
        task_id = ev.payload.get("task_id")
        tracking.complete_on_event(
            session,
            workspace_id=ev.workspace_id,
            staff_id=ev.staff_id,
            customer_id=ev.customer_id,
            at=ev.occurred_at,
            task_id=int(task_id) if task_id else None,
        )
