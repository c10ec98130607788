"""Bulk actions over HTTP and the CLI: tag / untag a selection or an expression, export it."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest
from defusedxml import ElementTree
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import AuditLog, CustomerTag
from tests.conftest import CliRun
from tests.web.api_world import PHONE_LI, PHONE_ZHANG, World, assert_error, build_world, client


@pytest.fixture
def world(env: Settings) -> World:
    return build_world()


@pytest.fixture
def api(env: Settings) -> TestClient:
    return client()


def _tagged(session: Session, tag_id: int) -> set[int]:
    session.expire_all()
    return set(session.scalars(select(CustomerTag.customer_id).where(CustomerTag.tag_id == tag_id)))


def test_tag_and_untag_the_whole_expression_result(api: TestClient, world: World, session: Session) -> None:
    new = world.tags["new"]
    resp = api.post(
        "/api/v1/customers/bulk/tag",
        headers=world.h("operator"),
        json={"expression": "orders>=0 OR NOT orders>=0", "tag_ids": [new]},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # Every live customer of the workspace, none of the other workspace's.
    assert body["customers"] == 3
    assert body["changed"] == 3
    assert _tagged(session, new) == {world.customers[k] for k in ("zhang", "li", "wang")}
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "customers.bulk_tag"))
    assert entry is not None
    assert entry.detail["customers"] == 3
    assert entry.detail["expression"] == "orders>=0 OR NOT orders>=0"

    resp = api.post(
        "/api/v1/customers/bulk/untag",
        headers=world.h("operator"),
        json={"customer_ids": [world.customers["li"]], "tag_ids": [new]},
    )
    assert resp.json() == {"customers": 1, "changed": 1, "tags": ["新客"]}
    assert world.customers["li"] not in _tagged(session, new)


def test_bulk_actions_stay_inside_a_staff_users_scope(
    api: TestClient, world: World, session: Session
) -> None:
    new = world.tags["new"]
    # bob follows 李四 only: the expression reaches nobody else.
    resp = api.post(
        "/api/v1/customers/bulk/tag",
        headers=world.h("bob"),
        json={"expression": "orders>=0 OR NOT orders>=0", "tag_ids": [new]},
    )
    assert resp.json()["customers"] == 1
    assert _tagged(session, new) == {world.customers["li"]}
    # Naming a customer outside the scope is refused as if they did not exist.
    assert_error(
        api.post(
            "/api/v1/customers/bulk/tag",
            headers=world.h("bob"),
            json={"customer_ids": [world.customers["zhang"]], "tag_ids": [new]},
        ),
        404,
        field="customer_ids",
    )
    assert world.customers["zhang"] not in _tagged(session, new)
    # Another workspace's tag or customer is not there either.
    assert_error(
        api.post(
            "/api/v1/customers/bulk/tag",
            headers=world.h("owner"),
            json={"customer_ids": [world.other_customer], "tag_ids": [new]},
        ),
        404,
    )
    assert_error(
        api.post(
            "/api/v1/customers/bulk/tag",
            headers=world.h("owner"),
            json={"customer_ids": [world.customers["zhang"]], "tag_ids": [world.other_tag]},
        ),
        404,
        field="tag_ids",
    )
    # Staff may not export at all.
    assert_error(
        api.post("/api/v1/customers/bulk/export", headers=world.h("bob"), json={"expression": "orders>=0"}),
        403,
    )


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())  # Excel reads the BOM as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_export_csv_masks_phones_unless_allowed_and_is_audited(
    api: TestClient, world: World, session: Session
) -> None:
    ids = [world.customers["zhang"], world.customers["li"]]
    resp = api.post("/api/v1/customers/bulk/export", headers=world.h("operator"), json={"customer_ids": ids})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = _csv_rows(resp.content)
    assert rows[0][:3] == ["客户ID", "姓名", "手机号"]
    assert {r[1] for r in rows[1:]} == {"张三", "李四"}
    text = resp.content.decode("utf-8-sig")
    assert PHONE_ZHANG not in text
    assert PHONE_ZHANG[-4:] in text  # masked: 138****8000
    assert not re.search(r"1[3-9]\d{9}", text)
    # An operator may not ask for full phones.
    assert_error(
        api.post(
            "/api/v1/customers/bulk/export",
            headers=world.h("operator"),
            json={"customer_ids": ids, "phones": "full"},
        ),
        403,
    )
    # An admin may, and the log says so.
    resp = api.post(
        "/api/v1/customers/bulk/export",
        headers=world.h("admin"),
        json={"customer_ids": ids, "phones": "full"},
    )
    assert PHONE_ZHANG in resp.content.decode("utf-8-sig")
    assert PHONE_LI in resp.content.decode("utf-8-sig")
    entries = session.scalars(
        select(AuditLog).where(AuditLog.action == "customers.export").order_by(AuditLog.id)
    ).all()
    assert [e.detail["masked"] for e in entries] == [True, False]
    assert entries[1].actor == f"user:{world.users['admin']}"
    assert entries[1].detail["rows"] == 2


def _xlsx_cells(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        texts: list[str] = []
        if "xl/sharedStrings.xml" in names:
            texts += [
                t.text or ""
                for t in ElementTree.fromstring(z.read("xl/sharedStrings.xml")).iter()
                if t.tag.endswith("}t")
            ]
        sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
        texts += [t.text or "" for t in sheet.iter() if t.tag.endswith("}t") or t.tag.endswith("}v")]
    return texts


def test_export_xlsx_of_an_expression(api: TestClient, world: World) -> None:
    resp = api.post(
        "/api/v1/customers/bulk/export",
        headers=world.h("owner"),
        json={"expression": "tag:VIP", "format": "xlsx"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/vnd.openxmlformats")
    cells = _xlsx_cells(resp.content)
    assert "客户ID" in cells
    assert "张三" in cells
    assert "李四" not in cells
    assert PHONE_ZHANG not in "".join(cells)


def test_bulk_selection_must_be_one_or_the_other(api: TestClient, world: World) -> None:
    for body in ({"tag_ids": [world.tags["new"]]}, {"customer_ids": [1], "expression": "x", "tag_ids": [1]}):
        assert_error(api.post("/api/v1/customers/bulk/tag", headers=world.h("owner"), json=body), 422)
    assert_error(
        api.post(
            "/api/v1/customers/bulk/tag",
            headers=world.h("owner"),
            json={"expression": "spent>=", "tag_ids": [world.tags["new"]]},
        ),
        422,
    )


def test_cli_tags_and_exports_the_same_way(
    cli: CliRun, world: World, session: Session, tmp_path: Path
) -> None:
    out = cli("customers", "tag", "--tag", "新客", "--where", "tag:VIP")
    assert "tagged 1 customers" in out.stdout
    assert _tagged(session, world.tags["new"]) == {world.customers["zhang"]}
    path = tmp_path / "vip.csv"
    out = cli("customers", "export", "--where", "tag:VIP", "--out", path)
    rows = _csv_rows(path.read_bytes())
    assert [r[1] for r in rows[1:]] == ["张三"]
    assert PHONE_ZHANG not in path.read_text(encoding="utf-8-sig")
    cli("customers", "export", "--out", tmp_path / "all.xlsx", "--full-phones")
    assert PHONE_ZHANG in "".join(_xlsx_cells((tmp_path / "all.xlsx").read_bytes()))
    assert session.scalar(select(func.count()).where(AuditLog.action == "customers.export")) == 2
    bad = cli("customers", "tag", "--tag", "没有这个标签", "--where", "tag:VIP", expect=2)
    assert "no tag named" in bad.stderr
    assert not (tmp_path / "nothing.csv").exists()


def test_a_whole_result_is_tagged_batch_by_batch(
    api: TestClient, world: World, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.customers import selection

    calls: list[int] = []
    real = selection.add_tags

    def spy(*args: object, **kwargs: object) -> int:
        calls.append(len(list(kwargs["customer_ids"])))  # type: ignore[call-overload]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(selection, "BATCH", 2)
    monkeypatch.setattr(selection, "add_tags", spy)
    # The expression reads the very tag being added: each batch must still see the rest.
    resp = api.post(
        "/api/v1/customers/bulk/tag",
        headers=world.h("owner"),
        json={"expression": "NOT tag:新客", "tag_ids": [world.tags["new"]]},
    )
    assert resp.json()["customers"] == 3
    assert calls == [2, 1]  # never the whole result in one go
    assert len(_tagged(session, world.tags["new"])) == 3
