"""The task contract other domains call: idempotent creation, completion with its proof."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.service import IdentityInput, resolve_customer
from siyu.execution.service import NewTask, complete_task, create_task
from siyu.kit.errors import Conflict, Invalid
from siyu.kit.timeutil import utcnow
from siyu.models import Event, StaffTask


def test_a_task_is_created_once_per_dedup_key_and_completion_is_recorded(
    session: Session, workspace_id: int
) -> None:
    customer = resolve_customer(
        session,
        workspace_id=workspace_id,
        identities=[IdentityInput("external_userid", "wm_task_1")],
        source="test",
    )
    due = utcnow() + timedelta(hours=1)
    new = NewTask(
        staff_id=None, kind="greet", title="问候新好友", due_at=due, customer_id=customer.id, dedup_key="g:1"
    )
    first = create_task(session, workspace_id=workspace_id, task=new)
    again = create_task(session, workspace_id=workspace_id, task=new)
    assert first is not None
    assert again is None
    assert session.scalar(select(StaffTask.status).where(StaffTask.id == first)) == "open"

    done = complete_task(session, workspace_id=workspace_id, task_id=first, how="detected")
    assert done.status == "done"
    assert done.done_how == "detected"
    payload = session.scalar(select(Event.payload).where(Event.kind == "task.done"))
    assert payload == {"task_id": first, "kind": "greet", "how": "detected", "on_time": True}
    with pytest.raises(Conflict):
        complete_task(session, workspace_id=workspace_id, task_id=first, how="detected")


def test_bad_tasks_are_refused_with_the_field(session: Session, workspace_id: int) -> None:
    due = utcnow()
    with pytest.raises(Invalid) as exc:
        create_task(session, workspace_id=workspace_id, task=NewTask(None, "manual", " ", due))
    assert exc.value.field == "title"
    with pytest.raises(Invalid) as exc:
        create_task(session, workspace_id=workspace_id, task=NewTask(None, "manual", "x", due, priority=7))
    assert exc.value.field == "priority"
