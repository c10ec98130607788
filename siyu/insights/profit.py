"""Profit, not GMV: the SKU price list, gross profit per order and the monthly P&L.

Gross profit of an order = net revenue (paid − refunds) − cost of goods − platform fee
(a rate per platform on net revenue) − brand-borne discounts when they are not already
out of the paid amount (``discount_in_paid``). Cost of goods per line: the price list's
unit cost valid on the business day of payment × quantity, else the line's imported
cost, else the order's; lines refunded in part carry their cost in proportion.

The P&L of a month attributes each order to the staff account that *owned* the customer
when it was paid: the account whose still-active friendship is the oldest at that time
(orders of customers who were no one's friend then are "not in the private domain").
Channels inherit the owning friendship's live code (a store channel's per-store states
count for the channel); groups get the orders of customers who were members when they
paid (a customer in two groups counts in both).

A channel's cost (``channels.cost_fen``) is what it costs for its whole life, charged
once: spread over its adds, a month carries the share of the cost that its adds through
the channel are of all the channel's adds (the channel funnel's rule), so the months add
up to the cost and a month without adds carries none.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Date, Select, and_, case, delete, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from siyu.acquisition.channels import split_state
from siyu.insights import pnl_cache
from siyu.insights.aggregates import knobs_for
from siyu.insights.knobs import InsightKnobs
from siyu.insights.metrics import period_of
from siyu.kit.errors import Invalid
from siyu.kit.money import MoneyError, yuan_to_fen
from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import (
    Channel,
    Follow,
    Group,
    GroupMember,
    Order,
    OrderItem,
    Reward,
    SkuCost,
    Staff,
    Workspace,
)

_NOT_EFFECTIVE = ("pending", "closed")
_CHUNK = 500
PRICE_LIST_COLUMNS = ("sku", "cost", "valid_from", "valid_to")


# --- the price list ------------------------------------------------------------------------


@dataclass
class RowError:
    line: int
    field: str
    value: str
    message: str


@dataclass
class PriceListResult:
    rows: int = 0
    written: int = 0
    errors: list[RowError] = field(default_factory=list)


def _overlaps(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (a_to is None or b_from <= a_to) and (b_to is None or a_from <= b_to)


def import_price_list(
    session: Session, *, workspace_id: int, text: str, replace: bool = False, check_skus: bool = True
) -> PriceListResult:
    """Check every row of a price-list CSV; write all rows only when none is wrong.

    Columns: ``sku``, ``cost`` (yuan per unit), ``valid_from`` (YYYY-MM-DD), ``valid_to``
    (inclusive, empty = open-ended). ``replace`` drops the listed SKUs' earlier ranges.
    Refused per row: missing or unknown SKU (never seen on an order line), negative or
    non-numeric cost, bad dates, ``valid_to`` before ``valid_from``, and ranges that
    overlap another row of the file or a stored range of the same SKU.
    """
    result = PriceListResult()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("sku", "cost", "valid_from") if c not in header]
    if missing:
        raise Invalid(
            "price list needs the columns sku, cost, valid_from (valid_to optional); "
            f"missing: {', '.join(missing)}",
            field=missing[0],
        )
    parsed: list[tuple[int, str, int, date, date | None]] = []
    for n, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        result.rows += 1
        sku = row.get("sku", "")
        errs_before = len(result.errors)
        if not sku:
            result.errors.append(RowError(n, "sku", "", "SKU is empty"))
        elif len(sku) > 64:
            result.errors.append(RowError(n, "sku", sku[:64], "SKU is longer than 64 characters"))
        cost_fen = 0
        try:
            cost_fen = yuan_to_fen(row.get("cost", ""), allow_negative=True)
            if cost_fen < 0:
                result.errors.append(RowError(n, "cost", row.get("cost", ""), "cost is negative"))
        except MoneyError as exc:
            result.errors.append(
                RowError(n, "cost", row.get("cost", ""), f"cost is not an amount in yuan ({exc})")
            )
        valid_from: date | None = None
        valid_to: date | None = None
        try:
            valid_from = date.fromisoformat(row.get("valid_from", ""))
        except ValueError:
            result.errors.append(
                RowError(n, "valid_from", row.get("valid_from", ""), "not a date YYYY-MM-DD")
            )
        if row.get("valid_to"):
            try:
                valid_to = date.fromisoformat(row["valid_to"])
            except ValueError:
                result.errors.append(RowError(n, "valid_to", row["valid_to"], "not a date YYYY-MM-DD"))
        if valid_from and valid_to and valid_to < valid_from:
            result.errors.append(RowError(n, "valid_to", row["valid_to"], "valid_to is before valid_from"))
        if len(result.errors) == errs_before and valid_from is not None:
            parsed.append((n, sku, cost_fen, valid_from, valid_to))
    skus = sorted({p[1] for p in parsed})
    known: set[str] = set()
    stored: dict[str, list[tuple[date, date | None]]] = defaultdict(list)
    for chunk in (skus[i : i + _CHUNK] for i in range(0, len(skus), _CHUNK)):
        known.update(
            session.scalars(
                select(OrderItem.sku)
                .where(OrderItem.workspace_id == workspace_id, OrderItem.sku.in_(chunk))
                .distinct()
            )
        )
        if not replace:
            for sku, f, t in session.execute(
                select(SkuCost.sku, SkuCost.valid_from, SkuCost.valid_to).where(
                    SkuCost.workspace_id == workspace_id, SkuCost.sku.in_(chunk)
                )
            ):
                stored[sku].append((f, t))
    seen: dict[str, list[tuple[int, date, date | None]]] = defaultdict(list)
    for n, sku, _cost, f, t in parsed:
        if check_skus and sku not in known:
            result.errors.append(RowError(n, "sku", sku, "unknown SKU: no order line has it"))
            continue
        clash = next((line for line, sf, st in seen[sku] if _overlaps(f, t, sf, st)), None)
        if clash is not None:
            result.errors.append(
                RowError(n, "valid_from", f.isoformat(), f"validity overlaps line {clash} for SKU {sku}")
            )
        elif any(_overlaps(f, t, sf, st) for sf, st in stored[sku]):
            result.errors.append(
                RowError(
                    n,
                    "valid_from",
                    f.isoformat(),
                    f"validity overlaps a stored cost of SKU {sku} (use --replace)",
                )
            )
        seen[sku].append((n, f, t))
    result.errors.sort(key=lambda e: e.line)
    if result.errors:
        return result
    if replace:
        for chunk in (skus[i : i + _CHUNK] for i in range(0, len(skus), _CHUNK)):
            session.execute(
                delete(SkuCost).where(SkuCost.workspace_id == workspace_id, SkuCost.sku.in_(chunk))
            )
    session.add_all(
        SkuCost(workspace_id=workspace_id, sku=sku, cost_fen=cost, valid_from=f, valid_to=t)
        for _n, sku, cost, f, t in parsed
    )
    session.flush()
    result.written = len(parsed)
    return result


def import_price_list_file(
    session: Session, *, workspace_id: int, path: Path, replace: bool = False
) -> PriceListResult:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"cannot read price list {path}: {exc}", field="path") from exc
    return import_price_list(session, workspace_id=workspace_id, text=text, replace=replace)


# --- gross profit per order ------------------------------------------------------------------


@dataclass
class OrderProfit:
    order_id: int
    customer_id: int | None
    platform: str
    paid_at: datetime
    paid_fen: int
    net_fen: int
    cogs_fen: int
    fee_fen: int
    discount_fen: int
    cost_known: bool

    @property
    def gross_fen(self) -> int:
        return self.net_fen - self.cogs_fen - self.fee_fen - self.discount_fen


def _cost_table(session: Session, workspace_id: int) -> dict[str, list[tuple[date, date | None, int]]]:
    table: dict[str, list[tuple[date, date | None, int]]] = defaultdict(list)
    for sku, f, t, cost in session.execute(
        select(SkuCost.sku, SkuCost.valid_from, SkuCost.valid_to, SkuCost.cost_fen)
        .where(SkuCost.workspace_id == workspace_id)
        .order_by(SkuCost.id)
    ):
        table[sku].append((f, t, int(cost)))
    return table


def _unit_cost(
    table: dict[str, list[tuple[date, date | None, int]]], sku: str | None, day: date
) -> int | None:
    if sku is None:
        return None
    for f, t, cost in table.get(sku, ()):
        if f <= day and (t is None or day <= t):
            return cost
    return None


def _cogs(
    table: dict[str, list[tuple[date, date | None, int]]],
    day: date,
    items: Sequence[Any],
    order_cost: int | None,
    paid: int,
    net: int,
) -> tuple[int, bool]:
    """(cost of goods, whether every line's cost is known) of one order paid on ``day``;
    ``items``: its lines as (order id, sku, quantity, amount, refunded, line cost)."""
    cogs = 0
    known = True
    if items:
        for _o, sku, qty, amount, item_refunded, line_cost in items:
            kept = 1.0 if amount <= 0 else max(0.0, 1 - int(item_refunded) / int(amount))
            unit = _unit_cost(table, sku, day)
            if unit is not None:
                cogs += round(unit * int(qty) * kept)
            elif line_cost is not None:
                cogs += round(int(line_cost) * kept)
            else:
                known = False
    elif order_cost is not None:
        cogs = round(int(order_cost) * (net / paid if paid else 0))
    else:
        known = False
    return cogs, known


def order_profits(
    session: Session,
    workspace_id: int,
    since: datetime,
    until: datetime,
    *,
    knobs: InsightKnobs | None = None,
    customer_ids: Sequence[int] | None = None,
    customers_in: Select[Any] | None = None,
) -> list[OrderProfit]:
    """Gross profit of every effective order paid in [since, until), optionally of some
    customers: ``customer_ids`` (read in chunks), or ``customers_in``, a SELECT of customer
    ids that the database evaluates (one statement for the orders and one for their lines,
    however many customers it names)."""
    knobs = knobs or knobs_for(session, workspace_id)
    tz = knobs.hours.tz
    table = _cost_table(session, workspace_id)
    conds = [
        Order.workspace_id == workspace_id,
        Order.paid_at >= since,
        Order.paid_at < until,
        Order.status.not_in(_NOT_EFFECTIVE),
    ]
    if customers_in is not None:
        conds.append(Order.customer_id.in_(customers_in))
    batches: Iterable[Sequence[int] | None] = (
        [None]
        if customer_ids is None
        else [customer_ids[i : i + _CHUNK] for i in range(0, len(customer_ids), _CHUNK)]
    )
    orders: dict[int, Any] = {}
    for ids in batches:
        stmt = select(
            Order.id, Order.customer_id, Order.platform, Order.paid_at, Order.paid_fen, Order.refunded_fen,
            Order.discount_fen, Order.cost_fen,
        ).where(*conds)  # fmt: skip
        if ids is not None:
            stmt = stmt.where(Order.customer_id.in_(ids))
        for row in session.execute(stmt):
            orders[row[0]] = row
    lines: dict[int, list[Any]] = defaultdict(list)
    if orders:
        item_stmt = (
            select(
                OrderItem.order_id,
                OrderItem.sku,
                OrderItem.quantity,
                OrderItem.amount_fen,
                OrderItem.refunded_fen,
                OrderItem.cost_fen,
            )
            .join(Order, Order.id == OrderItem.order_id)
            .where(*conds)
        )
        if customer_ids is not None:
            ids_list = list(orders)
            for chunk in (ids_list[i : i + _CHUNK] for i in range(0, len(ids_list), _CHUNK)):
                for irow in session.execute(
                    select(
                        OrderItem.order_id,
                        OrderItem.sku,
                        OrderItem.quantity,
                        OrderItem.amount_fen,
                        OrderItem.refunded_fen,
                        OrderItem.cost_fen,
                    ).where(OrderItem.order_id.in_(chunk))
                ):
                    lines[irow[0]].append(irow)
        else:
            for irow in session.execute(item_stmt):
                lines[irow[0]].append(irow)
    out = []
    for oid, (_id, customer_id, platform, paid_at, paid, refunded, discount, order_cost) in orders.items():
        net = max(0, int(paid) - int(refunded))
        day = local_day(paid_at, tz)
        cogs, known = _cogs(table, day, lines.get(oid, []), order_cost, int(paid), net)
        fee = round(net * knobs.platform_fee_rates.get(platform, 0.0))
        disc = 0 if knobs.discount_in_paid or net == 0 else int(discount)
        out.append(OrderProfit(oid, customer_id, platform, paid_at, int(paid), net, cogs, fee, disc, known))
    return out


# --- the P&L -----------------------------------------------------------------------------------


@dataclass
class Line:
    orders: int = 0
    buyers: set[int] = field(default_factory=set)
    gmv_fen: int = 0
    net_fen: int = 0
    cogs_fen: int = 0
    fee_fen: int = 0
    discount_fen: int = 0
    gross_fen: int = 0
    rewards_fen: int = 0
    cost_unknown: int = 0

    def take(self, p: OrderProfit) -> None:
        self.add(p.customer_id, p.paid_fen, p.net_fen, p.cogs_fen, p.fee_fen, p.discount_fen, p.cost_known)

    def add(
        self, customer_id: int | None, paid: int, net: int, cogs: int, fee: int, disc: int, known: bool
    ) -> None:
        self.orders += 1
        if customer_id is not None:
            self.buyers.add(customer_id)
        self.gmv_fen += paid
        self.net_fen += net
        self.cogs_fen += cogs
        self.fee_fen += fee
        self.discount_fen += disc
        self.gross_fen += net - cogs - fee - disc
        self.cost_unknown += 0 if known else 1

    def remove(self, paid: int, net: int, cogs: int, fee: int, disc: int, known: bool) -> None:
        """Take an order's sums back out (its customer leaves ``buyers`` by the caller)."""
        self.orders -= 1
        self.gmv_fen -= paid
        self.net_fen -= net
        self.cogs_fen -= cogs
        self.fee_fen -= fee
        self.discount_fen -= disc
        self.gross_fen -= net - cogs - fee - disc
        self.cost_unknown -= 0 if known else 1

    def merge(self, other: Line) -> None:
        self.orders += other.orders
        self.buyers |= other.buyers
        self.gmv_fen += other.gmv_fen
        self.net_fen += other.net_fen
        self.cogs_fen += other.cogs_fen
        self.fee_fen += other.fee_fen
        self.discount_fen += other.discount_fen
        self.gross_fen += other.gross_fen
        self.rewards_fen += other.rewards_fen
        self.cost_unknown += other.cost_unknown

    def reward(self, amount_fen: int) -> None:
        self.rewards_fen += amount_fen

    def out(self) -> dict[str, Any]:
        gross = self.gross_fen - self.rewards_fen
        return {
            "orders": self.orders,
            "buyers": len(self.buyers),
            "gmv_fen": self.gmv_fen,
            "net_fen": self.net_fen,
            "cogs_fen": self.cogs_fen,
            "platform_fee_fen": self.fee_fen,
            "brand_discount_fen": self.discount_fen,
            "rewards_fen": self.rewards_fen,
            "gross_profit_fen": gross,
            "margin": round(gross / self.net_fen, 4) if self.net_fen else None,
            "orders_cost_unknown": self.cost_unknown,
        }


@dataclass(frozen=True)
class _Friendship:
    staff_id: int
    added_at: datetime
    deleted_at: datetime | None
    state: str | None


def _friendships(
    session: Session, workspace_id: int, customer_ids: list[int]
) -> dict[int, list[_Friendship]]:
    out: dict[int, list[_Friendship]] = defaultdict(list)
    for chunk in (customer_ids[i : i + _CHUNK] for i in range(0, len(customer_ids), _CHUNK)):
        for cid, sid, added, deleted, state in session.execute(
            select(
                Follow.customer_id,
                Follow.staff_id,
                Follow.added_at,
                Follow.deleted_at,
                Follow.live_code_state,
            )
            # By customer only (the ids imply the workspace), so the planner takes the
            # customer index rather than (workspace_id, added_at).
            .where(Follow.customer_id.in_(chunk))
            .order_by(Follow.added_at, Follow.id)
        ):
            if added is not None:
                out[cid].append(_Friendship(sid, added, deleted, state))
    return out


def owner_at(friendships: list[_Friendship], at: datetime) -> _Friendship | None:
    """The stated ownership rule: the oldest friendship still active at ``at``."""
    for f in friendships:
        if f.added_at <= at and (f.deleted_at is None or f.deleted_at > at):
            return f
    return None


def _memberships(
    session: Session, workspace_id: int, customer_ids: list[int]
) -> dict[int, list[tuple[int, Any, Any]]]:
    out: dict[int, list[tuple[int, Any, Any]]] = defaultdict(list)
    for chunk in (customer_ids[i : i + _CHUNK] for i in range(0, len(customer_ids), _CHUNK)):
        for cid, gid, joined, quit_ in session.execute(
            select(
                GroupMember.customer_id, GroupMember.group_id, GroupMember.join_time, GroupMember.quit_time
            ).where(GroupMember.workspace_id == workspace_id, GroupMember.customer_id.in_(chunk))
        ):
            if cid is not None:
                out[cid].append((gid, joined, quit_))
    return out


def _base(state: str | None) -> str | None:
    """The channel's state of an add's state (a store's ``<state>~<store id>`` → ``<state>``)."""
    return None if state is None else split_state(state)[0]


def _day_of(paid_at: Any, start: date, end: date, tz: str) -> Any:
    """SQL: the business day (workspace zone) of ``paid_at``, an instant in [start, end]:
    a CASE over the days' UTC starts, so it is exact on every database and in every zone."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    whens = [(paid_at < day_start_utc(d + timedelta(days=1), tz), literal(d, Date)) for d in days[:-1]]
    return case(*whens, else_=literal(days[-1], Date)) if whens else literal(days[-1], Date)


def _workspace_cond(workspace_id: int, who: Any) -> Any:
    """``orders.workspace_id = ?``; with a condition on the customer (some customers, or
    none) written ``workspace_id + 0`` so that SQLite reads the customers' orders through
    ``ix_orders_customer_id_paid_at`` instead of the whole month through
    ``ix_orders_workspace_id_paid_at``."""
    if who is None:
        return Order.workspace_id == workspace_id
    return (Order.workspace_id + 0) == workspace_id


def _order_rows(
    session: Session,
    workspace_id: int,
    start: date,
    end: date,
    knobs: InsightKnobs,
    who: Any = None,
) -> list[Any]:
    """One row per effective order paid in the month, computed by the database:
    (id, customer, platform, paid, refunded, discount, owner staff, owner's live-code
    state, lines, cost of goods of the whole-unit lines, lines of unknown cost, lines
    refunded in part, the order's own cost).

    The owner is the ownership rule (:func:`owner_at`) as a correlated sub-query; a
    line's unit cost is the price list's row valid on the business day of payment. Lines
    refunded in part (whose cost is a rounded fraction) are left to Python (``partial``).
    """
    tz = knobs.hours.tz
    since, until = day_start_utc(start, tz), day_start_utc(end + timedelta(days=1), tz)
    f = aliased(Follow)
    owner = (
        select(f.id)
        .where(
            f.customer_id == Order.customer_id,
            f.added_at.is_not(None),
            f.added_at <= Order.paid_at,
            or_(f.deleted_at.is_(None), f.deleted_at > Order.paid_at),
        )
        .order_by(f.added_at, f.id)
        .limit(1)
        .correlate(Order)
        .scalar_subquery()
    )
    orders = (
        select(
            Order.id.label("oid"),
            Order.customer_id.label("cid"),
            Order.platform.label("platform"),
            Order.paid_at.label("paid_at"),
            Order.paid_fen.label("paid"),
            Order.refunded_fen.label("refunded"),
            Order.discount_fen.label("discount"),
            Order.cost_fen.label("order_cost"),
            owner.label("fid"),
        )
        .where(
            _workspace_cond(workspace_id, who),
            Order.paid_at >= since,
            Order.paid_at < until,
            Order.status.not_in(_NOT_EFFECTIVE),
            *([] if who is None else [who]),
        )
        .subquery("o")
    )
    day = _day_of(orders.c.paid_at, start, end, tz)
    unit = (
        select(SkuCost.cost_fen)
        .where(
            SkuCost.workspace_id == workspace_id,
            SkuCost.sku == OrderItem.sku,
            SkuCost.valid_from <= day,
            or_(SkuCost.valid_to.is_(None), SkuCost.valid_to >= day),
        )
        .order_by(SkuCost.id)
        .limit(1)
        .correlate(OrderItem, orders)
        .scalar_subquery()
    )
    # kept whole: no refund, or no amount to refund from; refunded in full: nothing kept
    whole = or_(OrderItem.amount_fen <= 0, OrderItem.refunded_fen == 0)
    gone = and_(OrderItem.amount_fen > 0, OrderItem.refunded_fen >= OrderItem.amount_fen)
    line_cogs = case(
        (whole, func.coalesce(unit * OrderItem.quantity, OrderItem.cost_fen, 0)),
        else_=0,
    )
    unknown = case(
        (and_(OrderItem.id.is_not(None), unit.is_(None), OrderItem.cost_fen.is_(None)), 1), else_=0
    )
    partial = case((and_(OrderItem.id.is_not(None), ~whole, ~gone), 1), else_=0)
    stmt = (
        select(
            orders.c.oid,
            orders.c.cid,
            orders.c.platform,
            orders.c.paid,
            orders.c.refunded,
            orders.c.discount,
            f.staff_id,
            f.live_code_state,
            func.count(OrderItem.id),
            func.sum(line_cogs),
            func.sum(unknown),
            func.sum(partial),
            orders.c.order_cost,
        )
        .select_from(orders)
        .outerjoin(f, f.id == orders.c.fid)
        .outerjoin(OrderItem, OrderItem.order_id == orders.c.oid)
        .group_by(
            orders.c.oid,
            orders.c.cid,
            orders.c.platform,
            orders.c.paid,
            orders.c.refunded,
            orders.c.discount,
            f.staff_id,
            f.live_code_state,
            orders.c.order_cost,
        )
    )
    return list(session.execute(stmt))


def _python_cogs(
    session: Session, workspace_id: int, order_ids: list[int], tz: str
) -> dict[int, tuple[int, bool]]:
    """Cost of goods of these orders the way :func:`order_profits` computes it (for the
    orders with a line refunded in part, whose cost is a rounded fraction)."""
    if not order_ids:
        return {}
    table = _cost_table(session, workspace_id)
    out: dict[int, tuple[int, bool]] = {}
    for chunk in (order_ids[i : i + _CHUNK] for i in range(0, len(order_ids), _CHUNK)):
        heads = {
            r[0]: r
            for r in session.execute(
                select(Order.id, Order.paid_at, Order.paid_fen, Order.refunded_fen, Order.cost_fen).where(
                    Order.id.in_(chunk)
                )
            )
        }
        lines: dict[int, list[Any]] = defaultdict(list)
        for irow in session.execute(
            select(
                OrderItem.order_id,
                OrderItem.sku,
                OrderItem.quantity,
                OrderItem.amount_fen,
                OrderItem.refunded_fen,
                OrderItem.cost_fen,
            ).where(OrderItem.order_id.in_(chunk))
        ):
            lines[irow[0]].append(irow)
        for oid, (_id, paid_at, paid, refunded, order_cost) in heads.items():
            net = max(0, int(paid) - int(refunded))
            assert paid_at is not None  # orders paid in a period
            out[oid] = _cogs(table, local_day(paid_at, tz), lines.get(oid, []), order_cost, int(paid), net)
    return out


def _order_groups(
    session: Session, workspace_id: int, since: datetime, until: datetime, who: Any = None
) -> list[tuple[int, int]]:
    """(order, group) for each effective order of [since, until) and each group its
    customer was a member of when it was paid."""
    gm = GroupMember
    return [
        (int(o), int(g))
        for o, g in session.execute(
            select(Order.id, gm.group_id)
            .join(
                gm,
                and_(
                    gm.customer_id == Order.customer_id,
                    gm.workspace_id == workspace_id,
                    gm.join_time.is_not(None),
                    gm.join_time <= Order.paid_at,
                    or_(gm.quit_time.is_(None), gm.quit_time > Order.paid_at),
                ),
            )
            .where(
                _workspace_cond(workspace_id, who),
                Order.paid_at >= since,
                Order.paid_at < until,
                Order.status.not_in(_NOT_EFFECTIVE),
                *([] if who is None else [who]),
            )
        )
    ]


# An order's part in the P&L: (customer, owner staff account, owner's channel state,
# paid, net, cost of goods, platform fee, brand discount, cost known).
Fact = tuple[int | None, int | None, str | None, int, int, int, int, int, bool]


def _facts(
    session: Session,
    workspace_id: int,
    start: date,
    end: date,
    knobs: InsightKnobs,
    *,
    groups: bool = True,
    who: Any = None,
) -> tuple[dict[int, Fact], dict[int, list[int]]]:
    """Each effective order of the month (``who``: a condition on ``Order``, e.g. some
    customers) as a :data:`Fact`, and (``groups``) the groups its customer was in when it
    was paid."""
    tz = knobs.hours.tz
    rows = _order_rows(session, workspace_id, start, end, knobs, who)
    fallback = _python_cogs(session, workspace_id, [int(r[0]) for r in rows if r[11]], tz)
    rates = knobs.platform_fee_rates
    in_paid = knobs.discount_in_paid
    bases: dict[str | None, str | None] = {}
    facts: dict[int, Fact] = {}
    for oid, cid, platform, paid, refunded, discount, sid, state, n_lines, cogs, unknown, partial, oc in rows:
        paid = int(paid)
        net = max(0, paid - int(refunded))
        if partial:
            cogs, known = fallback[oid]
        elif n_lines:
            cogs, known = int(cogs or 0), not unknown
        elif oc is not None:
            cogs, known = round(int(oc) * (net / paid if paid else 0)), True
        else:
            cogs, known = 0, False
        if state not in bases:
            bases[state] = _base(state)
        fee = round(net * rates.get(platform, 0.0))
        disc = 0 if in_paid or net == 0 else int(discount)
        facts[oid] = (cid, sid, bases[state], paid, net, cogs, fee, disc, known)
    member_of: dict[int, list[int]] = defaultdict(list)
    if groups and facts:
        since, until = day_start_utc(start, tz), day_start_utc(end + timedelta(days=1), tz)
        for oid, gid in _order_groups(session, workspace_id, since, until, who):
            member_of[oid].append(gid)
    return facts, dict(member_of)


def _lines(facts: Iterable[tuple[int, Fact]], member_of: dict[int, list[int]]) -> dict[str, Any]:
    """Orders' facts summed: total, private domain, outside, per account, state, group.

    Each fact is added once, to the cell of its (account, state), and to its groups; the
    total, private, outside, account and state lines are the cells merged (a few hundred
    cells against tens of thousands of orders). Lines appear in the order of their first
    order, as when each fact was added to each of its lines.
    """
    cells: dict[tuple[int | None, str | None], Line] = defaultdict(Line)
    by_group: dict[int, Line] = defaultdict(Line)
    for oid, (cid, sid, base, paid, net, cogs, fee, disc, known) in facts:
        cells[(sid, base)].add(cid, paid, net, cogs, fee, disc, known)
        groups = member_of.get(oid)
        if groups:
            for gid in groups:
                by_group[gid].add(cid, paid, net, cogs, fee, disc, known)
    total, private, outside = Line(), Line(), Line()
    by_staff: dict[int, Line] = defaultdict(Line)
    by_state: dict[str | None, Line] = defaultdict(Line)
    for (sid, base), cell in cells.items():
        total.merge(cell)
        if sid is None:
            outside.merge(cell)
        else:
            private.merge(cell)
            by_staff[sid].merge(cell)
            by_state[base].merge(cell)
    return {
        "total": total, "private": private, "outside": outside,
        "staff": by_staff, "states": by_state, "groups": by_group,
    }  # fmt: skip


def _month_lines(
    session: Session,
    workspace_id: int,
    start: date,
    end: date,
    knobs: InsightKnobs,
    *,
    groups: bool = True,
) -> dict[str, Any]:
    """The month's lines: total, private domain, outside, per account, channel state and
    (``groups``) group, computed now. Orders are read through :func:`_order_rows` (the
    database finds each order's owner and costs its whole-unit lines), rewards as
    :func:`_add_rewards`. :mod:`siyu.insights.pnl_cache` keeps the orders' part."""
    tz = knobs.hours.tz
    since, until = day_start_utc(start, tz), day_start_utc(end + timedelta(days=1), tz)
    facts, member_of = _facts(session, workspace_id, start, end, knobs, groups=groups)
    out = _lines(facts.items(), member_of)
    _add_rewards(session, workspace_id, since, until, out)
    return {"since": since, "until": until, **out}


def _add_rewards(
    session: Session,
    workspace_id: int,
    since: datetime,
    until: datetime,
    lines: dict[str, Any],
) -> None:
    """Rewards paid in [since, until) onto the lines (of :func:`_lines`): the stated staff
    account and channel win over the ownership rule; groups take their members' rewards."""
    total, private, outside = lines["total"], lines["private"], lines["outside"]
    by_staff, by_state, by_group = lines["staff"], lines["states"], lines["groups"]
    rewards = session.execute(
        select(
            Reward.customer_id, Reward.amount_fen, Reward.paid_at, Reward.staff_id, Reward.channel_id
        ).where(Reward.workspace_id == workspace_id, Reward.paid_at >= since, Reward.paid_at < until)
    ).all()
    if not rewards:
        return
    customers = sorted({int(r[0]) for r in rewards})
    friends = _friendships(session, workspace_id, customers)
    members = _memberships(session, workspace_id, customers)
    states = (
        dict(
            session.execute(
                select(Channel.id, Channel.state).where(Channel.workspace_id == workspace_id)
            ).all()
        )
        if any(r[4] is not None for r in rewards)
        else {}
    )
    for cid, amount, at, r_staff, r_channel in rewards:
        owner = owner_at(friends.get(cid, []), at)
        total.reward(int(amount))
        staff_of = r_staff if r_staff is not None else (owner.staff_id if owner else None)
        (outside if staff_of is None else private).reward(int(amount))
        if staff_of is not None:
            by_staff[staff_of].reward(int(amount))
        state = states.get(r_channel) if r_channel is not None else (_base(owner.state) if owner else None)
        if state is not None:
            by_state[state].reward(int(amount))
        for gid, joined, quit_ in members.get(cid, []):
            if joined is not None and joined <= at and (quit_ is None or quit_ > at):
                by_group[gid].reward(int(amount))


def _follow_counts(
    session: Session, workspace_id: int, since: datetime, until: datetime
) -> list[tuple[int, str | None, int, int, int]]:
    """Per (staff account, live-code state): friends at ``until`` (added before it and not
    deleted by then), adds in [since, until), adds ever.

    From indexes alone: every add (one pass over ``ix_follows_workspace_id_staff_id_counts``),
    less the adds from ``until`` on and the deletions before ``until`` (range reads of
    ``ix_follows_workspace_id_added_at_covering`` and the partial ``..._deleted_at``,
    which hold few rows for a recent month). The range reads group by ``staff_id + 0``
    so that SQLite's planner takes the range index rather than the one already in group
    order.
    """
    ws = Follow.workspace_id == workspace_id

    def count(*conds: Any, ranged: bool = True) -> dict[tuple[int, str | None], int]:
        keys: list[Any] = (
            [Follow.staff_id + 0, Follow.live_code_state.concat("")]
            if ranged
            else [Follow.staff_id, Follow.live_code_state]
        )
        rows = session.execute(select(*keys, func.count()).where(ws, *conds).group_by(*keys))
        return {(int(r[0]), r[1]): int(r[2]) for r in rows}

    ever = count(Follow.added_at.is_not(None), ranged=False)
    later = count(Follow.added_at >= until)
    gone = count(Follow.deleted_at.is_not(None), Follow.deleted_at < until, Follow.added_at < until)
    month = count(Follow.added_at >= since, Follow.added_at < until)
    return [(k[0], k[1], n - later.get(k, 0) - gone.get(k, 0), month.get(k, 0), n) for k, n in ever.items()]


def latest_month(session: Session, workspace_id: int, now: datetime | None = None) -> date | None:
    """The P&L's month when none is asked for (first day, workspace zone): the latest
    *complete* month with a paid order or a reward up to now; the current, partial month
    only when no earlier month has any; ``None`` for a workspace with neither."""
    now = now or utcnow()
    ws = session.get(Workspace, workspace_id)
    tz = ws.timezone if ws is not None else "Asia/Shanghai"
    this_month = local_day(now, tz).replace(day=1)

    def last_before(until: datetime) -> datetime | None:
        last_order = session.scalar(
            select(func.max(Order.paid_at)).where(
                Order.workspace_id == workspace_id,
                Order.paid_at < until,
                Order.status.not_in(_NOT_EFFECTIVE),
            )
        )
        last_reward = session.scalar(
            select(func.max(Reward.paid_at)).where(
                Reward.workspace_id == workspace_id, Reward.paid_at < until
            )
        )
        return max((t for t in (last_order, last_reward) if t is not None), default=None)

    last = last_before(day_start_utc(this_month, tz))
    if last is None:
        last = last_before(now + timedelta(microseconds=1))
    return None if last is None else local_day(last, tz).replace(day=1)


def month_elapsed(start: date, end: date, today: date) -> tuple[int, int]:
    """(days of the month [start, end] gone by ``today``, included; days in the month)."""
    days = (end - start).days + 1
    return max(0, min(days, (today - start).days + 1)), days


def _flag(cur: dict[str, Any], prev: dict[str, Any]) -> bool:
    """GMV up while margin down against the previous month."""
    return bool(
        prev["gmv_fen"] > 0
        and cur["gmv_fen"] > prev["gmv_fen"]
        and cur["margin"] is not None
        and prev["margin"] is not None
        and cur["margin"] < prev["margin"]
    )


def pnl(
    session: Session, *, workspace_id: int, on: date | None = None, staff_id: int | None = None
) -> dict[str, Any]:
    """The P&L of the calendar month holding ``on``: total, per account, channel and group.

    Without ``on``: the latest complete month with a paid order or a reward
    (:func:`latest_month`), else the current month. A month still running is ``partial``:
    its figures run to ``as_of`` and each account's monthly cost is charged for the days
    gone by (``days_elapsed`` of ``days_in_month``). ``staff_id`` keeps one account (a
    staff user's view): its line, its channels and groups, and its share of each
    channel's cost (by its adds).
    """
    knobs = knobs_for(session, workspace_id)
    ws = session.get(Workspace, workspace_id)
    tz = ws.timezone if ws is not None else "Asia/Shanghai"
    today = local_day(utcnow(), tz)
    start, end = period_of("month", on or latest_month(session, workspace_id) or today)
    # A month still running (or not begun) carries the account costs of its days gone by,
    # not a whole month's against a few days' revenue.
    elapsed, days = month_elapsed(start, end, today)
    p_start, p_end = period_of("month", start - timedelta(days=1))
    (cur, prev), counts = pnl_cache.month_lines(
        session, workspace_id, knobs, [(start, end), (p_start, p_end)]
    )
    friends_staff: dict[int, int] = defaultdict(int)
    friends_state: dict[str, int] = defaultdict(int)
    adds: dict[str, int] = defaultdict(int)
    lifetime: dict[str, int] = defaultdict(int)  # every add through the channel, every account
    for sid, raw_state, n_alive, n_month, n_all in counts:
        friends_staff[sid] += n_alive
        if raw_state is None:
            continue
        base = str(_base(raw_state))
        friends_state[base] += n_alive
        lifetime[base] += n_all
        if staff_id is None or sid == staff_id:
            adds[base] += n_month
    staff = {s.id: s for s in session.scalars(select(Staff).where(Staff.workspace_id == workspace_id))}
    accounts = []
    for sid in sorted(set(cur["staff"]) | {s.id for s in staff.values() if s.status == "active"}):
        if staff_id is not None and sid != staff_id:
            continue
        s = staff.get(sid)
        line = cur["staff"].get(sid, Line()).out()
        before = prev["staff"].get(sid, Line()).out()
        cost = round(knobs.account_cost_fen.get(s.userid, 0) * elapsed / days) if s is not None else 0
        n_friends = friends_staff.get(sid, 0)
        contribution = line["gross_profit_fen"] - cost
        accounts.append(
            {
                "staff_id": sid,
                "userid": s.userid if s else "",
                "name": s.name if s else "",
                "team": s.department if s else None,
            }
            | line
            | {
                "account_cost_fen": cost,
                "contribution_fen": contribution,
                "friends": n_friends,
                "profit_per_friend_fen": round(contribution / n_friends) if n_friends else None,
                "previous": {"gmv_fen": before["gmv_fen"], "margin": before["margin"]},
                "gmv_up_margin_down": _flag(line, before),
            }
        )
    accounts.sort(key=lambda a: -a["contribution_fen"])
    channels = []
    for ch in session.scalars(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.deleted_at.is_(None))
    ):
        line = cur["states"].get(ch.state, Line()).out() if staff_id is None else Line().out()
        before = prev["states"].get(ch.state, Line()).out() if staff_id is None else Line().out()
        n_adds = adds.get(ch.state, 0)
        all_adds = lifetime.get(ch.state, 0)
        # The whole-life cost spread over all the channel's adds: this month's (or this
        # account's) share of them carries its share of the cost.
        cost = round((ch.cost_fen or 0) * n_adds / all_adds) if all_adds else 0
        if staff_id is not None and n_adds == 0:
            continue
        contribution = line["gross_profit_fen"] - cost
        n_friends = friends_state.get(ch.state, 0)
        channels.append(
            {
                "channel_id": ch.id,
                "name": ch.name,
                "state": ch.state,
                "adds": n_adds,
                "adds_all_time": all_adds,
                "cost_total_fen": ch.cost_fen,
                "cost_per_add_fen": round(ch.cost_fen / all_adds) if ch.cost_fen and all_adds else None,
            }
            | line
            | {
                "channel_cost_fen": cost,
                "contribution_fen": contribution,
                "friends": n_friends,
                "profit_per_friend_fen": round(contribution / n_friends) if n_friends else None,
                "previous": {"gmv_fen": before["gmv_fen"], "margin": before["margin"]},
                "gmv_up_margin_down": _flag(line, before),
            }
        )
    channels.sort(key=lambda c: -c["contribution_fen"])
    groups = []
    group_rows = {g.id: g for g in session.scalars(select(Group).where(Group.workspace_id == workspace_id))}
    for gid, gl in cur["groups"].items():
        g = group_rows.get(gid)
        if g is None or (staff_id is not None and g.owner_staff_id != staff_id):
            continue
        groups.append({"group_id": gid, "name": g.name, "owner_staff_id": g.owner_staff_id} | gl.out())
    groups.sort(key=lambda g: -g["gross_profit_fen"])
    total = cur["total"].out() if staff_id is None else cur["staff"].get(staff_id, Line()).out()
    prev_total = prev["total"].out() if staff_id is None else prev["staff"].get(staff_id, Line()).out()
    account_costs = sum(a["account_cost_fen"] for a in accounts)
    return {
        "month": start.strftime("%Y-%m"),
        "start": start,
        "end": end,
        "timezone": tz,
        "partial": elapsed < days,
        "as_of": min(today, end) if elapsed < days else end,
        "days_elapsed": elapsed,
        "days_in_month": days,
        "staff_id": staff_id,
        "rule": "订单归属：付款时仍是好友的最早添加的员工账号；付款时不是任何账号好友的订单算私域外。",
        "platform_fee_rates": dict(knobs.platform_fee_rates),
        "discount_in_paid": knobs.discount_in_paid,
        "total": total
        | {
            "account_costs_fen": account_costs,
            "channel_costs_fen": sum(c["channel_cost_fen"] for c in channels),
            "previous": {"gmv_fen": prev_total["gmv_fen"], "margin": prev_total["margin"]},
            "gmv_up_margin_down": _flag(total, prev_total),
        },
        "private_domain": cur["private"].out() if staff_id is None else None,
        "outside": cur["outside"].out() if staff_id is None else None,
        "accounts": accounts,
        "channels": channels,
        "groups": groups,
        "flags": [a["name"] or a["userid"] for a in accounts if a["gmv_up_margin_down"]]
        + [c["name"] for c in channels if c["gmv_up_margin_down"]],
    }
