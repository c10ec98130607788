"""群发 and 素材库 on a phone screen: nothing scrolls sideways, the live count works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.test_console_browser import log_in, seeded  # noqa: F401  (fixture)


def test_sends_and_library_fit_a_phone_screen(page: Any, seeded: int, artifacts_dir: Path) -> None:  # noqa: F811
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/sends")
    log_in(page)
    page.goto("/sends")
    page.wait_for_selector("#send-form")
    page.fill("#send-audience", "city:杭州")
    expect(page.locator("#send-count")).to_contain_text("1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=artifacts_dir / "console-sends-phone.png", full_page=True)
    page.goto("/content")
    page.wait_for_selector("#content-form")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
