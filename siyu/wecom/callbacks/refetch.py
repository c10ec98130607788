"""Re-fetch requests: callbacks carry ids, WeCom's API has the values.

Edits, tag changes and group detail changes say only *what* changed. Each becomes a
queued job ``wecom.refetch`` (payload ``what`` = contact | group | tags, plus the ids
and a ``key``) that the sync worker runs against externalcontact/get, groupchat/get or
get_corp_tag_list. A request already queued for the same thing is not queued twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import Job

REFETCH_KIND = "wecom.refetch"
REFETCH_WHAT = ("contact", "group", "tags")
# How many recent queued requests are checked for a duplicate (bounded work per callback).
_DEDUP_WINDOW = 500


def refetch_key(what: str, **ids: Any) -> str:
    """The identity of a request: contact:<userid>:<external_userid>, group:<chat_id>, tags."""
    if what == "contact":
        return f"contact:{ids.get('userid')}:{ids.get('external_userid')}"
    if what == "group":
        return f"group:{ids.get('chat_id')}"
    return "tags"


def request_refetch(session: Session, *, workspace_id: int, what: str, **ids: Any) -> bool:
    """Queue a re-fetch unless the same one is already queued; True when queued."""
    if what not in REFETCH_WHAT:
        raise ValueError(f"unknown re-fetch target {what!r}")
    key = refetch_key(what, **ids)
    for obj in session.new:
        if (
            isinstance(obj, Job)
            and obj.kind == REFETCH_KIND
            and obj.workspace_id == workspace_id
            and obj.payload.get("key") == key
        ):
            return False
    queued = session.scalars(
        select(Job.payload)
        .where(Job.workspace_id == workspace_id, Job.kind == REFETCH_KIND, Job.status == "queued")
        .order_by(Job.id.desc())
        .limit(_DEDUP_WINDOW)
    )
    if any(p.get("key") == key for p in queued):
        return False
    payload = {"what": what, "key": key, **{k: v for k, v in ids.items() if v is not None}}
    session.add(Job(workspace_id=workspace_id, kind=REFETCH_KIND, payload=payload, status="queued"))
    return True


def queued_refetches(session: Session, *, workspace_id: int) -> list[dict[str, Any]]:
    """Payloads of the queued re-fetch requests of a workspace, oldest first."""
    return [
        dict(p)
        for p in session.scalars(
            select(Job.payload)
            .where(Job.workspace_id == workspace_id, Job.kind == REFETCH_KIND, Job.status == "queued")
            .order_by(Job.id)
        )
    ]
