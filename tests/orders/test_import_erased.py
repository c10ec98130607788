"""A customer erased on request (PIPL) does not come back from an old or a newer export."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.customers.service import merge_customers
from siyu.kit.errors import Conflict
from siyu.models import AuditLog, Customer, CustomerIdentity, ErasedIdentity, Order
from siyu.privacy.service import anonymise_customer
from tests.conftest import CliRun
from tests.orders.test_import_formats import import_json, order, stats_of

HEADER = "order_id,paid_at,amount,buyer_id,phone,platform,status,buyer_name,province,city,shop\n"


def _write(path: Path, *rows: str) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _erase(session: Session, customer_id: int | None) -> None:
    assert customer_id is not None
    workspace_id = session.scalar(select(Customer.workspace_id).where(Customer.id == customer_id))
    assert workspace_id is not None
    anonymise_customer(session, workspace_id=workspace_id, customer_id=customer_id, actor="test")
    session.commit()


def _two_buyers_one_erased(cli: CliRun, session: Session, tmp_path: Path) -> tuple[Path, int, int]:
    """王芳 and 李雷 imported from one file, then 王芳 erased; (file, 王芳's id, 李雷's id)."""
    first = _write(
        tmp_path / "2024-03.csv",
        "e-1,2024-03-01 10:00,99,wang01,13800138001,shop,completed,王芳,浙江,杭州市,官方商城",
        "e-2,2024-03-02 10:00,50,li01,13900139002,shop,completed,李雷,江苏,南京市,官方商城",
    )
    cli("import", "orders", first)
    wang = order(session, "shop", "e-1").customer_id
    li = order(session, "shop", "e-2").customer_id
    assert wang is not None
    assert li is not None
    _erase(session, wang)
    return first, wang, li


def _count(session: Session, model: type, *where: object) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_erasure_keeps_only_keyed_hashes(cli: CliRun, session: Session, tmp_path: Path) -> None:
    first = _write(
        tmp_path / "a.csv",
        "e-1,2024-03-01 10:00,99,wang01,13800138001,shop,completed,王芳,浙江,杭州市,官方商城",
    )
    cli("import", "orders", first)
    wang = order(session, "shop", "e-1").customer_id
    keys = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.platform, CustomerIdentity.value_hash).where(
            CustomerIdentity.customer_id == wang
        )
    ).all()
    assert {k for k, _, _ in keys} == {"phone", "buyer_id"}
    _erase(session, wang)
    assert _count(session, CustomerIdentity, CustomerIdentity.customer_id == wang) == 0
    erased = session.execute(
        select(ErasedIdentity.kind, ErasedIdentity.platform, ErasedIdentity.value_hash).where(
            ErasedIdentity.customer_id == wang
        )
    ).all()
    assert sorted(erased) == sorted(keys)
    # Nothing readable is left: the table has no value, ciphertext or mask column.
    columns = set(ErasedIdentity.__table__.c.keys())  # type: ignore[attr-defined]
    assert not columns & {"value", "value_enc", "value_masked"}


def test_newer_export_of_an_erased_buyer_goes_to_the_anonymised_profile(
    cli: CliRun, session: Session, tmp_path: Path
) -> None:
    first, wang, li = _two_buyers_one_erased(cli, session, tmp_path)
    customers_before = _count(session, Customer)

    # A later export: the erased person bought again (same phone, a new buyer id too),
    # once more under the old buyer id only, and a live customer bought again.
    later = _write(
        tmp_path / "2024-04.csv",
        "e-3,2024-04-01 10:00,120,wang02,138 0013 8001,shop,completed,王芳,浙江,杭州市,官方商城",
        "e-4,2024-04-02 10:00,30,wang01,,shop,completed,王芳,浙江,杭州市,官方商城",
        "e-5,2024-04-03 10:00,40,wang02,,shop,completed,王芳,浙江,杭州市,官方商城",
        "e-6,2024-04-04 10:00,60,li01,13900139002,shop,completed,李雷,江苏,南京市,官方商城",
    )
    [summary] = import_json(cli, later)
    assert summary["customers_created"] == 0
    assert summary["orders_created"] == 4
    assert summary["orders_of_erased_customers"] == 3
    session.expire_all()
    assert _count(session, Customer) == customers_before
    for ext in ("e-3", "e-4", "e-5"):
        o = order(session, "shop", ext)
        assert o.customer_id == wang, ext
        assert (o.buyer_id, o.buyer_name, o.phone_masked, o.city, o.district, o.buyer_note) == (None,) * 6
        assert o.extra == {}
        assert o.province == "浙江省"  # the coarse region stays, as on erasure
    assert order(session, "shop", "e-6").customer_id == li
    # The new buyer id was kept only as a keyed hash, and the profile stays empty.
    assert _count(session, CustomerIdentity, CustomerIdentity.customer_id == wang) == 0
    assert _count(session, ErasedIdentity, ErasedIdentity.customer_id == wang) == 3
    profile = session.get(Customer, wang)
    assert profile is not None
    assert (profile.name, profile.city, profile.opt_out) == (None, None, True)
    # The books still add up: 99 + 120 + 30 + 40 yuan on the anonymised profile.
    assert stats_of(session, wang).net_fen == 28900
    assert stats_of(session, wang).city is None

    # Re-importing either file changes nothing.
    again = import_json(cli, first, later)
    assert [(s["orders_created"], s["orders_updated"], s["customers_created"]) for s in again] == [
        (0, 0, 0)
    ] * 2


def test_erased_key_never_merges_with_a_live_profile(cli: CliRun, session: Session, tmp_path: Path) -> None:
    _, wang, li = _two_buyers_one_erased(cli, session, tmp_path)
    # One row names the erased phone and a live customer's buyer id: it goes to the
    # erased profile, and the two profiles are not merged.
    mixed = _write(
        tmp_path / "b.csv",
        "e-7,2024-05-01 10:00,10,li01,13800138001,shop,completed,李雷,江苏,南京市,官方商城",
    )
    [summary] = import_json(cli, mixed)
    assert (summary["customers_merged"], summary["orders_of_erased_customers"]) == (0, 1)
    session.expire_all()
    assert order(session, "shop", "e-7").customer_id == wang
    live = session.get(Customer, li)
    assert live is not None
    assert (live.merged_into_id, live.name) == (None, "李雷")
    assert _count(session, CustomerIdentity, CustomerIdentity.customer_id == li) == 2
    assert _count(session, AuditLog, AuditLog.action == "customer.merge") == 0
    # A merge by hand is refused too.
    workspace_id = live.workspace_id
    with pytest.raises(Conflict, match="anonymised"):
        merge_customers(session, workspace_id=workspace_id, survivor_id=li, merged_id=wang)
    session.rollback()
    assert session.scalar(select(Order.customer_id).where(Order.external_id == "e-2")) == li
