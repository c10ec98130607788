"""Cell cleaners and parsers for platform exports: ids, amounts, dates, phones, places.

Every function here is pure and fast: the importer calls them millions of times.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from siyu.kit.money import MoneyError, yuan_to_fen
from siyu.kit.pii import PIIError, is_masked, normalise_phone

_EMPTY = frozenset({"", "-", "--", "null", "NULL", "None", "无", "N/A", "n/a"})


class CellError(ValueError):
    """A cell that cannot be read as the expected kind of value."""


def clean(value: str | None) -> str:
    """Strip the spreadsheet guards platforms add (``="…"``, a leading ``'`` or tab) and spaces."""
    if not value:
        return ""
    v = value.strip()
    # Most cells need nothing more; the checks below only run on guarded values.
    if not v:
        return ""
    first = v[0]
    if first == "=" and len(v) >= 3 and v[1] == '"' and v[-1] == '"':
        v = v[2:-1].strip()
    elif first == '"' and len(v) >= 2 and v[-1] == '"':
        v = v[1:-1].strip()
    while v and v[0] in "'\t`":
        v = v[1:].lstrip()
    return v


_GUARDS = frozenset("=\"'`")


def clean_fast(value: str) -> str:
    """:func:`clean` for a cell known to be a ``str``; the guard checks run only when needed."""
    v = value.strip()
    if v and v[0] in _GUARDS:
        return clean(v)
    return v


def is_empty(value: str) -> bool:
    """True for the spellings of "no value" that exports use."""
    return value in _EMPTY


# Hard limits of any cell, whatever the workspace allows per order (that limit is
# checked by ``Columns``): every amount, and every sum of them, stays far inside the
# 64-bit integer columns; every count inside a 32-bit one.
MAX_CELL_FEN = 10**17
MAX_QUANTITY = 1_000_000

_PLAIN_AMOUNT = re.compile(r"(\d{1,15})(?:\.(\d{1,2}))?元?")


def parse_fen(value: str, *, allow_negative: bool = False) -> int:
    """An amount in yuan ("12.5", "¥1,234.00", "99元") as integer fen; empty is 0."""
    v = clean(value)
    if is_empty(v):
        return 0
    m = _PLAIN_AMOUNT.fullmatch(v)
    if m is not None:
        # Most cells are plain "123.45": integer arithmetic, no Decimal.
        whole, frac = m.groups()
        return int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0)
    try:
        fen = yuan_to_fen(v, allow_negative=allow_negative)
    except (MoneyError, ArithmeticError) as exc:
        # ArithmeticError: decimal's InvalidOperation for amounts past its 28 digits.
        raise CellError(f"not an amount in yuan: {v!r}") from exc
    if abs(fen) >= MAX_CELL_FEN:
        raise CellError(f"not a believable amount in yuan: {v[:40]!r} is too large")
    return fen


def parse_fen_or_none(value: str) -> int | None:
    """Like :func:`parse_fen` but empty stays None (unknown, not zero)."""
    v = clean(value)
    if is_empty(v):
        return None
    return parse_fen(v)


def parse_int(value: str, *, default: int = 0) -> int:
    """A whole count ("3", "3件", "3.0"); empty is ``default``."""
    v = clean(value)
    if is_empty(v):
        return default
    if v.isdecimal() and v.isascii():
        n = int(v)
        if n > MAX_QUANTITY:
            raise CellError(f"not a believable count: {v[:40]!r} is above {MAX_QUANTITY:,}")
        return n
    v = v.rstrip("件个份瓶盒套")
    try:
        d = Decimal(v)
    except ArithmeticError as exc:
        raise CellError(f"not a whole number: {value.strip()!r}") from exc
    if not d.is_finite() or d != d.to_integral_value() or d < 0:
        raise CellError(f"not a whole number: {value.strip()!r}")
    if d > MAX_QUANTITY:
        raise CellError(f"not a believable count: {value.strip()[:40]!r} is above {MAX_QUANTITY:,}")
    return int(d)


# 2016/5/23 22:02, 2016-05-23 22:02:11, 2016-05-23T22:02:11.123+08:00, 2016年5月23日 22:02,
# 2016.05.23, 20160523, 20160523 220211 — all read as local time unless an offset is given.
_DT_RE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(?:\.(\d{1,6}))?秒?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[ T]?(\d{2})(\d{2})(\d{2})?)?$")
_ZERO_DATES = ("0000-00-00", "0000/00/00", "1970-01-01 08:00:00")


