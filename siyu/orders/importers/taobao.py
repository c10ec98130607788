"""Taobao / Tmall (千牛 已卖出的宝贝): ExportOrderList (orders) and ExportOrderDetailList (items)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
from siyu.orders.importers.cells import (
    CellError,
    clean,
    clean_fast,
    parse_datetime,
    parse_fen,
    parse_int,
    parse_phone,
    split_address,
)

STATUS = {
    "交易成功": "completed",
    "卖家已发货，等待买家确认": "shipped",
    "卖家已发货,等待买家确认": "shipped",
    "买家已付款，等待卖家发货": "paid",
    "买家已付款,等待卖家发货": "paid",
    "部分发货": "shipped",
    "等待买家付款": "pending",
    "交易关闭": "closed",
    "付款以后用户退款成功，交易自动关闭": "refunded",
}


class TaobaoOrders(Format):
    name = "taobao"
    platform = "taobao"
    aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "order_id": ("订单编号", "订单号"),
        "buyer": ("买家会员名", "买家昵称"),
        "goods": ("买家应付货款",),
        "shipping": ("买家应付邮费",),
        "total": ("总金额",),
        "paid": ("买家实际支付金额", "实付金额"),
        "status": ("订单状态",),
        "note": ("买家留言",),
        "receiver": ("收货人姓名",),
        "address": ("收货地址",),
        "mobile": ("联系手机",),
        "tel": ("联系电话",),
        "created": ("订单创建时间",),
        "paid_at": ("订单付款时间",),
        "title": ("宝贝标题",),
        "quantity": ("宝贝总数量",),
        "shop": ("店铺名称",),
        "refund": ("退款金额",),
        "completed": ("确认收货时间",),
        "close_reason": ("订单关闭原因",),
    }
    signature = ("order_id", "buyer", "status", "paid")
    required = ("order_id", "status", "paid")

    def parse_row(self, cols: Columns, row: list[str], line: int, tz: str) -> OrderRecord:
        external_id = cols.order_id(row)
        raw_status = cols.text(row, "status", 64)
        paid_at = cols.when(row, "paid_at", tz)
        f: dict[str, Any] = {
            "raw_status": raw_status,
            "status": map_status(raw_status, STATUS, paid_at),
            "ordered_at": cols.when(row, "created", tz),
            "paid_at": paid_at,
            "completed_at": cols.when(row, "completed", tz),
            "goods_fen": cols.fen(row, "goods"),
            "shipping_fen": cols.fen(row, "shipping"),
            "title": cols.text(row, "title"),
            "item_count": cols.read(row, "quantity", parse_int),
            "shop": cols.text(row, "shop", 100),
            "buyer_note": cols.text(row, "note", 2000),
            "buyer_name": cols.text(row, "receiver", 100),
        }
        paid = cols.fen(row, "paid") if clean(cols.raw(row, "paid")) else cols.fen(row, "total")
        settle_money(f, amount_fen=paid, refund_fen=cols.fen(row, "refund"))
        buyer = cols.text(row, "buyer", 128)
        f["buyer_id"] = buyer
        f["province"], f["city"], f["district"] = split_address(cols.raw(row, "address"))
        phone, masked = parse_phone(cols.raw(row, "mobile"))
        if phone is None and masked is None:
            phone, masked = parse_phone(cols.raw(row, "tel"))
        f["phone_masked"] = masked
        ids = buyer_identities(phone, buyer, "taobao")
        return OrderRecord(line, self.platform, external_id, f, identities=ids)

    def row_parser(self, cols: Columns, tz: str) -> Callable[[list[str], int], OrderRecord]:
        """:meth:`parse_row` with columns resolved once: the hot loop of a Taobao import.

        Only good rows take this path: on any problem the row is parsed again by
        :meth:`parse_row`, which names the column and value exactly as it always has.
        """
        width = len(cols.header)
        # Absent columns read the "" appended to every row (index -1).
        at = {name: cols.index.get(name, -1) for name in self.aliases}
        i_id, i_status, i_paid_at, i_created = at["order_id"], at["status"], at["paid_at"], at["created"]
        i_completed, i_goods, i_shipping, i_title = at["completed"], at["goods"], at["shipping"], at["title"]
        i_qty, i_shop, i_note, i_receiver = at["quantity"], at["shop"], at["note"], at["receiver"]
        i_paid, i_total, i_refund, i_buyer = at["paid"], at["total"], at["refund"], at["buyer"]
        i_address, i_mobile, i_tel = at["address"], at["mobile"], at["tel"]
        platform = self.platform
        slow = self.parse_row
        max_fen = cols.max_fen

        def parse(row: list[str], line: int) -> OrderRecord:
            cells = row + [""] * (width - len(row)) if len(row) < width else row[:]
            cells.append("")
            try:
                external_id = clean_fast(cells[i_id])
                if not external_id or len(external_id) > 64:
                    raise RowProblem(None, None, "order id")
                raw_status = clean_fast(cells[i_status])[:64] or None
                paid_at = parse_datetime(cells[i_paid_at], tz)
                f: dict[str, Any] = {
                    "raw_status": raw_status,
                    "status": map_status(raw_status, STATUS, paid_at),
                    "ordered_at": parse_datetime(cells[i_created], tz),
                    "paid_at": paid_at,
                    "completed_at": parse_datetime(cells[i_completed], tz),
                    "goods_fen": parse_fen(cells[i_goods]),
                    "shipping_fen": parse_fen(cells[i_shipping]),
                    "title": clean_fast(cells[i_title])[:500] or None,
                    "item_count": parse_int(cells[i_qty]),
                    "shop": clean_fast(cells[i_shop])[:100] or None,
                    "buyer_note": clean_fast(cells[i_note])[:2000] or None,
                    "buyer_name": clean_fast(cells[i_receiver])[:100] or None,
                }
                paid_cell = cells[i_paid]
                paid = parse_fen(paid_cell) if clean_fast(paid_cell) else parse_fen(cells[i_total])
                refund = parse_fen(cells[i_refund])
                if max(paid, refund, f["goods_fen"], f["shipping_fen"]) > max_fen:
                    raise RowProblem(None, None, "above the limit per order")
                settle_money(f, amount_fen=paid, refund_fen=refund)
            except (CellError, RowProblem):
                return slow(cols, row, line, tz)
            buyer = clean_fast(cells[i_buyer])[:128] or None
            f["buyer_id"] = buyer
            f["province"], f["city"], f["district"] = split_address(cells[i_address])
            phone, masked = parse_phone(cells[i_mobile])
            if phone is None and masked is None:
                phone, masked = parse_phone(cells[i_tel])
            f["phone_masked"] = masked
            ids = buyer_identities(phone, buyer, "taobao")
            return OrderRecord(line, platform, external_id, f, identities=ids)

        return parse


class TaobaoItems(Format):
    """The detail file: one row per line item, matched to orders by 订单编号."""

    name = "taobao-items"
    platform = "taobao"
    aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "order_id": ("订单编号", "订单号"),
        "title": ("标题", "宝贝标题"),
        "price": ("价格", "单价"),
        "quantity": ("购买数量", "数量"),
        "external": ("外部系统编号",),
        "attrs": ("商品属性",),
        "package": ("套餐信息",),
        "note": ("备注",),
        "status": ("订单状态",),
        "sku": ("商家编码",),
    }
    signature = ("order_id", "title", "price", "quantity")
    required = ("order_id", "title", "price", "quantity")
    grouped = True

    def score(self, cols: Columns) -> int:
        # The main file also has 订单编号 and 宝贝标题; it never has 价格 + 购买数量 alone.
        if cols.header and any(h in ("买家会员名", "买家实际支付金额") for h in cols.header):
            return -1
        return super().score(cols)

    def parse_row(self, cols: Columns, row: list[str], line: int, tz: str) -> OrderRecord:
        external_id = cols.order_id(row)
        title = cols.required(row, "title")
        price = cols.fen(row, "price")
        qty = cols.read(row, "quantity", parse_int)
        if qty <= 0:
            raise RowProblem(
                cols.where("quantity"), clean(cols.raw(row, "quantity")), "quantity must be at least 1"
            )
        attrs = cols.text(row, "attrs", 200)
        sku = cols.text(row, "sku", 64) or cols.text(row, "external", 64)
        raw_status = cols.text(row, "status", 64)
        status = map_status(raw_status, STATUS, None) if raw_status else None
        amount = cols.bounded("quantity", f"{clean(cols.raw(row, 'price'))} × {qty}", price * qty)
        # No sub-order id in this file: the key is what the line is, so a re-export
        # finds the same line again (occurrences of identical lines are numbered later).
        key = hashlib.sha1(f"{sku}\x1f{title}\x1f{attrs}".encode(), usedforsecurity=False).hexdigest()[:20]
        item = ItemRecord(
            line_key=key,
            title=title[:300],
            quantity=qty,
            unit_price_fen=price,
            amount_fen=amount,
            refunded_fen=amount if status in ("refunded", "closed") else 0,
            sku=sku,
            spec=attrs,
            status=status,
        )
        return OrderRecord(line, self.platform, external_id, {}, [item], items_only=True)
