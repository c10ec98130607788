"""京东 JD order export: one row per product, order amounts repeated on each row."""

from __future__ import annotations

from typing import Any, ClassVar

from siyu.orders.importers.base import (
    Columns,
    Format,
    ItemRecord,
    OrderRecord,
    RowProblem,
    buyer_identities,
    map_status,
    settle_money,
)
from siyu.orders.importers.cells import clean, parse_int, parse_phone, split_address

STATUS = {
    "等待付款": "pending",
    "等待付款确认": "pending",
    "等待出库": "paid",
    "等待发货": "paid",
    "等待确认收货": "shipped",
    "已发货": "shipped",
    "完成": "completed",
    "已完成": "completed",
    "已取消": "closed",
    "取消": "closed",
    "锁定": "paid",
}


class JdOrders(Format):
    name = "jd"
    platform = "jd"
    aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "order_id": ("订单号",),
        "product_id": ("商品ID", "商品编号"),
        "title": ("商品名称",),
        "quantity": ("订购数量", "商品数量"),
        "created": ("下单时间",),
        "price": ("京东价",),
        "order_amount": ("订单金额",),
        "settlement": ("结算金额",),
        "payable": ("应付金额",),
        "shipping": ("运费金额",),
        "status": ("订单状态",),
        "buyer": ("下单帐号", "下单账号"),
        "receiver": ("客户姓名",),
        "address": ("客户地址",),
        "phone": ("联系电话",),
        "paid_at": ("付款确认时间",),
        "completed": ("订单完成时间",),
        "refund": ("退款金额",),
        "shop": ("店铺名称",),
        "note": ("订单备注", "买家备注"),
    }
    signature = ("order_id", "buyer")
    required = ("order_id",)
    grouped = True

    def parse_row(self, cols: Columns, row: list[str], line: int, tz: str) -> OrderRecord:
        external_id = cols.order_id(row)
        raw_status = cols.text(row, "status", 64)
        paid_at = cols.when(row, "paid_at", tz)
        if not any(clean(cols.raw(row, n)) for n in ("payable", "order_amount")):
            raise RowProblem(cols.where("payable"), "", "neither 应付金额 nor 订单金额 is given")
        payable = (
            cols.fen(row, "payable") if clean(cols.raw(row, "payable")) else cols.fen(row, "order_amount")
        )
        f: dict[str, Any] = {
            "raw_status": raw_status,
            "status": map_status(raw_status, STATUS, paid_at),
            "ordered_at": cols.when(row, "created", tz),
            "paid_at": paid_at,
            "completed_at": cols.when(row, "completed", tz),
            "goods_fen": cols.fen(row, "order_amount"),
            "shipping_fen": cols.fen(row, "shipping"),
            "shop": cols.text(row, "shop", 100),
            "buyer_name": cols.text(row, "receiver", 100),
            "buyer_note": cols.text(row, "note", 2000),
        }
        settle_money(f, amount_fen=payable, refund_fen=cols.fen(row, "refund"))
        f["province"], f["city"], f["district"] = split_address(cols.raw(row, "address"))
        buyer = cols.text(row, "buyer", 128)
        f["buyer_id"] = buyer
        phone, masked = parse_phone(cols.raw(row, "phone"))
        f["phone_masked"] = masked
        ids = buyer_identities(phone, buyer, "jd")
        items = []
        title = cols.text(row, "title", 300)
        if title:
            qty = cols.read(row, "quantity", lambda v: parse_int(v, default=1))
            if qty <= 0:
                raise RowProblem(
                    cols.where("quantity"), clean(cols.raw(row, "quantity")), "quantity must be at least 1"
                )
            price = cols.fen(row, "price")
            cols.bounded("quantity", f"{clean(cols.raw(row, 'price'))} × {qty}", price * qty)
            pid = cols.text(row, "product_id", 64)
            items.append(
                ItemRecord(
                    line_key=(pid or title)[:64],
                    title=title,
                    quantity=qty,
                    unit_price_fen=price,
                    amount_fen=price * qty,
                    product_id=pid,
                    refunded_fen=price * qty if f["status"] == "refunded" else 0,
                )
            )
        return OrderRecord(line, self.platform, external_id, f, items, ids)
