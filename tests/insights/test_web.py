"""The insights API and console pages: staff see their own numbers only."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from siyu.config import Settings
from siyu.insights.aggregates import refresh_all
from siyu.kit.db import session_scope
from siyu.web.auth import create_user
from tests.insights.world import W, build
from tests.web.api_world import assert_error, client
from tests.web.test_console import PASSWORD, login


@dataclass
class Site:
    w: W
    tokens: dict[str, str]


@pytest.fixture
def site(env: Settings, workspace_id: int) -> Site:
    with session_scope() as s:
        w = build(s, workspace_id)
        refresh_all(s, workspace_id)
        tokens = {}
        for name, role, userid in (("boss", "owner", None), ("alice", "staff", "alice")):
            _, token = create_user(s, workspace_id=workspace_id, name=name, role=role, password=PASSWORD,
                                   staff_userid=userid)  # fmt: skip
            tokens[name] = token
    return Site(w, tokens)


def _h(site: Site, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.tokens[who]}"}


def test_metrics_api_scopes_staff_to_their_own_account(site: Site) -> None:
    api = client()
    q = {"grain": "month", "on": "2026-11-15"}
    boss = api.get("/api/v1/insights/metrics", params=q, headers=_h(site, "boss")).json()
    assert {r["userid"] for r in boss["accounts"]} == {"alice", "bob"}
    assert boss["total"]["reply"]["rate"] == 0.6
    mine = api.get(
        "/api/v1/insights/metrics", params={**q, "staff_id": site.w.staff["bob"]}, headers=_h(site, "alice")
    ).json()
    assert [r["userid"] for r in mine["accounts"]] == ["alice"]
    assert_error(api.get("/api/v1/insights/metrics", params={"grain": "year"}, headers=_h(site, "boss")), 422,
                 field="grain")  # fmt: skip
    team = api.get("/api/v1/insights/metrics", params={**q, "team": "华东"}, headers=_h(site, "boss")).json()
    assert [r["userid"] for r in team["accounts"]] == ["alice"]
    assert team["total"]["accounts"] == 1
    assert api.get("/api/v1/insights/metrics").status_code == 401


def test_metrics_page_reads_in_chinese_with_wecom_beside(env: Settings, site: Site) -> None:
    from siyu.web.app import create_app

    with TestClient(create_app(), base_url="http://localhost") as c:
        login(c, "boss")
        page = c.get("/insights", params={"grain": "month", "on": "2026-11-02"})
        assert page.status_code == 200
        assert "四项指标" in page.text
        assert "企微回复率" in page.text
        assert 'id="kpi-reply">60.0%' in page.text
        assert "不在会话存档范围内" in page.text
        assert "bob" in page.text
    with TestClient(create_app(), base_url="http://localhost") as c:
        login(c, "alice")
        page = c.get("/insights", params={"on": "2026-11-02", "staff_id": site.w.staff["bob"]})
        assert page.status_code == 200
        assert "Alice" in page.text
        assert "Bob" not in page.text


def test_score_pnl_and_cohort_pages(env: Settings, site: Site) -> None:
    from siyu.web.app import create_app

    api = client()
    for path in ("/api/v1/insights/score", "/api/v1/insights/pnl", "/api/v1/insights/cohorts"):
        mine = api.get(
            path, params={"on": "2026-11-15"} if "cohorts" not in path else {}, headers=_h(site, "alice")
        )
        assert mine.status_code == 200, mine.text
        body = mine.json()
        if "accounts" in body:
            assert {a["userid"] for a in body["accounts"]} <= {"alice"}
    assert api.get("/api/v1/insights/cohorts", headers=_h(site, "alice")).json()["lift"] is None
    assert api.get("/api/v1/insights/cohorts", headers=_h(site, "boss")).json()["lift"] is not None
    with TestClient(create_app(), base_url="http://localhost") as c:
        login(c, "boss")
        score_page = c.get("/insights/score", params={"on": "2026-11"})
        assert score_page.status_code == 200
        assert "执行力排行" in score_page.text
        assert "短板" in score_page.text
        pnl_page = c.get("/insights/pnl", params={"on": "2026-11"})
        assert pnl_page.status_code == 200
        assert "利润表" in pnl_page.text
        assert "毛利率" in pnl_page.text
        cohort_page = c.get("/insights/cohorts", params={"weeks": 8})
        assert cohort_page.status_code == 200
        assert "heat-retention" in cohort_page.text
        assert "私域提升" in cohort_page.text


def test_staff_user_pages_show_their_own_account(env: Settings, site: Site) -> None:
    from siyu.web.app import create_app

    with TestClient(create_app(), base_url="http://localhost") as c:
        login(c, "alice")
        for path in ("/insights/score", "/insights/pnl"):
            page = c.get(path, params={"on": "2026-11"})
            assert page.status_code == 200
            assert "Alice" in page.text
            assert "Bob" not in page.text
        cohorts_page = c.get("/insights/cohorts")
        assert cohorts_page.status_code == 200
        assert "私域提升" not in cohorts_page.text
