"""The consumer of ``wecom.refetch`` jobs that the callback processor queues.

Each job lists contacts, chats and tag-library changes to re-read. A job is claimed
(queued → running, a conditional UPDATE, so two workers never both run it), then
reconciled and marked done in one transaction. A failure puts it back in the queue
with a growing delay, and marks it failed after ``max_attempts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.timeutil import utcnow
from siyu.models import Job
from siyu.wecom.gateway import DirectoryGateway
from siyu.wecom.sync.run import finish_run, reconcile, start_run

REFETCH_KIND = "wecom.refetch"


@dataclass
class RefetchSummary:
    jobs_done: int = 0
    jobs_failed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _claim(factory: sessionmaker[Session], workspace_id: int, skip: set[int]) -> int | None:
    with factory() as s:
        q = select(Job.id).where(
            Job.workspace_id == workspace_id,
            Job.kind == REFETCH_KIND,
            Job.status == "queued",
            Job.run_after <= utcnow(),
        )
        if skip:
            q = q.where(Job.id.not_in(skip))
        for job_id in s.scalars(q.order_by(Job.id).limit(5)):
            claimed = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(
                    status="running", locked_at=utcnow(), locked_by="wecom-refetch", attempts=Job.attempts + 1
                )
            )
            s.commit()
            if getattr(claimed, "rowcount", 0) == 1:
                return int(job_id)
    return None


def reconcile_payload(
    session: Session, *, workspace_id: int, gateway: DirectoryGateway, payload: Mapping[str, Any]
) -> dict[str, int]:
    """Re-read what one ``wecom.refetch`` job lists (contacts, chats, the tag library)."""
    return reconcile(
        session,
        workspace_id=workspace_id,
        gateway=gateway,
        external_userids=[c["external_userid"] for c in payload.get("contacts", [])],
        chat_ids=list(payload.get("chat_ids", [])),
        tags=bool(payload.get("tags")),
    )


def process_refetch_jobs(
    factory: sessionmaker[Session], *, workspace_id: int, gateway: DirectoryGateway, limit: int = 100
) -> RefetchSummary:
    """Run queued re-fetch jobs of a workspace (oldest first); records one reconcile SyncRun."""
    summary = RefetchSummary()
    tried: set[int] = set()
    run_id: int | None = None
    while len(tried) < limit:
        job_id = _claim(factory, workspace_id, tried)
        if job_id is None:
            break
        tried.add(job_id)
        if run_id is None:
            run_id = start_run(factory, workspace_id, "reconcile")
        try:
            with factory() as s:
                job = s.get(Job, job_id)
                assert job is not None
                counts = reconcile_payload(s, workspace_id=workspace_id, gateway=gateway, payload=job.payload)
                job.status = "done"
                job.finished_at = utcnow()
                job.last_error = None
                s.commit()
            summary.jobs_done += 1
            for k, v in counts.items():
                summary.counts[k] = summary.counts.get(k, 0) + v
        except Exception as exc:  # recorded on the job; WeCom outages must not lose re-fetches
            message = f"{type(exc).__name__}: {exc}"[:2000]
            summary.errors.append(f"job {job_id}: {message}")
            with factory() as s:
                job = s.get(Job, job_id)
                assert job is not None
                job.last_error = message
                if job.attempts >= job.max_attempts:
                    job.status = "failed"
                    summary.jobs_failed += 1
                else:
                    job.status = "queued"
                    job.run_after = utcnow() + timedelta(seconds=30 * 2**job.attempts)
                s.commit()
    if run_id is not None:
        finish_run(
            factory,
            run_id,
            {**summary.counts, "jobs_done": summary.jobs_done, "jobs_failed": summary.jobs_failed},
            error="; ".join(summary.errors)[:2000] or None,
        )
    return summary
