"""朋友圈日历 on a phone: the week's day cells wrap, nothing scrolls sideways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siyu.kit.db import session_scope
from siyu.staff.service import ensure_staff
from tests.browser.test_console_browser import log_in
from tests.conftest import CliRun
from tests.web.test_console import seed_console


@pytest.fixture
def seeded(cli: CliRun, tmp_path: Path, workspace_id: int) -> int:
    seed_console(cli, tmp_path, workspace_id)
    with session_scope() as s:
        ensure_staff(s, workspace_id=workspace_id, userid="xiaoli_with_a_long_userid", name="小丽")
    return workspace_id


def test_moments_week_fits_a_phone_screen(page: Any, seeded: int, artifacts_dir: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/moments")
    log_in(page)
    page.wait_for_selector(".moments-week")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    days = page.locator(".moments-day")
    assert days.count() >= 7
    for i in range(days.count()):
        box = days.nth(i).bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390 + 1
    page.screenshot(path=artifacts_dir / "console-moments-phone.png", full_page=True)
