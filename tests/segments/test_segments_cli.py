"""``siyu segments count|preview|save|list|show|delete`` as an operator uses them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.tags import add_tags, ensure_tag
from siyu.kit.pii import get_vault, mask_phone
from siyu.kit.timeutil import utcnow
from siyu.models import AuditLog, Customer, CustomerIdentity, CustomerStats, Segment
from tests.conftest import CliRun


def customer(
    session: Session,
    ws: int,
    name: str,
    *,
    phone: str | None = None,
    city: str | None = None,
    net_yuan: int = 0,
    orders: int = 0,
    tags: tuple[str, ...] = (),
) -> int:
    """A customer with a phone identity, spend aggregates and tags (committed)."""
    c = Customer(workspace_id=ws, name=name, city=city)
    session.add(c)
    session.flush()
    if phone:
        vault = get_vault()
        session.add(
            CustomerIdentity(
                workspace_id=ws, customer_id=c.id, kind="phone", source="manual",
                value_hash=vault.identity_hash("phone", phone), value_enc=vault.encrypt(phone),
                value_masked=mask_phone(phone),
            )
        )  # fmt: skip
    if net_yuan or orders:
        now = utcnow()
        session.add(
            CustomerStats(
                customer_id=c.id, workspace_id=ws, net_fen=net_yuan * 100, paid_fen=net_yuan * 100,
                effective_orders_count=orders, paid_orders_count=orders, first_paid_at=now, last_paid_at=now,
                categories={}, products={}, platforms={}, shops={},
            )
        )  # fmt: skip
    for t in tags:
        tag = ensure_tag(session, workspace_id=ws, name=t)
        add_tags(session, workspace_id=ws, customer_ids=[c.id], tag_ids=[tag.id], source="manual")
    session.commit()
    return c.id


def shop(session: Session, ws: int) -> dict[str, int]:
    return {
        "王芳": customer(session, ws, "王芳", phone="+8613812345678", city="深圳", net_yuan=5200, orders=4,
                       tags=("VIP", "面霜用户")),
        "李娜": customer(session, ws, "李娜", phone="+8613987654321", city="上海", net_yuan=3100, orders=2,
                       tags=("VIP",)),
        "张伟": customer(session, ws, "张伟", city="深圳", net_yuan=80, orders=1, tags=("面霜用户",)),
        "赵敏": customer(session, ws, "赵敏"),
    }  # fmt: skip


def test_count_prints_the_number(cli: CliRun, session: Session, workspace_id: int) -> None:
    shop(session, workspace_id)
    assert cli("segments", "count", "tag:VIP").stdout.strip() == "2"
    assert cli("segments", "count", "tag:VIP AND spent>=5000").stdout.strip() == "1"
    assert cli("segments", "count", "city:深圳市 OR NOT tag:VIP").stdout.strip() == "3"
    assert cli("segments", "count", "标签:面霜用户 且 非 tag:VIP").stdout.strip() == "1"
    data = json.loads(cli("segments", "count", "spent>=3000", "--json").stdout)
    assert data["count"] == 2
    assert data["expression"] == {"term": "spent", "op": ">=", "value": 3000}


def test_syntax_error_exits_2_with_a_caret(cli: CliRun, session: Session, workspace_id: int) -> None:
    result = cli("segments", "count", "tag:VIP AND ", expect=2)
    assert "第 13 列: expected a term after AND" in result.stderr
    assert "  tag:VIP AND \n" in result.stderr
    assert result.stderr.rstrip().endswith("^")
    result = cli("segments", "count", "tag:VIP tag:面霜用户", expect=2)
    assert "never joined implicitly" in result.stderr


def test_unknown_tag_warns_with_a_suggestion(cli: CliRun, session: Session, workspace_id: int) -> None:
    shop(session, workspace_id)
    result = cli("segments", "count", "tag:VIPP")
    assert result.stdout.strip() == "0"
    assert "no tag named 'VIPP'" in result.stderr
    assert "did you mean 'VIP'" in result.stderr


def test_preview_shows_masked_phones_never_plain(cli: CliRun, session: Session, workspace_id: int) -> None:
    ids = shop(session, workspace_id)
    out = cli("segments", "preview", "tag:VIP", "--limit", "20").stdout
    assert "2 customers match" in out
    assert "138****5678" in out
    assert "13812345678" not in out
    assert "王芳" in out
    assert "李娜" in out
    assert "张伟" not in out
    assert "¥5,200.00" in out
    data = json.loads(cli("segments", "preview", "tag:VIP", "--limit", "1", "--json").stdout)
    assert data["count"] == 2
    assert len(data["rows"]) == 1
    row = data["rows"][0]
    assert row["id"] == ids["李娜"]  # newest first
    assert row["phone_masked"] == "139****4321"
    assert row["tags"] == ["VIP"]
    assert (row["net_fen"], row["orders"], row["city"]) == (310000, 2, "上海")


def test_save_list_show_delete(cli: CliRun, session: Session, workspace_id: int) -> None:
    shop(session, workspace_id)
    out = cli(
        "segments", "save", "高价值会员", "tag:VIP AND spent>=3000", "--description", "双十一召回"
    ).stdout
    assert "2 customers" in out
    seg = session.scalar(select(Segment).where(Segment.name == "高价值会员"))
    assert seg is not None
    assert seg.expression == "tag:VIP AND spent>=3000"
    assert seg.expression_json == {
        "and": [{"term": "tag", "value": "VIP"}, {"term": "spent", "op": ">=", "value": 3000}]
    }
    assert (seg.last_count, seg.description) == (2, "双十一召回")

    # Same name again: refused unless --replace; a bad expression saves nothing.
    assert "already exists" in cli("segments", "save", "高价值会员", "tag:VIP", expect=2).stderr
    cli("segments", "save", "坏的", "tag:VIP AND (", expect=2)
    cli("segments", "save", "高价值会员", "tag:VIP", "--replace")
    session.expire_all()
    assert session.scalar(select(Segment.expression).where(Segment.name == "高价值会员")) == "tag:VIP"
    assert session.scalar(select(Segment).where(Segment.name == "坏的")) is None

    listed: list[dict[str, Any]] = json.loads(cli("segments", "list", "--json").stdout)
    assert [s["name"] for s in listed] == ["高价值会员"]
    assert "高价值会员" in cli("segments", "list").stdout

    # show recounts: a new VIP appears in the count.
    customer(session, workspace_id, "新会员", tags=("VIP",))
    shown = json.loads(cli("segments", "show", "高价值会员", "--json").stdout)
    assert shown["last_count"] == 3

    cli("segments", "delete", "高价值会员")
    assert "no segment named" in cli("segments", "show", "高价值会员", expect=2).stderr
    session.expire_all()
    actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions.count("segment.save") == 2
    assert "segment.delete" in actions


def test_merged_and_anonymised_customers_never_count(
    cli: CliRun, session: Session, workspace_id: int
) -> None:
    ids = shop(session, workspace_id)
    session.get(Customer, ids["李娜"]).merged_into_id = ids["王芳"]  # type: ignore[union-attr]
    session.get(Customer, ids["张伟"]).anonymised_at = utcnow()  # type: ignore[union-attr]
    session.commit()
    assert cli("segments", "count", "tag:VIP OR tag:面霜用户").stdout.strip() == "1"


def test_workspaces_are_kept_apart(cli: CliRun, session: Session, workspace_id: int) -> None:
    shop(session, workspace_id)
    assert cli("segments", "count", "tag:VIP", "-w", "other-brand").stdout.strip() == "0"


def test_segments_build_on_saved_segments(cli: CliRun, session: Session, workspace_id: int) -> None:
    shop(session, workspace_id)
    cli("segments", "save", "会员", "tag:VIP")
    assert cli("segments", "count", "segment:会员 AND city:深圳").stdout.strip() == "1"
    assert cli("segments", "count", "人群包:会员 OR NOT segment:会员").stdout.strip() == "4"
    # Live, not a snapshot: changing 会员 changes everything built on it.
    cli("segments", "save", "深圳会员", "segment:会员 AND city:深圳")
    cli("segments", "save", "会员", "tag:面霜用户", "--replace")
    assert json.loads(cli("segments", "show", "深圳会员", "--json").stdout)["last_count"] == 2
    # A segment may not lead back to itself, directly or through another one.
    assert (
        "refers to itself"
        in cli("segments", "save", "会员", "segment:深圳会员", "--replace", expect=2).stderr
    )
    assert "refers to itself" in cli("segments", "save", "环", "segment:环 OR tag:VIP", expect=2).stderr
    session.expire_all()
    assert session.scalar(select(Segment.expression).where(Segment.name == "会员")) == "tag:面霜用户"
    result = cli("segments", "count", "segment:会元")
    assert result.stdout.strip() == "0"
    assert "no saved segment named '会元'" in result.stderr
    # Deleting a segment others build on is refused unless forced.
    cli("segments", "rules", "add", "会员标", "segment:会员", "--add", "会员用户")
    err = cli("segments", "delete", "会员", expect=2).stderr
    assert "segment '深圳会员'" in err
    assert "rule '会员标'" in err
    cli("segments", "delete", "会员", "--force")
    assert "会员" not in [s["name"] for s in json.loads(cli("segments", "list", "--json").stdout)]


def test_out_of_range_numbers_exit_2_naming_the_term_and_range(
    cli: CliRun, session: Session, workspace_id: int
) -> None:
    shop(session, workspace_id)
    result = cli("segments", "count", "orders>99999999999999999999", expect=2)
    assert "第 8 列: orders must be from 0 to 1,000,000,000, got 99999999999999999999" in result.stderr
    result = cli("segments", "save", "大客户", "tag:VIP AND spent>=1e30", expect=2)
    assert "spent must be from 0 to 10,000,000,000 yuan" in result.stderr
    assert session.scalar(select(Segment).where(Segment.name == "大客户")) is None


def test_a_stored_segment_that_no_longer_reads_says_so(
    cli: CliRun, session: Session, workspace_id: int
) -> None:
    shop(session, workspace_id)
    session.add(
        Segment(
            workspace_id=workspace_id,
            name="旧的",
            expression="orders>99999999999999999999",
            expression_json={},
        )
    )
    session.commit()
    assert [s["name"] for s in json.loads(cli("segments", "list", "--json").stdout)] == ["旧的"]
    result = cli("segments", "show", "旧的", expect=2)
    assert "saved segment '旧的' cannot be read: orders must be from 0 to 1,000,000,000" in result.stderr
    result = cli("segments", "count", "segment:旧的 OR tag:VIP", expect=2)
    assert "saved segment '旧的' cannot be read" in result.stderr
    cli("segments", "save", "旧的", "orders>=4", "--replace")
    assert "1 customers" in cli("segments", "show", "旧的").stdout


def test_terms_lists_every_term_with_its_range(cli: CliRun) -> None:
    rows = json.loads(cli("segments", "terms", "--json").stdout)
    by_term = {r["term"]: r for r in rows}
    assert by_term["orders"]["range"] == "0 to 1,000,000,000"
    assert by_term["orders"]["whole_numbers"] is True
    assert by_term["spent"]["range"] == "0 to 10,000,000,000 yuan"
    assert by_term["channel"]["form"] == "channel:STATE"  # declared by siyu.acquisition
    assert "渠道" in by_term["channel"]["aliases"]
    assert by_term["tag"]["range"] is None
