"""``siyu wecom doctor`` against the simulator: each failure names the admin page that fixes it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from siyu.config import Settings, get_settings
from siyu.kit.db import session_scope
from siyu.kit.events import record_event
from siyu.kit.timeutil import utcnow
from siyu.models import Staff
from siyu.wecom.crypto import new_encoding_aes_key
from siyu.wecom.simulator import Simulator
from siyu.wecom.simulator.transfers import misconfigure
from tests.conftest import CliRun
from tests.wecom.sim_fixtures import simulator  # noqa: F401


@pytest.fixture
def corp(env: Settings, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, cli: CliRun) -> Simulator:  # noqa: F811
    monkeypatch.setenv("SIYU_WECOM_CORP_ID", simulator.config.corp_id)
    monkeypatch.setenv("SIYU_WECOM_SECRET", simulator.config.secret)
    monkeypatch.setenv("SIYU_WECOM_API_BASE", simulator.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("SIYU_WECOM_TOKEN", "doctorToken")
    monkeypatch.setenv("SIYU_WECOM_AES_KEY", new_encoding_aes_key())
    get_settings.cache_clear()
    simulator.scenario.add_staff("alice", "Alice")
    simulator.scenario.add_staff("bob", "Bob")
    cli("wecom", "sync", "--json")
    simulator.state.staff["bob"].has_permission = False
    return simulator


def _checks(cli: CliRun, expect: int = 0) -> dict[str, Any]:
    out = json.loads(cli("wecom", "doctor", "--json", expect=expect).stdout)
    return {"status": out["status"], **{c["name"]: c for c in out["checks"]}}


def test_a_working_corp_with_gaps(cli: CliRun, corp: Simulator, workspace_id: int) -> None:
    with session_scope() as s:
        for userid in ("alice", "bob"):
            record_event(
                s,
                workspace_id=workspace_id,
                kind="friend.add",
                occurred_at=utcnow(),
                source="wecom",
                payload={
                    "userid": userid,
                    "state": "parcel",
                    "welcome_code": "wc" if userid == "alice" else None,
                },
            )
    got = _checks(cli)
    assert got["status"] == "warn"
    assert (got["config"]["status"], got["token"]["status"], got["contact_api"]["status"]) == (
        "ok",
        "ok",
        "ok",
    )
    assert got["directory_api"]["status"] == "ok"
    assert got["pool_members"]["status"] == "warn"
    assert got["pool_members"]["items"] == ["bob"]
    assert "使用范围" in got["pool_members"]["fix"]
    assert got["callback"]["status"] == "warn"  # the keys work, nothing has arrived yet
    assert "接收事件服务器" in got["callback"]["fix"]
    assert got["welcome_code"]["status"] == "warn"
    assert got["welcome_code"]["items"] == ["bob"]
    assert "欢迎语" in got["welcome_code"]["fix"]
    assert got["sidebar"]["status"] == "skip"
    assert got["archive"]["status"] == "skip"
    text = cli("wecom", "doctor").stdout
    assert "fix:" in text


def test_each_failure_names_its_page(
    cli: CliRun, corp: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    misconfigure(corp, contact_api_denied=True)
    got = _checks(cli, expect=1)
    assert got["contact_api"]["status"] == "fail"
    assert "可调用接口的应用" in got["contact_api"]["fix"]
    assert "December 2023" in got["contact_api"]["detail"]
    misconfigure(corp, untrusted_ip=True)
    got = _checks(cli, expect=1)
    assert "企业可信IP" in got["contact_api"]["fix"]
    misconfigure(corp)
    monkeypatch.setenv("SIYU_SIDEBAR_DOMAIN", "scrm.example.com")
    monkeypatch.setenv("SIYU_ARCHIVE_SECRET", "archive-secret")
    got = _checks(cli, expect=1)
    assert got["sidebar"]["status"] == "fail"
    assert "WW_verify" in got["sidebar"]["fix"]
    assert got["archive"]["status"] == "fail"
    assert "SIYU_ARCHIVE_PRIVATE_KEYS" in got["archive"]["detail"]
    verify = tmp_path / "WW_verify_abc123.txt"
    verify.write_text("abc123")
    key = tmp_path / "v1.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----")
    monkeypatch.setenv("SIYU_SIDEBAR_VERIFY_FILE", str(verify))
    monkeypatch.setenv("SIYU_ARCHIVE_PRIVATE_KEYS", f"1={key}")
    got = _checks(cli)
    assert (got["sidebar"]["status"], got["archive"]["status"]) == ("ok", "ok")
    monkeypatch.setenv("SIYU_WECOM_SECRET", "wrong")
    get_settings.cache_clear()
    got = _checks(cli, expect=1)
    assert got["token"]["status"] == "fail"
    assert "Secret" in got["token"]["fix"]


def test_console_page(env: Settings, corp: Simulator, workspace_id: int) -> None:
    from fastapi.testclient import TestClient

    from siyu.web.app import create_app
    from siyu.web.auth import create_user
    from tests.web.test_console import PASSWORD, login

    with session_scope() as s:
        create_user(s, workspace_id=workspace_id, name="boss", role="owner", password=PASSWORD)
        assert s.scalar(select(Staff.id).where(Staff.userid == "bob"))
    with TestClient(create_app(env), base_url="http://127.0.0.1") as c:
        page = login(c).get("/wecom/doctor").text
        assert "企业微信接入检查" in page
        assert 'data-check="pool_members"' in page
        assert "使用范围" in page
