"""Cell cleaners and parsers: the quirks of real exports, and properties over any input."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from siyu.orders.importers.cells import (
    CellError,
    clean,
    parse_datetime,
    parse_fen,
    parse_int,
    parse_phone,
    split_address,
)

SH = ZoneInfo("Asia/Shanghai")
plain = st.text(
    alphabet=st.characters(categories=("L", "N"), exclude_characters="\x00"), min_size=1, max_size=30
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('="2873461234567890"', "2873461234567890"),
        ("'13812345678", "13812345678"),
        ("\t5001", "5001"),
        ("  花间旗舰店 ", "花间旗舰店"),
        ("", ""),
        ('"quoted"', "quoted"),
    ],
)
def test_clean_strips_spreadsheet_guards(raw: str, expected: str) -> None:
    assert clean(raw) == expected


@given(plain)
def test_clean_removes_every_guard(value: str) -> None:
    for guarded in (f'="{value}"', f"'{value}", f"\t{value}", f"  {value}  ", f"\t'{value}"):
        assert clean(guarded) == value.strip()


@given(plain)
def test_clean_is_idempotent_on_clean_values(value: str) -> None:
    once = clean(value)
    assert clean(once) == once


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("199.00元", 19900),
        ("¥1,234.5", 123450),
        ("￥0.01", 1),
        ("88", 8800),
        ("", 0),
        ("-", 0),
        ("12.345", 1235),
    ],
)
def test_amounts(raw: str, fen: int) -> None:
    assert parse_fen(raw) == fen


@given(st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2))
def test_amount_in_any_dress_is_the_same_fen(amount: Decimal) -> None:
    fen = int(amount * 100)
    for text in (f"{amount}", f"{amount}元", f"¥{amount:,}", f"￥ {amount}", f"'{amount}", f'="{amount}"'):
        assert parse_fen(text) == fen


@given(st.text(max_size=40))
def test_amount_parser_fails_only_with_cell_error(text: str) -> None:
    try:
        fen = parse_fen(text)
    except CellError:
        return
    assert fen >= 0


def test_negative_and_garbage_amounts_are_refused() -> None:
    with pytest.raises(CellError, match="not an amount"):
        parse_fen("abc")
    with pytest.raises(CellError):
        parse_fen("-5")


@pytest.mark.parametrize(
    ("raw", "local"),
    [
        ("2016/5/23 22:02", datetime(2016, 5, 23, 22, 2)),
        ("2016-05-23 22:02:11", datetime(2016, 5, 23, 22, 2, 11)),
        ("2016-05-23", datetime(2016, 5, 23)),
        ("2016/05/23", datetime(2016, 5, 23)),
        ("20160523", datetime(2016, 5, 23)),
        ("2016年5月23日 22:02", datetime(2016, 5, 23, 22, 2)),
        ("2016-05-23T22:02:11.5", datetime(2016, 5, 23, 22, 2, 11, 500000)),
    ],
)
def test_date_styles_are_local_time_stored_as_utc(raw: str, local: datetime) -> None:
    got = parse_datetime(raw, "Asia/Shanghai")
    assert got == local.replace(tzinfo=SH).astimezone(UTC)
    assert got is not None
    assert got.tzinfo is UTC


def test_explicit_offsets_win_over_the_workspace_zone() -> None:
    assert parse_datetime("2020-02-01T10:00:00+08:00") == datetime(2020, 2, 1, 2, tzinfo=UTC)
    assert parse_datetime("2020-02-01T10:00:00Z") == datetime(2020, 2, 1, 10, tzinfo=UTC)
    assert parse_datetime("2020-02-01 10:00:00", "UTC") == datetime(2020, 2, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["", "-", "0000-00-00 00:00:00", "  "])
def test_empty_dates_are_none(raw: str) -> None:
    assert parse_datetime(raw) is None


@pytest.mark.parametrize("raw", ["2016-13-01", "2016-02-30 10:00", "yesterday", "23/05/2016"])
def test_bad_dates_say_so(raw: str) -> None:
    with pytest.raises(CellError):
        parse_datetime(raw)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 12, 31)))
def test_every_date_style_agrees(local: datetime) -> None:
    local = local.replace(microsecond=0)
    expected = local.replace(tzinfo=SH).astimezone(UTC)
    styles = [
        local.strftime("%Y-%m-%d %H:%M:%S"),
        f"{local.year}/{local.month}/{local.day} {local.hour}:{local.minute:02d}:{local.second:02d}",
        local.strftime("%Y%m%d %H%M%S"),
        local.strftime("%Y-%m-%dT%H:%M:%S"),
        f"={local:%Y-%m-%d %H:%M:%S}".replace("=", '="') + '"',
    ]
    for text in styles:
        assert parse_datetime(text) == expected, text


ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")


def _reference(local: datetime, tz: str) -> datetime:
    """What the importer has always stored: wall time in the zone (fold 0), in UTC."""
    return local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 12, 30)),
    st.sampled_from(ZONES),
)
@example(datetime(1986, 5, 4, 2, 30), "Asia/Shanghai")  # China's first DST switch: a gap
@example(datetime(1991, 9, 15, 1, 30), "Asia/Shanghai")  # China's last switch back: a fold
@example(datetime(2021, 3, 14, 2, 30), "America/New_York")
@example(datetime(2021, 11, 7, 1, 30), "America/New_York")
@example(datetime(2021, 10, 3, 2, 15), "Australia/Lord_Howe")  # a half-hour switch
def test_fast_date_paths_agree_with_the_zone_rules(local: datetime, tz: str) -> None:
    """The sliced fast paths (cached day offsets) give what zoneinfo gives, DST days included."""
    local = local.replace(microsecond=0)
    expected = _reference(local, tz)
    assert parse_datetime(local.strftime("%Y-%m-%d %H:%M:%S"), tz) == expected
    minute = local.replace(second=0)
    slashed = f"{minute.year}/{minute.month}/{minute.day} {minute.hour}:{minute.minute:02d}"
    got = parse_datetime(slashed, tz)
    assert got == _reference(minute, tz)
    assert got is not None
    assert got.tzinfo is UTC


@pytest.mark.parametrize("raw", ["0001-01-01 00:00:00", "9999-12-31 23:59:59", "9999/12/31 23:59"])
def test_dates_shifted_out_of_range_are_cell_errors(raw: str) -> None:
    with pytest.raises(CellError, match="not a real date"):
        parse_datetime(raw, "Asia/Shanghai" if raw.startswith("0") else "America/New_York")


@given(st.text(max_size=40))
def test_date_parser_fails_only_with_cell_error(text: str) -> None:
    try:
        got = parse_datetime(text)
    except CellError:
        return
    assert got is None or got.tzinfo is UTC


def test_counts() -> None:
    assert parse_int("3") == 3
    assert parse_int("2件") == 2
    assert parse_int("") == 0
    with pytest.raises(CellError):
        parse_int("1.5")


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_phones_in_any_dress_normalise_alike(mobile: str) -> None:
    for text in (mobile, f"'{mobile}", f"\t{mobile}", f"86{mobile}", f"+86{mobile}", f'="{mobile}"'):
        phone, masked = parse_phone(text)
        assert masked is None
        assert phone == "+86" + mobile


@pytest.mark.parametrize("raw", ["138****1234", "186******05", "##7F3A9C2B##", "$$ENC$$"])
def test_masked_phones_are_kept_for_display_only(raw: str) -> None:
    assert parse_phone(raw) == (None, raw)


def test_junk_phone_is_nothing() -> None:
    assert parse_phone("12345") == (None, None)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("浙江省 杭州市 西湖区 文三路100号(310000)", ("浙江省", "杭州市", "西湖区")),
        ("上海 上海市 浦东新区 世纪大道1号(200120)", ("上海市", "上海市", "浦东新区")),
        ("北京朝阳区建国路88号", ("北京市", "北京市", None)),
        ("广东省深圳市福田区深南大道1号", ("广东省", "深圳市", None)),
        ("内蒙古自治区 呼和浩特市 新城区 某路", ("内蒙古自治区", "呼和浩特市", "新城区")),
        ("火星基地 1号", (None, None, None)),
        ("", (None, None, None)),
    ],
)
def test_addresses(address: str, expected: tuple[str | None, str | None, str | None]) -> None:
    assert split_address(address) == expected


@given(st.text(max_size=60))
def test_address_parser_never_fails(text: str) -> None:
    province, _city, _district = split_address(text)
    assert province is None or province.endswith(("省", "市", "自治区", "特别行政区"))
