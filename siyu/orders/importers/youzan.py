"""有赞 Youzan order export: one row per order, province/city columns, guides."""

from __future__ import annotations

from typing import Any, ClassVar

from siyu.customers.schemas import IdentityInput
from siyu.orders.importers.base import Columns, Format, OrderRecord, map_status, settle_money
from siyu.orders.importers.cells import clean, normalise_city, normalise_province, parse_int, parse_phone

STATUS = {
    "待付款": "pending",
    "等待买家付款": "pending",
    "待成团": "paid",
    "待发货": "paid",
    "等待商家发货": "paid",
    "已发货": "shipped",
    "商家已发货": "shipped",
    "待收货": "shipped",
    "已完成": "completed",
    "交易完成": "completed",
    "交易成功": "completed",
    "已关闭": "closed",
    "交易关闭": "closed",
}


class YouzanOrders(Format):
    name = "youzan"
    platform = "youzan"
    aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "order_id": ("订单号",),
        "status": ("订单状态",),
        "created": ("订单创建时间",),
        "paid_at": ("买家付款时间", "付款时间"),
        "completed": ("交易成功时间",),
        "goods": ("商品金额合计",),
        "shipping": ("运费",),
        "receivable": ("应收订单金额",),
        "paid": ("订单实付金额", "实付金额"),
        "title": ("全部商品名称", "商品名称"),
        "kinds": ("商品种类数",),
        "province": ("收货人省份",),
        "city": ("收货人城市",),
        "district": ("收货人地区",),
        "receiver": ("收货人/提货人", "收货人"),
        "receiver_phone": ("收货人手机号/提货人手机号", "收货人手机号"),
        "nickname": ("买家昵称",),
        "buyer_phone": ("买家手机号",),
        "refund_status": ("订单退款状态",),
        "refund": ("订单已退款金额", "已退款金额"),
        "sales_guide": ("销售导购",),
        "own_guide": ("专属导购",),
        "distributor": ("分销员",),
        "shop": ("店铺名称", "归属店铺"),
        "note": ("买家备注", "买家留言"),
    }
    signature = ("order_id", "paid", "status")
    required = ("order_id", "status", "paid")

    def score(self, cols: Columns) -> int:
        # JD also calls its id 订单号; Youzan is the one with 订单实付金额 and no 下单帐号.
        if "下单帐号" in cols.header or "下单账号" in cols.header:
            return -1
        return super().score(cols)

    def parse_row(self, cols: Columns, row: list[str], line: int, tz: str) -> OrderRecord:
        external_id = cols.order_id(row)
        raw_status = cols.text(row, "status", 64)
        paid_at = cols.when(row, "paid_at", tz)
        status = map_status(raw_status, STATUS, paid_at)
        refund_status = cols.text(row, "refund_status", 64) or ""
        if "全额退款" in refund_status or refund_status in ("退款成功", "已退款"):
            status = "refunded"
        province = normalise_province(cols.raw(row, "province"))
        f: dict[str, Any] = {
            "raw_status": raw_status,
            "status": status,
            "ordered_at": cols.when(row, "created", tz),
            "paid_at": paid_at,
            "completed_at": cols.when(row, "completed", tz),
            "goods_fen": cols.fen(row, "goods"),
            "shipping_fen": cols.fen(row, "shipping"),
            "title": cols.text(row, "title"),
            "item_count": cols.read(row, "kinds", parse_int),
            "shop": cols.text(row, "shop", 100),
            "buyer_note": cols.text(row, "note", 2000),
            "buyer_name": cols.text(row, "receiver", 100) or cols.text(row, "nickname", 100),
            "province": province,
            "city": normalise_city(province, cols.raw(row, "city"))
            if province
            else cols.text(row, "city", 32),
            "district": cols.text(row, "district", 32),
            # The buyer's exclusive guide owns the relation; the sales guide made this sale.
            "guide": cols.text(row, "sales_guide", 64) or cols.text(row, "own_guide", 64),
        }
        paid = cols.fen(row, "paid")
        if not clean(cols.raw(row, "paid")):
            paid = cols.fen(row, "receivable")
        settle_money(f, amount_fen=paid, refund_fen=cols.fen(row, "refund"))
        phone, masked = parse_phone(cols.raw(row, "buyer_phone"))
        if phone is None:
            receiver_phone, receiver_masked = parse_phone(cols.raw(row, "receiver_phone"))
            phone, masked = receiver_phone, masked or receiver_masked
        f["phone_masked"] = masked
        # 买家昵称 is a WeChat nickname: many buyers share one, so it is never a key.
        ids = [IdentityInput("phone", phone)] if phone else []
        extra = {}
        if distributor := cols.text(row, "distributor", 64):
            extra["distributor"] = distributor
        if nickname := cols.text(row, "nickname", 100):
            extra["nickname"] = nickname
        if extra:
            f["extra"] = extra
        return OrderRecord(line, self.platform, external_id, f, identities=ids)
