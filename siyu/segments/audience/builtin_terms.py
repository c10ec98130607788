"""The built-in audience terms: customer profile, tags, staff, groups, orders and scores.

Each term is declared once (``registry.register``): its names, its value, its SQL and
its evaluation on the audience index. Terms whose data belongs to another domain are
declared there (``channel:`` in ``siyu.acquisition.audience``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from siyu.kit.errors import Invalid
from siyu.kit.money import yuan_to_fen
from siyu.models import (
    Customer,
    CustomerScore,
    CustomerStats,
    CustomerTag,
    Follow,
    Group,
    GroupMember,
    Segment,
    Staff,
    Tag,
)
from siyu.segments.audience.ast import Expr, Term, TermError
from siyu.segments.audience.columns import NULL_TIME, Columns, Mask, epoch_us
from siyu.segments.audience.context import (
    CMP,
    MAX_DAYS,
    Ctx,
    Rel,
    day_start,
    day_window,
    in_ids,
    resolve,
    unknown,
)
from siyu.segments.audience.labels import (
    LAYER_ALIASES,
    LAYERS,
    RFM8_CLASSES,
    RFM_ALIASES,
    RFM_SEGMENTS,
)
from siyu.segments.audience.parser import AudienceSyntaxError, parse
from siyu.segments.audience.registry import NumberRange, TermKind, register

# Administrative suffixes people write or leave out: 广东 = 广东省, 上海 = 上海市.
PROVINCE_SUFFIXES = ("省", "市", "自治区", "壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区")
CITY_SUFFIXES = ("市",)  # 地区 / 自治州 / 盟 are matched when written out


def place_variants(name: str, suffixes: tuple[str, ...]) -> list[str]:
    """The spellings of a place with and without its administrative suffix."""
    base = name.strip()
    for suffix in sorted(suffixes, key=len, reverse=True):
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
            break
    return sorted({name.strip(), base, *(base + s for s in suffixes)})


# --- tag: ----------------------------------------------------------------------------


def _prepare_tags(names: list[str], ctx: Ctx) -> None:
    """Every tag name of the expression looked up in one query."""
    rows = ctx.session.execute(
        select(Tag.name, Tag.id).where(
            Tag.workspace_id == ctx.workspace_id, Tag.name.in_(names), Tag.deleted_at.is_(None)
        )
    )
    for name, tag_id in rows:
        ctx.names.setdefault(("tag", name), []).append(tag_id)


def _tag_ids(ctx: Ctx, name: str) -> list[int]:
    ids = ctx.names.get(("tag", name))
    if ids:
        return ids
    return resolve(ctx, "tag", name, select(Tag.id).where(Tag.name == name, Tag.deleted_at.is_(None)), Tag)


def _tag_sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    ids = _tag_ids(ctx, term.value)
    return Rel(CustomerTag.customer_id, [in_ids(CustomerTag.tag_id, ids)]) if ids else false()


register(
    TermKind(
        "tag",
        "has the enterprise tag NAME",
        notes="any tag group; deleted tags match nobody",
        aliases=("标签",),
        sql=_tag_sql,
        index=lambda term, ctx, cols: cols.having("tags", _tag_ids(ctx, term.value)),
        prepare=_prepare_tags,
        indexed=True,
    )
)


# --- layer:, rfm:, rfm8: (customer_scores) ---------------------------------------------


def _canonical_layer(value: str) -> str:
    key = value.strip().lower()
    key = LAYER_ALIASES.get(key, key)
    if key not in LAYERS:
        raise TermError(f"unknown layer {value!r}", "a layer: " + ", ".join(LAYERS))
    return key


def _canonical_rfm(value: str) -> str:
    key = RFM_ALIASES.get(value.strip(), value.strip().lower())
    if key not in RFM_SEGMENTS:
        raise TermError(f"unknown RFM segment {value!r}", "an RFM segment: " + ", ".join(RFM_SEGMENTS))
    return key


def _canonical_rfm8(value: str) -> str:
    key = RFM8_CLASSES.get(value.strip(), value.strip())
    if key not in RFM8_CLASSES.values():
        raise TermError(f"unknown RFM class {value!r}", "an RFM class: " + ", ".join(RFM8_CLASSES.values()))
    return key


def _score_label(term: Term) -> tuple[str, str]:
    """(customer_scores column, stored value) of a layer / rfm / rfm8 term."""
    if term.field == "layer":
        return LAYERS[term.value]
    return ("rfm_segment" if term.field == "rfm" else "rfm8"), term.value


def _score_sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    column, stored = _score_label(term)
    col = getattr(CustomerScore, column)
    return Rel(CustomerScore.customer_id, [CustomerScore.workspace_id == ctx.workspace_id, col == stored])


def _score_index(term: Term, ctx: Ctx, cols: Columns) -> Mask:
    column, stored = _score_label(term)
    code = cols.vocab.get(stored)
    return cols.none() if code is None else cols.scores[column] == code


register(
    TermKind(
        "layer",
        "is in that layer (from `siyu segments recompute`)",
        notes="see the layer table",
        aliases=("分层", "层级"),
        canonical=_canonical_layer,
        sql=_score_sql,
        index=_score_index,
    )
)
register(
    TermKind(
        "rfm",
        "is in that R×F grid cell",
        value="SEGMENT",
        notes=", ".join(f"`{s}`" for s in RFM_SEGMENTS) + " (Chinese: " + ", ".join(RFM_ALIASES) + ")",
        canonical=_canonical_rfm,
        sql=_score_sql,
        index=_score_index,
        indexed=True,
    )
)
register(
    TermKind(
        "rfm8",
        "is in that Chinese 8-class RFM group",
        value="类别",
        notes=", ".join(RFM8_CLASSES.values()) + "; or the R F M digits (`rfm8:111` = 重要价值)",
        canonical=_canonical_rfm8,
        sql=_score_sql,
        index=_score_index,
        indexed=True,
    )
)


# --- province:, city: ------------------------------------------------------------------


def _place(term: Term) -> tuple[Any, list[str]]:
    province = term.field == "province"
    col = Customer.province if province else Customer.city
    return col, place_variants(term.value, PROVINCE_SUFFIXES if province else CITY_SUFFIXES)


def _place_sql(term: Term, ctx: Ctx) -> ColumnElement[bool]:
    col, variants = _place(term)
    # Under an odd number of NOTs a NULL city must read as false, not unknown; in
    # positive positions plain IN lets the planner use the index as it estimates.
    cond: ColumnElement[bool] = (
        and_(col.is_not(None), col.in_(variants)) if ctx.negated else col.in_(variants)
    )
    return cond


def _place_index(term: Term, ctx: Ctx, cols: Columns) -> Mask:
    _, variants = _place(term)
    codes = cols.province if term.field == "province" else cols.city
    lut = np.zeros(len(cols.vocab) + 1, dtype=bool)  # index 0 is NULL (code -1)
    lut[np.array(cols.known(variants), dtype=np.int64) + 1] = True
    result: Mask = lut[codes + 1]
    return result


register(
    TermKind(
        "province",
        "has that province on the profile",
        notes="`广东` = `广东省`; the suffixes 省, 市, 自治区 … are optional",
        aliases=("省", "省份"),
        sql=_place_sql,
        index=_place_index,
        cacheable=False,
    )
)
register(
    TermKind(
        "city",
        "has that city on the profile",
        notes="`深圳` = `深圳市`",
        aliases=("城市", "市"),
        sql=_place_sql,
        index=_place_index,
        cacheable=False,
    )
)


# --- staff:, in_group: ---------------------------------------------------------------


def _staff_ids(ctx: Ctx, name: str) -> list[int]:
    return resolve(
        ctx,
        "staff account",
        name,
        select(Staff.id).where(or_(Staff.userid == name, Staff.name == name)),
        Staff,
    )


def _staff_sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    ids = _staff_ids(ctx, term.value)
    if not ids:
        return false()
    return Rel(Follow.customer_id, [in_ids(Follow.staff_id, ids), Follow.state == "active"])


def _group_ids(ctx: Ctx, name: str) -> list[int]:
    return resolve(ctx, "group", name, select(Group.id).where(Group.name == name), Group)


def _group_sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    ids = _group_ids(ctx, term.value)
    if not ids:
        return false()
    return Rel(
        GroupMember.customer_id,
        [
            in_ids(GroupMember.group_id, ids),
            GroupMember.state == "active",
            GroupMember.customer_id.is_not(None),
        ],
    )


register(
    TermKind(
        "staff",
        "is an **active** friend of that staff account",
        value="USERID",
        notes="the WeCom userid, or the staff name",
        aliases=("员工", "导购"),
        sql=_staff_sql,
        index=lambda term, ctx, cols: cols.having("staff", _staff_ids(ctx, term.value)),
        indexed=True,
    )
)
register(
    TermKind(
        "in_group",
        "is a current member of a customer group of that name",
        notes="members who left do not count",
        aliases=("群", "客户群", "group"),
        sql=_group_sql,
        index=lambda term, ctx, cols: cols.having("groups", _group_ids(ctx, term.value)),
        indexed=True,
    )
)


# --- category:, product: (customer_stats JSON keys) ------------------------------------


def _has_key_sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    col = CustomerStats.categories if term.field == "category" else CustomerStats.products
    has: ColumnElement[bool]
    if ctx.dialect == "postgresql":
        has = type_coerce(col, JSONB).has_key(term.value)
    elif ctx.dialect == "sqlite":
        each = func.json_each(col).table_valued("key")
        has = exists(select(1).select_from(each).where(each.c.key == term.value))
    else:
        raise NotImplementedError(f"category terms are not supported on {ctx.dialect}")
    return Rel(CustomerStats.customer_id, [CustomerStats.workspace_id == ctx.workspace_id, has])


register(
    TermKind(
        "category",
        "bought that category (paid items)",
        notes="from the maintained customer aggregates",
        aliases=("品类", "类目"),
        sql=_has_key_sql,
        index=lambda term, ctx, cols: cols.having("category", cols.known([term.value])),
    )
)
register(
    TermKind(
        "product",
        "bought that product",
        notes="same",
        aliases=("商品",),
        sql=_has_key_sql,
        index=lambda term, ctx, cols: cols.having("product", cols.known([term.value])),
    )
)


# --- segment: ----------------------------------------------------------------------------


def saved_expression(ctx: Ctx, name: str) -> Expr | None:
    """The parsed expression of saved segment ``name`` (None, with a warning, when there is none).

    Refuses a segment that refers to itself, and one whose stored text no longer reads
    (say a number now out of range): Invalid names the segment and the problem.
    """
    if name in ctx.expanding:
        raise Invalid(f"segment {name!r} refers to itself (through segment: terms)", field="expression")
    text = ctx.session.scalar(
        select(Segment.expression).where(Segment.workspace_id == ctx.workspace_id, Segment.name == name)
    )
    if text is None:
        if ("segment", name) not in ctx.seen:
            ctx.seen.add(("segment", name))
            known = ctx.session.scalars(select(Segment.name).where(Segment.workspace_id == ctx.workspace_id))
            ctx.warnings.append(unknown("saved segment", name, list(known)))
        return None
    try:
        return parse(text)
    except AudienceSyntaxError as exc:
        raise unreadable_segment(name, exc) from None


def unreadable_segment(name: str, exc: AudienceSyntaxError) -> Invalid:
    """The error for a saved segment whose stored text no longer reads."""
    return Invalid(
        f"saved segment {name!r} cannot be read: {exc.problem}; save it again with a valid expression",
        field="expression",
    )


def _segment_sql(term: Term, ctx: Ctx) -> ColumnElement[bool]:
    """The saved segment's expression, expanded in place (live, not a snapshot)."""
    from siyu.segments.audience.compiler import predicate

    tree = saved_expression(ctx, term.value)
    if tree is None:
        return false()
    ctx.expanding.add(term.value)
    try:
        return predicate(tree, ctx)
    finally:
        ctx.expanding.discard(term.value)


