"""Each platform's export goes in through ``siyu import orders``: right orders, customers, money."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.pii import get_vault
from siyu.models import Customer, CustomerIdentity, CustomerStats, Event, ImportRun, Order, OrderItem
from tests.conftest import CliRun

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "orders"
TAOBAO = FIX / "ExportOrderList201606.csv"
TAOBAO_NEWER = FIX / "ExportOrderList201606_newer.csv"
TAOBAO_ITEMS = FIX / "ExportOrderDetailList201606.csv"


def order(session: Session, platform: str, external_id: str) -> Order:
    found = session.scalar(select(Order).where(Order.platform == platform, Order.external_id == external_id))
    assert found is not None, f"{platform} order {external_id} was not imported"
    return found


def stats_of(session: Session, customer_id: int | None) -> CustomerStats:
    assert customer_id is not None
    st = session.get(CustomerStats, customer_id)
    assert st is not None
    return st


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def import_json(cli: CliRun, *files: Path, expect: int = 0) -> list[dict[str, object]]:
    result = cli("import", "orders", *files, "--json", expect=expect)
    data: list[dict[str, object]] = json.loads(result.stdout)
    return data


def test_taobao_gbk_export_with_spreadsheet_guards(cli: CliRun, session: Session) -> None:
    [summary] = import_json(cli, TAOBAO)
    assert summary["format"] == "taobao"
    assert (summary["rows_total"], summary["orders_created"], summary["rows_failed"]) == (6, 6, 0)
    assert summary["customers_created"] == 4
    assert summary["orders_without_customer"] == 1

    t1 = order(session, "taobao", "1001001")  # ="1001001" in the file
    assert (t1.status, t1.raw_status, t1.paid_fen, t1.refunded_fen) == ("completed", "交易成功", 19900, 0)
    # 2016/5/23 22:05 in Shanghai is 14:05 UTC.
    assert t1.paid_at == utc(2016, 5, 23, 14, 5)
    assert t1.ordered_at == utc(2016, 5, 23, 14, 2)
    assert (t1.province, t1.city, t1.district) == ("浙江省", "杭州市", "西湖区")
    assert t1.shop == "花间旗舰店"
    t2 = order(session, "taobao", "1001002")
    assert (t2.paid_fen, t2.refunded_fen, t2.paid_at) == (32850, 2850, utc(2016, 6, 1, 1, 1, 30))
    assert t1.customer_id == t2.customer_id

    # Closed after payment with a refund: refunded in full, not revenue.
    t3 = order(session, "taobao", "1001003")
    assert (t3.status, t3.paid_fen, t3.refunded_fen) == ("refunded", 8800, 8800)
    bob = stats_of(session, t3.customer_id)
    assert (bob.paid_orders_count, bob.effective_orders_count, bob.net_fen) == (1, 0, 0)

    t4 = order(session, "taobao", "1001004")
    assert (t4.status, t4.paid_fen, t4.paid_at) == ("pending", 0, None)

    # A masked buyer and phone: kept for display, never an identity.
    t5 = order(session, "taobao", "1001005")
    assert (t5.customer_id, t5.phone_masked, t5.paid_fen) == (None, "138****1234", 12000)

    t6 = order(session, "taobao", "1001006")
    assert (t6.province, t6.city, t6.status) == ("上海市", "上海市", "shipped")

    alice = stats_of(session, t1.customer_id)
    assert (alice.orders_count, alice.paid_orders_count, alice.effective_orders_count) == (2, 2, 2)
    assert (alice.paid_fen, alice.refunded_fen, alice.net_fen) == (52750, 2850, 49900)
    assert (alice.first_paid_at, alice.last_paid_at) == (t1.paid_at, t2.paid_at)
    assert (alice.first_order_id, alice.last_order_id) == (t1.id, t2.id)
    assert alice.purchase_days == 2
    assert alice.platforms == {"taobao": 2}
    assert alice.shops == {"花间旗舰店": 2}
    assert (alice.province, alice.city) == ("浙江省", "杭州市")

    # Phones are stored as hash + ciphertext + mask, never in the clear.
    phone = session.scalar(
        select(CustomerIdentity).where(
            CustomerIdentity.customer_id == t1.customer_id, CustomerIdentity.kind == "phone"
        )
    )
    assert phone is not None
    assert phone.value is None
    assert phone.value_masked == "138****8000"
    assert phone.value_enc is not None
    assert get_vault().decrypt(phone.value_enc) == "+8613800138000"
    assert phone.value_hash == get_vault().identity_hash("phone", "+8613800138000")
    nick = session.scalar(
        select(CustomerIdentity).where(
            CustomerIdentity.customer_id == t1.customer_id, CustomerIdentity.kind == "buyer_id"
        )
    )
    assert nick is not None
    assert (nick.platform, nick.value) == ("taobao", "tb_alice")

    events = session.scalars(select(Event).where(Event.order_id == t3.id).order_by(Event.kind)).all()
    assert [e.kind for e in events] == ["order.paid", "order.refunded"]
    run = session.scalar(select(ImportRun))
    assert run is not None
    assert (run.status, run.orders_created, run.rows_total) == ("completed", 6, 6)


def test_taobao_detail_file_adds_line_items_and_products(cli: CliRun, session: Session) -> None:
    summaries = import_json(cli, TAOBAO_ITEMS, TAOBAO)  # any order on the command line
    assert [s["format"] for s in summaries] == ["taobao", "taobao-items"]
    assert summaries[1]["orders_awaiting_order_file"] == 0
    t2 = order(session, "taobao", "1001002")
    items = session.scalars(select(OrderItem).where(OrderItem.order_id == t2.id).order_by(OrderItem.id)).all()
    assert [(i.title, i.quantity, i.unit_price_fen, i.amount_fen, i.sku) for i in items] == [
        ("玫瑰面霜", 1, 19900, 19900, "MS-50"),
        ("精华水", 1, 12950, 12950, "JH-100"),
    ]
    assert t2.item_count == 2
    alice = stats_of(session, t2.customer_id)
    assert alice.products == {"玫瑰面霜": 2, "精华水": 1}
    assert order(session, "taobao", "1001006").item_count == 2


def test_taobao_detail_file_before_the_order_file(cli: CliRun, session: Session) -> None:
    [first] = import_json(cli, TAOBAO_ITEMS)
    assert first["orders_awaiting_order_file"] == 3
    placeholder = order(session, "taobao", "1001002")
    assert (placeholder.customer_id, placeholder.paid_fen) == (None, 0)
    assert session.scalar(select(CustomerStats)) is None

    [second] = import_json(cli, TAOBAO)
    assert (second["orders_created"], second["orders_updated"]) == (3, 3)
    session.expire_all()
    t2 = order(session, "taobao", "1001002")
    assert (t2.paid_fen, t2.refunded_fen, t2.item_count) == (32850, 2850, 2)
    assert "awaiting_order_file" not in t2.extra
    assert stats_of(session, t2.customer_id).products == {"玫瑰面霜": 2, "精华水": 1}


def test_youzan_masked_phones_guides_and_refunds(cli: CliRun, session: Session) -> None:
    [summary] = import_json(cli, FIX / "youzan_orders.csv")
    assert (summary["format"], summary["orders_created"], summary["orders_without_customer"]) == (
        "youzan",
        3,
        1,
    )
    masked = order(session, "youzan", "E20210301000001")
    assert (masked.customer_id, masked.phone_masked, masked.guide) == (None, "186******05", "王导购")
    assert masked.extra == {"distributor": "张分销", "nickname": "小美"}
    refunded = order(session, "youzan", "E20210302000002")
    assert (refunded.status, refunded.paid_fen, refunded.refunded_fen, refunded.guide) == (
        "refunded",
        4500,
        4500,
        "李导购",
    )
    shanghai = order(session, "youzan", "E20210303000003")
    assert (shanghai.province, shanghai.city, shanghai.paid_fen, shanghai.shipping_fen) == (
        "上海市",
        "上海市",
        6600,
        600,
    )
    # Two buyers share the nickname 小美: a nickname never joins profiles.
    assert refunded.customer_id != shanghai.customer_id
    assert session.scalar(select(CustomerIdentity).where(CustomerIdentity.kind == "buyer_id")) is None


def test_douyin_rows_of_one_order_apart_across_batches(cli: CliRun, session: Session) -> None:
    # --batch-size 1 puts each row in its own transaction: the order is assembled over three.
    result = cli("import", "orders", FIX / "douyin_orders.csv", "--json", "--batch-size", "1")
    [summary] = json.loads(result.stdout)
    assert (summary["format"], summary["orders_created"], summary["rows_ok"]) == ("douyin", 2, 3)
    d1 = order(session, "douyin", "5001")  # "\t5001" in the file
    assert (d1.paid_fen, d1.refunded_fen, d1.item_count) == (25900, 16000, 3)
    assert (d1.discount_fen, d1.platform_discount_fen) == (1800, 700)
    assert (d1.status, d1.province, d1.city) == ("completed", "湖南省", "长沙市")
    items = session.scalars(
        select(OrderItem).where(OrderItem.order_id == d1.id).order_by(OrderItem.line_key)
    ).all()
    assert [(i.line_key, i.amount_fen, i.refunded_fen) for i in items] == [
        ("5001-1", 9900, 0),
        ("5001-2", 16000, 16000),
    ]
    henry = stats_of(session, d1.customer_id)
    assert (henry.paid_fen, henry.refunded_fen, henry.net_fen, henry.effective_orders_count) == (
        25900,
        16000,
        9900,
        1,
    )
    assert henry.products == {"玫瑰面霜": 1}  # the refunded line is not a purchase
    d2 = order(session, "douyin", "5002")
    assert (d2.customer_id, d2.phone_masked) == (None, "##7F3A9C2B##")


def test_jd_multi_product_order(cli: CliRun, session: Session) -> None:
    [summary] = import_json(cli, FIX / "jd_orders.csv")
    assert (summary["format"], summary["orders_created"]) == ("jd", 2)
    j1 = order(session, "jd", "300001")
    assert (j1.paid_fen, j1.item_count, j1.status, j1.province, j1.city) == (
        20000,
        3,
        "completed",
        "北京市",
        "北京市",
    )
    assert j1.paid_at == utc(2021, 4, 1, 1, 0, 30)
    ids = session.scalars(
        select(CustomerIdentity).where(CustomerIdentity.customer_id == j1.customer_id)
    ).all()
    assert sorted((i.kind, i.platform) for i in ids) == [("buyer_id", "jd"), ("phone", "")]


def test_generic_csv_and_jsonl(cli: CliRun, session: Session) -> None:
    summaries = import_json(cli, FIX / "generic_orders.csv", FIX / "generic_orders.jsonl")
    assert [(s["format"], s["orders_created"], s["rows_failed"]) for s in summaries] == [
        ("generic", 3, 0),
        ("generic", 3, 0),
    ]
    g1 = order(session, "miniapp", "g-1")
    assert (g1.paid_fen, g1.cost_fen, g1.discount_fen, g1.shop) == (1050, 400, 100, "小程序商城")
    assert (g1.province, g1.city) == ("浙江省", "杭州市")
    st1 = stats_of(session, g1.customer_id)
    assert (st1.categories, st1.products, st1.cost_fen) == ({"面霜": 1}, {"面霜小样": 1}, 400)
    g2, g3 = order(session, "miniapp", "g-2"), order(session, "miniapp", "g-3")
    assert (g2.status, g2.paid_fen, g2.refunded_fen, g2.paid_at) == (
        "refunded",
        2000,
        2000,
        utc(2020, 1, 1, 16),
    )
    assert (g3.status, g3.paid_fen, g3.refunded_fen, g3.paid_at) == ("paid", 3000, 500, utc(2020, 1, 2, 16))
    c2 = stats_of(session, g2.customer_id)
    assert (c2.paid_orders_count, c2.effective_orders_count) == (2, 1)
    assert (c2.paid_fen, c2.refunded_fen, c2.net_fen) == (5000, 2500, 2500)

    j1, j2 = order(session, "generic", "j-1"), order(session, "wecom_shop", "j-2")
    assert j1.paid_at == utc(2020, 2, 1, 2)  # +08:00 in the value
    assert j1.customer_id == j2.customer_id  # same unionid
    assert stats_of(session, j1.customer_id).net_fen == 1950


def test_cdnow_style_rows_several_per_customer_per_day(cli: CliRun, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "cdnow.csv"
    path.write_text(
        "order_id,buyer_id,date,amount\n"
        "cdnow-1,00001,19970101,11.77\n"
        "cdnow-2,00002,19970112,12.00\n"
        "cdnow-3,00002,19970112,77.00\n"
        "cdnow-4,00003,19970102,20.76\n"
        "cdnow-5,00003,19970330,20.76\n",
        encoding="utf-8",
    )
    [summary] = import_json(cli, path)
    assert (summary["orders_created"], summary["customers_created"]) == (5, 3)
    two = stats_of(session, order(session, "generic", "cdnow-2").customer_id)
    assert (two.effective_orders_count, two.purchase_days, two.net_fen) == (2, 1, 8900)
    three = stats_of(session, order(session, "generic", "cdnow-4").customer_id)
    assert (three.purchase_days, three.net_fen) == (2, 4152)


def test_same_phone_on_every_platform_is_one_customer(cli: CliRun, session: Session) -> None:
    cli(
        "import",
        "orders",
        TAOBAO,
        FIX / "jd_orders.csv",
        FIX / "youzan_orders.csv",
        FIX / "generic_orders.csv",
    )
    t1 = order(session, "taobao", "1001001")
    for platform, ext in (("jd", "300001"), ("youzan", "E20210302000002"), ("miniapp", "g-1")):
        assert order(session, platform, ext).customer_id == t1.customer_id
    alice = stats_of(session, t1.customer_id)
    # Taobao 499.00 net + JD 200.00 + generic 10.50; the Youzan order was refunded in full.
    assert (alice.paid_fen, alice.refunded_fen, alice.net_fen) == (
        52750 + 20000 + 4500 + 1050,
        2850 + 4500,
        70950,
    )
    assert alice.platforms == {"jd": 1, "miniapp": 1, "taobao": 2}
    assert (alice.province, alice.city) == ("北京市", "北京市")  # the most recent order's place
    assert session.scalar(select(Customer).where(Customer.id == t1.customer_id)).province == "北京市"  # type: ignore[union-attr]


def test_paid_status_without_payment_time_uses_the_order_time(
    cli: CliRun, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "ExportOrderList_cod.csv"
    path.write_bytes(
        "订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间,订单付款时间,联系手机\n"
        '="9001",tb_cod,50.00,交易成功,2020-05-01 10:00:00,,13812345678\n'.encode("gbk")
    )
    cli("import", "orders", path)
    cod = order(session, "taobao", "9001")
    assert (cod.status, cod.paid_fen, cod.paid_at) == ("completed", 5000, utc(2020, 5, 1, 2))
    assert stats_of(session, cod.customer_id).net_fen == 5000


def test_douyin_sub_orders_at_an_earlier_stage_in_a_later_batch_are_kept(
    cli: CliRun, session: Session, tmp_path: Path
) -> None:
    """A later row of the same order at an earlier stage is another sub-order, not an older export."""
    header = (FIX / "douyin_orders.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    common = "吴九,13500135000,湖南省 长沙市 岳麓区 麓山路1号,2021-03-01 10:00:00,2021-03-01 10:01:00"
    other = "郑十,13600136000,湖南省 长沙市 岳麓区 麓山路2号,2021-03-01 11:00:00,2021-03-01 11:01:00"
    path = tmp_path / "douyin_split.csv"
    path.write_text(
        f"{header}\n"
        f"6001,6001-1,玫瑰面霜,50ml,1,MS-50,99.00,0.00,{common},2021-03-06 10:00:00,已完成,,0.00,0.00,0.00\n"
        # Another order between them: a batch ends only between orders.
        f"6002,6002-1,面膜,5片,1,MM-5,59.00,0.00,{other},,待发货,,0.00,0.00,0.00\n"
        f"6001,6001-2,精华水,100ml,1,JH-100,80.00,0.00,{common},,待发货,,0.00,0.00,0.00\n",
        encoding="utf-8",
    )
    for _ in range(2):  # the second import changes nothing
        cli("import", "orders", path, "--json", "--batch-size", "1")
        o = order(session, "douyin", "6001")
        session.expire_all()
        items = session.scalars(select(OrderItem.line_key).where(OrderItem.order_id == o.id)).all()
        assert sorted(items) == ["6001-1", "6001-2"]
        assert (o.paid_fen, o.item_count, o.status) == (17900, 2, "completed")
        stats = session.get(CustomerStats, o.customer_id)
        assert stats is not None
        assert stats.paid_fen == 17900


def test_identical_taobao_detail_lines_stay_separate_at_any_batch_size(
    cli: CliRun, session: Session, tmp_path: Path
) -> None:
    """Two bottles bought as two identical lines are two lines, wherever a batch would end."""
    header = TAOBAO_ITEMS.read_text(encoding="gbk").splitlines()[0]
    line = '="{oid}",玫瑰面霜,199.00,1,,规格：50ml,,,交易成功,MS-50'
    rows = [line.format(oid="3001")] * 3 + [line.format(oid="3002")] + [line.format(oid="3003")] * 2
    path = tmp_path / "ExportOrderDetailList202401.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="gbk")
    for batch in ("1", "2", "4", "1000"):
        result = cli("import", "orders", path, "--json", "--batch-size", batch)
        [summary] = json.loads(result.stdout)
        assert summary["rows_ok"] == 6
        session.expire_all()
        for oid, lines in (("3001", 3), ("3002", 1), ("3003", 2)):
            o = order(session, "taobao", oid)
            keys = session.scalars(select(OrderItem.line_key).where(OrderItem.order_id == o.id)).all()
            assert len(keys) == lines, (batch, oid, keys)
            assert o.item_count == lines, (batch, oid)
