"""The demo brand in the console, end to end: `siyu demo`'s printed login opens the dashboard.

These screenshots are the ones in docs/console.md and the README: run with
SIYU_DOCS_SCREENSHOTS=1 to refresh docs/img/ as well as test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from siyu.web.console.render import ECHARTS
from tests.conftest import CliRun

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
# Read at import: the `env` fixture clears SIYU_* variables before a test runs.
UPDATE_DOCS = os.environ.get("SIYU_DOCS_SCREENSHOTS") == "1"


def _shot(page: Any, artifacts_dir: Path, name: str, *, full_page: bool = False) -> None:
    path = artifacts_dir / name
    page.screenshot(path=path, full_page=full_page)
    if UPDATE_DOCS:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / name)


def test_demo_brand_console(page: Any, cli: CliRun, tmp_path: Path, artifacts_dir: Path) -> None:
    out = cli("demo", "--no-serve", "--customers", 300, "--seed", 7, "--out", tmp_path / "demo")
    found = re.search(r"user\s+admin\s+password\s+(\S+)", out.stdout)
    assert found, out.stdout

    page.goto("/")
    _shot(page, artifacts_dir, "console-login.png")
    page.fill("input[name=name]", "admin")
    page.fill("input[name=password]", found.group(1))
    page.click("button[type=submit]")
    page.wait_for_selector("#kpi-customers")
    customers = int(page.inner_text("#kpi-customers").replace(",", ""))
    assert customers > 100
    assert page.inner_text("#kpi-net").startswith("¥")
    if ECHARTS.is_file():
        # Recompute ran in the demo, so the layer and RFM charts are drawn as well.
        for chart in ("#chart-friends", "#chart-orders", "#chart-layers", "#chart-rfm"):
            page.wait_for_selector(f"{chart} canvas")
    _shot(page, artifacts_dir, "console-dashboard-demo.png", full_page=True)

    page.goto("/customers?q=" + "layer:high_value")
    page.wait_for_selector("#customer-table tbody tr")
    _shot(page, artifacts_dir, "console-customers-demo.png")
    page.click("#customer-table tbody tr:first-child a")
    page.wait_for_selector("#customer-tags")
    # Identities are listed, and never a full mobile number.
    assert page.locator("#identities tr").count() >= 1
    assert not re.search(r"1[3-9]\d{9}", page.inner_text("body"))
    _shot(page, artifacts_dir, "console-customer-demo.png", full_page=True)

    page.goto("/segments")
    page.fill("#segment-q", "spent>=1000 AND last_order_days>90")
    page.wait_for_selector("#segment-preview a")
    _shot(page, artifacts_dir, "console-segments-demo.png")

    page.goto("/imports")
    page.wait_for_selector("#import-runs tbody tr")
    assert page.locator("#import-runs tbody tr").count() >= 4
    _shot(page, artifacts_dir, "console-imports-demo.png")
