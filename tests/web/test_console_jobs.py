"""后台任务 page: admins see failed jobs with their errors and retry or cancel them."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import utcnow
from siyu.models import AuditLog, Job
from tests.web.test_console import client, csrf_of, login, seeded  # noqa: F401  (fixtures)


def _failed_upload(workspace_id: int) -> int:
    with session_scope() as s:
        job_id = enqueue(s, kind="imports.upload", workspace_id=workspace_id, payload={"files": ["a.csv"]})
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.attempts, job.finished_at = "failed", 3, utcnow()
        job.last_error = "the uploaded file a.csv is gone from the server; upload it again"
        assert job_id is not None
        return job_id


def test_admins_see_failed_jobs_and_retry_or_cancel_them(
    client: TestClient,  # noqa: F811
    seeded: int,  # noqa: F811
    session: Session,
) -> None:
    job_id = _failed_upload(seeded)
    html = login(client).get("/jobs?status=failed").text
    assert "订单文件导入" in html
    assert "失败" in html
    assert "is gone from the server" in html
    assert "每晚重算 RFM、分层与 CLV" in html  # periodic tasks are listed
    assert "自动打标签规则（订单导入后）" in html  # and event subscribers
    res = client.post(f"/jobs/{job_id}/retry", data={"csrf_token": csrf_of(html)}, follow_redirects=True)
    assert f"任务 #{job_id} 已重新排队" in res.text
    session.expire_all()
    job = session.get(Job, job_id)
    assert job is not None
    assert job.status == "queued"
    res = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_of(res.text)}, follow_redirects=True)
    assert f"任务 #{job_id} 已取消" in res.text
    res = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_of(res.text)}, follow_redirects=True)
    assert "无法取消" in res.text
    session.expire_all()
    actions = session.scalars(select(AuditLog.action).where(AuditLog.target_type == "job")).all()
    assert sorted(actions) == ["job.cancel", "job.retry"]
    # Without the form's token nothing happens.
    assert client.post(f"/jobs/{job_id}/retry").status_code == 403


def test_staff_cannot_see_the_jobs_page(client: TestClient, seeded: int) -> None:  # noqa: F811
    login(client, "mei")
    assert client.get("/jobs", follow_redirects=False).status_code in (303, 403)
    assert "后台任务" not in client.get("/").text
