"""The workspace's limits for imported orders, read from ``Workspace.settings["orders"]``.

``max_order_yuan`` (default 10,000,000): no amount of one order (paid, goods, refund,
cost, a line item...) may be above it; a row that has one is a bad row naming its line
and column. It keeps any realistic sum of amounts (a customer's spend, a day's or the
whole workspace's revenue) far inside the 64-bit integer columns: at the highest value
allowed, 1,000,000,000 yuan, it takes 92 million orders at that limit to reach 2^63 fen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siyu.kit.errors import Invalid

SETTINGS_KEY = "orders"
SETTING_NAME = "orders.max_order_yuan"
DEFAULT_MAX_ORDER_YUAN = 10_000_000
DEFAULT_MAX_ORDER_FEN = DEFAULT_MAX_ORDER_YUAN * 100
# The highest limit a workspace may set.
CEILING_MAX_ORDER_YUAN = 1_000_000_000


def max_order_fen(settings: Mapping[str, Any] | None) -> int:
    """The workspace's limit per order in fen (the default where the key is absent)."""
    raw = (settings or {}).get(SETTINGS_KEY) or {}
    if not isinstance(raw, Mapping):
        raise Invalid("workspace setting 'orders' must be an object", field=f"settings.{SETTINGS_KEY}")
    value = raw.get("max_order_yuan", DEFAULT_MAX_ORDER_YUAN)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= CEILING_MAX_ORDER_YUAN:
        raise Invalid(
            f"workspace setting {SETTING_NAME} must be a whole number of yuan from 1 to "
            f"{CEILING_MAX_ORDER_YUAN:,}, got {value!r}",
            field=f"settings.{SETTING_NAME}",
        )
    return value * 100
