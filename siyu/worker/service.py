"""Periodic tasks of every domain, run by ``siyu worker`` under APScheduler.

Each task is a plain function of a session factory that returns a summary. On
PostgreSQL a task runs under a transaction-level advisory lock, so that with several
workers each tick runs once. Times of day are in the workspace default zone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import get_settings
from siyu.models import WeComApp, Workspace
from siyu.worker.queue import dispatch

TaskFn = Callable[[sessionmaker[Session]], dict[str, Any]]


@dataclass(frozen=True)
class Task:
    """A periodic task: every ``seconds`` or daily at ``hour``:``minute`` (local)."""

    name: str
    fn: TaskFn
    description: str
    seconds: int | None = None
    hour: int | None = None
    minute: int = 0


def wecom_workspaces(session: Session) -> list[Workspace]:
    """Workspaces with a WeCom connection (a WeComApp row, or SIYU_WECOM_* for the default)."""
    settings = get_settings()
    ids = set(session.scalars(select(WeComApp.workspace_id)))
    workspaces = list(session.scalars(select(Workspace).order_by(Workspace.id)))
    return [
        ws
        for ws in workspaces
        if ws.id in ids
        or (ws.slug == settings.default_workspace and settings.wecom_corp_id and settings.wecom_secret)
    ]


def _callbacks(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.wecom.callbacks.processing import process_pending

    summary = process_pending(factory)
    return {"processed": summary.processed, "failed": summary.failed, "retried": summary.retried}


def _per_wecom_workspace(
    factory: sessionmaker[Session], run: Callable[[Workspace, Any], dict[str, Any]]
) -> dict[str, Any]:
    from siyu.wecom.gateway import client_for

    out: dict[str, Any] = {}
    with factory() as s:
        workspaces = wecom_workspaces(s)
        clients = {ws.slug: (ws, client_for(s, ws)) for ws in workspaces}
    for slug, (ws, client) in clients.items():
        try:
            out[slug] = run(ws, client)
        except Exception as exc:  # one workspace's outage must not starve the others
            out[slug] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            client.close()
    return out


def _refetch(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.wecom.sync.jobs import process_refetch_jobs

    return _per_wecom_workspace(
        factory,
        lambda ws, client: asdict(process_refetch_jobs(factory, workspace_id=ws.id, gateway=client)),
    )


def _reconcile(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.wecom.sync.run import full_sync

    return _per_wecom_workspace(
        factory, lambda ws, client: full_sync(factory, workspace_id=ws.id, gateway=client)
    )


def _behavior(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.wecom.sync.run import mirror_behavior

    def run(ws: Workspace, client: Any) -> dict[str, Any]:
        with factory() as s:
            counts = mirror_behavior(s, workspace_id=ws.id, gateway=client, days=2, tz=ws.timezone)
            s.commit()
        return dict(counts)

    return _per_wecom_workspace(factory, run)


def _jobs(factory: sessionmaker[Session]) -> dict[str, Any]:
    return asdict(dispatch(factory))


def _recompute(_factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.segments.tasks import recompute_all_workspaces

    return recompute_all_workspaces()


TASKS: tuple[Task, ...] = (
    Task("wecom.callbacks", _callbacks, "process accepted WeCom callbacks left pending", seconds=5),
    Task("jobs.dispatch", _jobs, "run queued jobs (segments recompute ...)", seconds=10),
    Task("wecom.refetch", _refetch, "re-fetch contacts/chats named by callbacks", seconds=30),
    Task(
        "wecom.reconcile",
        _reconcile,
        "full WeCom sync: heals lost or out-of-order callbacks",
        seconds=6 * 3600,
    ),
    Task("wecom.behavior", _behavior, "mirror get_user_behavior_data for the last 2 days", hour=4),
    Task("segments.recompute", _recompute, "nightly RFM, layers, CLV and auto-tag rules", hour=3),
)


def task_by_name(name: str) -> Task:
    for task in TASKS:
        if task.name == name:
            return task
    raise KeyError(name)


def run_task(factory: sessionmaker[Session], task: Task) -> dict[str, Any] | None:
    """Run one task now; None when another worker holds it (PostgreSQL)."""
    with factory() as s:
        if s.get_bind().dialect.name != "postgresql":
            return task.fn(factory)
        key = int.from_bytes(hashlib.sha256(task.name.encode()).digest()[:8], "big", signed=True)
        got = s.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
        if not got:
            return None
        try:
            return task.fn(factory)
        finally:
            s.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            s.commit()
