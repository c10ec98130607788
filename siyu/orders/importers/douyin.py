"""抖店 Douyin: one row per line item (子订单编号), grouped into orders by 主订单编号."""

from __future__ import annotations

from typing import Any, ClassVar

from siyu.customers.schemas import IdentityInput
from siyu.orders.importers.base import Columns, Format, ItemRecord, OrderRecord, RowProblem, map_status
from siyu.orders.importers.cells import (
    clean,
    normalise_city,
    normalise_province,
    parse_int,
    parse_phone,
    split_address,
)

STATUS = {
    "待支付": "pending",
    "待付款": "pending",
    "备货中": "paid",
    "待发货": "paid",
    "已支付": "paid",
    "已发货": "shipped",
    "部分发货": "shipped",
    "已完成": "completed",
    "已关闭": "closed",
    "已取消": "closed",
}
_REFUNDED_AFTER_SALE = ("退款成功", "售后完成", "退货退款成功", "已退款", "退款完成")


class DouyinOrders(Format):
    name = "douyin"
    platform = "douyin"
    aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "order_id": ("主订单编号",),
        "sub_id": ("子订单编号",),
        "title": ("选购商品", "商品名称"),
        "spec": ("商品规格",),
        "quantity": ("商品数量",),
        "sku": ("商家编码",),
        "product_id": ("商品ID",),
        "amount": ("订单应付金额", "应付金额"),
        "shipping": ("运费",),
        "receiver": ("收件人",),
        "phone": ("收件人手机号",),
        "province": ("省",),
        "city": ("市",),
        "district": ("区",),
        "address": ("详细地址", "收件地址"),
        "created": ("订单提交时间",),
        "paid_at": ("支付完成时间",),
        "completed": ("订单完成时间",),
        "status": ("订单状态",),
        "after_sale": ("售后状态",),
        "platform_discount": ("平台实际承担优惠金额",),
        "merchant_discount": ("商家实际承担优惠金额",),
        "kol_discount": ("达人实际承担优惠金额",),
        "shop": ("店铺名称",),
        "note": ("买家留言",),
    }
    signature = ("order_id", "sub_id")
    required = ("order_id", "sub_id", "amount")
    grouped = True

    def parse_row(self, cols: Columns, row: list[str], line: int, tz: str) -> OrderRecord:
        external_id = cols.order_id(row)
        sub_id = cols.required(row, "sub_id")
        raw_status = cols.text(row, "status", 64)
        paid_at = cols.when(row, "paid_at", tz)
        status = map_status(raw_status, STATUS, paid_at)
        after_sale = cols.text(row, "after_sale", 64) or ""
        amount = cols.fen(row, "amount")
        qty = cols.read(row, "quantity", lambda v: parse_int(v, default=1))
        if qty <= 0:
            raise RowProblem(
                cols.where("quantity"), clean(cols.raw(row, "quantity")), "quantity must be at least 1"
            )
        refunded = amount if any(w in after_sale for w in _REFUNDED_AFTER_SALE) else 0
        if status == "closed" and paid_at is not None:
            refunded = amount  # a paid sub-order only closes after its money went back
        item = ItemRecord(
            line_key=sub_id[:64],
            title=(cols.text(row, "title", 300) or "")[:300],
            quantity=qty,
            unit_price_fen=amount // qty,
            amount_fen=amount,
            refunded_fen=refunded,
            sku=cols.text(row, "sku", 64),
            product_id=cols.text(row, "product_id", 64),
            spec=cols.text(row, "spec", 200),
            status="refunded" if refunded else status,
        )
        province, city, district = split_address(cols.raw(row, "address"))
        if cols.has("province") and clean(cols.raw(row, "province")):
            province = normalise_province(cols.raw(row, "province"))
            city = normalise_city(province, cols.raw(row, "city"))
            district = cols.text(row, "district", 32)
        f: dict[str, Any] = {
            "raw_status": raw_status,
            "status": status,
            "ordered_at": cols.when(row, "created", tz),
            "paid_at": paid_at,
            "completed_at": cols.when(row, "completed", tz),
            "shipping_fen": cols.fen(row, "shipping"),
            "shop": cols.text(row, "shop", 100),
            "buyer_name": cols.text(row, "receiver", 100),
            "buyer_note": cols.text(row, "note", 2000),
            "province": province,
            "city": city,
            "district": district,
        }
        phone, masked = parse_phone(cols.raw(row, "phone"))
        f["phone_masked"] = masked
        ids = [IdentityInput("phone", phone)] if phone else []
        # Discounts are per sub-order; the engine adds them up over the order's items.
        item_discounts = {
            "discount_fen": cols.fen(row, "merchant_discount"),
            "platform_discount_fen": cols.fen(row, "platform_discount") + cols.fen(row, "kol_discount"),
        }
        f["_item_discounts"] = {item.line_key: item_discounts}
        return OrderRecord(line, self.platform, external_id, f, [item], ids, money_from_items=True)
