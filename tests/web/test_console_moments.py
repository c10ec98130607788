"""朋友圈日历 page: the week per account with flags, planning from the form, staff see their own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.kit.timeutil import utcnow, zone
from siyu.models import ContentItem, Moment
from siyu.staff.service import ensure_staff
from tests.web.test_console import PASSWORD, client, csrf_of, login, seeded  # noqa: F401  (fixtures)


def test_week_page_plans_and_flags(
    client: TestClient,  # noqa: F811
    seeded: int,  # noqa: F811
    session: Session,
) -> None:
    with session_scope() as s:
        ensure_staff(s, workspace_id=seeded, userid="xiaoli", name="小丽")
    html = login(client).get("/moments").text
    assert "朋友圈日历" in html
    assert "没有定时发表参数" in html  # the page says WeCom has no schedule and staff publish
    assert "小美" in html
    assert "小丽" in html
    assert "空档" in html  # nothing planned yet: every day is a gap
    when = (utcnow() + timedelta(hours=2)).astimezone(zone())  # the workspace zone
    form = {
        "csrf_token": csrf_of(html),
        "planned_at": when.strftime("%Y-%m-%dT%H:%M"),
        "staff": ["xiaomei"],
        "text": "今晚直播上新",
        "link_url": "",
        "link_title": "",
        "tags": "",
    }
    res = client.post("/moments", data=form, follow_redirects=True)
    assert "已计划" in res.text
    assert "今晚直播上新" in res.text
    assert "低于目标" in res.text
    # Too long: a plain zh-CN error, nothing stored.
    res = client.post("/moments", data={**form, "text": "字" * 2001}, follow_redirects=True)
    assert "正文最多 2000 字" in res.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Moment)) == 1


def test_staff_user_sees_own_account_only(
    client: TestClient,  # noqa: F811
    seeded: int,  # noqa: F811
) -> None:
    with session_scope() as s:
        ensure_staff(s, workspace_id=seeded, userid="xiaoli", name="小丽")
    html = login(client, "mei").get("/moments").text
    assert "小美" in html
    assert "小丽" not in html
    assert "计划一条朋友圈" not in html  # staff do not plan


def test_operator_cancels_a_planned_moment_from_the_calendar(
    client: TestClient,  # noqa: F811
    seeded: int,  # noqa: F811
    session: Session,
) -> None:
    html = login(client).get("/moments").text
    when = (utcnow() + timedelta(hours=2)).astimezone(zone())
    form = {"csrf_token": csrf_of(html), "planned_at": when.strftime("%Y-%m-%dT%H:%M"), "staff": ["xiaomei"],
            "text": "要取消的", "link_url": "", "link_title": "", "tags": ""}  # fmt: skip
    res = client.post("/moments", data=form, follow_redirects=True)
    moment_id = session.scalar(select(Moment.id))
    assert f'action="/moments/{moment_id}/cancel"' in res.text
    res = client.post(
        f"/moments/{moment_id}/cancel", data={"csrf_token": csrf_of(res.text)}, follow_redirects=True
    )
    assert f"已取消朋友圈计划 #{moment_id}" in res.text
    session.expire_all()
    assert session.scalar(select(Moment.status)) == "cancelled"


def test_form_takes_library_items_and_uploads(
    client: TestClient,  # noqa: F811
    seeded: int,  # noqa: F811
    session: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from siyu.automation.library import add_item

    monkeypatch.setenv("SIYU_CONTENT_DIR", str(tmp_path))
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    with session_scope() as s:
        kept = add_item(s, workspace_id=seeded, kind="image", title="门店海报", upload=("shop.png", png)).id
    html = login(client).get("/moments").text
    assert "图片 · 门店海报" in html  # the library is offered in the form
    when = (utcnow() + timedelta(hours=2)).astimezone(zone())
    form = {
        "csrf_token": csrf_of(html),
        "planned_at": when.strftime("%Y-%m-%dT%H:%M"),
        "staff": ["xiaomei"],
        "text": "新品实拍",
        "content_ids": [str(kept)],
    }
    files = [
        ("files", ("a.png", png, "image/png")),
        ("files", ("b.jpg", b"\xff\xd8\xff" + b"\0" * 64, "image/jpeg")),
    ]
    res = client.post("/moments", data=form, files=files, follow_redirects=True)
    assert "已计划" in res.text, res.text
    session.expire_all()
    (moment,) = session.scalars(select(Moment))
    assert [a["kind"] for a in moment.attachments] == ["image"] * 3
    uploaded = session.scalars(select(ContentItem).where(ContentItem.folder == "朋友圈")).all()
    assert sorted(i.title for i in uploaded) == ["a.png", "b.jpg"]
    # A video beside images: refused in plain words, and the upload is not kept.
    mp4 = b"\0\0\0\x18ftypmp42" + b"\0" * 64
    res = client.post(
        "/moments", data=form, files=[("files", ("v.mp4", mp4, "video/mp4"))], follow_redirects=True
    )
    assert "不能混合" in res.text
    gif = [("files", ("x.gif", png, "image/gif"))]
    txt = client.post("/moments", data=form, files=gif, follow_redirects=True).text
    assert "只支持 JPG 或 PNG" in txt
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Moment)) == 1
    assert session.scalar(select(func.count()).select_from(ContentItem)) == 3
