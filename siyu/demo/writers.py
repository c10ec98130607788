"""Write the simulated orders as the export files the platforms really produce.

Each writer follows FORMATS.md, quirks included, because the demo must go through the
same import path a user's real files take: Taobao in GBK with ``="…"`` ids, ``'``
phones, headers with trailing spaces and amounts ending in "元"; Douyin in UTF-8 with
a BOM, tab-prefixed ids and one row per line item; Youzan with masked receiver phones;
offline store sales in siyu's generic CSV. Files are written to a temporary name and
renamed, so an interrupted run never leaves half a file behind.
"""

from __future__ import annotations

import base64
import json
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from siyu.demo.simulate import DemoData, DemoOrder, Line

MUNICIPALITIES = ("北京市", "上海市", "天津市", "重庆市")
COURIERS = (
    ("中通快递", "ZTO"),
    ("圆通速递", "YT"),
    ("顺丰速运", "SF"),
    ("韵达快递", "YD"),
    ("京东快递", "JDV"),
)


class Raw(str):
    """A cell written verbatim (Taobao's ``="…"`` ids must not be CSV-quoted)."""

    __slots__ = ()


@dataclass(frozen=True)
class WrittenFile:
    """One export file and the totals it carries (what an import must reproduce)."""

    path: Path
    format: str
    encoding: str
    rows: int
    orders: int
    paid_fen: int
    refunded_fen: int

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen


def yuan(fen: int) -> str:
    """Fen as a yuan amount with two decimals, the way every export writes money."""
    return f"{fen // 100}.{fen % 100:02d}"


