"""The console's hardening in a real browser: phone layout, stale previews, zh-CN labels, bulk actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_console_browser import log_in
from tests.conftest import CliRun
from tests.web.test_console import seed_console

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(cli: CliRun, tmp_path: Path, workspace_id: int) -> int:
    seed_console(cli, tmp_path, workspace_id)
    return workspace_id


def test_customer_table_fits_a_phone_screen(page: Any, seeded: int, artifacts_dir: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/customers")
    log_in(page)
    page.wait_for_selector("#customer-table")
    # Nothing scrolls sideways, neither the page nor the table: every figure of a
    # customer, down to the tags, is on screen as it is.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    table = page.locator("#customer-table")
    assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1")
    row = page.locator("#customer-table tbody tr").first
    cells = row.locator("td")
    assert cells.count() >= 9
    for i in range(cells.count()):
        box = cells.nth(i).bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390 + 1, cells.nth(i).inner_text()
    # Each value says what it is, the column headers being hidden on a phone.
    labels = cells.evaluate_all("tds => tds.map(td => getComputedStyle(td, '::before').content)")
    assert '"净消费"' in labels
    page.screenshot(path=artifacts_dir / "console-customers-phone.png", full_page=True)


def test_failed_expression_clears_the_previous_preview(page: Any, seeded: int) -> None:
    page.goto("/segments")
    log_in(page)
    page.fill("#segment-q", "city:杭州")
    page.wait_for_selector("#segment-preview a")
    page.fill("#segment-q", "city:杭州 AND")
    page.wait_for_selector("#segment-error:not([hidden])")
    # The rows of the last good expression are gone, not shown as if they were current.
    expect(page.locator("#segment-preview a")).to_have_count(0)
    expect(page.locator("#segment-preview")).to_contain_text("表达式有误")
    assert page.inner_text("#segment-count") == ""
