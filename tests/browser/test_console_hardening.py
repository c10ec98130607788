"""The console's hardening in a real browser: phone layout, stale previews, zh-CN labels, bulk actions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_console_browser import log_in
from tests.conftest import CliRun
from tests.web.test_console import seed_console, write_orders

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


# What a raw code looks like on screen: snake_case or dotted keys (package_card, tag.create).
RAW_KEY = re.compile(r"\b[a-z][a-z0-9]*(?:[._][a-z0-9]+)+\b")
# Stored codes that are plain English words: statuses, platforms, sources, roles, kinds.
ENGLISH_CODES = re.compile(
    r"\b(?:offline|online|pending|running|completed|failed|active|resigned|disabled|manual|rule|keyword|"
    r"sync|generic|taobao|tmall|youzan|douyin|jd|paid|refunded|shipped|closed|full|reconcile|behavior|"
    r"owner|admin|operator|staff|user|customer|tag|segment|login|cli|system|demo|processed|ignored|"
    r"amount|phone|is empty|not a)\b"
)
# What a user reads: the page's text and its menus, but not code samples, identifiers
# shown as such (.mono: order numbers, WeCom ids) or folded-away originals.
READABLE_TEXT = """() => {
  document.querySelectorAll('code, .mono, details:not([open]) > :not(summary), script, style')
    .forEach(el => el.remove());
  const options = [...document.querySelectorAll('option')].map(o => o.textContent);
  const titles = [...document.querySelectorAll('[title]')].map(e => e.getAttribute('title'));
  return [document.body.innerText, ...options].join('\\n');
}"""


def seed_everything(cli: CliRun, tmp_path: Path, workspace_id: int) -> None:
    """Something on every page: offline orders, a channel, a failed sync, row errors, audit."""
    from datetime import timedelta

    from sqlalchemy import select

    from siyu.customers.follows import upsert_follow
    from siyu.kit import audit
    from siyu.kit.db import session_scope
    from siyu.kit.timeutil import utcnow
    from siyu.models import Customer, SyncRun
    from siyu.staff.service import ensure_staff

    seed_console(cli, tmp_path, workspace_id)
    offline = tmp_path / "offline.csv"
    offline.write_text(
        "order_id,paid_at,amount,phone,name,platform,status\n"
        f"S-1,{(utcnow() - timedelta(days=3)).date()} 12:00,66.00,13800138001,王芳,offline,completed\n",
        encoding="utf-8",
    )
    cli("import", "orders", offline, "--no-progress")
    cli("import", "orders", write_orders(tmp_path, bad_row=True), "--no-progress", expect=None)
    with session_scope() as s:
        wang = s.scalar(select(Customer.id).where(Customer.name == "王芳"))
        assert wang is not None
        guide = ensure_staff(s, workspace_id=workspace_id, userid="qh_kefu", name="青禾客服")
        upsert_follow(
            s,
            workspace_id=workspace_id,
            staff_id=guide.id,
            customer_id=wang,
            state="active",
            at=utcnow() - timedelta(days=1),
            live_code_state="package_card",
        )
        s.add(
            SyncRun(
                workspace_id=workspace_id,
                kind="full",
                status="failed",
                finished_at=utcnow(),
                counts={"follows_created": 3, "customers_created": 2, "tags_added": 1},
                error="WeComError: errcode 40001 invalid credential",
            )
        )
        audit.record(s, workspace_id=workspace_id, actor="cli", action="tag.create", target_type="tag",
                     target_id=1, detail={"name": "敏感肌", "group": "默认", "created": True})  # fmt: skip


@pytest.fixture
def everything(cli: CliRun, tmp_path: Path, workspace_id: int) -> int:
    seed_everything(cli, tmp_path, workspace_id)
    return workspace_id


def test_every_page_reads_in_chinese(page: Any, everything: int, session: Any) -> None:
    from sqlalchemy import select

    from siyu.models import Customer, ImportRun

    page.goto("/")
    log_in(page)
    page.wait_for_selector("#kpi-customers")
    customers = session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))).all()
    runs = session.scalars(select(ImportRun.id)).all()
    paths = [
        "/",
        "/customers",
        "/segments",
        "/tags",
        "/imports",
        "/staff",
        "/wecom",
        "/audit",
        "/rules",
        "/keywords",
        "/jobs",
        "/moments",
        "/archive",
        "/tasks",
        "/tasks/completion",
        "/sop",
        "/sends",
        "/content",
    ]
    paths += [f"/customers/{c}" for c in customers] + [f"/imports/{r}" for r in runs]
    paths += ["/customers/999999", "/customers?q=city:杭州 AND"]
    problems: list[str] = []
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("domcontentloaded")
        text = page.evaluate(READABLE_TEXT)
        for pattern in (RAW_KEY, ENGLISH_CODES):
            problems += [f"{path}: {m.group(0)!r}" for m in pattern.finditer(text)]
    assert not problems, problems


def test_bulk_tag_untag_and_export_from_the_customer_list(
    page: Any, seeded: int, session: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    from sqlalchemy import select

    from siyu.models import AuditLog, Customer, CustomerTag, Tag

    page.goto("/customers")
    log_in(page)
    page.wait_for_selector("#bulk-form")
    # Tick two rows and tag them with a new tag.
    page.locator("#customer-table tbody input[name=customer_id]").nth(0).check()
    page.locator("#customer-table tbody input[name=customer_id]").nth(1).check()
    expect(page.locator("#bulk-count")).to_have_text("2")
    page.fill("#bulk-new-tag", "双十一")
    page.click("#bulk-tag-add")
    page.wait_for_selector(".flash")
    assert "已为 2 位客户打上标签「双十一」" in page.inner_text(".flash")
    tag = session.scalar(select(Tag).where(Tag.name == "双十一"))
    assert tag is not None
    tagged = set(session.scalars(select(CustomerTag.customer_id).where(CustomerTag.tag_id == tag.id)))
    assert len(tagged) == 2

    # The whole result of a filter, not just this page: untag everyone who has it.
    page.goto("/customers?q=" + "tag:双十一")
    page.wait_for_selector("#bulk-form")
    page.check("#bulk-all")
    page.select_option("#bulk-tag", label="默认 / 双十一")
    page.once("dialog", lambda d: d.accept())
    page.click("#bulk-tag-remove")
    page.wait_for_selector(".flash")
    assert "已为 2 位客户移除标签「双十一」" in page.inner_text(".flash")
    session.expire_all()
    assert not session.scalars(select(CustomerTag.customer_id).where(CustomerTag.tag_id == tag.id)).all()

    # Export the whole list as CSV: phones masked by default, and the export is audited.
    page.goto("/customers")
    page.wait_for_selector("#bulk-form")
    page.check("#bulk-all")
    page.once("dialog", lambda d: d.accept())
    with page.expect_download() as info:
        page.click("#bulk-export")
    path = tmp_path / "export.csv"
    info.value.save_as(path)
    text = path.read_text(encoding="utf-8-sig")
    assert "王芳" in text
    assert "138****8001" in text
    assert "13800138001" not in text
    names = set(session.scalars(select(Customer.name)))
    assert len(text.strip().splitlines()) == 1 + len(names)
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "customers.export"))
    assert entry is not None
    assert entry.detail["masked"] is True
    page.screenshot(path=artifacts_dir / "console-customers-bulk.png", full_page=True)


def test_auto_tag_rule_editor_counts_live_and_applies(page: Any, seeded: int, session: Any) -> None:
    from sqlalchemy import select

    from siyu.models import AuditLog, AutoTagRule, Customer, CustomerTag, Tag

    page.goto("/rules")
    log_in(page)
    page.wait_for_selector("#rule-form")
    page.fill("#rule-name", "杭州老客")
    page.fill("#rule-q", "city:杭州 AND orders>=2")
    expect(page.locator("#rule-count")).to_have_text("共 1 位客户")  # before saving
    page.fill("#rule-q", "city:杭州 AND")
    page.wait_for_selector("#rule-error:not([hidden])")
    page.fill("#rule-q", "city:杭州 AND orders>=2")
    expect(page.locator("#rule-count")).to_have_text("共 1 位客户")
    page.fill("#rule-add", "杭州老客，复购")
    page.click("#rule-save")
    page.wait_for_selector(".flash")
    assert "已保存规则「杭州老客」并执行：符合 1 位，新打标签 2" in page.inner_text(".flash")
    wang = session.scalar(select(Customer.id).where(Customer.name == "王芳"))
    tags = set(
        session.scalars(select(Tag.name).join(CustomerTag, CustomerTag.tag_id == Tag.id).where(
            CustomerTag.customer_id == wang, CustomerTag.source == "rule"))
    )  # fmt: skip
    assert tags == {"杭州老客", "复购"}

    # Edit it: the editor loads the rule, counts it, and saving re-applies the new version.
    page.click("#rules-table >> text=编辑")
    expect(page.locator("#rule-count")).to_have_text("共 1 位客户")
    page.fill("#rule-add", "杭州老客")
    page.click("#rule-save")
    page.wait_for_selector(".flash")
    assert "移除 1" in page.inner_text(".flash")  # 复购 is no longer this rule's to add
    session.expire_all()
    rule = session.scalar(select(AutoTagRule).where(AutoTagRule.name == "杭州老客"))
    assert rule is not None
    assert rule.add_tags == ["杭州老客"]
    page.click("#rules-table button:has-text('停用')")
    page.wait_for_selector(".flash")
    session.expire_all()
    assert session.get(AutoTagRule, rule.id).enabled is False
    actions = set(session.scalars(select(AuditLog.action).where(AuditLog.target_type == "auto_tag_rule")))
    assert actions == {"auto_tag_rule.add", "auto_tag_rule.update", "auto_tag_rule.disable"}
