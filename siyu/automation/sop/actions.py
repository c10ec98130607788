"""What a step does. Each action is a function a test (or another engine) may replace.

``task`` makes a task for the owning staff member with the step's content to send or
copy. ``tag`` changes tags through ``siyu.customers.tags`` and records ``tag.add`` /
``tag.remove`` events. Both run per enrollment and are idempotent for one
``(enrollment, step)``: the task's ``dedup_key`` is ``sop:<enrollment id>:<step index>``.

``send``, ``group_message`` and ``moment`` run per *batch*: every enrollment of one
job that reached the same step of the same plan is handed over at once
(``BATCH_ACTIONS``, see ``siyu.automation.sop.outbound``), so that customers reaching a
step together become one mass send per staff account (one ``add_msg_template`` call
carries up to 10,000 customers), one group send, or one moment. They write in the
caller's transaction, next to the step runs: the step and its send commit together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.automation.content import get_content
from siyu.customers.tags import add_tags, ensure_tag, remove_tags
from siyu.execution.service import NewTask, create_task
from siyu.kit.events import record_event
from siyu.models import SopEnrollment, SopPlan

DEFAULT_DUE_HOURS = 24


@dataclass(frozen=True)
class StepCall:
    """Everything an action needs about the step it runs."""

    plan: SopPlan
    enrollment: SopEnrollment
    step: dict[str, Any]
    index: int
    staff_id: int | None
    now: datetime

    @property
    def dedup_key(self) -> str:
        return f"sop:{self.enrollment.id}:{self.index}"


@dataclass(frozen=True)
class StepOutcome:
    outcome: str  # done | skipped
    task_id: int | None = None
    detail: dict[str, Any] | None = None


ActionFn = Callable[[Session, StepCall], StepOutcome]
# A batch action gets the calls of one (plan, step) and answers per enrollment id.
BatchFn = Callable[[Session, list[StepCall]], dict[int, StepOutcome]]


def _step_task(session: Session, call: StepCall) -> StepOutcome:
    step = call.step
    body = step.get("body")
    content_id = step.get("content_id")
    if content_id is not None:
        item = get_content(session, workspace_id=call.plan.workspace_id, content_id=content_id, live=False)
        if item.deleted_at is not None:
            return StepOutcome("skipped", detail={"reason": "content_deleted", "content_id": content_id})
        body = body or item.text or item.title
    task_id = create_task(
        session,
        workspace_id=call.plan.workspace_id,
        task=NewTask(
            staff_id=call.staff_id,
            kind="sop_step",
            title=f"【{call.plan.name}】{step['title']}"[:200],
            due_at=call.now + timedelta(hours=int(step.get("due_hours", DEFAULT_DUE_HOURS))),
            customer_id=call.enrollment.customer_id,
            group_id=call.enrollment.group_id,
            body=body,
            content_id=content_id,
            priority=int(step.get("priority", 2)),
            source="sop",
            source_ref=f"plan:{call.plan.id}:step:{call.index}",
            dedup_key=call.dedup_key,
            extra={
                "plan_id": call.plan.id,
                "plan": call.plan.name,
                "step": call.index,
                "action": step["action"],
                "enrollment_id": call.enrollment.id,
            },
        ),
    )
    return StepOutcome("done", task_id=task_id)


def _tag(session: Session, call: StepCall) -> StepOutcome:
    ws = call.plan.workspace_id
    cid = call.enrollment.customer_id
    if cid is None:  # a group plan has no tag step (refused at save)
        return StepOutcome("skipped", detail={"reason": "no_customer"})
    changed: dict[str, list[str]] = {"added": [], "removed": []}
    for name in call.step.get("add_tags", []):
        tag = ensure_tag(session, workspace_id=ws, name=name)
        if add_tags(
            session,
            workspace_id=ws,
            customer_ids=[cid],
            tag_ids=[tag.id],
            source="rule",
            source_ref=f"sop:{call.plan.id}",
        ):
            changed["added"].append(name)
            _tag_event(session, call, "tag.add", tag.id, name)
    for name in call.step.get("remove_tags", []):
        tag = ensure_tag(session, workspace_id=ws, name=name)
        if remove_tags(
            session,
            workspace_id=ws,
            customer_ids=[cid],
            tag_ids=[tag.id],
            by="rule",
            source_ref=f"sop:{call.plan.id}",
        ):
            changed["removed"].append(name)
            _tag_event(session, call, "tag.remove", tag.id, name)
    return StepOutcome("done", detail=changed)


def _tag_event(session: Session, call: StepCall, kind: str, tag_id: int, name: str) -> None:
    record_event(
        session,
        workspace_id=call.plan.workspace_id,
        kind=kind,
        occurred_at=call.now,
        source="sop",
        customer_id=call.enrollment.customer_id,
        dedup_key=f"{kind}:{call.dedup_key}:{tag_id}",
        payload={"tag": name, "tag_id": tag_id, "by": f"sop:{call.plan.id}"},
    )


ACTIONS: dict[str, ActionFn] = {
    "task": _step_task,
    "tag": _tag,
}
BATCH_ACTIONS: dict[str, BatchFn] = {}


def _register_outbound() -> None:
    from siyu.automation.sop import outbound

    BATCH_ACTIONS.setdefault("send", outbound.send_step)
    BATCH_ACTIONS.setdefault("group_message", outbound.group_message_step)
    BATCH_ACTIONS.setdefault("moment", outbound.moment_step)


def set_action(action: str, fn: ActionFn) -> ActionFn | None:
    """Make ``action`` run per enrollment through ``fn`` (replacing a batch action too);
    the previous per-enrollment function, if any."""
    previous = ACTIONS.get(action)
    ACTIONS[action] = fn
    BATCH_ACTIONS.pop(action, None)
    return previous


def set_batch_action(action: str, fn: BatchFn) -> BatchFn | None:
    """Make ``action`` run per batch through ``fn``; the previous batch function, if any."""
    _register_outbound()
    previous = BATCH_ACTIONS.get(action)
    BATCH_ACTIONS[action] = fn
    ACTIONS.pop(action, None)
    return previous


def is_batched(action: str) -> bool:
    if action in ACTIONS:
        return False
    _register_outbound()
    return action in BATCH_ACTIONS


def run_action(session: Session, call: StepCall) -> StepOutcome:
    return ACTIONS[call.step["action"]](session, call)


def run_batch(session: Session, calls: list[StepCall]) -> dict[int, StepOutcome]:
    """Run one (plan, step) for several enrollments; an outcome for each enrollment id."""
    _register_outbound()
    return BATCH_ACTIONS[calls[0].step["action"]](session, calls)