def _segment_index(term: Term, ctx: Ctx, cols: Columns) -> Mask:
    from siyu.segments.audience.index import mask

    tree = saved_expression(ctx, term.value)
    if tree is None:
        return cols.none()
    ctx.expanding.add(term.value)
    try:
        return mask(tree, ctx, cols)
    finally:
        ctx.expanding.discard(term.value)


register(
    TermKind(
        "segment",
        "is in the saved segment NAME",
        notes="expanded live, not a snapshot; a segment may not lead back to itself",
        aliases=("人群", "人群包"),
        sql=_segment_sql,
        index=_segment_index,
        cacheable=False,
    )
)


# --- spent, orders (customer_stats; no row = 0) -----------------------------------------


def _amount(term: Term) -> tuple[Any, int]:
    if term.field == "spent":
        return CustomerStats.net_fen, yuan_to_fen(term.value)
    return CustomerStats.effective_orders_count, int(term.value)


def _amount_sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    # Customers without a stats row have spent 0 in 0 orders.
    amount, limit = _amount(term)
    compare = CMP[term.op]
    ws = CustomerStats.workspace_id == ctx.workspace_id
    if compare(0, limit):
        return Rel(CustomerStats.customer_id, [ws, not_(compare(amount, limit))], True)
    return Rel(CustomerStats.customer_id, [ws, compare(amount, limit)])


