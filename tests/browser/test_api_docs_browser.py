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
    # ~150 operations: the tags are drawn folded (all of them), and open on a click
    page.wait_for_selector(".opblock-tag")
    tags = page.locator(".opblock-tag").all_inner_texts()
    assert {"auth", "segments", "channels", "insights", "sends"} <= {t.split()[0] for t in tags if t}
    page.locator(".opblock-tag", has_text="segments").first.click()
    page.locator(".opblock-summary-path", has_text="/api/v1/segments/count").first.wait_for()
    page.locator(".opblock-tag", has_text="sends").first.click()  # the last tag draws too
    page.locator(".opblock-summary-path", has_text="/api/v1/sends").first.wait_for()
    assert not failed, failed