def _cell(value: object) -> str:
    if isinstance(value, Raw):
        return str(value)
    text = "" if value is None else str(value)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _write(path: Path, encoding: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    tmp = path.with_name(path.name + ".part")
    count = 0
    with open(tmp, "w", encoding=encoding, newline="") as fh:
        fh.write(",".join(_cell(h) for h in header) + "\r\n")
        for row in rows:
            fh.write(",".join(_cell(c) for c in row) + "\r\n")
            count += 1
    os.replace(tmp, path)
    return count


def _ts(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return value.strftime(fmt) if value else ""


def _mask_phone(phone: str, stars: int = 4, tail: int = 4) -> str:
    return phone[:3] + "*" * stars + phone[-tail:]


def _cipher(rng: random.Random, prefix: str) -> str:
    """A stand-in for Douyin's encrypted recipient fields (``##…#``, ``$$…$``)."""
    return prefix + base64.b64encode(rng.randbytes(30)).decode() + prefix[0]


def _allocate(total: int, lines: Sequence[Line]) -> list[int]:
    """Split ``total`` across lines by list amount; the last line takes the remainder."""
    goods = sum(x.amount_fen for x in lines) or 1
    shares = [total * x.amount_fen // goods for x in lines[:-1]]
    return [*shares, total - sum(shares)]


def _paid_orders(orders: Iterable[DemoOrder]) -> tuple[int, int, int]:
    n = paid = refunded = 0
    for o in orders:
        n += 1
        paid += o.paid_fen
        refunded += o.refunded_fen
    return n, paid, refunded


# -- Taobao / Tmall (千牛 已卖出的宝贝) ---------------------------------------------------

TAOBAO_STATUS = {
    "completed": "交易成功",
    "shipped": "卖家已发货，等待买家确认",
    "paid": "买家已付款，等待卖家发货",
    "pending": "等待买家付款",
    "unpaid_closed": "交易关闭",
    "refunded": "交易关闭",
}
TAOBAO_HEADER = (
    "订单编号", "买家会员名", "买家支付宝账号", "支付单号", "支付详情", "买家应付货款",
    "买家应付邮费", "买家支付积分", "总金额", "返点积分", "买家实际支付金额", "买家实际支付积分",
    "订单状态", "买家留言", "收货人姓名", "收货地址 ", "运送方式", "联系电话 ", "联系手机",
    "订单创建时间", "订单付款时间 ", "宝贝标题 ", "宝贝种类", "物流单号 ", "物流公司", "订单备注",
    "宝贝总数量", "店铺Id", "店铺名称", "订单关闭原因", "卖家服务费", "买家服务费", "发票抬头",
    "是否手机订单", "分阶段订单信息", "特权订金订单id", "是否上传合同照片", "是否上传小票",
    "是否代付", "定金排名", "修改后的sku", "修改后的收货地址", "异常信息", "天猫卡券抵扣",
    "集分宝抵扣", "是否是O2O交易", "退款金额", "预约门店", "确认收货时间", "打款商家金额",
)  # fmt: skip
TAOBAO_DETAIL_HEADER = (
    "订单编号", "标题", "价格", "购买数量", "外部系统编号", "商品属性", "套餐信息", "备注",
    "订单状态", "商家编码",
)  # fmt: skip


def _taobao_row(o: DemoOrder, rng: random.Random) -> list[object]:
    p = o.person
    # Since 2021 Taobao masks the buyer's name, phone and street in exports; province,
    # city and district stay readable.
    province = p.province.removesuffix("市") if p.province in MUNICIPALITIES else p.province
    address = f"{province} {p.city} {p.district} {p.street[:4]}***({p.postcode})"
    courier, prefix = rng.choice(COURIERS)
    shipped = o.state in ("shipped", "completed") or (o.state == "refunded" and rng.random() < 0.3)
    paid = o.paid_at is not None
    return [
        Raw(f'="{o.order_id}"'),
        p.taobao_nick,
        _mask_phone(p.phone),
        Raw(f'="{o.created_at:%Y%m%d}2200{rng.randrange(10**13, 10**14)}"') if paid else "",
        "",
        yuan(o.goods_fen),
        yuan(o.shipping_fen),
        "0",
        yuan(o.goods_fen + o.shipping_fen),
        "0",
        yuan(o.paid_fen),
        "0",
        TAOBAO_STATUS[o.state],
        o.note or "",
        p.name[0] + "**",
        address,
        "快递",
        "",
        "'" + _mask_phone(p.phone),
        _ts(o.created_at),
        _ts(o.paid_at),
        "，".join(x.product.full_title for x in o.lines),
        len(o.lines),
        f"No:{prefix}{rng.randrange(10**12, 10**13)}" if shipped else "",
        courier if shipped else "",
        "",
        sum(x.quantity for x in o.lines),
        o.shop.shop_id,
        o.shop.name,
        o.close_reason or "订单未关闭",
        "0元",
        "0元",
        "",
        "手机订单" if rng.random() < 0.93 else "",
        *("", "", "否", "否", "否", "", "", "", "", "", "", "否"),
        yuan(o.refunded_fen),
        "",
        _ts(o.completed_at),
        yuan(o.paid_fen - o.refunded_fen if o.completed_at else 0) + "元",
    ]


def _taobao_detail_rows(o: DemoOrder) -> list[list[object]]:
    rows: list[list[object]] = []
    for line in o.lines:
        status = "交易关闭" if line.refunded_fen else TAOBAO_STATUS[o.state]
        rows.append(
            [
                Raw(f'="{o.order_id}"'),
                line.product.full_title,
                yuan(line.product.price_fen),
                line.quantity,
                line.product.sku,
                f"规格:{line.product.spec}",
                "",
                "",
                status,
                line.product.sku,
            ]
        )
    return rows


def write_taobao(data: DemoData, out: Path, rng: random.Random) -> list[WrittenFile]:
    """ExportOrderList + ExportOrderDetailList, GBK, newest order first."""
    orders = [o for o in reversed(data.orders) if o.platform == "taobao"]
    stamp = f"{data.as_of:%Y%m%d}0905"
    main = out / f"ExportOrderList{stamp}.csv"
    detail = out / f"ExportOrderDetailList{stamp}.csv"
    rows = _write(main, "gbk", TAOBAO_HEADER, (_taobao_row(o, rng) for o in orders))
    detail_rows = _write(
        detail, "gbk", TAOBAO_DETAIL_HEADER, (r for o in orders for r in _taobao_detail_rows(o))
    )
    n, paid, refunded = _paid_orders(orders)
    return [
        WrittenFile(main, "taobao", "gbk", rows, n, paid, refunded),
        WrittenFile(detail, "taobao_detail", "gbk", detail_rows, n, 0, 0),
    ]


# -- 有赞 Youzan --------------------------------------------------------------------------

YOUZAN_STATUS = {
    "completed": "交易成功",
    "shipped": "已发货",
    "paid": "待发货",
    "pending": "待付款",
    "unpaid_closed": "交易关闭",
    "refunded": "交易关闭",
}
YOUZAN_HEADER = (
    "订单号", "订单类型", "订单状态", "订单创建时间", "买家付款时间", "交易成功时间", "商品金额合计",
    "运费", "店铺优惠合计", "应收订单金额", "订单实付金额", "支付方式", "全部商品名称", "商品种类数",
    "商品总件数", "收货人省份", "收货人城市", "收货人地区", "详细收货地址/提货地址", "收货人/提货人",
    "收货人手机号/提货人手机号", "买家昵称", "买家手机号", "买家备注", "订单退款状态",
    "订单已退款金额", "销售导购", "专属导购", "分销员", "归属店铺",
)  # fmt: skip


def _youzan_row(o: DemoOrder) -> list[object]:
    p = o.person
    if o.refunded_fen == 0:
        refund_state = "无退款"
    else:
        refund_state = "全额退款成功" if o.refunded_fen == o.paid_fen else "部分退款成功"
    return [
        o.order_id,
        "普通订单",
        YOUZAN_STATUS[o.state],
        _ts(o.created_at),
        _ts(o.paid_at),
        _ts(o.completed_at),
        yuan(o.goods_fen),
        yuan(o.shipping_fen),
        yuan(o.discount_fen),
        yuan(o.goods_fen - o.discount_fen + o.shipping_fen),
        yuan(o.paid_fen),
        "微信支付" if o.paid_at else "",
        "；".join(x.product.full_title for x in o.lines),
        len(o.lines),
        sum(x.quantity for x in o.lines),
        p.province,
        p.city,
        p.district,
        p.street,
        p.name,
        # Youzan masks the receiver's number but shows the member's own phone.
        _mask_phone(p.phone, stars=6, tail=2),
        p.youzan_nick,
        p.phone,
        o.note or "",
        refund_state,
        yuan(o.refunded_fen),
        o.guide or "",
        o.guide or "",
        "",
        o.shop.name,
    ]


def write_youzan(data: DemoData, out: Path) -> list[WrittenFile]:
    """The Youzan order export, UTF-8, newest first."""
    orders = [o for o in reversed(data.orders) if o.platform == "youzan"]
    path = out / f"youzan_orders_{data.as_of:%Y%m%d}.csv"
    rows = _write(path, "utf-8", YOUZAN_HEADER, (_youzan_row(o) for o in orders))
    n, paid, refunded = _paid_orders(orders)
    return [WrittenFile(path, "youzan", "utf-8", rows, n, paid, refunded)]


# -- 抖店 Douyin --------------------------------------------------------------------------

DOUYIN_STATUS = {
    "completed": "已完成",
    "shipped": "已发货",
    "paid": "待发货",
    "pending": "待支付",
    "unpaid_closed": "已关闭",
    "refunded": "已关闭",
}
DOUYIN_HEADER = (
    "主订单编号", "子订单编号", "选购商品", "商品规格", "商品数量", "商品ID", "商家编码", "商品单价",
    "订单应付金额", "运费", "平台实际承担优惠金额", "商家实际承担优惠金额", "达人实际承担优惠金额",
    "收件人", "收件人手机号", "省", "市", "区", "详细地址", "买家留言", "订单提交时间", "支付完成时间",
    "订单完成时间", "订单状态", "售后状态", "支付方式", "流量来源", "店铺名称",
)  # fmt: skip


def _douyin_rows(o: DemoOrder, rng: random.Random) -> list[list[object]]:
    p = o.person
    # Each sub-order row carries its share of the payment; shipping sits on the first row.
    platform = _allocate(o.platform_discount_fen, o.lines)
    talent = _allocate(o.talent_discount_fen, o.lines)
    merchant = _allocate(o.discount_fen, o.lines)
    source = rng.choice(("直播", "直播", "短视频", "商品卡", "搜索"))
    rows: list[list[object]] = []
    for i, line in enumerate(o.lines):
        shipping = o.shipping_fen if i == 0 else 0
        rows.append(
            [
                "\t" + o.order_id,
                "\t" + o.sub_ids[i],
                line.product.full_title,
                line.product.spec,
                line.quantity,
                "\t" + line.product.product_id,
                line.product.sku,
                yuan(line.product.price_fen),
                yuan(line.paid_fen + shipping if o.paid_at else 0),
                yuan(shipping),
                yuan(platform[i]),
                yuan(merchant[i]),
                yuan(talent[i]),
                _cipher(rng, "##"),
                _cipher(rng, "$$"),
                p.province,
                p.city,
                p.district,
                _cipher(rng, "##"),
                o.note or "",
                _ts(o.created_at, "%Y/%m/%d %H:%M:%S"),
                _ts(o.paid_at, "%Y/%m/%d %H:%M:%S"),
                _ts(o.completed_at, "%Y/%m/%d %H:%M:%S"),
                # A returned item keeps its sub-order's state; 售后状态 says it was refunded.
                DOUYIN_STATUS[o.state],
                "退款成功" if line.refunded_fen else "-",
                "抖音支付" if o.paid_at else "",
                source,
                o.shop.name,
            ]
        )
    return rows


def write_douyin(data: DemoData, out: Path, rng: random.Random) -> list[WrittenFile]:
    """The 抖店 export: UTF-8 with BOM, one row per sub-order, newest first."""
    orders = [o for o in reversed(data.orders) if o.platform == "douyin"]
    path = out / f"douyin_orders_{data.as_of:%Y%m%d}.csv"
    rows = _write(path, "utf-8-sig", DOUYIN_HEADER, (r for o in orders for r in _douyin_rows(o, rng)))
    n, paid, refunded = _paid_orders(orders)
    return [WrittenFile(path, "douyin", "utf-8-sig", rows, n, paid, refunded)]


# -- generic CSV (offline stores' POS) ----------------------------------------------------

GENERIC_STATUS = {"completed": "completed", "refunded": "refunded"}
GENERIC_HEADER = (
    "order_id", "platform", "shop", "status", "created_at", "paid_at", "amount", "refund_amount",
    "discount", "cost", "items", "buyer_id", "phone", "name", "province", "city", "guide",
)  # fmt: skip


def _items(lines: Sequence[Line]) -> str:
    """Line items as the generic format's JSON array (what a POS export can produce)."""
    return json.dumps(
        [
            {
                "sku": x.product.sku,
                "title": x.product.full_title,
                "category": x.product.category,
                "quantity": x.quantity,
                "price": yuan(x.product.price_fen),
                "amount": yuan(x.amount_fen),
                "cost": yuan(x.product.cost_fen * x.quantity),
            }
            for x in lines
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _generic_row(o: DemoOrder) -> list[object]:
    p = o.person
    cost = sum(x.product.cost_fen * x.quantity for x in o.lines)
    return [
        o.order_id,
        "offline",
        o.shop.name,
        GENERIC_STATUS[o.state],
        _ts(o.created_at),
        _ts(o.paid_at),
        yuan(o.paid_fen),
        yuan(o.refunded_fen),
        yuan(o.discount_fen),
        yuan(cost),
        _items(o.lines),
        p.card or "",
        p.phone if o.phone_known else "",
        p.name,
        p.province,
        p.city,
        o.guide or "",
    ]


def write_generic(data: DemoData, out: Path) -> list[WrittenFile]:
    """Offline store sales from the POS in siyu's generic CSV (UTF-8), one file a year."""
    files = []
    orders = [o for o in data.orders if o.platform == "offline"]
    for year in sorted({o.created_at.year for o in orders}):
        of_year = [o for o in orders if o.created_at.year == year]
        path = out / f"offline_pos_{year}.csv"
        rows = _write(path, "utf-8", GENERIC_HEADER, (_generic_row(o) for o in of_year))
        n, paid, refunded = _paid_orders(of_year)
        files.append(WrittenFile(path, "generic", "utf-8", rows, n, paid, refunded))
    return files


Writer = Callable[[DemoData, Path, random.Random], list[WrittenFile]]


def write_all(data: DemoData, out: Path) -> list[WrittenFile]:
    """Write every platform's export into ``out``; returns the files with their totals."""
    out.mkdir(parents=True, exist_ok=True)
    # The writers draw cosmetic values (courier numbers, ciphertexts) from their own
    # stream, so the files are byte-identical for a seed.
    rng = random.Random(data.seed * 7919 + 17)
    files = write_taobao(data, out, rng)
    files += write_youzan(data, out)
    files += write_douyin(data, out, rng)
    files += write_generic(data, out)
    return files
