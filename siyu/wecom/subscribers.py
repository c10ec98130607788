"""Reactions of the WeCom domain to events (declared here, delivered by ``siyu.worker``).

``wecom.refetch``: callbacks carry ids only, so a friend add or edit, a new or changed
group and a tag-library change each ask for a re-fetch of the values from WeCom's API.
The requests of a batch are merged in memory and written once (``refetch.buffered``):
one ``wecom.refetch`` job per workspace collects up to ``BATCH_TARGETS`` targets. A
target already queued is not added twice, so a re-delivered batch changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from siyu.kit.ops import Delivered, subscriber
from siyu.wecom.callbacks import refetch

REFETCH_ON = ("friend.add", "friend.edit", "group.create", "group.update", "wecom.tag_change")


@subscriber("wecom.refetch", kinds=REFETCH_ON, batch=500)
def queue_refetches(session: Session, events: Sequence[Delivered]) -> None:
    """Queue WeCom re-fetches of the contacts, groups and tags these callbacks named."""
    with refetch.buffered(session) as buffer:
        for ev in events:
            p = ev.payload
            if ev.source != "wecom":
                continue
            if ev.kind in ("friend.add", "friend.edit"):
                if p.get("userid") and p.get("external_userid"):
                    refetch.request_refetch(
                        session,
                        workspace_id=ev.workspace_id,
                        what="contact",
                        userid=p["userid"],
                        external_userid=p["external_userid"],
                    )
            elif ev.kind in ("group.create", "group.update"):
                if p.get("chat_id"):
                    refetch.request_refetch(
                        session, workspace_id=ev.workspace_id, what="group", chat_id=p["chat_id"]
                    )
            else:
                refetch.request_refetch(
                    session,
                    workspace_id=ev.workspace_id,
                    what="tags",
                    tag_id=p.get("tag_id"),
                    tag_type=p.get("tag_type") or "tag",
                    change_type=p.get("change_type"),
                )
        buffer.write(session)
