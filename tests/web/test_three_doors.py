"""One count for every door: the CLI, the API and the console give the same numbers,
from the audience index for a caller who sees the whole workspace, from SQL for a staff
user's share."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siyu.config import Settings
from siyu.segments.audience import compiler, index, query, scoped
from tests.conftest import CliRun
from tests.web.api_world import World, build_world, client

EXPRESSIONS = ["tag:VIP", "spent>=100", "NOT tag:VIP", "orders>=1 OR tag:新客", "in_group:面霜复购群"]


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts calls of the index's evaluation and of the SQL compiler, whoever calls them."""
    calls: Counter[str] = Counter()

    def spy(name: str, fn: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(index, "evaluate", spy("index", index.evaluate))
    sql = spy("sql", compiler.compile_expr)
    for module in (compiler, query, scoped):
        monkeypatch.setattr(module, "compile_expr", sql)
    return calls


def _console_total(api: TestClient, headers: dict[str, str], q: str) -> int:
    html = api.get("/customers", params={"q": q}, headers=headers).text
    found = re.search(r"共 <strong>([\d,]+)</strong> 位客户", html)
    assert found, html[:2000]
    return int(found.group(1).replace(",", ""))


def test_admin_counts_are_equal_and_come_from_the_index(
    api: TestClient, world: World, cli: CliRun, answered: Counter[str]
) -> None:
    admin = world.h("admin")
    for expr in EXPRESSIONS:
        from_cli = int(cli("segments", "count", expr).stdout.strip())
        answered.clear()
        got = api.get("/api/v1/segments/count", params={"q": expr}, headers=admin)
        assert got.status_code == 200, got.text
        assert got.json()["answered_by"] == "index"
        posted = api.post("/api/v1/segments/count", json={"q": expr}, headers=admin).json()
        console = api.get("/customers/count", params={"q": expr}, headers=admin)
        assert console.status_code == 200, console.text
        listed = api.get("/api/v1/customers", params={"q": expr}, headers=admin).json()["total"]
        page_total = _console_total(api, admin, expr)
        # Five answers through HTTP, not one of them compiled to SQL.
        assert answered["sql"] == 0, expr
        assert answered["index"] >= 5, expr
        assert from_cli == got.json()["count"] == posted["count"] == console.json()["count"], expr
        assert from_cli == listed == page_total, expr
    # The numbers are the right ones, not just equal.
    counts = {e: int(cli("segments", "count", e).stdout.strip()) for e in EXPRESSIONS}
    assert counts == {
        "tag:VIP": 1,
        "spent>=100": 1,
        "NOT tag:VIP": 2,
        "orders>=1 OR tag:新客": 1,
        "in_group:面霜复购群": 1,
    }


def test_staff_counts_their_share_with_sql(api: TestClient, world: World, answered: Counter[str]) -> None:
    alice, bob = world.h("alice"), world.h("bob")
    expected = {  # alice follows 张三 (VIP, the buyer); bob follows 李四
        "tag:VIP": (1, 0),
        "NOT tag:VIP": (0, 1),
        "spent>=100": (1, 0),
    }
    for expr, (for_alice, for_bob) in expected.items():
        for headers, want in ((alice, for_alice), (bob, for_bob)):
            answered.clear()
            got = api.get("/api/v1/segments/count", params={"q": expr}, headers=headers).json()
            console = api.get("/customers/count", params={"q": expr}, headers=headers).json()
            listed = api.get("/api/v1/customers", params={"q": expr}, headers=headers).json()["total"]
            assert got["answered_by"] == "sql"
            assert answered["index"] == 0, expr
            assert answered["sql"] >= 3, expr
            assert got["count"] == console["count"] == listed == want, (expr, headers)


def test_a_console_saved_segment_goes_through_the_one_save_path(api: TestClient, world: World) -> None:
    """The console and the API save the same way: same stored text, same count, same audit."""
    admin = world.h("admin")
    made = api.post("/api/v1/segments", json={"name": "买家", "q": "orders>=1"}, headers=admin)
    assert made.status_code == 201, made.text
    again = api.post("/api/v1/segments", json={"name": "买家", "q": "orders>=2"}, headers=admin)
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]["message"]
    seg = api.get(f"/api/v1/segments/{made.json()['id']}", headers=admin).json()
    assert seg["count"] == seg["last_count"] == 1
