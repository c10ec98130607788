"""``/api/v1/imports``: upload order export files, follow the import, read row errors.

An upload is checked at once (readable, known format: 422 otherwise), then queued as
an ``imports.upload`` job (``siyu.orders.tasks``) and answered 202. A worker (the one
``siyu serve`` embeds, or ``siyu worker``) runs the import; if it dies mid-file, the
next worker resumes the file. The import writes ``import_runs`` (with counts committed
per batch) and ``import_row_errors``, which these endpoints read.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from siyu.kit.errors import Invalid, NotFound, SiyuError
from siyu.models import ImportRowError, ImportRun, Job
from siyu.orders.tasks import UPLOAD_KIND, enqueue_upload
from siyu.web.api.common import ERRORS, Id, Page, Paging, paginate
from siyu.web.auth import DbSession, OperatorUser, Principal

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/imports", tags=["imports"], responses=ERRORS)

JOB_KIND = UPLOAD_KIND
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024  # 1 GiB per file: a year of a big shop's orders
MAX_FILES = 10
_CHUNK = 1024 * 1024
_SAFE_NAME = re.compile(r"[^\w.\-()\u3400-\u9fff]+")
_UPLOAD_DIR_PREFIX = "siyu-upload-"
# The temporary folder in messages: users know their file by its name, not our path.
_TMP_PATH = re.compile(r"\S*" + _UPLOAD_DIR_PREFIX + r"[^/\\\s]+[/\\]")


def user_text(text: str | None) -> str | None:
    """A message with the server's temporary upload folder taken out."""
    return _TMP_PATH.sub("", text) if text else text


class RunOut(BaseModel):
    id: int
    kind: str
    format: str
    filename: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    rows_total: int
    rows_ok: int
    rows_failed: int
    orders_created: int
    orders_updated: int
    orders_unchanged: int
    customers_created: int
    error_message: str | None
    actor: str | None


class JobOut(BaseModel):
    job_id: int
    status: str = Field(description="queued | running | done | failed | cancelled")
    files: list[str]
    format: str
    created_at: datetime
    finished_at: datetime | None
    error: str | None
    runs: list[RunOut] = Field(description="One import run per file, with live counts.")


class RowErrorOut(BaseModel):
    id: int
    filename: str
    line: int
    field: str | None
    value: str | None
    message: str


def run_out(run: ImportRun) -> RunOut:
    return RunOut(
        id=run.id,
        kind=run.kind,
        format=run.format,
        filename=Path(run.filename).name,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        rows_total=run.rows_total,
        rows_ok=run.rows_ok,
        rows_failed=run.rows_failed,
        orders_created=run.orders_created,
        orders_updated=run.orders_updated,
        orders_unchanged=run.orders_unchanged,
        customers_created=run.customers_created,
        error_message=user_text(run.error_message),
        actor=run.actor,
    )


def _safe_name(name: str | None, index: int) -> str:
    base = Path((name or "").replace("\\", "/")).name
    base = _SAFE_NAME.sub("_", base).strip("._")[:120]
    return base or f"upload-{index}.csv"


