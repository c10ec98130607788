"""The audience language as users type it: terms, operators, quotes, errors, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.kit.errors import Invalid
from siyu.segments.audience import (
    And,
    AudienceSyntaxError,
    Expr,
    Not,
    Or,
    Term,
    from_json,
    normalise,
    parse,
    registry,
    to_json,
    to_text,
)
from siyu.segments.audience.labels import LAYERS, RFM8_CLASSES, RFM_SEGMENTS


def T(field: str, value: str, op: str = ":") -> Term:
    return Term(field, value, op)


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("tag:VIP", T("tag", "VIP")),
        ("tag:高价值客户", T("tag", "高价值客户")),
        ("layer:new", T("layer", "new")),
        ("layer:新客", T("layer", "new")),
        ("layer:老客", T("layer", "old")),
        ("layer:SVIP", T("layer", "svip")),
        ("layer:高价值", T("layer", "high_value")),
        ("layer:潜力", T("layer", "potential")),
        ("layer:沉默", T("layer", "silent")),
        ("layer:复购", T("layer", "repeat")),
        ("rfm:champions", T("rfm", "champions")),
        ("rfm:at_risk", T("rfm", "at_risk")),
        ("rfm8:重要价值", T("rfm8", "重要价值")),
        ("rfm8:001", T("rfm8", "重要挽留")),
        ("province:广东", T("province", "广东")),
        ("city:深圳", T("city", "深圳")),
        ("channel:douyin_live", T("channel", "douyin_live")),
        ("staff:zhangsan", T("staff", "zhangsan")),
        ("in_group:宝妈群1", T("in_group", "宝妈群1")),
        ("category:面霜", T("category", "面霜")),
        ("product:SKU-001", T("product", "SKU-001")),
        ("spent>=3000", T("spent", "3000", ">=")),
        ("spent > 99.50", T("spent", "99.5", ">")),
        ("spent>=3000元", T("spent", "3000", ">=")),
        ("spent≥3000", T("spent", "3000", ">=")),
        ("orders<=2", T("orders", "2", "<=")),
        ("orders=1", T("orders", "1", "=")),
        ("orders==1", T("orders", "1", "=")),
        ("last_order_days<30", T("last_order_days", "30", "<")),
        ("first_order_days<=7", T("first_order_days", "7", "<=")),
        ("p_alive<0.3", T("p_alive", "0.3", "<")),
        ("标签:VIP", T("tag", "VIP")),
        ("消费>=100", T("spent", "100", ">=")),
        ("tag：VIP", T("tag", "VIP")),
        ("TAG:VIP", T("tag", "VIP")),
        ("tag: VIP", T("tag", "VIP")),
    ],
)
def test_every_term(text: str, term: Term) -> None:
    assert parse(text) == term


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('tag:"双十一 新客"', "双十一 新客"),
        ("tag:“双十一 新客”", "双十一 新客"),
        ("tag:「双十一 新客」", "双十一 新客"),
        ('tag:"say \\"hi\\""', 'say "hi"'),
        ('tag:"AND"', "AND"),
        ("tag:AND", "AND"),
        ('tag:"a(b)"', "a(b)"),
    ],
)
def test_quoted_names(text: str, value: str) -> None:
    assert parse(text) == T("tag", value)


A, B, C = T("tag", "A"), T("tag", "B"), T("tag", "C")


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("tag:A OR tag:B AND tag:C", Or((A, And((B, C))))),
        ("tag:A AND tag:B OR tag:C", Or((And((A, B)), C))),
        ("NOT tag:A AND tag:B", And((Not(A), B))),
        ("NOT (tag:A AND tag:B)", Not(And((A, B)))),
        ("(tag:A OR tag:B) AND tag:C", And((Or((A, B)), C))),
        ("tag:A and tag:B or not tag:C", Or((And((A, B)), Not(C)))),
        ("tag:A 且 tag:B 或 非 tag:C", Or((And((A, B)), Not(C)))),
        ("tag:A且tag:B或非tag:C", Or((And((A, B)), Not(C)))),
        ("tag:A && tag:B || !tag:C", Or((And((A, B)), Not(C)))),
        ("tag:A&&tag:B||!tag:C", Or((And((A, B)), Not(C)))),
        ("（tag:A 或 tag:B）且 tag:C", And((Or((A, B)), C))),
        ("NOT NOT tag:A", Not(Not(A))),
        ("tag:A AND tag:B AND tag:C", And((A, B, C))),
        ("(tag:A AND tag:B) AND tag:C", And((A, B, C))),
        ("((tag:A))", A),
    ],
)
def test_operators_and_precedence(text: str, tree: Expr) -> None:
    assert parse(text) == tree


def test_chinese_or_inside_a_name_is_not_an_operator() -> None:
    assert parse("tag:沉默或流失") == T("tag", "沉默或流失")
    assert parse("tag:非会员") == T("tag", "非会员")


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("tag:VIP AND ", 13, "expected a term after AND"),
        ("tag:VIP tag:B", 9, "terms are never joined implicitly"),
        ("tag:VIP OR OR tag:B", 12, "expected a term after OR"),
        ("(tag:A", 7, "never closed"),
        ("tag:A)", 6, "no matching '('"),
        ("", 1, "empty"),
        ("   ", 4, "empty"),
        ("foo:bar", 1, "unknown field 'foo'"),
        ("layer:gold", 7, "unknown layer 'gold'"),
        ("rfm:best", 5, "unknown RFM segment"),
        ("rfm8:重要", 6, "unknown RFM class"),
        ("spent>=abc", 8, "spent needs a number"),
        ("spent>=1.234", 8, "at most 2 decimals"),
        ("orders>=1.5", 9, "whole number"),
        ("p_alive<2", 9, "p_alive must be from 0 to 1, got 2"),
        ("tag>=3", 1, "takes a name"),
        ("spent:3000", 1, "compares a number"),
        ('tag:"VIP', 5, "never closed"),
        ("tag:", 5, "expected a value"),
        ("NOT", 4, "expected a term after NOT"),
        ("tag:A AND ()", 12, "inside '('"),
        ("tag:A (tag:B)", 7, "implicitly"),
        ("tag", 4, "expected ':' or a comparison"),
        ("tag:A AND 中文:x", 11, "unknown field '中文'"),
        ("order>=3", 1, "unknown field 'order' (did you mean 'orders'?)"),
    ],
)
def test_syntax_errors_say_where(text: str, column: int, problem: str) -> None:
    with pytest.raises(AudienceSyntaxError) as info:
        parse(text)
    err = info.value
    assert err.column == column
    assert problem in err.problem
    assert err.expected
    assert err.message.startswith(f"第 {column} 列: ")
    assert isinstance(err, Invalid)  # → exit 2 in the CLI, 422 over HTTP


def test_caret_points_at_the_column_even_after_chinese() -> None:
    with pytest.raises(AudienceSyntaxError) as info:
        parse("tag:会员 AND ")
    lines = info.value.message.splitlines()
    assert lines[0] == "第 12 列: expected a term after AND"
    # 会员 takes four terminal cells: the caret sits under the end of the text.
    assert lines[1] == "  tag:会员 AND "
    assert lines[2] == "  " + " " * 13 + "^"


def test_the_first_error_from_the_left_is_reported() -> None:
    with pytest.raises(AudienceSyntaxError) as info:
        parse("tag:A tag:B AND layer:nope")
    assert info.value.column == 7


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(AudienceSyntaxError, match="nested deeper"):
        parse("(" * 500 + "tag:A" + ")" * 500)
    with pytest.raises(AudienceSyntaxError, match="longer than"):
        parse("tag:A OR " * 5000 + "tag:B")


# --- JSON form -------------------------------------------------------------------


def test_json_form_shape() -> None:
    tree = parse("tag:VIP AND NOT (layer:新客 OR spent>=3000) AND p_alive<0.3")
    assert to_json(tree) == {
        "and": [
            {"term": "tag", "value": "VIP"},
            {
                "not": {
                    "or": [{"term": "layer", "value": "new"}, {"term": "spent", "op": ">=", "value": 3000}]
                }
            },
            {"term": "p_alive", "op": "<", "value": 0.3},
        ]
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "expression"),
        ({"and": []}, "expression.and"),
        ({"and": [{"term": "tag"}]}, "expression.and[0].value"),
        (
            {"or": [{"term": "tag", "value": "A"}, {"term": "layer", "value": "gold"}]},
            "expression.or[1].value",
        ),
        ({"not": {"term": "nope", "value": "x"}}, "expression.not.term"),
        ({"term": "spent", "op": "~", "value": 1}, "expression.op"),
        ({"term": "spent", "value": 1}, "expression.op"),
        ({"term": "tag", "value": "A", "extra": 1}, "expression"),
        ({"and": [{"term": "tag", "value": "A"}], "or": []}, "expression"),
        ({"term": "orders", "op": ">=", "value": True}, "expression.value"),
    ],
)
def test_bad_json_names_the_path(data: object, field: str) -> None:
    with pytest.raises(Invalid) as info:
        from_json(data)
    assert info.value.field == field


# --- property tests: print → parse and JSON round trips ----------------------------

_name_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
names = st.text(_name_chars, min_size=1, max_size=12).filter(lambda s: s.strip() != "")
name_terms = st.one_of(
    st.builds(
        Term,
        st.sampled_from(["tag", "province", "city", "channel", "staff", "in_group", "category", "segment"]),
        names,
    ),
    st.builds(Term, st.just("layer"), st.sampled_from(sorted(LAYERS))),
    st.builds(Term, st.just("rfm"), st.sampled_from(RFM_SEGMENTS)),
    st.builds(Term, st.just("rfm8"), st.sampled_from(sorted(RFM8_CLASSES.values()))),
)
ops = st.sampled_from([">=", ">", "<=", "<", "="])
number_terms = st.one_of(
    st.builds(lambda n, op: Term("spent", str(n), op), st.integers(0, 10**7), ops),
    st.builds(lambda n, op: Term("spent", f"{n}.5", op), st.integers(0, 999), ops),
    st.builds(lambda n, op: Term("orders", str(n), op), st.integers(0, 500), ops),
    st.builds(lambda n, op: Term("last_order_days", str(n), op), st.integers(0, 3000), ops),
    st.builds(lambda n, op: Term("p_alive", f"0.{n}", op), st.integers(1, 99).filter(lambda n: n % 10), ops),
)
leaves = st.one_of(name_terms, number_terms)
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.builds(Not, kids),
        st.builds(lambda xs: And(tuple(xs)), st.lists(kids, min_size=2, max_size=4)),
        st.builds(lambda xs: Or(tuple(xs)), st.lists(kids, min_size=2, max_size=4)),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_print_then_parse_round_trips(tree: Expr) -> None:
    assert parse(to_text(tree)) == normalise(tree)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_json_round_trips(tree: Expr) -> None:
    data = to_json(tree)
    assert from_json(data) == normalise(tree)
    assert to_json(from_json(data)) == to_json(normalise(tree))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_fails_with_a_column(text: str) -> None:
    error: AudienceSyntaxError | None = None
    try:
        tree = parse(text)
    except AudienceSyntaxError as exc:
        error = exc
    if error is None:
        assert parse(to_text(tree)) == tree
    else:
        assert 1 <= error.column <= len(text) + 1
        assert error.expected


# --- numbers outside a term's declared range ---------------------------------------------

NUMBER_KINDS = [k for k in registry.kinds() if k.number is not None]


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        (
            "orders>99999999999999999999",
            8,
            "orders must be from 0 to 1,000,000,000, got 99999999999999999999",
        ),
        ("tag:VIP AND spent>=1e30", 20, "spent must be from 0 to 10,000,000,000 yuan, got 1e30"),
        ("spent>=10000000000.01", 8, "spent must be from 0 to 10,000,000,000 yuan"),
        ("last_order_days<73001", 17, "last_order_days must be from 0 to 73,000 days"),
        ("first_order_days>=1E+5", 19, "first_order_days must be from 0 to 73,000 days"),
        ("p_alive>1.0000001", 9, "p_alive must be from 0 to 1, got 1.0000001"),
        ("p_alive>0.0000001", 9, "at most 6 decimals"),
        ("orders>=-1", 9, "orders must be from 0 to 1,000,000,000, got -1"),
    ],
)
def test_numbers_out_of_range_name_the_term_and_the_range(text: str, column: int, problem: str) -> None:
    with pytest.raises(AudienceSyntaxError) as info:
        parse(text)
    assert info.value.column == column
    assert problem in info.value.problem
    assert "from 0 to" in info.value.expected


def test_numbers_at_the_bounds_are_accepted() -> None:
    assert parse("orders<=1000000000") == T("orders", "1000000000", "<=")
    assert parse("spent<=10000000000.00") == T("spent", "10000000000", "<=")
    assert parse("last_order_days>=73000") == T("last_order_days", "73000", ">=")
    assert parse("p_alive>=0.000001") == T("p_alive", "0.000001", ">=")


def test_json_numbers_out_of_range_name_the_path_and_the_range() -> None:
    with pytest.raises(Invalid) as info:
        from_json({"term": "orders", "op": ">", "value": 10**20})
    assert info.value.field == "expression.value"
    assert "orders must be from 0 to 1,000,000,000" in info.value.message


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(NUMBER_KINDS),
    op=ops,
    n=st.one_of(st.integers(0, 10**30), st.integers(0, 2 * 10**10), st.integers(0, 100_000)),
)
def test_a_whole_number_parses_exactly_when_it_is_in_the_terms_range(
    kind: registry.TermKind, op: str, n: int
) -> None:
    rng = kind.number
    assert rng is not None
    text = f"{kind.name}{op}{n}"
    if rng.low <= n <= rng.high:
        assert parse(text) == Term(kind.name, str(n), op)
        assert to_json(parse(text))["value"] == n
        return
    with pytest.raises(AudienceSyntaxError) as info:
        parse(text)
    assert info.value.column == len(kind.name) + len(op) + 1
    assert info.value.problem.startswith(f"{kind.name} must be from {rng.describe()}")
