"""群发 and 素材库 pages: operators add content, preview and create a send; staff see theirs to confirm."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.automation.sends.tasks import run_plan
from siyu.kit.db import session_factory, session_scope
from siyu.models import ContentItem, Follow, Send, SendBatch, Workspace
from tests.web.test_console import client, csrf_of, login, seeded  # noqa: F401  (fixtures)


def test_operator_creates_a_send_and_staff_see_it(
    client: TestClient,  # noqa: F811
    seeded: int,  # noqa: F811
    session: Session,
) -> None:
    with session_scope() as s:
        s.execute(update(Follow).values(external_userid="wmwangfang"))
        ws = s.get(Workspace, seeded)
        assert ws is not None
        ws.settings = {**ws.settings, "outbound": {"quiet_hours": ""}}
    html = login(client).get("/content").text
    assert "素材库是空的" in html
    res = client.post(
        "/content",
        data={
            "csrf_token": csrf_of(html),
            "kind": "link",
            "title": "双12 会场",
            "url": "https://shop.example/1212",
        },
        follow_redirects=True,
    )
    assert "已添加素材「双12 会场」" in res.text
    item_id = session.scalar(select(ContentItem.id))
    html = client.get("/sends").text
    form = {
        "csrf_token": csrf_of(html),
        "title": "双12 预告",
        "text": "您好，我是{员工姓名}",
        "audience": "staff:xiaomei",
        "content_ids": str(item_id),
        "holdout_pct": "0",
    }
    res = client.post("/sends", data={**form, "action": "preview"})
    assert "预览（未保存）" in res.text
    assert "wmwangfang" in res.text
    assert session.scalar(select(Send.id)) is None
    bad = client.post("/sends", data={**form, "text": "您好 {客户昵称}", "action": "create"})
    assert "未能保存：消息内容：群发是同一条消息发给所有人" in bad.text
    res = client.post("/sends", data={**form, "action": "create"}, follow_redirects=True)
    assert "已创建群发「双12 预告」" in res.text
    send_id = session.scalar(select(Send.id))
    assert send_id is not None
    run_plan(session_factory(), seeded, send_id)
    with session_scope() as s:  # as if delivered: the batch waits for 小美
        s.execute(update(SendBatch).values(state="created", msgid="msgtest"))
        s.execute(update(Send).values(status="waiting"))
    page = client.get(f"/sends/{send_id}").text
    assert "等待员工确认" in page
    assert "小美" in page
    login(client, "mei")
    mine = client.get("/sends").text
    assert "待我确认的群发" in mine
    assert "双12 预告" in mine
    assert client.get(f"/sends/{send_id}", follow_redirects=False).status_code in (303, 403)
