"""关键词与预警 page: operators save rules (refusals read plainly), words, the boss deals with alerts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.automation.keywords.alerts import raise_alert
from siyu.kit.db import session_scope
from siyu.kit.timeutil import utcnow
from siyu.models import Alert, KeywordRule
from tests.web.test_console import client, csrf_of, login, seeded  # noqa: F401  (fixtures)


def test_rules_words_and_alerts_in_the_console(
    client: TestClient,  # noqa: F811
    seeded: int,  # noqa: F811
    session: Session,
) -> None:
    with session_scope() as s:
        raise_alert(
            s,
            workspace_id=seeded,
            kind="staff_deleted_customer",
            summary="小美 删除了客户 王芳",
            occurred_at=utcnow(),
            dedup_key="t:1",
        )
    html = login(client).get("/keywords").text
    assert "关键词与预警" in html
    assert "员工删除客户" in html
    assert "小美 删除了客户 王芳" in html
    form = {
        "csrf_token": csrf_of(html),
        "name": "售后",
        "match": "regex",
        "keywords": "退款\n订单(号",
        "sources": ["kf", "archive"],
        "tags": "售后",
    }
    bad = client.post("/keywords", data=form)
    assert bad.status_code == 422
    assert "keyword 2" in bad.text
    assert "position 2" in bad.text
    ok = client.post("/keywords", data={**form, "keywords": "退款\n订单号\\d+"}, follow_redirects=True)
    assert "已保存关键词规则「售后」" in ok.text
    rule = session.scalars(select(KeywordRule)).one()
    assert rule.sources == ["kf", "archive"]
    assert rule.keywords == ["退款", "订单号\\d+"]
    res = client.post(
        "/keywords/words",
        data={"csrf_token": csrf_of(ok.text), "words": "投诉，12315"},
        follow_redirects=True,
    )
    assert "已添加 2 个敏感词" in res.text
    alert_id = session.scalar(select(Alert.id))
    res = client.post(
        f"/keywords/alerts/{alert_id}/ack",
        data={"csrf_token": csrf_of(res.text), "note": "已回访"},
        follow_redirects=True,
    )
    assert "已标记为已处理" in res.text
    session.expire_all()
    assert session.scalar(select(Alert.note)) == "已回访"
