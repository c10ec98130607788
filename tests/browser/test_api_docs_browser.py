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
    assert page.locator(".opblock-summary-path", has_text="/api/v1/auth/login").count() >= 1
    assert not failed, failed


@pytest.mark.xfail(
    strict=True,
    reason="known defect since the wave-2 merge (keyword rules / sidebar): Swagger UI stops drawing "
    "operations after POST /api/v1/auth/tokens/{token_id}/rotate, though /api/openapi.json lists "
    "every path",
)
def test_api_docs_draw_every_tag(page: Any) -> None:
    page.goto("/api/docs")
    page.wait_for_selector(".opblock-summary-path")
    count_op = page.locator(".opblock-summary-path", has_text="/api/v1/segments/count")
    count_op.first.wait_for(timeout=15_000)
