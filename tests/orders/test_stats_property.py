"""Property: whatever the orders and batch sizes, customer stats equal a brute-force oracle."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.models import CustomerIdentity, CustomerStats, Workspace
from siyu.orders.service import import_orders

_counter = itertools.count()

order_st = st.tuples(
    st.integers(min_value=0, max_value=4),  # buyer
    st.dates(min_value=date(2023, 1, 1), max_value=date(2023, 1, 20)),
    st.integers(min_value=1, max_value=200_000),  # fen
    st.sampled_from(["paid", "completed", "refunded", "pending", "shipped"]),
    st.integers(min_value=0, max_value=100),  # refund percent
)


def _oracle(rows: list[tuple[int, date, int, str, int]]) -> dict[str, tuple[int, ...]]:
    out: dict[str, list[int]] = {}
    days: dict[str, set[date]] = {}
    for buyer, day, fen, status, pct in rows:
        key = f"b{buyer}"
        s = out.setdefault(key, [0, 0, 0, 0, 0, 0])  # orders, paid orders, effective, paid, refunded
        days.setdefault(key, set())
        s[0] += 1
        if status == "pending":
            continue
        refund = fen if status == "refunded" else fen * pct // 100
        s[1] += 1
        s[3] += fen
        s[4] += refund
        if refund < fen:
            s[2] += 1
            days[key].add(day)
    return {k: (*v[:5], v[3] - v[4], len(days[k])) for k, v in out.items()}


def _write(path: Path, rows: list[tuple[int, date, int, str, int]]) -> None:
    lines = ["order_id,paid_at,amount,buyer_id,status,refund_amount"]
    for i, (buyer, day, fen, status, pct) in enumerate(rows):
        refund = Decimal(fen * pct // 100) / 100 if status != "refunded" else ""
        paid_at = "" if status == "pending" else f"{day:%Y-%m-%d} 23:30:00"
        lines.append(f"o{i},{paid_at},{Decimal(fen) / 100},b{buyer},{status},{refund}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(order_st, min_size=1, max_size=25), first=st.integers(1, 7), second=st.integers(1, 7))
def test_stats_match_the_oracle_for_any_batching(
    env: Settings, tmp_path: Path, rows: list[tuple[int, date, int, str, int]], first: int, second: int
) -> None:
    slug = f"prop{next(_counter)}"
    path = tmp_path / f"{slug}.csv"
    _write(path, rows)
    expected = _oracle(rows)
    for batch in (first, second):  # the second import must change nothing
        [summary] = import_orders([path], workspace_slug=slug, progress=False, batch_size=batch)
        assert summary.rows_failed == 0, summary.errors
        with session_scope() as s:
            ws_id = s.scalar(select(Workspace.id).where(Workspace.slug == slug))
            got = {}
            for st_row, buyer in s.execute(
                select(CustomerStats, CustomerIdentity.value)
                .join(CustomerIdentity, CustomerIdentity.customer_id == CustomerStats.customer_id)
                .where(CustomerStats.workspace_id == ws_id)
            ):
                got[buyer] = (
                    st_row.orders_count,
                    st_row.paid_orders_count,
                    st_row.effective_orders_count,
                    st_row.paid_fen,
                    st_row.refunded_fen,
                    st_row.net_fen,
                    st_row.purchase_days,
                )
        assert got == expected
