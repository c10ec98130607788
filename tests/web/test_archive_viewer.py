"""The archive viewer: API and console page, for allowed roles only, every view audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.models import AuditLog, FriendAccept
from siyu.web.auth.users import create_user
from tests.conftest import CliRun
from tests.wecom.archive.conftest import T0, Corp, corp, msg, write  # noqa: F401

PASSWORD = "correct-horse-42"
M = timedelta(minutes=1)


@pytest.fixture
def api(env: Settings) -> Iterator[TestClient]:
    from siyu.web.app import create_app

    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture
def tokens(corp: Corp, cli: CliRun, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    write(
        tmp_path / "a.jsonl",
        [
            msg("m1", "wmA", ["lin"], T0, "面霜还有货吗"),
            msg("m2", "lin", ["wmA"], T0 + 3 * M, "有的"),
            msg("m3", "wmB", ["zhou"], T0 + 5 * M, "防晒怎么用"),
            msg("m4", "wmB", ["lin", "wmA"], T0 + 6 * M, "群里说一句", roomid="wrROOM1"),
        ],
    )
    cli("wecom", "archive", "import", tmp_path / "a.jsonl")
    out = {}
    with session_scope() as s:
        for name, role, staff in (
            ("boss", "owner", None),
            ("ops", "operator", None),
            ("lin", "staff", "lin"),
        ):
            _, token = create_user(
                s, workspace_id=corp.workspace_id, name=name, role=role, password=PASSWORD, staff_userid=staff
            )
            out[name] = token
    return out


def _get(api: TestClient, token: str, **params: object) -> dict:  # type: ignore[type-arg]
    r = api.get("/api/v1/archive/messages", params=params, headers={"Authorization": f"Bearer {token}"})
    return {"status": r.status_code, **r.json()}


def test_search_filters_and_audit(
    api: TestClient,
    tokens: dict[str, str],
    corp: Corp,  # noqa: F811
    session: Session,
) -> None:
    owner = tokens["boss"]
    everything = _get(api, owner)
    assert [m["msgid"] for m in everything["items"]] == ["m4", "m3", "m2", "m1"]
    assert everything["items"][3]["text"] == "面霜还有货吗"
    assert [m["msgid"] for m in _get(api, owner, word="防晒")["items"]] == ["m3"]
    assert [m["msgid"] for m in _get(api, owner, staff="zhou")["items"]] == ["m3"]
    assert [m["msgid"] for m in _get(api, owner, group="wrROOM1")["items"]] == ["m4"]
    assert [m["msgid"] for m in _get(api, owner, customer_id=corp.customers["wmA"])["items"]] == ["m2", "m1"]
    since = (T0 + 4 * M).isoformat()
    assert [m["msgid"] for m in _get(api, owner, since=since)["items"]] == ["m4", "m3"]
    page = _get(api, owner, limit=2)
    assert page["next_before_id"] is not None
    assert [m["msgid"] for m in _get(api, owner, limit=2, before_id=page["next_before_id"])["items"]] == [
        "m2",
        "m1",
    ]
    bad = _get(api, owner, staff="nobody")
    assert bad["status"] == 404
    assert bad["error"]["field"] == "staff"
    views = session.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "archive.view")
    )
    assert views == 8


def test_roles(api: TestClient, tokens: dict[str, str]) -> None:
    denied = _get(api, tokens["ops"])
    assert denied["status"] == 403
    assert denied["error"]["field"] == "role"
    assert _get(api, tokens["lin"])["status"] == 403
    h = {"Authorization": f"Bearer {tokens['boss']}"}
    r = api.patch("/api/v1/archive/settings", json={"viewer_roles": ["owner", "admin", "staff"]}, headers=h)
    assert r.status_code == 200, r.text
    mine = _get(api, tokens["lin"])
    assert {m["staff"] for m in mine["items"]} == {"lin"}  # a staff user: their own chats only
    r = api.patch("/api/v1/archive/settings", json={"store_text": "plain"}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "settings.archive.store_text"
    r = api.patch(
        "/api/v1/archive/settings",
        json={"store_text": "none"},
        headers={"Authorization": f"Bearer {tokens['ops']}"},
    )
    assert r.status_code == 403


def test_accept_times_and_coverage(api: TestClient, tokens: dict[str, str], session: Session) -> None:
    h = {"Authorization": f"Bearer {tokens['lin']}"}
    body = {
        "external_userid": "wmA",
        "requested_at": T0.isoformat(),
        "accepted_at": (T0 + 42 * M).isoformat(),
    }
    r = api.post("/api/v1/archive/accepts", json=body, headers=h)
    assert r.status_code == 200
    assert r.json() == {"minutes": 42.0}
    assert session.scalar(select(func.count()).select_from(FriendAccept)) == 1
    r = api.post("/api/v1/archive/accepts", json={**body, "staff": "zhou"}, headers=h)
    assert r.status_code == 403
    r = api.post("/api/v1/archive/accepts", json={**body, "accepted_at": (T0 - M).isoformat()}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "accepted_at"
    cov = api.get("/api/v1/archive/coverage", headers=h).json()
    assert {c["userid"]: c["covered"] for c in cov} == {"lin": True, "zhou": True}


def test_console_page(api: TestClient, tokens: dict[str, str]) -> None:
    from tests.web.test_console import login

    html = login(api, "boss").get("/archive?word=面霜").text
    assert "面霜还有货吗" in html
    assert "防晒怎么用" not in html
    api.cookies.clear()
    res = login(api, "ops").get("/archive")
    assert res.status_code == 403
    assert "无权查看会话存档" in res.text


def test_console_settings_form(api: TestClient, tokens: dict[str, str], session: Session) -> None:
    from tests.web.test_console import csrf_of, login

    page = login(api, "boss").get("/archive")
    assert 'id="archive-settings"' in page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "store_text": "encrypted",
        "retention_days": "30",
        "covered": "lin，zhou",
        "viewer_roles": ["admin", "staff"],
    }
    res = api.post("/archive/settings", data=form, follow_redirects=True)
    assert "会话存档设置已保存" in res.text
    from siyu.models import Workspace

    session.expire_all()
    ws = session.scalars(select(Workspace)).first()
    assert ws is not None
    assert ws.settings["archive"]["retention_days"] == 30
    assert ws.settings["archive"]["covered"] == ["lin", "zhou"]
    assert ws.settings["archive"]["viewer_roles"] == ["admin", "owner", "staff"]
    bad = api.post("/archive/settings", data={**form, "retention_days": "-3"}, follow_redirects=True)
    assert "内容保留天数填写有误" in bad.text
    api.cookies.clear()
    assert "archive-settings" not in login(api, "lin").get("/archive").text  # staff see no settings
