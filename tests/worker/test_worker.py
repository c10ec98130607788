"""The worker runs queued jobs durably: done, retried with backoff, failed after max tries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import utcnow
from siyu.models import Job
from siyu.segments.tasks import enqueue_recompute
from siyu.worker.queue import backoff, dispatch


def _job(session: Session, job_id: int) -> Job:
    session.expire_all()
    job = session.get(Job, job_id)
    assert job is not None
    return job


def test_queued_recompute_runs_once_through_the_cli(cli, session: Session, workspace_id: int) -> None:  # type: ignore[no-untyped-def]
    with session_scope() as s:
        job_id = enqueue_recompute(s, workspace_id=workspace_id).id
    result = cli("worker", "--once", "--only", "jobs.dispatch")
    assert json.loads(result.stdout)["jobs.dispatch"]["done"] == 1
    job = _job(session, job_id)
    assert job.status == "done"
    assert job.attempts == 1
    assert "result" in job.payload
    # nothing left to do: a second tick claims nothing
    again = cli("worker", "--once", "--only", "jobs.dispatch")
    assert json.loads(again.stdout)["jobs.dispatch"]["done"] == 0


def test_failing_job_is_retried_with_backoff_then_failed(session: Session, workspace_id: int) -> None:
    calls: list[Mapping[str, Any]] = []

    def boom(payload: Mapping[str, Any]) -> None:
        calls.append(payload)
        raise RuntimeError("upstream down")

    with session_scope() as s:
        job = Job(workspace_id=workspace_id, kind="test.boom", payload={"n": 1}, max_attempts=2)
        s.add(job)
        s.flush()
        job_id = job.id
    factory = session_factory()
    first = dispatch(factory, handlers={"test.boom": boom})
    assert (first.retried, first.failed) == (1, 0)
    job = _job(session, job_id)
    assert job.status == "queued"
    assert job.last_error == "RuntimeError: upstream down"
    assert job.run_after > utcnow() + backoff(1) - timedelta(seconds=5)
    # not due yet: nothing runs
    assert dispatch(factory, handlers={"test.boom": boom}).retried == 0
    with session_scope() as s:
        j = s.get(Job, job_id)
        assert j is not None
        j.run_after = utcnow() - timedelta(seconds=1)
    second = dispatch(factory, handlers={"test.boom": boom})
    assert (second.retried, second.failed) == (0, 1)
    job = _job(session, job_id)
    assert job.status == "failed"
    assert job.finished_at is not None
    assert len(calls) == 2


def test_unknown_kinds_are_left_alone(session: Session, workspace_id: int) -> None:
    with session_scope() as s:
        s.add(Job(workspace_id=workspace_id, kind="wecom.refetch.someone_elses", payload={}))
    summary = dispatch(session_factory(), handlers={"test.other": lambda p: None})
    assert summary.done == 0
    assert session.scalars(select(Job.status)).all() == ["queued"]


def test_unknown_task_name_is_a_clear_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("worker", "--once", "--only", "nope", expect=2)
    assert "unknown task 'nope'" in result.stderr


def test_list_tasks(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("worker", "--list").stdout
    for name in ("wecom.callbacks", "jobs.dispatch", "wecom.reconcile", "segments.recompute"):
        assert name in out


def test_wecom_tasks_are_quiet_without_a_wecom_connection(cli) -> None:  # type: ignore[no-untyped-def]
    callbacks = json.loads(cli("worker", "--once", "--only", "wecom.callbacks").stdout)
    assert callbacks == {"wecom.callbacks": {"processed": 0, "failed": 0, "retried": 0}}
    refetch = json.loads(cli("worker", "--once", "--only", "wecom.refetch").stdout)
    assert refetch == {"wecom.refetch": {}}
