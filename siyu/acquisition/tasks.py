"""Background work of the acquisition domain (declared here, run by ``siyu.worker``).

- job ``acquisition.channel_sync`` (long): create / update / delete a channel's WeCom code;
- job ``acquisition.welcome`` (long): a welcome the callback path did not send;
- jobs ``acquisition.tag_push`` / ``acquisition.corp_tag_push`` (long): tags to WeCom;
- periodic ``acquisition.routing`` (60 s): re-plans every live code (schedule
  boundaries, daily caps at midnight, capacity) and queues syncs that change members.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.acquisition import tagsync
from siyu.acquisition.channels import POOL_KINDS, SYNC_KIND
from siyu.kit.ops import JobContext, job_handler, periodic
from siyu.kit.timeutil import utcnow
from siyu.models import Channel, Workspace


def _with_gateway(ctx: JobContext, run: Callable[[Session, Any], dict[str, Any]]) -> dict[str, Any]:
    from siyu.wecom.gateway import client_for

    assert ctx.workspace_id is not None
    with ctx.factory() as s:
        ws = s.get(Workspace, ctx.workspace_id)
        if ws is None:
            return {"skipped": "the workspace no longer exists"}
        client = client_for(s, ws)
    try:
        with ctx.factory() as s:
            out = run(s, client)
            s.commit()
            return out
    finally:
        client.close()


@job_handler(SYNC_KIND, long=True, description="create, update or delete a channel's WeCom live code")
def _channel_sync(ctx: JobContext) -> dict[str, Any]:
    from siyu.acquisition.sync import sync_channel
    from siyu.wecom.errors import WeComNetworkError

    def run(s: Session, gateway: Any) -> dict[str, Any]:
        channel = s.get(Channel, int(ctx.payload["channel_id"]))
        if channel is None:
            return {"skipped": "the channel no longer exists"}
        try:
            return sync_channel(s, channel, gateway)
        except WeComNetworkError:
            s.commit()  # keep the error on the channel; the queue retries
            raise

    return _with_gateway(ctx, run)


@job_handler("acquisition.welcome", long=True, description="send a welcome the callback path did not send")
def _welcome(ctx: JobContext) -> dict[str, Any]:
    from siyu.acquisition.welcome import AddInfo, greet

    assert ctx.workspace_id is not None
    p = ctx.payload
    info = AddInfo(
        key=p["key"],
        userid=p.get("userid") or "",
        external_userid=p.get("external_userid") or "",
        state=p.get("state") or "",
        welcome_code=p.get("welcome_code") or "",
        created_at=datetime.fromisoformat(p["created_at"]) if p.get("created_at") else None,
    )
    return {"outcome": greet(ctx.factory, ctx.workspace_id, info, via="worker")}


@job_handler(
    tagsync.TAG_PUSH, long=True, description="push tag changes onto customers' WeCom relations (mark_tag)"
)
def _tag_push(ctx: JobContext) -> dict[str, Any]:
    assert ctx.workspace_id is not None
    ws_id = ctx.workspace_id
    return _with_gateway(ctx, lambda s, g: tagsync.run_tag_push(s, ws_id, dict(ctx.payload), g))


@job_handler(tagsync.CORP_TAG_PUSH, long=True, description="push a corp tag siyu created, renamed or deleted")
def _corp_tag_push(ctx: JobContext) -> dict[str, Any]:
    assert ctx.workspace_id is not None
    ws_id = ctx.workspace_id
    return _with_gateway(ctx, lambda s, g: tagsync.run_corp_tag_push(s, ws_id, dict(ctx.payload), g))


def replan_all(session: Session, *, workspace_id: int | None = None) -> int:
    """Re-plan every live code; queue a sync where members change. How many were queued."""
    from siyu.acquisition.subscribers import requeue_if_changed

    stmt = select(Channel).where(
        Channel.kind.in_(POOL_KINDS), Channel.deleted_at.is_(None), Channel.config_id.is_not(None)
    )
    if workspace_id is not None:
        stmt = stmt.where(Channel.workspace_id == workspace_id)
    minute = utcnow().strftime("%Y%m%d%H%M")
    return sum(
        requeue_if_changed(session, ch, dedup=f"acq.route:{ch.id}:t{minute}")
        for ch in list(session.scalars(stmt))
    )


@periodic("acquisition.routing", every=60, description="re-plan live codes on schedule boundaries and caps")
def _routing(factory: sessionmaker[Session]) -> dict[str, Any]:
    with factory() as s:
        queued = replan_all(s)
        s.commit()
    return {"queued": queued}
