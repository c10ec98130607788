"""The one job runner: due jobs, retries, failures a user can see and act on, periodic ticks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_factory, session_scope
from siyu.kit.jobs import enqueue
from siyu.kit.ops import REGISTRY, JobContext, JobHandler, Periodic
from siyu.kit.timeutil import moved_clock, utcnow
from siyu.models import Event, Job, PeriodicTask
from siyu.segments.tasks import enqueue_recompute
from siyu.worker.queue import backoff, dispatch, requeue_orphans
from siyu.worker.service import Runner, claim_periodic, next_run
from tests.conftest import CliRun
from tests.worker import fixture_tasks


def _job(session: Session, job_id: int) -> Job:
    session.expire_all()
    job = session.get(Job, job_id)
    assert job is not None
    return job


def _count(session: Session, kind: str) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind)) or 0)


def test_queued_recompute_runs_once_through_the_cli(cli: CliRun, session: Session, workspace_id: int) -> None:
    with session_scope() as s:
        job_id = enqueue_recompute(s, workspace_id=workspace_id).id
    result = cli("worker", "--once")
    assert json.loads(result.stdout)["jobs"]["done"] == 1
    job = _job(session, job_id)
    assert job.status == "done"
    assert job.attempts == 1
    assert "result" in job.payload
    # nothing left to do: a second pass claims nothing
    again = cli("worker", "--once")
    assert json.loads(again.stdout)["jobs"]["done"] == 0


def test_a_job_runs_when_it_is_due_and_not_before(session: Session, workspace_id: int) -> None:
    friday_20h = datetime(2026, 12, 11, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with session_scope() as s:
        job_id = enqueue(s, kind="test.work", workspace_id=workspace_id, run_after=friday_20h)
    factory = session_factory()
    with moved_clock(friday_20h - timedelta(minutes=1)) as advance:
        assert dispatch(factory).done == 0
        assert _job(session, job_id).status == "queued"
        advance(timedelta(minutes=1))
        assert dispatch(factory).done == 1
    assert _job(session, job_id).status == "done"
    assert _count(session, "test.worked") == 1


def test_enqueue_with_a_dedup_key_queues_once(session: Session, workspace_id: int) -> None:
    with session_scope() as s:
        first = enqueue(s, kind="test.work", workspace_id=workspace_id, dedup_key="sop:1:customer:7:step:2")
        second = enqueue(s, kind="test.work", workspace_id=workspace_id, dedup_key="sop:1:customer:7:step:2")
    assert first is not None
    assert second is None
    assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_a_failing_short_job_leaves_no_writes_and_the_batch_goes_on(
    session: Session, workspace_id: int
) -> None:
    def half_then_boom(ctx: JobContext) -> None:
        assert ctx.session is not None
        fixture_tasks.work(ctx)  # writes a test.worked event ...
        if ctx.payload.get("boom"):
            raise RuntimeError("upstream down")  # ... which the failure takes back

    with session_scope() as s:
        bad = enqueue(s, kind="test.mixed", workspace_id=workspace_id, payload={"boom": True})
        good = enqueue(s, kind="test.mixed", workspace_id=workspace_id)
    assert bad is not None
    assert good is not None
    summary = dispatch(session_factory(), handlers={"test.mixed": half_then_boom})
    assert (summary.done, summary.retried) == (1, 1)
    assert _job(session, good).status == "done"
    failed = _job(session, bad)
    assert failed.status == "queued"
    assert failed.attempts == 1
    assert failed.last_error == "RuntimeError: upstream down"
    assert _count(session, "test.worked") == 1  # the good job's only


def test_failing_job_is_retried_with_backoff_then_failed_and_shown(
    cli: CliRun, session: Session, workspace_id: int
) -> None:
    calls: list[int] = []

    def boom(ctx: JobContext) -> None:
        calls.append(ctx.attempts)
        raise RuntimeError("upstream down")

    with session_scope() as s:
        job_id = enqueue(s, kind="test.boom", workspace_id=workspace_id, payload={"n": 1}, max_attempts=2)
    assert job_id is not None
    factory = session_factory()
    first = dispatch(factory, handlers={"test.boom": boom})
    assert (first.retried, first.failed) == (1, 0)
    job = _job(session, job_id)
    assert job.status == "queued"
    assert job.last_error == "RuntimeError: upstream down"
    assert job.run_after > utcnow() + backoff(1) - timedelta(seconds=5)
    # not due yet: nothing runs
    assert dispatch(factory, handlers={"test.boom": boom}).retried == 0
    with moved_clock(utcnow() + backoff(1) + timedelta(seconds=1)):
        second = dispatch(factory, handlers={"test.boom": boom})
    assert (second.retried, second.failed) == (0, 1)
    job = _job(session, job_id)
    assert job.status == "failed"
    assert job.finished_at is not None
    assert calls == [1, 2]
    # A user sees it, with its error, and can retry or cancel it.
    listed = json.loads(cli("jobs", "list", "--status", "failed", "--json").stdout)
    assert [(j["id"], j["last_error"]) for j in listed["jobs"]] == [(job_id, "RuntimeError: upstream down")]
    assert listed["counts"] == {"failed": 1}
    cli("jobs", "retry", job_id)
    job = _job(session, job_id)
    assert (job.status, job.finished_at) == ("queued", None)
    assert job.max_attempts > job.attempts
    cli("jobs", "cancel", job_id)
    assert _job(session, job_id).status == "cancelled"
    refused = cli("jobs", "cancel", job_id, expect=2)
    assert "only queued or failed jobs can be cancelled" in refused.stderr
    assert "does not exist" in cli("jobs", "retry", 999_999, expect=2).stderr


def test_bad_input_fails_a_job_at_once_with_its_plain_message(session: Session, workspace_id: int) -> None:
    from siyu.kit.errors import Invalid

    def refuse(_ctx: JobContext) -> None:
        raise Invalid("第 3 行的金额不是数字", field="amount")

    with session_scope() as s:
        job_id = enqueue(s, kind="test.refuse", workspace_id=workspace_id, max_attempts=5)
    assert job_id is not None
    summary = dispatch(session_factory(), handlers={"test.refuse": refuse})
    assert summary.failed == 1
    job = _job(session, job_id)
    assert (job.status, job.attempts, job.last_error) == ("failed", 1, "第 3 行的金额不是数字")


def test_unknown_kinds_are_left_alone(session: Session, workspace_id: int) -> None:
    with session_scope() as s:
        s.add(Job(workspace_id=workspace_id, kind="someone.elses", payload={}))
    summary = dispatch(session_factory(), handlers={"test.other": lambda ctx: None})
    assert summary.done == 0
    assert session.scalars(select(Job.status)).all() == ["queued"]


def test_a_long_job_of_a_dead_worker_is_taken_over(session: Session, workspace_id: int) -> None:
    with session_scope() as s:
        job_id = enqueue(s, kind="test.slow", workspace_id=workspace_id, payload={"seconds": 0})
        job = s.get(Job, job_id)
        assert job is not None
        # A worker claimed it, then died (no heartbeat row, lease taken a while ago).
        job.status, job.locked_by, job.attempts = "running", "gone:1:abc", 1
        job.locked_at = utcnow() - timedelta(minutes=5)
    factory = session_factory()
    assert dispatch(factory).done == 0  # running elsewhere, as far as anyone knows
    assert requeue_orphans(factory) == 1
    assert dispatch(factory).done == 1
    job = _job(session, job_id)
    assert (job.status, job.attempts) == ("done", 2)
    assert _count(session, "test.slow_done") == 1


def test_a_live_workers_long_job_is_not_taken(session: Session, workspace_id: int) -> None:
    from siyu.worker.queue import beat

    factory = session_factory()
    beat(factory, "alive:1:abc")
    with session_scope() as s:
        job_id = enqueue(s, kind="test.slow", workspace_id=workspace_id)
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.locked_by = "running", "alive:1:abc"
        job.locked_at = utcnow() - timedelta(minutes=5)
    assert requeue_orphans(factory) == 0
    assert _job(session, job_id).status == "running"


@pytest.mark.parametrize(
    ("now_local", "daily", "expected_local"),
    [
        # 00:00 exactly: a 00:00 task runs tomorrow (strictly after), a 03:00 one today.
        ("2026-12-06 00:00", "00:00", "2026-12-07 00:00"),
        ("2026-12-06 00:00", "03:00", "2026-12-06 03:00"),
        # 23:59: tomorrow, across the month and the year.
        ("2026-11-30 23:59", "03:00", "2026-12-01 03:00"),
        ("2026-12-31 23:59", "23:59", "2027-01-01 23:59"),
        ("2026-12-31 23:58", "23:59", "2026-12-31 23:59"),
    ],
)
def test_daily_tasks_run_at_their_local_time(now_local: str, daily: str, expected_local: str) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    task = Periodic("t", lambda f: None, "", daily=time.fromisoformat(daily))
    now = datetime.fromisoformat(now_local).replace(tzinfo=tz).astimezone(UTC)
    got = next_run(task, now, "Asia/Shanghai")
    assert got.astimezone(tz).strftime("%Y-%m-%d %H:%M") == expected_local


def test_each_periodic_tick_runs_once_among_workers(session: Session, env: object) -> None:
    runs: list[str] = []
    task = Periodic("test.tick", lambda f: runs.append("x") or {"n": len(runs)}, "a test tick", every=60)
    REGISTRY.periodic[task.name] = task
    try:
        factory = session_factory()
        a = Runner(factory, only=[task.name], worker_id="a")
        b = Runner(factory, only=[task.name], worker_id="b")
        start = utcnow()
        with moved_clock(start) as advance:
            a.run_pass()
            b.run_pass()
            assert runs == ["x"]
            advance(timedelta(seconds=59))
            b.run_pass()
            assert runs == ["x"]
            advance(timedelta(seconds=2))
            b.run_pass()
            a.run_pass()
            assert runs == ["x", "x"]
        assert not claim_periodic(factory, task)  # not due again yet
        session.expire_all()
        row = session.get(PeriodicTask, task.name)
        assert row is not None
        assert (row.last_status, row.last_result) == ("ok", {"n": 2})
    finally:
        REGISTRY.periodic.pop(task.name, None)


def test_worker_list_names_every_domains_declarations(cli: CliRun) -> None:
    out = cli("worker", "--list").stdout
    for name in (
        "wecom.callbacks",
        "segments.recompute",
        "imports.upload",
        "wecom.refetch",
        "segments.auto_tag",
    ):
        assert name in out
    assert "unknown task" in cli("worker", "--once", "--only", "nope", expect=2).stderr


def test_handlers_are_found_without_a_central_list() -> None:
    from siyu.worker.queue import handlers

    table = handlers()
    assert isinstance(table["imports.upload"], JobHandler)
    assert table["imports.upload"].long
    assert not table["test.work"].long


@pytest.mark.parametrize("long", [False, True], ids=["short", "long"])
def test_a_job_that_must_wait_is_queued_for_its_time_without_using_a_try(
    session: Session, workspace_id: int, long: bool
) -> None:
    """A job that cannot progress before a known time (another worker's WeCom call still
    in flight) runs again at that time, not after a growing backoff, and keeps its tries."""
    from siyu.kit.errors import RetryAt

    calls: list[int] = []
    waits: list[datetime] = []

    def wait_then_work(ctx: JobContext) -> dict[str, int]:
        calls.append(ctx.attempts)
        if len(calls) < 4:
            waits.append(utcnow() + timedelta(seconds=20))
            raise RetryAt("batch 3 is being called", at=waits[-1])
        return {"ran": len(calls)}

    table = {"test.wait": JobHandler("test.wait", wait_then_work, long=long)}
    with session_scope() as s:
        job_id = enqueue(s, kind="test.wait", workspace_id=workspace_id, max_attempts=2)
    assert job_id is not None
    factory = session_factory()
    now = utcnow()
    for n in range(3):  # more waits than the job has tries: none of them counts
        with moved_clock(now):
            summary = dispatch(factory, handlers=table)
        assert (summary.done, summary.failed, len(calls)) == (0, 0, n + 1)
        job = _job(session, job_id)
        assert (job.status, job.attempts, job.run_after) == ("queued", 0, waits[-1])
        assert job.last_error == "batch 3 is being called"
        assert job.locked_by is None
        with moved_clock(waits[-1] - timedelta(seconds=1)):
            assert dispatch(factory, handlers=table).done == 0  # not before its time
        now = waits[-1]
    with moved_clock(now):
        assert dispatch(factory, handlers=table).done == 1
    job = _job(session, job_id)
    assert (job.status, job.attempts) == ("done", 1)
    assert calls == [1, 1, 1, 1]
