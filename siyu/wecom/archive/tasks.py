"""Background work of the archive (imported by ``siyu.wecom.tasks`` so the worker finds it).

- subscriber ``archive.friend_add``: a friend add is an interaction (``last_interaction_at``);
- periodic ``archive.recent_adds`` (hourly): the same for follows the contact sync wrote
  (a sync records no ``friend.add`` event), adds of the last two days;
- periodic ``archive.purge`` (daily 03:30): erase message text past the retention period;
- job ``archive.kf_sync`` (long): pull ``kf/sync_msg`` from the stored cursor (queued by the
  ``kf_msg_or_event`` callback) and periodic ``archive.kf_poll`` (10 min): the same for every
  customer-service account seen, since WeCom keeps only 3 days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.customers.stats import touch_interactions
from siyu.kit.jobs import enqueue
from siyu.kit.ops import Delivered, JobContext, job_handler, periodic, subscriber
from siyu.kit.timeutil import utcnow
from siyu.models import Follow, KfCursor, Workspace
from siyu.wecom.archive import kf
from siyu.wecom.archive.callbacks import KF_SYNC_JOB, PULL_JOB
from siyu.wecom.archive.service import purge


@subscriber("archive.friend_add", kinds=["friend.add"])
def friend_added(session: Session, events: Sequence[Delivered]) -> None:
    """A friend add moves the customer's last interaction time."""
    by_ws: dict[int, dict[int, datetime]] = {}
    for ev in events:
        if ev.customer_id is None:
            continue
        latest = by_ws.setdefault(ev.workspace_id, {})
        if ev.customer_id not in latest or ev.occurred_at > latest[ev.customer_id]:
            latest[ev.customer_id] = ev.occurred_at
    for workspace_id, last_at in by_ws.items():
        touch_interactions(session, workspace_id=workspace_id, last_at=last_at)


@periodic("archive.recent_adds", every=3600)
def recent_adds(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    """Friend adds of the last two days (also those a sync wrote) as interactions."""
    since = utcnow() - timedelta(days=2)
    moved = 0
    with factory() as session, session.begin():
        latest: dict[int, dict[int, datetime]] = {}
        for ws, cid, at in session.execute(
            select(Follow.workspace_id, Follow.customer_id, Follow.added_at).where(Follow.added_at >= since)
        ).all():
            per = latest.setdefault(ws, {})
            if at is not None and (cid not in per or at > per[cid]):
                per[cid] = at
        for workspace_id, last_at in latest.items():
            moved += touch_interactions(session, workspace_id=workspace_id, last_at=last_at)
    return {"moved": moved}


@periodic("archive.purge", daily="03:30")
def purge_texts(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    """Erase message text older than each workspace's retention period."""
    erased = 0
    with factory() as session, session.begin():
        for ws_id in session.scalars(select(Workspace.id)).all():
            erased += purge(session, workspace_id=ws_id)
    return {"erased": erased}


@job_handler(KF_SYNC_JOB, long=True)
def kf_sync(ctx: JobContext) -> Mapping[str, Any]:
    """Pull new WeChat customer-service messages (kf/sync_msg) into ``messages``."""
    from siyu.wecom.gateway import client_for

    assert ctx.workspace_id is not None
    with ctx.factory() as session:
        ws = session.get(Workspace, ctx.workspace_id)
        if ws is None:
            return {"skipped": "no workspace"}
        client = client_for(session, ws)
    with client:
        report = kf.sync(
            ctx.factory,
            workspace_id=ctx.workspace_id,
            client=kf.KfClient(client),
            token=str(ctx.payload.get("token") or ""),
            open_kfid=str(ctx.payload.get("open_kfid") or ""),
        )
    return {k: v for k, v in report.as_dict().items() if isinstance(v, int) and v}


@periodic("archive.kf_poll", every=600)
def kf_poll(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    """Queue a customer-service pull for every account seen (WeCom keeps only 3 days)."""
    bucket = int(utcnow().timestamp()) // 600
    queued = 0
    with factory() as session, session.begin():
        for ws_id, kfid in session.execute(select(KfCursor.workspace_id, KfCursor.open_kfid)).all():
            queued += (
                enqueue(
                    session,
                    kind=KF_SYNC_JOB,
                    workspace_id=ws_id,
                    payload={"open_kfid": kfid},
                    dedup_key=f"kfpoll:{ws_id}:{kfid}:{bucket}",
                )
                is not None
            )
    return {"queued": queued}


@job_handler(PULL_JOB, long=True)
def archive_pull(ctx: JobContext) -> Mapping[str, Any]:
    """Pull new messages through the Finance SDK (queued by msgaudit_notify and every 5 min)."""
    from siyu.wecom.archive.sdk import open_sdk, pull

    assert ctx.workspace_id is not None
    with ctx.factory() as session:
        ws = session.get(Workspace, ctx.workspace_id)
        sdk = open_sdk(session, ws) if ws is not None else None
    if sdk is None:
        return {"skipped": "archive pull not configured"}
    try:
        return pull(ctx.factory, workspace_id=ctx.workspace_id, sdk=sdk).as_dict()
    finally:
        sdk.close()


@periodic("archive.pull_all", every=300)
def pull_all(factory: sessionmaker[Session]) -> Mapping[str, Any]:
    """Queue a Finance SDK pull for every workspace that configured one (WeCom keeps days only)."""
    bucket = int(utcnow().timestamp()) // 300
    queued = 0
    with factory() as session, session.begin():
        for ws in session.scalars(select(Workspace)).all():
            if ((ws.settings or {}).get("archive") or {}).get("sdk_library"):
                queued += (
                    enqueue(
                        session, kind=PULL_JOB, workspace_id=ws.id, dedup_key=f"archivepull:{ws.id}:{bucket}"
                    )
                    is not None
                )
    return {"queued": queued}
