"""Outputs of the orders domain: what one import run did."""

from __future__ import annotations

from pydantic import BaseModel


class RowErrorOut(BaseModel):
    """A row that did not go in."""

    file: str
    line: int
    field: str | None
    value: str | None
    message: str
    # physical lines of the file the row covers (a quoted cell may hold line breaks)
    lines: int = 1


class ImportSummary(BaseModel):
    """One file of ``siyu import orders``: counts and the first row errors."""

    import_id: int
    file: str
    format: str
    status: str
    rows_total: int = 0
    rows_ok: int = 0
    rows_failed: int = 0
    # Every line of the file is accounted for: lines_read = lines_imported (rows that
    # went in) + lines_skipped (the header, blank lines, lines a resumed run had
    # committed before) + lines_bad (rows reported in ``errors``).
    lines_read: int = 0
    lines_imported: int = 0
    lines_skipped: int = 0
    lines_bad: int = 0
    # rows whose order id was seen before with another buyer or amount (the first kept)
    orders_conflicting: int = 0
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    # rows older than what is stored (an earlier export imported after a newer one)
    orders_stale: int = 0
    # orders with no usable buyer identity (e.g. Douyin's encrypted phones)
    orders_without_customer: int = 0
    # new orders of customers erased on request (PIPL): on the anonymised profile,
    # without buyer name, phone, address or notes
    orders_of_erased_customers: int = 0
    # line items for orders not imported yet (Taobao detail file before the order file)
    orders_awaiting_order_file: int = 0
    items_written: int = 0
    customers_created: int = 0
    customers_merged: int = 0
    resumed_after_line: int = 0
    errors: list[RowErrorOut] = []
