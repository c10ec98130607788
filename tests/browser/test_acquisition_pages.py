"""The acquisition pages in a real browser on a phone: 渠道漏斗 (with its charts), 客户转接,
矩阵去重, 客户公海, 接入检查 and the order-binding page — no sideways scrolling, Chinese only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siyu.acquisition import funnel
from siyu.acquisition.binding import make_token
from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import moved_clock
from siyu.models import Follow
from siyu.web.auth import create_user
from siyu.worker.outbox import deliver
from tests.acquisition.test_funnel import NOW, _build
from tests.browser.test_console_browser import log_in
from tests.browser.test_console_hardening import ENGLISH_CODES, RAW_KEY, READABLE_TEXT
from tests.web.test_console import PASSWORD

pytestmark = pytest.mark.browser
PAGES = (
    "/funnel?start=2026-03-01&end=2026-03-31&grain=week",
    "/transfers",
    "/dedup",
    "/leads",
    "/wecom/doctor",
)


@pytest.fixture
def shop(env: Any, workspace_id: int) -> int:
    with moved_clock(NOW):
        _build(workspace_id)
        deliver(session_factory(), names=["acquisition.funnel"])
    with session_scope() as s:
        create_user(s, workspace_id=workspace_id, name="boss", role="owner", password=PASSWORD)
        funnel.rebuild(s, workspace_id=workspace_id)
    return workspace_id


def test_pages_fit_a_phone_and_read_in_chinese(page: Any, shop: int, artifacts_dir: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    log_in(page)
    page.wait_for_selector("#kpi-customers")
    problems: list[str] = []
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("load")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            problems.append(f"{path}: {width}px wide")
        text = page.evaluate(READABLE_TEXT)
        for pattern in (RAW_KEY, ENGLISH_CODES):
            problems += [f"{path}: {m.group(0)!r}" for m in pattern.finditer(text)]
        name = path.split("?")[0].strip("/").replace("/", "-")
        page.screenshot(path=artifacts_dir / f"console-{name}-phone.png", full_page=True)
    assert not problems, problems
    # The funnel's charts were drawn (ECharts puts a canvas in each).
    page.goto(PAGES[0])
    page.wait_for_selector("#chart-funnel canvas")
    page.wait_for_selector("#chart-gross canvas")


def test_binding_page_on_a_phone(page: Any, shop: int, artifacts_dir: Path) -> None:
    with session_scope() as s:
        follow = s.query(Follow).order_by(Follow.id).first()
        assert follow is not None
        token = make_token(workspace_id=shop, follow_id=follow.id)
    page.set_viewport_size({"width": 375, "height": 667})
    page.goto(f"/bind/{token}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.fill("#order_no", "123456")
    page.click("button[type=submit]")
    page.wait_for_selector("#bind-error")
    assert "没有找到这个订单号" in page.inner_text("#bind-error")
    page.screenshot(path=artifacts_dir / "bind-phone.png", full_page=True)
