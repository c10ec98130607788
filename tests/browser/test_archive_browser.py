"""The 会话存档 page on a phone: cards, nothing scrolls sideways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_console_browser import log_in
from tests.conftest import CliRun
from tests.web.test_console import seed_console
from tests.wecom.archive.conftest import T0, msg, write

pytestmark = pytest.mark.browser


def test_archive_page_fits_a_phone(
    page: Any, cli: CliRun, tmp_path: Path, workspace_id: int, artifacts_dir: Path
) -> None:
    seed_console(cli, tmp_path, workspace_id)
    long_text = "这款面霜适合干皮吗？我平时熬夜比较多，皮肤有点暗沉，想问问有没有搭配的精华推荐一下，谢谢"
    write(
        tmp_path / "a.jsonl",
        [
            msg("m1", "wmUNKNOWN", ["xiaomei"], T0, long_text),
            msg("m2", "xiaomei", ["wmUNKNOWN"], T0, "有的，给您留一瓶"),
        ],
    )
    cli("wecom", "archive", "import", tmp_path / "a.jsonl")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/archive")
    log_in(page)
    page.wait_for_selector("#archive-table")
    assert long_text in page.inner_text("#archive-table")
    assert "2026-11-02 10:00" in page.inner_text("#archive-table")  # Shanghai time
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    table = page.locator("#archive-table")
    assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1")
    page.screenshot(path=artifacts_dir / "console-archive-phone.png", full_page=True)
