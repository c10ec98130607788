"""Background work of the WeCom domain (declared here, run by ``siyu.worker``).

- periodic ``wecom.callbacks`` (5 s): process accepted callbacks left pending;
- job ``wecom.refetch`` (long): re-read the contacts, groups and tags a job lists
  (queued by the ``wecom.refetch`` subscriber) through the workspace's WeCom app;
- periodic ``wecom.reconcile`` (6 h): a full sync, healing lost or out-of-order callbacks;
- periodic ``wecom.behavior`` (daily 04:00): mirror ``get_user_behavior_data`` for 2 days.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import get_settings
from siyu.kit.ops import JobContext, job_handler, periodic
from siyu.models import WeComApp, Workspace
from siyu.wecom.archive import tasks as archive_tasks  # noqa: F401 (declares the archive's jobs)
from siyu.wecom.callbacks.refetch import REFETCH_KIND


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


@periodic("wecom.callbacks", every=5, description="process accepted WeCom callbacks left pending")
def _callbacks(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.wecom.callbacks.processing import process_pending

    summary = process_pending(factory)
    return {"processed": summary.processed, "failed": summary.failed, "retried": summary.retried}


@job_handler(REFETCH_KIND, long=True, description="re-read contacts, groups and tags named by callbacks")
def _refetch(ctx: JobContext) -> dict[str, Any]:
    from siyu.wecom.gateway import client_for
    from siyu.wecom.sync.jobs import reconcile_payload
    from siyu.wecom.sync.run import finish_run, start_run

    assert ctx.workspace_id is not None
    with ctx.factory() as s:
        ws = s.get(Workspace, ctx.workspace_id)
        if ws is None:
            return {"skipped": "the workspace no longer exists"}
        client = client_for(s, ws)
    run_id = start_run(ctx.factory, ctx.workspace_id, "reconcile")
    try:
        with ctx.factory() as s:
            counts = reconcile_payload(s, workspace_id=ctx.workspace_id, gateway=client, payload=ctx.payload)
            s.commit()
    except Exception as exc:
        finish_run(ctx.factory, run_id, {}, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        client.close()
    finish_run(ctx.factory, run_id, {**counts, "jobs_done": 1})
    return dict(counts)


@periodic(
    "wecom.reconcile",
    every=6 * 3600,
    long=True,
    description="full WeCom sync: heals lost or out-of-order callbacks",
)
def _reconcile(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.wecom.sync.run import full_sync

    return _per_wecom_workspace(
        factory, lambda ws, client: full_sync(factory, workspace_id=ws.id, gateway=client)
    )


@periodic(
    "wecom.behavior",
    daily="04:00",
    long=True,
    description="mirror get_user_behavior_data for the last 2 days",
)
def _behavior(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.wecom.sync.run import mirror_behavior

    def run(ws: Workspace, client: Any) -> dict[str, Any]:
        with factory() as s:
            counts = mirror_behavior(s, workspace_id=ws.id, gateway=client, days=2, tz=ws.timezone)
            s.commit()
        return dict(counts)

    return _per_wecom_workspace(factory, run)


__all__ = ["wecom_workspaces"]
