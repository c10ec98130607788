"""Background work of the segments domain (declared here, run by ``siyu.worker``).

- job ``segments.recompute`` (long): recompute one workspace's scores, layers and CLV;
- periodic ``segments.recompute`` (daily 03:00): every workspace in turn, each one
  transaction, so a failure in one leaves the others' scores in place;
- subscriber ``segments.auto_tag`` to ``stats.refreshed``: re-apply the auto-tag rules
  to the customers whose stats an import refreshed (rules read stats). Applying rules
  is idempotent (a tag is added once; removal of a missing tag is a no-op), so a
  re-delivery changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import session_factory
from siyu.kit.errors import Invalid
from siyu.kit.jobs import enqueue
from siyu.kit.ops import Delivered, JobContext, job_handler, periodic, subscriber
from siyu.models import Job, Workspace
from siyu.segments.rules import apply_rules
from siyu.segments.service import fit_clv_models, recompute

RECOMPUTE_KIND = "segments.recompute"
STATS_REFRESHED = "stats.refreshed"


def enqueue_recompute(
    session: Session, *, workspace_id: int, full: bool = False, refit_clv: bool = False
) -> Job:
    """Queue a recompute of one workspace (the caller's boundary commits)."""
    job_id = enqueue(
        session,
        kind=RECOMPUTE_KIND,
        workspace_id=workspace_id,
        payload={"workspace_id": workspace_id, "full": full, "refit_clv": refit_clv},
    )
    job = session.get(Job, job_id)
    assert job is not None
    return job


@job_handler(RECOMPUTE_KIND, long=True, description="recompute RFM, layers and CLV of one workspace")
def _recompute_job(ctx: JobContext) -> dict[str, Any]:
    return run_recompute_job(ctx.payload)


@periodic(
    "segments.recompute", daily="03:00", long=True, description="nightly RFM, layers, CLV and auto-tag rules"
)
def _nightly(_factory: sessionmaker[Session]) -> dict[str, Any]:
    return recompute_all_workspaces()


@subscriber("segments.auto_tag", kinds=[STATS_REFRESHED], batch=1)
def _auto_tag(session: Session, events: Sequence[Delivered]) -> None:
    """Re-apply the auto-tag rules to customers whose stats were refreshed.

    One event (up to 5,000 customers, an import's stats chunk) per transaction, so that
    on SQLite a WeCom callback waits for one chunk's rules at most.
    """
    by_workspace: dict[int, set[int]] = defaultdict(set)
    for ev in events:
        by_workspace[ev.workspace_id].update(int(c) for c in ev.payload.get("customer_ids", ()))
    for workspace_id, ids in by_workspace.items():
        if ids:
            apply_rules(session, workspace_id=workspace_id, customer_ids=ids)


def run_recompute_job(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Run one queued recompute; returns its summary (stored by the worker as the result).

    ``refit_clv`` first refits the CLV model on all orders up to today; a fit that the
    data cannot support is reported in the summary and the previous model is kept.
    """
    workspace_id = payload.get("workspace_id")
    if not isinstance(workspace_id, int):
        raise Invalid("a recompute job needs an integer workspace_id", field="workspace_id")
    as_of_raw = payload.get("as_of")
    as_of = date.fromisoformat(as_of_raw) if isinstance(as_of_raw, str) else None
    clv_error: str | None = None
    if payload.get("refit_clv"):
        with session_factory()() as session:
            try:
                fit_clv_models(session, workspace_id=workspace_id)
                session.commit()
            except Invalid as exc:
                session.rollback()
                clv_error = exc.message
    result = recompute(
        session_factory(), workspace_id=workspace_id, full=bool(payload.get("full")), as_of=as_of
    )
    summary = result.to_json()
    summary["clv_error"] = clv_error
    return summary


def recompute_all_workspaces(*, full: bool = False) -> dict[str, dict[str, Any]]:
    """The nightly tick: recompute every workspace in turn; summaries by slug."""
    with session_factory()() as session:
        workspaces = session.execute(select(Workspace.id, Workspace.slug).order_by(Workspace.id)).all()
    return {slug: run_recompute_job({"workspace_id": ws_id, "full": full}) for ws_id, slug in workspaces}
