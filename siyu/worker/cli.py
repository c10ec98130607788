"""``siyu worker``, ``siyu jobs`` and ``siyu events``: the runner and what it runs."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from siyu.kit.cli import JsonOpt, console, fail


def _json(value: Any) -> None:
    console.print_json(json.dumps(value, default=str, ensure_ascii=False))


def worker(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="One pass and exit: deliver pending events, run due jobs, run due periodic "
            "tasks (those given with --only: now).",
        ),
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this periodic task (repeatable); see --list.")
    ] = None,
    list_tasks: Annotated[
        bool, typer.Option("--list", help="List the periodic tasks, job kinds and subscribers.")
    ] = False,
) -> None:
    """Run events, jobs and periodic tasks until stopped (any number of workers on PostgreSQL)."""
    from siyu.config import get_settings
    from siyu.kit.db import session_factory
    from siyu.kit.ops import discover
    from siyu.worker.queue import handlers
    from siyu.worker.service import Runner, summary_json

    registry = discover()
    if list_tasks:
        for t in registry.periodic.values():
            console.print(f"[bold]{t.name:<22}[/] {t.schedule:<18} {t.description}")
        for kind, h in sorted(handlers().items()):
            console.print(f"[bold]{kind:<22}[/] {'job (long)' if h.long else 'job':<18} {h.description}")
        for s in registry.subscribers.values():
            console.print(f"[bold]{s.name:<22}[/] {'subscriber':<18} {', '.join(s.kinds)}")
        return
    unknown = [n for n in only or [] if n not in registry.periodic]
    if unknown:
        fail(f"unknown task {unknown[0]!r}; see `siyu worker --list`")
    factory = session_factory()
    runner = Runner(factory, only=only or None)
    if once:
        summary = runner.run_pass(force=bool(only))
        _json(summary_json(summary))
        return
    logging.basicConfig(
        level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )

    def _stop(_sig: int, _frame: Any) -> None:
        runner.stop(timeout=0)

    signal.signal(signal.SIGTERM, _stop)
    console.print(
        f"siyu worker {runner.worker_id}: {len(registry.subscribers)} subscribers, "
        f"{len(runner.jobs)} job kinds, {len(runner.tasks)} periodic tasks (Ctrl-C to stop)"
    )
    with contextlib.suppress(KeyboardInterrupt):
        runner.loop()


jobs_app = typer.Typer(help="Queued, running, failed jobs: list, retry, cancel.", no_args_is_help=True)


def _fmt(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="queued | running | done | failed | cancelled")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The newest jobs (every workspace), with their status and last error."""
    from siyu.kit.db import session_scope
    from siyu.kit.jobs import counts, list_jobs

    if status and status not in ("queued", "running", "done", "failed", "cancelled"):
        fail(f"unknown status {status!r}: use queued, running, done, failed or cancelled")
    with session_scope() as s:
        rows = list_jobs(s, status=status, kind=kind, limit=limit)
        totals = counts(s)
        out: list[dict[str, Any]] = [
            {
                "id": j.id,
                "kind": j.kind,
                "workspace_id": j.workspace_id,
                "status": j.status,
                "attempts": j.attempts,
                "max_attempts": j.max_attempts,
                "run_after": j.run_after,
                "finished_at": j.finished_at,
                "last_error": j.last_error,
            }
            for j in rows
        ]
    if as_json:
        _json({"counts": totals, "jobs": out})
        return
    table = Table("id", "kind", "status", "tries", "due", "finished", "error")
    for j in out:
        table.add_row(
            str(j["id"]),
            j["kind"],
            j["status"],
            f"{j['attempts']}/{j['max_attempts']}",
            _fmt(j["run_after"]),
            _fmt(j["finished_at"]),
            (j["last_error"] or "")[:80],
        )
    console.print(table)
    console.print("  ".join(f"{k}: {v}" for k, v in sorted(totals.items())) or "no jobs")


JobIdArg = Annotated[int, typer.Argument(help="The job's id (see `siyu jobs list`).")]


def _change(job_id: int, action: str) -> None:
    from siyu.kit import jobs
    from siyu.kit.db import session_scope
    from siyu.kit.errors import SiyuError

    try:
        with session_scope() as s:
            kind = (jobs.retry if action == "retry" else jobs.cancel)(s, job_id).kind
    except SiyuError as exc:
        fail(exc.message)
    console.print(f"job {job_id} ({kind}) is {'queued again' if action == 'retry' else 'cancelled'}")


@jobs_app.command("retry")
def jobs_retry(job_id: JobIdArg) -> None:
    """Queue a failed or cancelled job again, now."""
    _change(job_id, "retry")


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobIdArg) -> None:
    """Cancel a queued or failed job (a running one finishes first)."""
    _change(job_id, "cancel")


events_app = typer.Typer(help="Event subscribers: where each one is in the event log.", no_args_is_help=True)


@events_app.command("status")
def events_status(as_json: JsonOpt = False) -> None:
    """Each subscriber's kinds, events delivered and pending, and its last error; periodic tasks."""
    from siyu.kit.db import session_scope
    from siyu.worker.outbox import status
    from siyu.worker.service import periodic_status

    with session_scope() as s:
        subs = status(s)
        tasks = periodic_status(s)
    if as_json:
        _json({"subscribers": subs, "periodic": tasks})
        return
    table = Table("subscriber", "kinds", "delivered", "pending", "error")
    for row in subs:
        table.add_row(
            row["name"],
            ", ".join(row["kinds"]),
            str(row["delivered"]),
            str(row["pending"]),
            row["last_error"] or "",
        )
    console.print(table)
    table = Table("periodic task", "schedule", "next run", "last run", "status", "error")
    for row in tasks:
        table.add_row(
            row["name"],
            row["schedule"],
            _fmt(row["next_run_at"]),
            _fmt(row["last_finished_at"]),
            row["last_status"] or "",
            (row["last_error"] or "")[:60],
        )
    console.print(table)


@events_app.command("deliver")
def events_deliver() -> None:
    """Deliver pending events to every subscriber now, until caught up."""
    from siyu.kit.db import session_factory
    from siyu.worker.outbox import deliver

    summary = deliver(session_factory(), max_batches=10_000)
    _json({"delivered": summary.delivered, "parked": summary.parked, "errors": summary.errors})
    if summary.errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(events_app, name="events")