@lru_cache(maxsize=16)
def _zone(name: str) -> tzinfo:
    return ZoneInfo(name)


_NO_OFFSET = timedelta(0)
# (zone, year, month, day) → the zone's UTC offset all that local day, or None when the
# offset changes during it (a DST switch): then the exact zoneinfo path is taken.
_DAY_OFFSETS: dict[tuple[str, int, int, int], timedelta | None] = {}


def _day_offset(tz: str, y: int, mo: int, d: int) -> timedelta | None:
    key = (tz, y, mo, d)
    try:
        return _DAY_OFFSETS[key]
    except KeyError:
        pass
    zi = _zone(tz)
    # Offsets change only at transitions, and no zone has two within one day: the
    # same offset at the first and the last instant means the same all day long.
    first = datetime(y, mo, d, tzinfo=zi).utcoffset()
    last = datetime(y, mo, d, 23, 59, 59, 999999, tzinfo=zi).utcoffset()
    offset = first if first == last else None
    if len(_DAY_OFFSETS) >= 100_000:
        _DAY_OFFSETS.clear()
    _DAY_OFFSETS[key] = offset
    return offset


def _local_to_utc(tz: str, y: int, mo: int, d: int, h: int, mi: int, s: int, v: str, us: int = 0) -> datetime:
    """Local wall time in zone ``tz`` as aware UTC; CellError for an impossible date."""
    try:
        offset = _day_offset(tz, y, mo, d)
        if offset is not None:
            return datetime(y, mo, d, h, mi, s, us, UTC) - offset
        local = datetime(y, mo, d, h, mi, s, us)  # noqa: DTZ001 - the zone is attached right below
        return local.replace(tzinfo=_zone(tz)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        # OverflowError: year 1 or 9999 shifted past datetime's range by the offset.
        raise CellError(f"not a real date: {v!r} ({exc})") from exc


def parse_datetime(value: str, tz: str = "Asia/Shanghai") -> datetime | None:
    """A date or date-time in the export's local zone ``tz``, returned as aware UTC; empty → None."""
    v = clean(value)
    if is_empty(v) or v.startswith(_ZERO_DATES):
        return None
    # Fast paths for what platforms export most, by slicing: "2016-05-23 22:02:11"
    # and "2016/5/23 22:02". Anything else (or anything odd) goes through the regexes.
    if len(v) == 19 and v[4] == "-" and v[7] == "-" and v[10] == " " and v[13] == ":" and v[16] == ":":
        digits = v[:4] + v[5:7] + v[8:10] + v[11:13] + v[14:16] + v[17:]
        if digits.isdecimal() and digits.isascii():
            return _local_to_utc(
                tz, int(v[:4]), int(v[5:7]), int(v[8:10]), int(v[11:13]), int(v[14:16]), int(v[17:]), v
            )
    elif 12 <= len(v) <= 16 and v[4] == "/" and " " in v:
        day, _, clock = v.partition(" ")
        ymd = day.split("/")
        hm = clock.split(":")
        if (
            len(ymd) == 3
            and len(hm) == 2
            and len(ymd[0]) == 4
            and 1 <= len(ymd[1]) <= 2
            and 1 <= len(ymd[2]) <= 2
            and 1 <= len(hm[0]) <= 2
            and len(hm[1]) == 2
        ):
            digits = "".join(ymd) + "".join(hm)
            if digits.isdecimal() and digits.isascii():
                return _local_to_utc(tz, int(ymd[0]), int(ymd[1]), int(ymd[2]), int(hm[0]), int(hm[1]), 0, v)
    m = _DT_RE.match(v)
    offset = None
    if m is not None:
        y, mo, d, h, mi, s, frac, offset = m.groups()
    else:
        m = _COMPACT_RE.match(v)
        if m is None:
            raise CellError(f"not a date or time: {v!r} (expected e.g. 2016-05-23 22:02:11)")
        y, mo, d, h, mi, s = m.groups()
        frac = None
    fields = (int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    us = int((frac or "0").ljust(6, "0"))
    if not offset:
        return _local_to_utc(tz, *fields, v, us)
    try:
        if offset == "Z":
            return datetime(*fields, us, tzinfo=UTC)
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return datetime(*fields, us, tzinfo=UTC) - sign * delta
    except (ValueError, OverflowError) as exc:
        raise CellError(f"not a real date: {v!r} ({exc})") from exc


_MOBILE_RE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")


def parse_phone(value: str) -> tuple[str | None, str | None]:
    """(E.164 or None, masked fragment or None) for a phone cell.

    Masked or encrypted values (138****1234, ``##…``) are kept only as a display
    fragment; they are never identity keys. An unusable number gives (None, None).
    """
    v = clean(value)
    if is_empty(v):
        return None, None
    m = _MOBILE_RE.match(v)
    if m is not None:
        # Fast path for plain mainland mobiles; everything else goes through phonenumbers.
        return "+86" + m.group(1), None
    if is_masked(v):
        return None, v[:64]
    try:
        return normalise_phone(v), None
    except PIIError:
        return None, None


# Province-level divisions: short name → official name. Direct-administered cities are
# their own province, so their "city" is the same name.
_PROVINCES = {
    "北京": "北京市", "天津": "天津市", "上海": "上海市", "重庆": "重庆市",
    "河北": "河北省", "山西": "山西省", "辽宁": "辽宁省", "吉林": "吉林省", "黑龙江": "黑龙江省",
    "江苏": "江苏省", "浙江": "浙江省", "安徽": "安徽省", "福建": "福建省", "江西": "江西省",
    "山东": "山东省", "河南": "河南省", "湖北": "湖北省", "湖南": "湖南省", "广东": "广东省",
    "海南": "海南省", "四川": "四川省", "贵州": "贵州省", "云南": "云南省", "陕西": "陕西省",
    "甘肃": "甘肃省", "青海": "青海省", "台湾": "台湾省",
    "内蒙古": "内蒙古自治区", "广西": "广西壮族自治区", "西藏": "西藏自治区",
    "宁夏": "宁夏回族自治区", "新疆": "新疆维吾尔自治区",
    "香港": "香港特别行政区", "澳门": "澳门特别行政区",
}  # fmt: skip
_MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})
# Longest short names first so that 黑龙江 wins over nothing and 内蒙古 over 内.
_SHORT_NAMES = sorted(_PROVINCES, key=len, reverse=True)
_CITY_RE = re.compile(r"^(.{1,12}?(?:自治州|地区|盟|市|州))")
_ZIP_RE = re.compile(r"[(（]\d{6}[)）]\s*$")


