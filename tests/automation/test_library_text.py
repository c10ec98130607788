"""Text variables: property tests for the filler and the checks a mass send relies on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.automation.library import TEXT_MAX_BYTES, check_text, fill, variables
from siyu.kit.errors import Invalid

plain = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=300)


@given(plain)
def test_text_without_variables_is_left_alone(text: str) -> None:
    assert fill(text, {"staff_name": "小美"}) == text
    assert variables(text) == []
    check_text(text, per_customer=False)


@given(plain, plain)
def test_staff_name_is_filled_everywhere(a: str, b: str) -> None:
    out = fill(f"{a}{{员工姓名}}{b}{{staff_name}}", {"staff_name": "小美"})
    assert out == f"{a}小美{b}小美"


@given(st.integers(min_value=TEXT_MAX_BYTES + 1, max_value=TEXT_MAX_BYTES + 50))
def test_over_4000_bytes_is_refused(n: int) -> None:
    with pytest.raises(Invalid) as err:
        check_text("好" * (n // 3 + 1), per_customer=True)
    assert err.value.field == "text"


def test_customer_variables_only_one_to_one() -> None:
    check_text("您好 {客户昵称}", per_customer=True)
    with pytest.raises(Invalid):
        check_text("您好 {客户昵称}", per_customer=False)
    with pytest.raises(Invalid, match="unknown variable"):
        check_text("您好 {优惠码}", per_customer=True)
