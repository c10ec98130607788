"""Subscribers and job handlers for the runner tests, loaded by ``SIYU_EXTRA_TASK_MODULES``.

Their effects are deliberately *not* idempotent (an event row per delivery, without a
dedup key), so a test can count them: any event delivered twice, or any job run twice,
in its effects shows as two rows.

They are declared only in a worker process that names this module in
``SIYU_EXTRA_TASK_MODULES``, or while ``tests/worker``'s fixture holds them
(``register`` / ``unregister``), so no other test (the console's page walk) sees them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from siyu.kit.events import record_event
from siyu.kit.ops import EXTRA_MODULES_ENV, REGISTRY, Delivered, JobContext, job_handler, subscriber
from siyu.kit.timeutil import utcnow

PAUSE = float(os.environ.get("SIYU_TEST_TASK_PAUSE", "0.002"))


def echo(session: Session, events: Sequence[Delivered]) -> None:
    """Record one test.echoed event per delivered test.ping."""
    for ev in events:
        time.sleep(PAUSE)
        record_event(
            session,
            workspace_id=ev.workspace_id,
            kind="test.echoed",
            occurred_at=utcnow(),
            source="system",
            customer_id=ev.customer_id,
            payload={"of": ev.id},
        )
        session.flush()


def work(ctx: JobContext) -> dict[str, Any]:
    """Record one test.worked event per run, in the claiming transaction."""
    assert ctx.session is not None
    assert ctx.workspace_id is not None
    time.sleep(PAUSE)
    record_event(
        ctx.session,
        workspace_id=ctx.workspace_id,
        kind="test.worked",
        occurred_at=utcnow(),
        source="system",
        payload={"job": ctx.job_id},
    )
    return {"ok": True}


def slow(ctx: JobContext) -> dict[str, Any]:
    """A long job: sleeps, then records its effect once (dedup key: the job id)."""
    assert ctx.workspace_id is not None
    time.sleep(float(ctx.payload.get("seconds", 0.5)))
    with ctx.factory() as s:
        record_event(
            s,
            workspace_id=ctx.workspace_id,
            kind="test.slow_done",
            occurred_at=utcnow(),
            source="system",
            dedup_key=f"test.slow:{ctx.job_id}",
            payload={"job": ctx.job_id, "worker": os.getpid()},
        )
        s.commit()
    return {"ok": True}


def register() -> None:
    """Declare the test subscriber and job handlers."""
    subscriber("test.echo", kinds=["test.ping"], batch=50)(echo)
    job_handler("test.work")(work)
    job_handler("test.slow", long=True)(slow)


def unregister() -> None:
    REGISTRY.subscribers.pop("test.echo", None)
    REGISTRY.jobs.pop("test.work", None)
    REGISTRY.jobs.pop("test.slow", None)


if __name__ in os.environ.get(EXTRA_MODULES_ENV, "").split(","):
    register()