def normalise_province(value: str) -> str | None:
    """The official name of a province-level division ("浙江" → "浙江省"), or None."""
    v = clean(value)
    if not v:
        return None
    # Short names are two or three characters (内蒙古, 黑龙江): two dictionary lookups.
    return _PROVINCES.get(v[:3]) or _PROVINCES.get(v[:2])


def normalise_city(province: str | None, city: str) -> str | None:
    """The city name, with direct-administered cities named after themselves."""
    c = clean(city)
    if province in _MUNICIPALITIES:
        return province
    if not c or c in ("市辖区", "县", "省直辖县级行政区划"):
        return None
    return c[:32]


def split_address(address: str) -> tuple[str | None, str | None, str | None]:
    """(province, city, district) from "省 市 区 详细地址(邮编)" or free text "北京朝阳区…"."""
    a = clean(address)
    if a.endswith((")", "）")):
        # Cells are stripped, so only these can end with "(510000)".
        a = _ZIP_RE.sub("", a)
    if not a:
        return None, None, None
    province = normalise_province(a)
    if province is None:
        return None, None, None
    parts = a.split()
    if len(parts) >= 3 and normalise_province(parts[0]) == province:
        city = normalise_city(province, parts[1])
        return province, city, parts[2][:32]
    # Free text: drop the province prefix and look for the city suffix.
    short = next(s for s in _SHORT_NAMES if a.startswith(s))
    rest = a[len(province) :] if a.startswith(province) else a[len(short) :]
    rest = rest.lstrip()
    if province in _MUNICIPALITIES:
        return province, province, None
    m = _CITY_RE.match(rest)
    return province, (m.group(1) if m else None), None
