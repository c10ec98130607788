"""The JSON form of an expression, for the API and other tools.

``{"term": "tag", "value": "VIP"}``, ``{"term": "spent", "op": ">=", "value": 3000}``,
``{"and": [...]}``, ``{"or": [...]}``, ``{"not": {...}}``. ``from_json`` validates as
strictly as the text parser and names the path of the bad node (``and[1].not.value``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from siyu.kit.errors import Invalid
from siyu.segments.audience import registry
from siyu.segments.audience.ast import And, Expr, Not, Term, TermError, all_of, any_of


def to_json(expr: Expr) -> dict[str, Any]:
    """The JSON-ready dict of a tree."""
    if isinstance(expr, Term):
        if expr.op == ":":
            return {"term": expr.field, "value": expr.value}
        dec = Decimal(expr.value)
        number: int | float = int(dec) if dec == dec.to_integral_value() else float(dec)
        return {"term": expr.field, "op": expr.op, "value": number}
    if isinstance(expr, Not):
        return {"not": to_json(expr.operand)}
    key = "and" if isinstance(expr, And) else "or"
    return {key: [to_json(o) for o in expr.operands]}


def from_json(data: Any) -> Expr:
    """A tree from its JSON form; Invalid names the path of the first bad node."""
    return _node(data, "expression")


def _node(data: Any, path: str) -> Expr:
    if not isinstance(data, dict):
        raise Invalid(f"{path}: expected an object, got {type(data).__name__}", field=path)
    keys = set(data)
    if "term" in keys:
        return _term(data, path)
    if len(keys) != 1 or not keys <= {"and", "or", "not"}:
        raise Invalid(
            f"{path}: expected exactly one of 'term', 'and', 'or', 'not'; got {sorted(keys)}", field=path
        )
    if "not" in keys:
        return Not(_node(data["not"], f"{path}.not"))
    key = "and" if "and" in keys else "or"
    items = data[key]
    if not isinstance(items, list) or len(items) < 1:
        raise Invalid(f"{path}.{key}: expected a non-empty list", field=f"{path}.{key}")
    nodes = [_node(item, f"{path}.{key}[{i}]") for i, item in enumerate(items)]
    return all_of(*nodes) if key == "and" else any_of(*nodes)


def _term(data: dict[str, Any], path: str) -> Term:
    extra = set(data) - {"term", "op", "value"}
    if extra:
        raise Invalid(f"{path}: unknown keys {sorted(extra)}", field=path)
    field, value = data.get("term"), data.get("value")
    if not isinstance(field, str):
        raise Invalid(f"{path}.term: expected a field name", field=f"{path}.term")
    kind = registry.find(field)
    if kind is None:
        fields = registry.field_names()
        raise Invalid(f"{path}.term: unknown field {field!r}; one of {fields}", field=f"{path}.term")
    op = data.get("op", None if kind.is_number else ":")
    if op is None or (op != ":" and op not in registry.COMPARISONS):
        raise Invalid(f"{path}.op: expected one of >=, >, <=, <, =", field=f"{path}.op")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid(f"{path}.value: expected a string or a number", field=f"{path}.value")
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    try:
        return registry.make_term(field, op, text)
    except TermError as exc:
        where = f"{path}.term" if exc.on_field else f"{path}.value"
        raise Invalid(f"{where}: {exc}", field=where) from None
