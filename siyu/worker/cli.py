"""``siyu worker``: run periodic tasks and queued jobs (APScheduler)."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from siyu.kit.cli import console, fail


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run the selected tasks once and exit.")] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this task (repeatable); see --list.")
    ] = None,
    list_tasks: Annotated[bool, typer.Option("--list", help="List the tasks and their schedules.")] = False,
) -> None:
    """Run the periodic jobs: WeCom callbacks, re-fetch, reconciliation, recompute, queue."""
    from siyu.config import get_settings
    from siyu.kit.db import session_factory
    from siyu.worker.service import TASKS, run_task, task_by_name

    if list_tasks:
        for t in TASKS:
            when = f"every {t.seconds}s" if t.seconds else f"daily at {t.hour:02d}:{t.minute:02d}"
            console.print(f"[bold]{t.name:<20}[/] {when:<18} {t.description}")
        return
    try:
        tasks = [task_by_name(n) for n in only] if only else list(TASKS)
    except KeyError as exc:
        fail(f"unknown task {exc.args[0]!r}; see `siyu worker --list`")
    factory = session_factory()
    if once:
        for t in tasks:
            result = run_task(factory, t)
            console.print_json(json.dumps({t.name: result}, default=str))
        return

    from apscheduler.schedulers.blocking import BlockingScheduler

    logging.basicConfig(level=get_settings().log_level, format="%(asctime)s %(levelname)s %(message)s")
    scheduler = BlockingScheduler(timezone=get_settings().timezone)
    for t in tasks:
        if t.seconds:
            scheduler.add_job(
                run_task,
                "interval",
                args=[factory, t],
                seconds=t.seconds,
                id=t.name,
                max_instances=1,
                coalesce=True,
            )
        else:
            scheduler.add_job(
                run_task,
                "cron",
                args=[factory, t],
                hour=t.hour,
                minute=t.minute,
                id=t.name,
                max_instances=1,
                coalesce=True,
            )
    console.print(f"siyu worker running {len(tasks)} tasks (Ctrl-C to stop)")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