async def _save(upload: UploadFile, target: Path) -> str:
    """Stream an upload to disk under the size limit; returns its SHA-256."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise Invalid(
                    f"{target.name} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB; "
                    "split the export by month",
                    field="files",
                )
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise Invalid(f"{target.name} is empty", field="files")
    return digest.hexdigest()


@router.post("", response_model=JobOut, status_code=202, summary="Upload order export files")
async def upload(
    user: OperatorUser,
    db: DbSession,
    files: Annotated[list[UploadFile], File(description="Export files (CSV/XLSX-saved-as-CSV/JSONL).")],
    format: Annotated[str, Form(max_length=32, description="auto, or a format name.")] = "auto",
) -> JobOut:
    """Check the files now (422 if unusable), import them in the background (202)."""
    from siyu.orders.service import plan_file

    if not files:
        raise Invalid("no file was uploaded", field="files")
    if len(files) > MAX_FILES:
        raise Invalid(f"at most {MAX_FILES} files per upload", field="files")
    tmpdir = tempfile.mkdtemp(prefix=_UPLOAD_DIR_PREFIX)
    try:
        paths: list[str] = []
        sums: list[str] = []
        names: set[str] = set()
        for i, f in enumerate(files):
            name = _safe_name(f.filename, i)
            if name in names:
                name = f"{i}-{name}"
            names.add(name)
            target = Path(tmpdir) / name
            sums.append(await _save(f, target))
            # Reading and hashing a big file must not block the event loop.
            try:
                await run_in_threadpool(plan_file, target, format)
            except SiyuError as exc:
                exc.message = user_text(exc.message) or exc.message
                raise
            paths.append(str(target))
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    job_id = enqueue_upload(
        db,
        workspace_id=user.workspace_id,
        paths=[Path(p) for p in paths],
        fmt=format,
        actor=user.actor,
        sha256=sums,
    )
    job = db.get(Job, job_id)
    assert job is not None
    return _job_out(db, job)


def _job_out(db: DbSession, job: Job) -> JobOut:
    payload: dict[str, Any] = job.payload or {}
    ids = (payload.get("result") or {}).get("import_ids") or payload.get("import_ids") or []
    if ids:
        runs = db.scalars(select(ImportRun).where(ImportRun.id.in_(ids)).order_by(ImportRun.id))
    else:
        # Still running: the runs of these files started since the upload.
        runs = db.scalars(
            select(ImportRun)
            .where(
                ImportRun.workspace_id == job.workspace_id,
                ImportRun.file_sha256.in_(payload.get("sha256") or []),
                ImportRun.started_at >= job.created_at,
            )
            .order_by(ImportRun.id)
        )
    return JobOut(
        job_id=job.id,
        status=job.status,
        files=list(payload.get("files") or []),
        format=str(payload.get("format") or "auto"),
        created_at=job.created_at,
        finished_at=job.finished_at,
        error=user_text(job.last_error),
        runs=[run_out(r) for r in runs],
    )


@router.get("/jobs/{job_id}", response_model=JobOut, summary="Progress of an upload")
def get_job(job_id: Id, user: OperatorUser, db: DbSession) -> JobOut:
    """The upload's status and the live counts of each file's import run."""
    job = db.scalar(
        select(Job).where(Job.id == job_id, Job.workspace_id == user.workspace_id, Job.kind == JOB_KIND)
    )
    if job is None:
        raise NotFound(f"upload job {job_id} does not exist", field="job_id")
    return _job_out(db, job)


def _run(db: DbSession, user: Principal, run_id: int) -> ImportRun:
    run = db.scalar(
        select(ImportRun).where(ImportRun.id == run_id, ImportRun.workspace_id == user.workspace_id)
    )
    if run is None:
        raise NotFound(f"import {run_id} does not exist", field="import_id")
    return run


@router.get("", response_model=Page[RunOut], summary="Import runs")
def list_runs(user: OperatorUser, db: DbSession, paging: Paging) -> Page[RunOut]:
    """Every import run of the workspace, newest first."""
    stmt = select(ImportRun).where(ImportRun.workspace_id == user.workspace_id).order_by(ImportRun.id.desc())
    rows, total = paginate(db, stmt, paging)
    return Page[RunOut](
        items=[run_out(r) for r in rows], total=total, page=paging.page, page_size=paging.page_size
    )


@router.get("/{import_id}", response_model=RunOut, summary="One import run")
def get_run(import_id: Id, user: OperatorUser, db: DbSession) -> RunOut:
    """Status and counts of an import run (counts grow as batches commit)."""
    return run_out(_run(db, user, import_id))


@router.get("/{import_id}/errors", response_model=Page[RowErrorOut], summary="Row errors of an import")
def run_errors(import_id: Id, user: OperatorUser, db: DbSession, paging: Paging) -> Page[RowErrorOut]:
    """The rows that did not go in: file, line, field, value and why, in file order."""
    run = _run(db, user, import_id)
    stmt = (
        select(ImportRowError)
        .where(ImportRowError.import_id == run.id, ImportRowError.workspace_id == user.workspace_id)
        .order_by(ImportRowError.line, ImportRowError.id)
    )
    rows, total = paginate(db, stmt, paging)
    return Page[RowErrorOut](
        items=[
            RowErrorOut(
                id=r.id,
                filename=Path(r.filename).name,
                line=r.line,
                field=r.field,
                value=r.value,
                message=user_text(r.message) or "",
            )
            for r in rows
        ],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )
