"""The console in a real browser: log in, dashboard charts, filter, profile tags, upload errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import AuditLog, Customer, CustomerTag, ImportRowError, ImportRun, Tag
from siyu.web.console.render import ECHARTS
from tests.conftest import CliRun
from tests.web.test_console import PASSWORD, seed_console, write_orders

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(cli: CliRun, tmp_path: Path, workspace_id: int) -> int:
    seed_console(cli, tmp_path, workspace_id)
    return workspace_id


def log_in(page: Any, name: str = "boss", password: str = PASSWORD) -> None:
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_login_then_dashboard_with_charts(page: Any, server: str, seeded: int, artifacts_dir: Path) -> None:
    page.goto("/")
    assert "/login" in page.url  # not logged in: the login page, remembering where to go
    log_in(page, password="wrong-password")
    assert page.locator("#login-error").inner_text() == "用户名或密码错误。"
    page.screenshot(path=artifacts_dir / "console-login-error.png")

    log_in(page)
    page.wait_for_selector("#kpi-customers")
    assert page.url == server + "/"  # back on the page first asked for: the dashboard
    assert page.inner_text("#kpi-customers") == "3"
    assert page.inner_text("#kpi-net") == "¥847.50"
    if ECHARTS.is_file():
        canvas = page.wait_for_selector("#chart-orders canvas")
        box = canvas.bounding_box()
        assert box is not None
        assert box["width"] > 200
        assert box["height"] > 100
        # The chart has drawn something: its pixels are not all one colour.
        drawn = page.evaluate(
            """() => { const c = document.querySelector('#chart-orders canvas');
                       const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                       const first = d.slice(0, 4).join(); let other = 0;
                       for (let i = 0; i < d.length; i += 4 * 97)
                         if (d.slice(i, i + 4).join() !== first) other++;
                       return other; }"""
        )
        assert drawn > 10
    else:
        # A checkout without `make setup`: the page says so instead of breaking.
        assert page.is_visible("#charts-unavailable")
    page.screenshot(path=artifacts_dir / "console-dashboard.png", full_page=True)


def test_filter_customers_with_live_count(page: Any, seeded: int, artifacts_dir: Path) -> None:
    page.goto("/customers")
    log_in(page)
    page.wait_for_selector("#customer-table")
    assert page.inner_text("#live-count") == "共 3 位客户"
    assert "138****8001" in page.inner_text("#customer-table")

    page.fill("#filter-q", "city:杭州")  # typing updates the count before any submit
    expect(page.locator("#live-count")).to_have_text("共 1 位客户")
    page.fill("#filter-q", "city:杭州 AND")
    page.wait_for_selector("#filter-error:not([hidden])")
    assert "第" in page.inner_text("#filter-error")
    page.fill("#filter-q", "spent>=80")
    expect(page.locator("#live-count")).to_have_text("共 2 位客户")
    page.press("#filter-q", "Enter")
    page.wait_for_url(re.compile(r"/customers\?q=spent"))
    assert page.locator("#customer-table tbody tr").count() == 2
    page.screenshot(path=artifacts_dir / "console-customers.png", full_page=True)


def test_profile_add_tag(page: Any, seeded: int, session: Session, artifacts_dir: Path) -> None:
    page.goto("/customers")
    log_in(page)
    page.click("text=王芳")
    page.wait_for_selector("#customer-tags")
    assert "¥759.00" in page.inner_text("#stat-net")
    page.fill("#new-tag", "敏感肌")
    page.click("#add-tag-form button[type=submit]")
    page.wait_for_selector(".flash")
    assert "已添加标签「敏感肌」" in page.inner_text(".flash")
    assert "敏感肌" in page.inner_text("#customer-tags")
    page.screenshot(path=artifacts_dir / "console-customer.png", full_page=True)

    # Owners may see the full number; the click goes through the API and is audited.
    page.click("#reveal-phone")
    page.wait_for_selector("#revealed:not([hidden])")
    assert page.inner_text("#revealed") == "+8613800138001"
    assert session.scalar(select(AuditLog).where(AuditLog.action == "phone.reveal")) is not None

    wang = session.scalar(select(Customer.id).where(Customer.name == "王芳"))
    tag = session.scalar(select(Tag).where(Tag.name == "敏感肌"))
    assert tag is not None
    assert session.scalar(
        select(CustomerTag).where(CustomerTag.customer_id == wang, CustomerTag.tag_id == tag.id)
    )


def test_upload_orders_with_a_bad_row(
    page: Any, seeded: int, session: Session, tmp_path: Path, artifacts_dir: Path
) -> None:
    page.goto("/imports")
    log_in(page)
    page.set_input_files("#upload-file", str(write_orders(tmp_path, bad_row=True)))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/imports/\d+$"))
    # The page polls while the import runs and shows the result when it ends.
    page.wait_for_selector("#import-run[data-status=completed]", timeout=30_000)
    errors = page.inner_text("#row-errors")
    assert "not-a-date" in errors
    assert "6" in page.locator("#row-errors tbody tr td").first.inner_text()
    page.screenshot(path=artifacts_dir / "console-import-errors.png", full_page=True)

    run_id = int(page.url.rsplit("/", 1)[1])
    run = session.get(ImportRun, run_id)
    assert run is not None
    assert run.rows_failed == 1
    assert run.rows_ok == 4
    assert session.scalar(select(ImportRowError.line).where(ImportRowError.import_id == run_id)) == 6


def test_segment_editor_preview(page: Any, seeded: int, artifacts_dir: Path) -> None:
    page.goto("/segments")
    log_in(page)
    page.fill("#segment-q", "orders>=1 AND city:杭州")
    page.wait_for_selector("#segment-preview a")
    assert "138****8001" in page.inner_text("#segment-preview")
    assert "1" in page.inner_text("#segment-count")
    page.screenshot(path=artifacts_dir / "console-segments.png", full_page=True)
