"""The audience expression tree and printing it back to text.

Which fields exist and what values they take is the term registry's business
(``registry.py``); a tree holds canonical field names and values.

A tree is immutable and normalised: ``And``/``Or`` hold two or more operands and never
a direct child of their own kind, so that printing and parsing round-trip exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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
