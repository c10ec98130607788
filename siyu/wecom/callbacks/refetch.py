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
Callback processing merges a batch's requests in memory (:func:`buffered`) and writes
them once, giving the same jobs as one request at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


def _merge(
    current: dict[str, Any] | None, what: str, ids: dict[str, Any]
) -> tuple[dict[str, Any], bool] | None:
    """One request applied to the open job's payload (None: there is no open job).

    Returns None when the target is already there, else the payload to store and
    whether it starts a new job (the open one is full, or there is none). The payload
    given is never changed: a new dict is returned, so the JSON column is written.
    """
    payload: dict[str, Any] = dict(current) if current is not None else {}
    if what == "contact":
        entry = {"userid": ids["userid"], "external_userid": ids["external_userid"]}
        if entry in payload.get("contacts", []):
            return None
        payload["contacts"] = [*payload.get("contacts", []), entry]
    elif what == "group":
        if ids["chat_id"] in payload.get("chat_ids", []):
            return None
        payload["chat_ids"] = [*payload.get("chat_ids", []), ids["chat_id"]]
    else:
        change = {k: ids.get(k) for k in ("tag_id", "tag_type", "change_type")}
        if payload.get("tags") and change in payload.get("tag_changes", []):
            return None
        payload["tags"] = True
        payload["tag_changes"] = [*payload.get("tag_changes", []), change]
    if current is None or _size(payload) > BATCH_TARGETS:
        # Start a new batch with just this target.
        fresh = {k: v[-1:] if isinstance(v, list) else v for k, v in payload.items() if k == _list_key(what)}
        if what == "tags":
            fresh["tags"] = True
        return fresh, True
    return payload, False


def request_refetch(session: Session, *, workspace_id: int, what: str, **ids: Any) -> bool:
    """Ask the sync worker to re-read a contact, a group or the tag library; True if added.

    Inside :func:`buffered` the request is merged in memory and written with the
    others when the buffer is written (same jobs, same payloads, fewer statements).
    """
    if what not in REFETCH_WHAT:
        raise ValueError(f"unknown re-fetch target {what!r}")
    buffer = session.info.get(_BUFFER_KEY)
    if isinstance(buffer, RefetchBuffer):
        return buffer.request(session, workspace_id, what, ids)
    job = _open_job(session, workspace_id)
    merged = _merge(job.payload if job is not None else None, what, ids)
    if merged is None:
        return False
    payload, new_job = merged
    if job is None or new_job:
        session.add(Job(workspace_id=workspace_id, kind=REFETCH_KIND, payload=payload, status="queued"))
        session.flush()  # the next request in this unit of work must find it
        return True
    job.payload = payload
    return True


_BUFFER_KEY = "siyu.wecom.refetch_buffer"
# Per workspace, once its open job was read: (job, payload) for that job, if there was
# one, then (None, payload) for each job started since; the last one is the open one.
_Jobs = tuple[tuple[Job | None, dict[str, Any]], ...]


class RefetchBuffer:
    """Re-fetch requests of one transaction, merged in memory, written once.

    The open job is read (and locked) at a workspace's first request, as
    ``request_refetch`` does; :meth:`write` stores the merged payloads and the new jobs.
    :meth:`snapshot` / :meth:`restore` let a savepoint's rollback drop its requests.
    """

    def __init__(self) -> None:
        self._by_ws: dict[int, _Jobs] = {}

    def request(self, session: Session, workspace_id: int, what: str, ids: dict[str, Any]) -> bool:
        jobs = self._by_ws.get(workspace_id)
        if jobs is None:
            job = _open_job(session, workspace_id)
            jobs = ((job, dict(job.payload)),) if job is not None else ()
        merged = _merge(jobs[-1][1] if jobs else None, what, ids)
        if merged is not None:
            payload, new_job = merged
            jobs = (*jobs, (None, payload)) if new_job else (*jobs[:-1], (jobs[-1][0], payload))
        self._by_ws[workspace_id] = jobs
        return merged is not None

    def snapshot(self) -> dict[int, _Jobs]:
        return dict(self._by_ws)

    def restore(self, snapshot: dict[int, _Jobs]) -> None:
        self._by_ws = dict(snapshot)

    def write(self, session: Session) -> None:
        """Store what was requested (one UPDATE of the open job, one INSERT per new job)."""
        for workspace_id, jobs in self._by_ws.items():
            for job, payload in jobs:
                if job is None:
                    session.add(
                        Job(workspace_id=workspace_id, kind=REFETCH_KIND, payload=payload, status="queued")
                    )
                elif payload != job.payload:
                    job.payload = payload
        self._by_ws.clear()
        session.flush()


@contextmanager
def buffered(session: Session) -> Iterator[RefetchBuffer]:
    """Buffer ``request_refetch`` on this session until the block ends (write it first)."""
    buffer = RefetchBuffer()
    session.info[_BUFFER_KEY] = buffer
    try:
        yield buffer
    finally:
        session.info.pop(_BUFFER_KEY, None)


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
