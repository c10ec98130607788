"""The audience expression tree, its vocabulary, and printing back to text.

A tree is immutable and normalised: ``And``/``Or`` hold two or more operands and never
a direct child of their own kind, so that printing and parsing round-trip exactly.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# Terms naming a thing: ``field:value``.
NAME_FIELDS = (
    "tag",
    "layer",
    "rfm",
    "rfm8",
    "province",
    "city",
    "channel",
    "staff",
    "in_group",
    "category",
    "product",
    "segment",
)
# Terms comparing a number: ``field OP number``.
NUMBER_FIELDS = ("spent", "orders", "last_order_days", "first_order_days", "p_alive")
COMPARISONS = (">=", "<=", ">", "<", "=")
# Which number fields take whole numbers only.
INTEGER_FIELDS = ("orders", "last_order_days", "first_order_days")

# Chinese (and a few spelling) aliases of field names; the canonical name is printed.
FIELD_ALIASES: dict[str, str] = {
    "标签": "tag",
    "分层": "layer",
    "层级": "layer",
    "省": "province",
    "省份": "province",
    "城市": "city",
    "市": "city",
    "渠道": "channel",
    "员工": "staff",
    "导购": "staff",
    "群": "in_group",
    "客户群": "in_group",
    "group": "in_group",
    "品类": "category",
    "类目": "category",
    "商品": "product",
    "人群": "segment",
    "人群包": "segment",
    "消费": "spent",
    "消费金额": "spent",
    "订单数": "orders",
}

# layer value -> (customer_scores column, stored value)
LAYERS: dict[str, tuple[str, str]] = {
    "new": ("layer_age", "new"),
    "old": ("layer_age", "old"),
    "svip": ("layer_tier", "svip"),
    "vip": ("layer_tier", "vip"),
    "regular": ("layer_tier", "regular"),
    "high_value": ("layer_value", "high_value"),
    "potential": ("layer_value", "potential"),
    "silent": ("layer_value", "silent"),
    "lead": ("lifecycle", "lead"),
    "friend": ("lifecycle", "friend"),
    "first_purchase": ("lifecycle", "first_purchase"),
    "repeat": ("lifecycle", "repeat"),
    "advocate": ("lifecycle", "advocate"),
}
LAYER_ALIASES: dict[str, str] = {
    "新客": "new",
    "新客户": "new",
    "老客": "old",
    "老客户": "old",
    "超级vip": "svip",
    "会员": "vip",
    "普通": "regular",
    "普通客户": "regular",
    "高价值": "high_value",
    "high-value": "high_value",
    "潜力": "potential",
    "潜力客户": "potential",
    "沉默": "silent",
    "沉默客户": "silent",
    "线索": "lead",
    "潜客": "lead",
    "好友": "friend",
    "首购": "first_purchase",
    "first-purchase": "first_purchase",
    "复购": "repeat",
    "推荐官": "advocate",
    "传播者": "advocate",
}

# R×F grid labels (METRICS.md), with the Chinese names operators use.
RFM_SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
)
RFM_ALIASES: dict[str, str] = {
    "冠军": "champions",
    "忠诚": "loyal",
    "潜在忠诚": "potential_loyalists",
    "新客": "new",
    "有希望": "promising",
    "需关注": "need_attention",
    "即将沉睡": "about_to_sleep",
    "有风险": "at_risk",
    "不能失去": "cant_lose",
    "沉睡": "hibernating",
}
# Chinese 8 classes, keyed by their R F M digits (1 = high).
RFM8_CLASSES: dict[str, str] = {
    "111": "重要价值",
    "101": "重要发展",
    "011": "重要保持",
    "001": "重要挽留",
    "110": "一般价值",
    "100": "一般发展",
    "010": "一般保持",
    "000": "一般挽留",
}


@dataclass(frozen=True)
class Term:
    """One condition. ``op`` is ``":"`` for name terms, a comparison for number terms.

    Number values are kept as canonical decimal text ("3000", "0.3") so that trees
    compare equal after a round trip through text or JSON.
    """

    field: str
    value: str
    op: str = ":"


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


Expr = Term | Not | And | Or


def all_of(*operands: Expr) -> Expr:
    """AND of the operands, flattened (one operand is returned as is)."""
    flat: list[Expr] = []
    for op in operands:
        flat.extend(op.operands if isinstance(op, And) else (op,))
    if not flat:
        raise ValueError("AND needs at least one operand")
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def any_of(*operands: Expr) -> Expr:
    """OR of the operands, flattened (one operand is returned as is)."""
    flat: list[Expr] = []
    for op in operands:
        flat.extend(op.operands if isinstance(op, Or) else (op,))
    if not flat:
        raise ValueError("OR needs at least one operand")
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def normalise(expr: Expr) -> Expr:
    """The same tree with nested AND/OR flattened (the form the parser produces)."""
    if isinstance(expr, Term):
        return expr
    if isinstance(expr, Not):
        return Not(normalise(expr.operand))
    if isinstance(expr, And):
        return all_of(*(normalise(o) for o in expr.operands))
    return any_of(*(normalise(o) for o in expr.operands))


def terms(expr: Expr) -> list[Term]:
    """Every term in the tree, left to right."""
    if isinstance(expr, Term):
        return [expr]
    if isinstance(expr, Not):
        return terms(expr.operand)
    return [t for o in expr.operands for t in terms(o)]


class TermError(ValueError):
    """A term whose value is not valid for its field; ``expected`` says what is."""

    def __init__(self, message: str, expected: str, *, on_field: bool = False) -> None:
        super().__init__(message)
        self.expected = expected
        self.on_field = on_field  # the field (not the value) is what is wrong


def canonical_number(field: str, text: str) -> str:
    """The canonical text of a number for ``field``, or TermError."""
    kind = "a whole number" if field in INTEGER_FIELDS else "a number"
    try:
        dec = Decimal(text)
    except InvalidOperation:
        raise TermError(f"{field} needs {kind}, got {text!r}", kind) from None
    if not dec.is_finite() or dec < 0:
        raise TermError(f"{field} needs {kind} that is zero or more, got {text!r}", kind)
    if field in INTEGER_FIELDS and dec != dec.to_integral_value():
        raise TermError(f"{field} needs a whole number, got {text!r}", kind)
    if field == "spent" and dec != dec.quantize(Decimal("0.01")):
        raise TermError(f"spent is in yuan with at most 2 decimals, got {text!r}", "an amount in yuan")
    if field == "p_alive" and dec > 1:
        raise TermError(f"p_alive is a probability between 0 and 1, got {text!r}", "a number from 0 to 1")
    if dec == dec.to_integral_value():
        return str(dec.quantize(Decimal(1)))
    return format(dec.normalize(), "f")


def canonical_name(field: str, value: str) -> str:
    """The canonical value of a name term (aliases resolved), or TermError."""
    if not value.strip():
        raise TermError(f"{field}: the name is empty", f"a {field} name")
    if field == "layer":
        key = value.strip().lower()
        key = LAYER_ALIASES.get(key, key)
        if key not in LAYERS:
            raise TermError(f"unknown layer {value!r}", "a layer: " + ", ".join(LAYERS))
        return key
    if field == "rfm":
        key = value.strip().lower()
        key = RFM_ALIASES.get(value.strip(), key)
        if key not in RFM_SEGMENTS:
            raise TermError(f"unknown RFM segment {value!r}", "an RFM segment: " + ", ".join(RFM_SEGMENTS))
        return key
    if field == "rfm8":
        key = RFM8_CLASSES.get(value.strip(), value.strip())
        if key not in RFM8_CLASSES.values():
            raise TermError(
                f"unknown RFM class {value!r}", "an RFM class: " + ", ".join(RFM8_CLASSES.values())
            )
        return key
    return value


def make_term(field: str, op: str, value: str) -> Term:
    """A validated, canonical term; TermError says what is wrong."""
    field = FIELD_ALIASES.get(field, field.lower())
    if field in NAME_FIELDS:
        if op != ":":
            raise TermError(f"{field} takes a name after ':', not {op!r}", f"'{field}:NAME'", on_field=True)
        return Term(field, canonical_name(field, value))
    if field in NUMBER_FIELDS:
        if op not in COMPARISONS:
            raise TermError(
                f"{field} compares a number: use >=, >, <=, < or =",
                f"'{field}>=N' (>=, >, <=, <, =)",
                on_field=True,
            )
        return Term(field, canonical_number(field, value), op)
    fields = ", ".join(NAME_FIELDS + NUMBER_FIELDS)
    close = difflib.get_close_matches(field, NAME_FIELDS + NUMBER_FIELDS + tuple(FIELD_ALIASES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise TermError(f"unknown field {field!r}{hint}", f"a field: {fields}", on_field=True)


# Characters that end a bare (unquoted) value; such values are printed quoted.
_NEEDS_QUOTES = re.compile(r"""[\s()（）"“”「」]|&&|\|\||^[!！]|[且或]""")


def quote(value: str) -> str:
    """A value as it must be written: bare when safe, otherwise in ASCII quotes."""
    if value and not _NEEDS_QUOTES.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_text(expr: Expr) -> str:
    """The expression as text that ``parse`` reads back to the same tree."""
    if isinstance(expr, Term):
        if expr.op == ":":
            return f"{expr.field}:{quote(expr.value)}"
        return f"{expr.field}{expr.op}{expr.value}"
    if isinstance(expr, Not):
        inner = to_text(expr.operand)
        return f"NOT ({inner})" if isinstance(expr.operand, And | Or) else f"NOT {inner}"
    if isinstance(expr, And):
        return " AND ".join(f"({to_text(o)})" if isinstance(o, Or) else to_text(o) for o in expr.operands)
    return " OR ".join(to_text(o) for o in expr.operands)
