"""The customer list's bulk form over HTTP: the whole result of whatever the search box holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import AuditLog, Customer, CustomerTag, Tag
from tests.conftest import CliRun
from tests.web.test_console import csrf_of, login, seed_console


@pytest.fixture
def client(env: Settings) -> Iterator[TestClient]:
    from siyu.web.app import create_app

    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        yield c


def _tagged(session: Session, name: str) -> set[str]:
    session.expire_all()
    return set(
        session.scalars(
            select(Customer.name)
            .join(CustomerTag, CustomerTag.customer_id == Customer.id)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(Tag.name == name)
        )
    )


def test_whole_result_of_a_name_digits_or_expression_search(
    client: TestClient, cli: CliRun, tmp_path: Path, workspace_id: int, session: Session
) -> None:
    seed_console(cli, tmp_path, workspace_id)
    page = login(client).get("/customers").text
    token = csrf_of(page)

    def tag_all(q: str, name: str) -> str:
        res = client.post(
            "/customers/bulk/tag",
            data={"csrf_token": token, "scope": "all", "q": q, "new_tag": name, "action": "tag"},
            follow_redirects=True,
        )
        assert res.status_code == 200, res.text
        return res.text

    assert "已为 1 位客户打上标签「按名字」" in tag_all("王芳", "按名字")
    assert _tagged(session, "按名字") == {"王芳"}
    tag_all("8002", "按尾号")  # the last four digits of 李雷's phone
    assert _tagged(session, "按尾号") == {"李雷"}
    tag_all("spent>=80", "按表达式")
    assert _tagged(session, "按表达式") == {"王芳", "李雷"}
    details = [
        e.detail
        for e in session.scalars(
            select(AuditLog).where(AuditLog.action == "customers.bulk_tag").order_by(AuditLog.id)
        )
    ]
    assert [d.get("search") for d in details] == ["王芳", "8002", "spent>=80"]

    # A staff user's whole result is their share only (mei follows 王芳 alone).
    client.cookies.clear()
    page = login(client, "mei").get("/customers").text
    res = client.post(
        "/customers/bulk/tag",
        data={"csrf_token": csrf_of(page), "scope": "all", "q": "", "new_tag": "导购的", "action": "tag"},
        follow_redirects=True,
    )
    assert "已为 1 位客户打上标签「导购的」" in res.text
    assert _tagged(session, "导购的") == {"王芳"}
    # ...and staff may not export.
    res = client.post("/customers/bulk/export", data={"csrf_token": csrf_of(page), "scope": "all", "q": ""})
    assert res.status_code == 403
