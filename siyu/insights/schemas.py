"""Shapes of the metrics summary (served as JSON by the API, read by the dashboard)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class DayCount(BaseModel):
    day: date
    count: int


class DayOrders(BaseModel):
    day: date
    orders: int
    paid_fen: int
    refunded_fen: int
    net_fen: int


class Totals(BaseModel):
    customers: int = Field(description="Live customers (merged and anonymised profiles excluded).")
    buyers: int = Field(description="Customers with at least one paid, not fully refunded order.")
    repeat_buyers: int = Field(description="Customers with two or more such orders.")
    repurchase_rate: float | None = Field(description="repeat_buyers ÷ buyers")
    opted_out: int
    friends: int = Field(description="Customers who are a current friend of at least one staff account.")
    friend_share: float | None = Field(description="friends ÷ customers: the private domain's reach.")
    friends_net_fen: int = Field(description="All-time net revenue of the customers who are friends now.")
    friends_revenue_share: float | None = Field(description="friends_net_fen ÷ net_fen")
    follows: int = Field(description="Active staff × customer friendships.")
    staff_accounts: int
    orders: int = Field(description="Paid, not fully refunded orders (all time).")
    paid_fen: int
    refunded_fen: int
    net_fen: int = Field(description="Net revenue = paid − refunds (all time).")


class WindowTotals(BaseModel):
    new_friends: int = Field(description="Friendships added in the window.")
    new_customers: int = Field(
        default=0, description="Live customers first seen in the window (in scope for a staff account)."
    )
    orders: int = Field(description="Paid, not fully refunded orders paid in the window.")
    paid_fen: int
    refunded_fen: int
    net_fen: int = Field(description="Net revenue of the orders paid in the window.")
    buyers: int = Field(default=0, description="Customers with at least one such order in the window.")
    repeat_buyers: int = Field(default=0, description="Customers with two or more such orders in the window.")
    repurchase_rate: float | None = Field(default=None, description="repeat_buyers ÷ buyers, in the window.")
    unmatched_orders: int = Field(
        default=0,
        description="Orders in the window that no customer could be matched to (workspace-wide only).",
    )
    unmatched_net_fen: int = Field(default=0, description="Their net revenue (included in net_fen).")


class MetricsSummary(BaseModel):
    timezone: str
    start: date
    end: date
    days: int
    staff_id: int | None = Field(description="Set when the figures are one staff account's customers.")
    totals: Totals
    window: WindowTotals
    layers: dict[str, dict[str, int]] = Field(description="tier, value, age, lifecycle → layer → customers")
    rfm: dict[str, int] = Field(description="R×F segment → customers")
    rfm8: dict[str, int] = Field(description="Chinese 8-class RFM → customers")
    new_friends_per_day: list[DayCount]
    orders_per_day: list[DayOrders]
