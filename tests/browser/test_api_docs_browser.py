"""/api/docs in a browser with no internet: Swagger UI draws the operations."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.web.docs import swagger_installed

pytestmark = [pytest.mark.browser]


def test_api_docs_render_offline(page: Any) -> None:
    if not swagger_installed():
        pytest.fail("swagger-ui-dist is not installed: run scripts/fetch_assets.py (make setup does)")
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.on("response", lambda res: failed.append(f"{res.status} {res.url}") if res.status >= 400 else None)
    page.goto("/api/docs")
    page.wait_for_selector(".opblock-summary-path")  # drawn from /api/openapi.json
    # a hundred operations are drawn tag by tag: wait for the one we look for
    count_op = page.locator(".opblock-summary-path", has_text="/api/v1/segments/count")
    count_op.first.wait_for(timeout=90_000)
    assert count_op.count() >= 1
    assert not failed, failed