def _amount_index(term: Term, ctx: Ctx, cols: Columns) -> Mask:
    _, limit = _amount(term)
    values = cols.net_fen if term.field == "spent" else cols.orders
    return np.asarray(CMP[term.op](values, limit), dtype=bool)


register(
    TermKind(
        "spent",
        "net spend (paid − refunded), in yuan",
        value="YUAN",
        notes="`spent>=3000`, `spent<99.5`, `spent>=3000元`",
        aliases=("消费", "消费金额"),
        number=NumberRange(Decimal(0), Decimal(10_000_000_000), decimals=2, unit="yuan", suffix="元"),
        sql=_amount_sql,
        index=_amount_index,
        indexed=True,
    )
)
register(
    TermKind(
        "orders",
        "paid orders not fully refunded",
        value="N",
        aliases=("订单数",),
        number=NumberRange(Decimal(0), Decimal(1_000_000_000), integer=True),
        sql=_amount_sql,
        index=_amount_index,
    )
)


# --- last_order_days, first_order_days ----------------------------------------------------


def _days_sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    """``(today - local day of paid) OP n`` as a range on the UTC column (index-friendly)."""
    col: Any = CustomerStats.last_paid_at if term.field == "last_order_days" else CustomerStats.first_paid_at
    at_most, at_least = day_window(term.op, int(term.value))
    conds: list[ColumnElement[bool]] = []
    if at_most is not None:  # days <= k  <=>  paid on/after today-k
        bound = day_start(ctx, at_most)
        conds.append(col.is_not(None) if bound is None else col >= bound)
    if at_least is not None:  # days >= k  <=>  paid before today-k+1
        bound = day_start(ctx, at_least - 1)
        conds.append(false() if bound is None else col < bound)
    return Rel(CustomerStats.customer_id, [CustomerStats.workspace_id == ctx.workspace_id, and_(*conds)])


