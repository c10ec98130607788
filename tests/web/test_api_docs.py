"""/api/docs works without internet: Swagger UI from the package, a favicon that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from siyu.config import Settings
from siyu.web import docs


@pytest.fixture
def http(env: Settings) -> TestClient:
    from siyu.web.app import create_app

    return TestClient(create_app(env), base_url="http://127.0.0.1")


def _refs(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_docs_load_nothing_from_outside(http: TestClient) -> None:
    if not docs.swagger_installed():
        pytest.fail("swagger-ui-dist is not installed: run scripts/fetch_assets.py (make setup does)")
    page = http.get("/api/docs")
    assert page.status_code == 200
    refs = _refs(page.text)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in refs
    assert "/static/vendor/swagger-ui/swagger-ui.css" in refs
    assert "/api/openapi.json" in page.text
    for ref in refs:
        assert ref.startswith("/"), f"{ref} would be loaded from another site"
        got = http.get(ref)
        assert got.status_code == 200, ref
        assert got.content, ref
    assert "SwaggerUIBundle" in http.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").text


def test_docs_say_how_to_install_when_the_assets_are_missing(
    http: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(docs, "SWAGGER", tmp_path / "missing")
    page = http.get("/api/docs")
    assert page.status_code == 200
    assert "scripts/fetch_assets.py" in page.text
    assert 'href="/api/openapi.json"' in page.text
    assert all(ref.startswith("/") for ref in _refs(page.text))


def test_favicon_is_served(http: TestClient) -> None:
    icon = http.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg")
