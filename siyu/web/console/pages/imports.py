"""Order imports from the console: upload a platform export, follow it, read its row errors.

The upload is saved to a private temporary folder, checked (readable, known format),
and queued as an ``imports.upload`` job (``siyu.orders.tasks``), the same job the API
queues; a worker runs the same ``import_orders`` the CLI uses. Progress and row errors
are read back from ``ImportRun`` / ``ImportRowError``, which the importer commits batch
by batch, so the page shows the truth even after a restart, and an import cut off by
a crash is resumed by the next worker.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.kit.errors import NotFound, SiyuError
from siyu.kit.jobs import worker_in_process
from siyu.models import ImportRowError, ImportRun, Job
from siyu.orders.service import plan_file
from siyu.orders.tasks import enqueue_upload
from siyu.web.auth import DbSession, Principal
from siyu.web.console.deps import OperatorPage
from siyu.web.console.render import redirect_with_flash, render

log = logging.getLogger(__name__)
router = APIRouter()

FORMATS = (
    ("auto", "自动识别"),
    ("taobao", "淘宝/天猫（订单报表或宝贝报表）"),
    ("youzan", "有赞"),
    ("douyin", "抖店"),
    ("jd", "京东"),
    ("generic", "通用格式 CSV / JSONL"),
)
MAX_UPLOAD_BYTES = 500 * 1024 * 1024
MAX_FILES = 10
ERRORS_SHOWN = 200
# How long the upload request waits for the import run to appear before redirecting.
START_WAIT_SECONDS = 15.0
_UNSAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def _safe_name(filename: str | None) -> str:
    """The upload's base name with anything odd replaced (never a path)."""
    name = Path((filename or "").replace("\\", "/")).name
    name = _UNSAFE.sub("_", name).strip("._")[:120]
    return name or "upload.csv"


def _recent_runs(db: Session, workspace_id: int) -> list[ImportRun]:
    return list(
        db.scalars(
            select(ImportRun)
            .where(ImportRun.workspace_id == workspace_id)
            .order_by(ImportRun.started_at.desc(), ImportRun.id.desc())
            .limit(30)
        )
    )


def _page(
    request: Request, db: Session, user: Principal, *, error: str | None = None, status: int = 200
) -> Response:
    return render(
        request,
        "imports.html",
        {"runs": _recent_runs(db, user.workspace_id), "formats": FORMATS, "upload_error": error},
        status_code=status,
    )


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, user: OperatorPage, db: DbSession) -> Response:
    """Upload form and the recent import runs."""
    return _page(request, db, user)


def _find_run(workspace_id: int, path: Path) -> int | None:
    with session_scope() as db:
        return db.scalar(
            select(ImportRun.id)
            .where(
                ImportRun.workspace_id == workspace_id,
                or_(
                    ImportRun.filename == str(path),
                    ImportRun.filename.endswith(f"{path.parent.name}/{path.name}"),
                ),
            )
            .order_by(ImportRun.id.desc())
        )


def _save_upload(file: UploadFile, target: Path) -> int:
    size = 0
    with target.open("wb") as out:
        while chunk := file.file.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise ValueError(
                    f"文件「{target.name}」超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB，请拆分后上传"
                )
            out.write(chunk)
    return size


