"""Background work of keyword rules (imported by ``siyu.automation.subscribers``).

- periodic ``keywords.scan`` (every 5 s): each workspace's new messages through its rules;
- job ``keywords.kf_reply``: one automatic reply through WeChat customer service
  (``kf/send_msg``), checked again against the 48-hour window when it runs;
- subscriber ``keywords.staff_deleted``: ``friend.delete_by_staff`` raises a boss alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.automation.keywords.engine import KF_WINDOW, REPLY_JOB, process_new, staff_deleted_customer
from siyu.kit.ops import Delivered, JobContext, job_handler, periodic, subscriber
from siyu.kit.timeutil import utcnow
from siyu.models import Message, Workspace

SETTLE_S = 2.0


@periodic("keywords.scan", every=5, description="keyword rules and sensitive words over new messages")
def scan(factory: sessionmaker[Session]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with factory() as s:
        ids = list(s.scalars(select(Workspace.id).order_by(Workspace.id)))
    for wid in ids:
        total = {"messages": 0, "hits": 0, "acted": 0, "alerts": 0}
        while True:  # one transaction per batch: callbacks are not starved by one long one
            with factory() as s, s.begin():
                got = process_new(s, workspace_id=wid, settle_s=SETTLE_S)
            for k, v in got.items():
                total[k] += v
            if got["messages"] == 0:
                break
        if total["messages"]:
            out[str(wid)] = total
    return out


class ReplyNotSent(Exception):
    pass


@job_handler(REPLY_JOB, description="send a keyword rule's automatic reply through WeChat customer service")
def kf_reply(ctx: JobContext) -> Mapping[str, Any]:
    from siyu.wecom.client.extra import kf_send_text
    from siyu.wecom.gateway import client_for

    assert ctx.session is not None
    s = ctx.session
    msg = s.get(Message, int(ctx.payload["message_id"]))
    if msg is None:
        return {"skipped": "message gone"}
    if utcnow() - msg.sent_at > KF_WINDOW:
        return {"skipped": "outside the 48-hour window"}
    open_kfid = (msg.payload or {}).get("open_kfid")
    if not open_kfid or not msg.sender:
        return {"skipped": "message has no open_kfid or sender"}
    workspace = s.get(Workspace, msg.workspace_id)
    assert workspace is not None
    with client_for(s, workspace) as client:
        msgid = kf_send_text(client, open_kfid=open_kfid, touser=msg.sender, text=str(ctx.payload["text"]))
    return {"msgid": msgid}


@subscriber("keywords.staff_deleted", kinds=["friend.delete_by_staff"], batch=200)
def staff_deleted(session: Session, events: Sequence[Delivered]) -> None:
    for e in events:
        staff_deleted_customer(
            session,
            workspace_id=e.workspace_id,
            event_id=e.id,
            occurred_at=e.occurred_at,
            customer_id=e.customer_id,
            staff_id=e.staff_id,
            payload=dict(e.payload),
        )
