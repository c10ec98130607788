"""Jobs of the segments domain: the periodic recompute of scores, layers and CLV.

A worker (or any scheduler) calls ``run_recompute_job(payload)`` for a queued job of kind
``RECOMPUTE_KIND``, or ``recompute_all_workspaces()`` on its nightly tick. Each workspace
is one transaction: a failure in one leaves the others' scores in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.db import session_factory
from siyu.kit.errors import Invalid
from siyu.models import Job, Workspace
from siyu.segments.service import fit_clv_models, recompute

RECOMPUTE_KIND = "segments.recompute"


def enqueue_recompute(
    session: Session, *, workspace_id: int, full: bool = False, refit_clv: bool = False
) -> Job:
    """Queue a recompute of one workspace (the caller's boundary commits)."""
    job = Job(
        workspace_id=workspace_id,
        kind=RECOMPUTE_KIND,
        payload={"workspace_id": workspace_id, "full": full, "refit_clv": refit_clv},
        status="queued",
    )
    session.add(job)
    session.flush()
    return job


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
