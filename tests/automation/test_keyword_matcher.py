"""The keyword matcher finds exactly what a plain loop of ``in`` / ``==`` / ``re.search`` finds."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.automation.keywords.matcher import Matcher, Pattern, plain_loop, required_literal

ALPHABET = "abcAB退款发货ßSſK\u212a ."
words = st.text(alphabet=ALPHABET, min_size=1, max_size=4)
texts = st.text(alphabet=ALPHABET, max_size=30)

REGEX_PIECES = st.sampled_from(
    [
        "a",
        "b",
        "退款",
        ".",
        "a+",
        "b*",
        "[ab]",
        "(?:a|b)",
        "\\d",
        "发货?",
        "^",
        "$",
        "(a)",
        "款.*货",
        "ß",
        "K",
    ]
)


@st.composite
def regexes(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(REGEX_PIECES, min_size=1, max_size=4)))
    if draw(st.booleans()) and draw(st.booleans()):
        body = "(?i)" + body
    if draw(st.booleans()) and draw(st.booleans()):
        body = body + "|" + draw(REGEX_PIECES)
    return body


@st.composite
def pattern_sets(draw: st.DrawFn) -> list[Pattern]:
    out = []
    for i in range(draw(st.integers(min_value=0, max_value=80))):
        kind = draw(st.sampled_from(["exact", "contains", "regex"]))
        text = draw(regexes()) if kind == "regex" else draw(words)
        out.append(
            Pattern(
                rule_id=draw(st.integers(min_value=1, max_value=40)) if i % 3 else i + 100,
                kind=kind,
                text=text,
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(pattern_sets(), st.lists(texts, min_size=1, max_size=6))
def test_matcher_equals_plain_loop(patterns: list[Pattern], messages: list[str]) -> None:
    m = Matcher(patterns)
    for text in messages:
        assert m.match(text) == plain_loop(patterns, text)


@settings(max_examples=200, deadline=None)
@given(regexes(), texts)
def test_required_literal_is_in_every_match(pattern: str, text: str) -> None:
    lit = required_literal(pattern)
    found = re.search(pattern, text)
    if lit is not None and found:
        assert lit in text


def test_many_regexes_in_chunks_with_backrefs() -> None:
    patterns = [Pattern(i, "regex", f"x{i}y") for i in range(200)]
    patterns += [
        Pattern(900, "regex", r"(\d)\1"),
        Pattern(901, "regex", "[0-9]{3}"),
        Pattern(902, "regex", "(?i)abc"),
    ]
    m = Matcher(patterns)
    for text in ["x17y and 44", "nothing", "ABC 123", "x199y", "x1y x2y"]:
        assert m.match(text) == plain_loop(patterns, text)
    assert m.match("x17y and 44") == {17, 900}


def test_exact_and_contains_fold_case_and_trim() -> None:
    m = Matcher([Pattern(1, "exact", " 你好 "), Pattern(2, "contains", "Refund"), Pattern(3, "exact", "HI")])
    assert m.match("你好") == {1}
    assert m.match("  hi\n") == {3}
    assert m.match("I want a REFUND please") == {2}
    assert m.match("你好吗") == set()
