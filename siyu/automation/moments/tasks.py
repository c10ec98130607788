"""Background work of the moments calendar (declared here, run by ``siyu.worker``).

- job ``moments.create`` (long): at a moment's planned time, upload and ``add_moment_task``
  (≤ 10 a minute per corp; the rest are queued a minute on);
- job ``moments.result``: follow the task's job until WeCom gives the moment id;
- periodic ``moments.track`` (5 min): publish status per staff, reminders to those who
  have not published;
- periodic ``moments.fetch`` (30 min): likes and comments of the last 7 days.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from siyu.automation.moments.service import CREATE_KIND
from siyu.automation.moments.wecom import (
    RESULT_KIND,
    create_task,
    fetch_results,
    poll_result,
    track_publishing,
)
from siyu.kit.ops import JobContext, job_handler, periodic
from siyu.models import Workspace
from siyu.wecom.client.moments import MomentsClient


@contextmanager
def moments_gateway(session: Session, ws: Workspace) -> Iterator[MomentsClient]:
    """A moments client for the workspace's WeCom app (closed after use)."""
    from siyu.wecom.gateway import client_for

    gw = MomentsClient(client_for(session, ws))
    try:
        yield gw
    finally:
        gw.close()


@job_handler(CREATE_KIND, long=True, description="create a planned moment's WeCom task at its time")
def _create(ctx: JobContext) -> dict[str, Any]:
    assert ctx.workspace_id is not None
    with ctx.factory() as s:
        ws = s.get(Workspace, ctx.workspace_id)
        if ws is None:
            return {"skipped": "the workspace no longer exists"}
        with moments_gateway(s, ws) as gw:
            s.close()
            return create_task(
                ctx.factory, workspace_id=ws.id, moment_id=int(ctx.payload["moment_id"]), gateway=gw
            )


@job_handler(RESULT_KIND, description="follow a moment task's WeCom job until it gives the moment id")
def _result(ctx: JobContext) -> dict[str, Any]:
    assert ctx.workspace_id is not None
    assert ctx.session is not None
    ws = ctx.session.get(Workspace, ctx.workspace_id)
    if ws is None:
        return {"skipped": "the workspace no longer exists"}
    with moments_gateway(ctx.session, ws) as gw:
        return poll_result(
            ctx.session, workspace_id=ws.id, moment_id=int(ctx.payload["moment_id"]),
            n=int(ctx.payload.get("n", 1)), gateway=gw,
        )  # fmt: skip


def _each_workspace(factory: sessionmaker[Session], what: str) -> dict[str, Any]:
    from siyu.wecom.tasks import wecom_workspaces

    out: dict[str, Any] = {}
    with factory() as s:
        ids = [ws.id for ws in wecom_workspaces(s)]
    for wid in ids:
        with factory() as s:
            ws = s.get(Workspace, wid)
            assert ws is not None
            try:
                with moments_gateway(s, ws) as gw:
                    fn = track_publishing if what == "track" else fetch_results
                    out[ws.slug] = fn(s, workspace_id=ws.id, gateway=gw)
                s.commit()
            except Exception as exc:  # one workspace's outage must not starve the others
                s.rollback()
                out[ws.slug] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


@periodic("moments.track", every=300, description="moments: who published, remind who has not")
def _track(factory: sessionmaker[Session]) -> dict[str, Any]:
    return _each_workspace(factory, "track")


@periodic("moments.fetch", every=1800, description="moments: likes and comments of the last 7 days")
def _fetch(factory: sessionmaker[Session]) -> dict[str, Any]:
    return _each_workspace(factory, "fetch")
