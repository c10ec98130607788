"""Background work of the orders domain: uploaded export files are imported as jobs.

The console and the API save an upload to a private folder, check it (readable, known
format), and queue one ``imports.upload`` job (``enqueue_upload``) in the request's
transaction. A worker (the embedded one of ``siyu serve``, or ``siyu worker``) runs
the same ``import_orders`` the CLI uses. If the serving process or the worker dies
mid-import, the job's lease ends and the next worker takes it: the import resumes
the file after its last committed batch (ADR 0003), so nothing is imported twice.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from siyu.kit.jobs import enqueue
from siyu.kit.ops import JobContext, job_handler
from siyu.models import Workspace

UPLOAD_KIND = "imports.upload"


def enqueue_upload(
    session: Session,
    *,
    workspace_id: int,
    paths: list[Path],
    fmt: str,
    actor: str,
    sha256: list[str] | None = None,
) -> int:
    """Queue the import of checked, saved upload files (one job for all); the job's id."""
    job_id = enqueue(
        session,
        kind=UPLOAD_KIND,
        workspace_id=workspace_id,
        payload={
            "paths": [str(p) for p in paths],
            "files": [p.name for p in paths],
            "sha256": list(sha256 or []),
            "format": fmt,
            "actor": actor,
        },
        # An upload that fails for a reason of its own (a bad file) fails at once;
        # one that fails because the process died is resumed by the next worker.
        max_attempts=3,
    )
    assert job_id is not None
    return job_id


@job_handler(UPLOAD_KIND, long=True, description="import uploaded order export files")
def run_upload(ctx: JobContext) -> dict[str, Any]:
    """Import the job's files (resuming a file an earlier try left half-done)."""
    from siyu.orders.service import import_orders

    with ctx.factory() as s:
        ws = s.get(Workspace, ctx.workspace_id)
        slug = ws.slug if ws is not None else None
    if slug is None:
        raise LookupError(f"workspace {ctx.workspace_id} no longer exists")
    paths = [str(p) for p in ctx.payload.get("paths", [])]
    missing = [Path(p).name for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"the uploaded file {missing[0]} is gone from the server; upload it again")
    summaries = import_orders(
        paths,
        workspace_slug=slug,
        fmt=str(ctx.payload.get("format") or "auto"),
        progress=False,
        actor=str(ctx.payload.get("actor") or "upload"),
    )
    folders = {Path(p).parent for p in paths}
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return {"import_ids": [s.import_id for s in summaries]}
