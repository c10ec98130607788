"""Re-fetch requests: callbacks carry ids, WeCom's API has the values.

Edits, adds, tag changes and group detail changes say only *what* changed. They are
collected in a queued job of kind ``wecom.refetch`` per workspace, batched so the sync
worker can use WeCom's batch APIs::

    {"contacts": [{"userid": "zhangsan", "external_userid": "wm..."}, ...],
     "chat_ids": ["wr...", ...],
     "tags": true,                      # re-read get_corp_tag_list
     "tag_changes": [{"id": "et...", "tag_type": "tag", "change_type": "delete"}]}

A job takes at most ``BATCH_TARGETS`` targets; then a new one is started. A target
already in the open job is not added twice. The consumer claims a job (status
``queued`` → ``running``) before reading it, so nothing is appended to a job in work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import Job

REFETCH_KIND = "wecom.refetch"
REFETCH_WHAT = ("contact", "group", "tags")
BATCH_TARGETS = 100


def _open_job(session: Session, workspace_id: int) -> Job | None:
    return session.scalars(
        select(Job)
        .where(Job.workspace_id == workspace_id, Job.kind == REFETCH_KIND, Job.status == "queued")
        .order_by(Job.id.desc())
        .limit(1)
        .with_for_update()
    ).first()


def _size(payload: dict[str, Any]) -> int:
    return (
        len(payload.get("contacts", ()))
        + len(payload.get("chat_ids", ()))
        + len(payload.get("tag_changes", ()))
    )


def request_refetch(session: Session, *, workspace_id: int, what: str, **ids: Any) -> bool:
    """Ask the sync worker to re-read a contact, a group or the tag library; True if added."""
    if what not in REFETCH_WHAT:
        raise ValueError(f"unknown re-fetch target {what!r}")
    job = _open_job(session, workspace_id)
    payload: dict[str, Any] = dict(job.payload) if job is not None else {}
    if what == "contact":
        entry = {"userid": ids["userid"], "external_userid": ids["external_userid"]}
        if entry in payload.get("contacts", []):
            return False
        payload["contacts"] = [*payload.get("contacts", []), entry]
    elif what == "group":
        if ids["chat_id"] in payload.get("chat_ids", []):
            return False
        payload["chat_ids"] = [*payload.get("chat_ids", []), ids["chat_id"]]
    else:
        change = {k: ids.get(k) for k in ("tag_id", "tag_type", "change_type")}
        if payload.get("tags") and change in payload.get("tag_changes", []):
            return False
        payload["tags"] = True
        payload["tag_changes"] = [*payload.get("tag_changes", []), change]
    if job is None or _size(payload) > BATCH_TARGETS:
        # Start a new batch with just this target.
        fresh = {k: v[-1:] if isinstance(v, list) else v for k, v in payload.items() if k == _list_key(what)}
        if what == "tags":
            fresh["tags"] = True
        session.add(Job(workspace_id=workspace_id, kind=REFETCH_KIND, payload=fresh, status="queued"))
        session.flush()  # the next request in this unit of work must find it
        return True
    job.payload = payload  # a new dict, so the JSON column is written
    return True


def _list_key(what: str) -> str:
    return {"contact": "contacts", "group": "chat_ids", "tags": "tag_changes"}[what]


def queued_refetches(session: Session, *, workspace_id: int) -> dict[str, Any]:
    """Everything queued for re-fetch in a workspace, merged across open jobs."""
    merged: dict[str, Any] = {"contacts": [], "chat_ids": [], "tags": False, "tag_changes": []}
    for payload in session.scalars(
        select(Job.payload)
        .where(Job.workspace_id == workspace_id, Job.kind == REFETCH_KIND, Job.status == "queued")
        .order_by(Job.id)
    ):
        for key in ("contacts", "chat_ids", "tag_changes"):
            merged[key].extend(x for x in payload.get(key, []) if x not in merged[key])
        merged["tags"] = merged["tags"] or bool(payload.get("tags"))
    return merged
