"""Compiled row parsers give exactly what the reference ``parse_row`` gives, errors included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.orders.importers.base import Columns, OrderRecord, RowProblem
from siyu.orders.importers.taobao import TaobaoOrders

FMT = TaobaoOrders()
HEADER = [
    "订单编号", "买家会员名", "买家应付货款", "买家应付邮费", "总金额", "买家实际支付金额", "订单状态",
    "买家留言", "收货人姓名", "收货地址 ", "联系电话 ", "联系手机", "订单创建时间", "订单付款时间 ",
    "宝贝标题 ", "宝贝总数量", "店铺名称", "退款金额", "确认收货时间",
]  # fmt: skip
OPTIONAL = [h for h in HEADER if h not in ("订单编号", "订单状态", "买家实际支付金额", "买家会员名")]

# Cells as exports write them, plus junk that must fail the same way on both paths.
ids = st.sampled_from(['="2000000000000007188"', "12345", "", "  ", "x" * 65, "'998"])
dates = st.sampled_from(
    ["2019-01-01 17:11:36", "2019/1/1 7:05", "", "2019-02-30 10:00:00", "2019-13-01 00:00:00",
     "2016年5月23日 22:02", "0000-00-00 00:00:00", "yesterday", "2019/1/1 25:00", "１９９９-01-01 00:00:00"]
)  # fmt: skip
money = st.sampled_from(["119.00", "0.00", "", "1,234.5", "99元", "¥12", "abc", "-3", "0元", "12.345"])
statuses = ["", "交易成功", "交易关闭", "等待买家付款", "卖家已发货，等待买家确认"]
texts = st.one_of(st.sampled_from(statuses), st.text(max_size=8))
phones = st.sampled_from(["'13947220036", "139****0036", "", "+86 139 4722 0036", "12345", "##abc"])
addresses = st.sampled_from(
    ["广东省 广州市 番禺区 学府路336号(510000)", "上海 上海市 徐汇区 世纪大道324号", "北京朝阳区", "", "火星"]
)
counts = st.sampled_from(["1", "3", "", "2件", "0", "1.5", "x"])
CELL = {
    "订单编号": ids, "订单创建时间": dates, "订单付款时间 ": dates, "确认收货时间": dates,
    "买家应付货款": money, "买家应付邮费": money, "总金额": money, "买家实际支付金额": money,
    "退款金额": money, "联系电话 ": phones, "联系手机": phones, "收货地址 ": addresses,
    "宝贝总数量": counts,
}  # fmt: skip


@st.composite
def files(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A header (some optional columns dropped, any order) and rows, some short or long."""
    dropped = draw(st.sets(st.sampled_from(OPTIONAL)))
    header = draw(st.permutations([h for h in HEADER if h not in dropped]))
    rows = []
    for _ in range(draw(st.integers(1, 5))):
        row = [draw(CELL.get(h, texts)) for h in header]
        cut = draw(st.integers(0, 3))
        rows.append(row[: len(row) - cut] if draw(st.booleans()) else row + ["extra"] * cut)
    return header, rows


def _outcome(parse: object, *args: object) -> OrderRecord | tuple[str | None, str | None, str]:
    try:
        return parse(*args)  # type: ignore[operator,no-any-return]
    except RowProblem as exc:
        return (exc.field, exc.value, exc.message)


@settings(max_examples=300)
@given(files(), st.sampled_from(["Asia/Shanghai", "America/New_York"]))
def test_taobao_fast_parser_matches_the_reference(file: tuple[list[str], list[list[str]]], tz: str) -> None:
    header, rows = file
    cols = Columns(header, FMT.aliases)
    fast = FMT.row_parser(cols, tz)
    for line, row in enumerate(rows, start=2):
        before = list(row)
        assert _outcome(fast, row, line) == _outcome(FMT.parse_row, cols, row, line, tz)
        assert row == before  # the caller's row is not modified