def _days_index(term: Term, ctx: Ctx, cols: Columns) -> Mask:
    """The same day bounds as ``_days_sql``, on the payment-time column."""
    col = cols.last_paid if term.field == "last_order_days" else cols.first_paid
    at_most, at_least = day_window(term.op, int(term.value))
    mask: Mask = col != NULL_TIME
    if at_most is not None:  # paid on/after today-k
        bound = day_start(ctx, at_most)
        if bound is not None:
            mask &= col >= epoch_us(bound)
    if at_least is not None:  # paid before today-k+1
        bound = day_start(ctx, at_least - 1)
        mask = np.zeros(len(col), dtype=bool) if bound is None else mask & (col < epoch_us(bound))
    return mask


_DAYS = NumberRange(Decimal(0), Decimal(MAX_DAYS), integer=True, unit="days")
register(
    TermKind(
        "last_order_days",
        "days since the last paid order",
        value="N",
        notes="business days in the workspace time zone; today = 0",
        number=_DAYS,
        sql=_days_sql,
        index=_days_index,
        indexed=True,
    )
)
register(
    TermKind(
        "first_order_days",
        "days since the first paid order",
        value="N",
        notes="same",
        number=_DAYS,
        sql=_days_sql,
        index=_days_index,
    )
)


# --- p_alive (customer_scores) ----------------------------------------------------------


def _p_alive_sql(term: Term, ctx: Ctx) -> Rel | ColumnElement[bool]:
    cond = CMP[term.op](CustomerScore.p_alive, float(term.value))
    return Rel(CustomerScore.customer_id, [CustomerScore.workspace_id == ctx.workspace_id, cond])


def _p_alive_index(term: Term, ctx: Ctx, cols: Columns) -> Mask:
    with np.errstate(invalid="ignore"):
        return np.asarray(CMP[term.op](cols.p_alive, float(term.value)), dtype=bool)


register(
    TermKind(
        "p_alive",
        "CLV probability of being alive (0–1)",
        value="X",
        notes="from `siyu segments recompute`",
        number=NumberRange(Decimal(0), Decimal(1), decimals=6),
        sql=_p_alive_sql,
        index=_p_alive_index,
    )
)