@router.post("/imports")
def imports_upload(
    request: Request,
    user: OperatorPage,
    db: DbSession,
    files: Annotated[list[UploadFile] | None, File(alias="file")] = None,
    fmt: Annotated[str, Form(alias="format")] = "auto",
) -> Response:
    """Save the upload(s), start the import, and go to its progress page."""
    chosen = [f for f in files or [] if f.filename]
    if not chosen:
        return _page(request, db, user, error="请选择要上传的订单文件。", status=422)
    if len(chosen) > MAX_FILES:
        return _page(request, db, user, error=f"一次最多上传 {MAX_FILES} 个文件。", status=422)
    if fmt not in dict(FORMATS):
        return _page(request, db, user, error=f"未知的文件格式：{fmt}", status=422)
    folder = Path(tempfile.mkdtemp(prefix="siyu-upload-"))
    paths: list[Path] = []
    try:
        for i, upload_file in enumerate(chosen):
            name = _safe_name(upload_file.filename)
            path = folder / (name if all(p.name != name for p in paths) else f"{i + 1}_{name}")
            if _save_upload(upload_file, path) == 0:
                raise ValueError(f"文件「{path.name}」是空的。")
            paths.append(path)
    except (ValueError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return _page(request, db, user, error=str(exc), status=422 if isinstance(exc, ValueError) else 500)
    try:
        for path in paths:
            plan_file(path, fmt)
    except SiyuError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return _page(request, db, user, error=f"「{path.name}」无法导入：{exc.message}", status=422)
    job_id = enqueue_upload(db, workspace_id=user.workspace_id, paths=paths, fmt=fmt, actor=user.actor)
    db.commit()  # the worker sees the job now
    names = "、".join(f"「{p.name}」" for p in paths)
    run_id: int | None = None
    if worker_in_process() and len(paths) == 1:
        # The embedded worker starts at once: go straight to the run's progress page.
        deadline = time.monotonic() + START_WAIT_SECONDS
        while time.monotonic() < deadline and run_id is None:
            time.sleep(0.1)
            run_id = _find_run(user.workspace_id, paths[0])
            if run_id is None and _job_status(job_id) in ("failed", "done", "cancelled"):
                break
    error = _job_error(job_id)
    if error:
        return _page(request, db, user, error=f"{names} 无法导入：{error}", status=422)
    if run_id is not None and len(paths) == 1:
        return redirect_with_flash(f"/imports/{run_id}", f"已上传{names}，正在导入…")
    return redirect_with_flash("/imports", f"已上传{names}，已排入导入队列（任务 #{job_id}），进度见下表。")


def _job_status(job_id: int) -> str | None:
    with session_scope() as db:
        job = db.get(Job, job_id)
        return job.status if job is not None else None


def _job_error(job_id: int) -> str | None:
    with session_scope() as db:
        job = db.get(Job, job_id)
        return job.last_error if job is not None and job.status == "failed" else None


def _run_json(db: Session, run: ImportRun) -> dict[str, Any]:
    errors = list(
        db.scalars(
            select(ImportRowError)
            .where(ImportRowError.import_id == run.id)
            .order_by(ImportRowError.line, ImportRowError.id)
            .limit(ERRORS_SHOWN)
        )
    )
    error_count = int(
        db.scalar(select(func.count()).select_from(ImportRowError).where(ImportRowError.import_id == run.id))
        or 0
    )
    return {
        "id": run.id,
        "status": run.status,
        "filename": Path(run.filename).name,
        "format": run.format,
        "rows_total": run.rows_total,
        "rows_ok": run.rows_ok,
        "rows_failed": run.rows_failed,
        "orders_created": run.orders_created,
        "orders_updated": run.orders_updated,
        "orders_unchanged": run.orders_unchanged,
        "customers_created": run.customers_created,
        "committed_line": run.committed_line,
        "error_message": run.error_message,
        "error_count": error_count,
        "errors": [
            {"line": e.line, "field": e.field, "value": e.value, "message": e.message} for e in errors
        ],
    }


def _get_run(db: Session, user: Principal, import_id: int) -> ImportRun:
    run = db.get(ImportRun, import_id)
    if run is None or run.workspace_id != user.workspace_id:
        raise NotFound(f"import {import_id} does not exist", field="import_id")
    return run


@router.get("/imports/{import_id}", response_class=HTMLResponse)
def import_page(request: Request, import_id: int, user: OperatorPage, db: DbSession) -> Response:
    """One import: progress while it runs, then its counts and row errors."""
    run = _get_run(db, user, import_id)
    return render(request, "import_run.html", {"run": run, "data": _run_json(db, run)})


@router.get("/imports/{import_id}/status")
def import_status(import_id: int, user: OperatorPage, db: DbSession) -> JSONResponse:
    """Progress of one import, for the page to poll."""
    return JSONResponse(_run_json(db, _get_run(db, user, import_id)))
