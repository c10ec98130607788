"""Duplicate order ids that disagree are conflicts: the first is kept, buyers are never merged on them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import Customer, CustomerIdentity, ImportRowError, Order
from siyu.orders.service import import_orders
from tests.conftest import CliRun
from tests.orders.test_import_formats import FIX, import_json

CONFLICTS = FIX / "generic_conflicts.csv"


def customer_of(session: Session, external_id: str) -> int | None:
    return session.scalar(select(Order.customer_id).where(Order.external_id == external_id))


def live_customers(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(Customer).where(Customer.merged_into_id.is_(None)))
        or 0
    )


@pytest.mark.parametrize("batch_size", ["10000", "1"], ids=["one-batch", "batch-per-row"])
def test_a_duplicate_order_id_with_another_buyer_or_amount_is_a_conflict(
    cli: CliRun, session: Session, batch_size: str
) -> None:
    [s] = import_json(cli, CONFLICTS, "--batch-size", batch_size)
    assert (s["rows_total"], s["rows_ok"], s["rows_failed"], s["orders_conflicting"]) == (6, 4, 2, 2)
    assert s["orders_created"] == 3
    errors = {e["line"]: e for e in s["errors"]}  # type: ignore[union-attr]
    assert sorted(errors) == [5, 7]
    # d-2 again with another buyer: both lines named (in one batch), the phone masked.
    assert errors[5]["field"] in ("buyer_id", "phone")
    assert "another buyer" in errors[5]["message"]
    assert "13800138003" not in str(errors[5])
    # d-3 again with another amount.
    assert errors[7]["field"] == "amount"
    assert "300.00" in errors[7]["message"]
    if batch_size == "10000":
        assert "line 3" in errors[5]["message"]
        assert "line 6" in errors[7]["message"]
    else:
        assert "already stored" in errors[5]["message"]
    # The first row of each is kept; the agreeing duplicate of d-1 is its later state.
    d2 = session.scalar(select(Order).where(Order.external_id == "d-2"))
    assert d2 is not None
    assert (d2.buyer_id, d2.buyer_name, d2.paid_fen) == ("db2", "王芳", 5000)
    d3 = session.scalar(select(Order.paid_fen).where(Order.external_id == "d-3"))
    assert d3 == 3000
    assert session.scalar(select(Order.status).where(Order.external_id == "d-1")) == "completed"
    # Three buyers, three customers: 李娜 (db3) was never joined to 王芳.
    assert live_customers(session) == 3
    assert s["customers_merged"] == 0
    assert (
        session.scalar(
            select(func.count())
            .select_from(CustomerIdentity)
            .where(CustomerIdentity.customer_id == d2.customer_id)
        )
        == 2
    )
    stored = session.scalars(select(ImportRowError.line).order_by(ImportRowError.line)).all()
    assert stored == [5, 7]
    assert (s["lines_read"], s["lines_imported"], s["lines_bad"], s["lines_skipped"]) == (7, 4, 2, 1)


def test_a_later_file_naming_a_stored_order_with_another_buyer_is_a_conflict(
    cli: CliRun, session: Session, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text(
        "order_id,paid_at,amount,buyer_id,name,status\n"
        "x-1,2024-03-01 10:00,80.00,alice,张伟,paid\n"
        "x-2,2024-03-01 10:00,20.00,bob,王芳,paid\n",
        encoding="utf-8",
    )
    later = tmp_path / "later.csv"
    later.write_text(
        "order_id,paid_at,amount,buyer_id,name,status\n"
        "x-1,2024-03-01 10:00,80.00,alice,张伟,completed\n"
        "x-2,2024-03-01 10:00,20.00,carol,李娜,completed\n"
        "x-3,2024-03-02 10:00,15.00,carol,李娜,paid\n",
        encoding="utf-8",
    )
    import_json(cli, first)
    [s] = import_json(cli, later)
    assert (s["rows_ok"], s["rows_failed"], s["orders_conflicting"]) == (2, 1, 1)
    [err] = s["errors"]  # type: ignore[misc]
    assert err["line"] == 3
    assert "already stored with another buyer (bob, here carol)" in err["message"]
    # The stored order is untouched; alice's later state went in; carol is her own customer.
    x2 = session.scalar(select(Order).where(Order.external_id == "x-2"))
    assert x2 is not None
    assert (x2.buyer_id, x2.status) == ("bob", "paid")
    assert session.scalar(select(Order.status).where(Order.external_id == "x-1")) == "completed"
    assert customer_of(session, "x-3") not in (None, x2.customer_id)
    assert live_customers(session) == 3
    # Re-importing either file changes nothing and reports the same conflict again.
    [again] = import_json(cli, later)
    assert (again["orders_created"], again["orders_updated"], again["orders_conflicting"]) == (0, 0, 1)
    [same] = import_json(cli, first)
    assert (same["orders_updated"], same["orders_conflicting"]) == (0, 0)
    assert same["orders_stale"] == 1  # x-1 is stored as completed: the older export is left alone


def test_conflicts_are_the_same_when_a_second_process_parses(env: Settings, session: Session) -> None:
    inline = import_orders([CONFLICTS], workspace_slug="inline", progress=False, parallel=False)
    two = import_orders([CONFLICTS], workspace_slug="two", progress=False, parallel=True)
    assert [(e.line, e.field, e.message) for e in two[0].errors] == [
        (e.line, e.field, e.message) for e in inline[0].errors
    ]
    assert two[0].orders_conflicting == inline[0].orders_conflicting == 2


def test_douyin_sub_orders_of_one_order_are_not_conflicts(cli: CliRun, session: Session) -> None:
    # Rows of one order (one per sub-order) with different amounts are its line items.
    [s] = import_json(cli, FIX / "douyin_orders.csv")
    assert s["orders_conflicting"] == 0
    assert s["rows_failed"] == 0
