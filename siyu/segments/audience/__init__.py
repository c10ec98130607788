"""The audience expression language: parse, print, JSON form, evaluate in SQL.

See docs/audiences.md for the language as users write it.
"""

from siyu.segments.audience.ast import And, Expr, Not, Or, Term, normalise, terms, to_text
from siyu.segments.audience.compiler import Compiled, compile_expr, customer_ids_query
from siyu.segments.audience.jsonform import from_json, to_json
from siyu.segments.audience.parser import AudienceSyntaxError, parse
from siyu.segments.audience.query import count, preview, warnings

__all__ = [
    "And",
    "AudienceSyntaxError",
    "Compiled",
    "Expr",
    "Not",
    "Or",
    "Term",
    "compile_expr",
    "count",
    "customer_ids_query",
    "from_json",
    "normalise",
    "parse",
    "preview",
    "terms",
    "to_json",
    "to_text",
    "warnings",
]
