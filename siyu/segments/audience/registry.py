"""The audience term registry: each term kind (``tag:``, ``spent>=``, ``channel:`` …) is
declared once, here or in the domain that owns its data, and everything else reads it.

A :class:`TermKind` says what a term is called (and its aliases), what value it takes
(a name with an optional canonicaliser, or a number with its bounds), how it compiles
to SQL (``sql``), how the audience index evaluates it (``index``), any extra per-key
index data it needs (``postings``), and the help line shown by ``siyu segments terms``
and in docs/audiences.md. The parser, the JSON form, the SQL compiler and the index
dispatch on the registry; none of them names a term kind.

A domain adds a term with one :func:`register` call in its own module, listed in
:data:`TERM_MODULES` (one line, as routers are wired in ``siyu/web/routers.py``).
Modules are imported on first use, so declaring modules may import the compiler and
the index freely. ADR 0007 explains the choices.
"""

from __future__ import annotations

import difflib
import importlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, NoReturn

from siyu.kit import changes
from siyu.segments.audience.ast import Term, TermError

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from siyu.segments.audience.columns import Columns, Mask
    from siyu.segments.audience.context import Ctx, Rel

# Modules that declare terms, imported (in this order) the first time the registry is read.
TERM_MODULES = (
    "siyu.segments.audience.builtin_terms",
    "siyu.acquisition.audience",
)
COMPARISONS = (">=", "<=", ">", "<", "=")


def _plain(d: Decimal) -> str:
    """``1000000`` → ``1,000,000``; ``0.5`` stays."""
    return f"{d:,f}" if d == d.to_integral_value() else format(d.normalize(), "f")


@dataclass(frozen=True)
class NumberRange:
    """The values a number term accepts: ``low`` ≤ value ≤ ``high``.

    ``integer``: whole numbers only. ``decimals``: at most this many digits after the
    point. ``unit``: said in messages (``yuan``); ``suffix``: accepted after the number
    and dropped (``spent>=3000元``).
    """

    low: Decimal
    high: Decimal
    integer: bool = False
    decimals: int | None = None
    unit: str = ""
    suffix: str = ""

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{_plain(self.low)} to {_plain(self.high)}{unit}"


@dataclass(frozen=True)
class PostingSource:
    """Extra index data for a term: for each customer the keys it has.

    ``sql`` selects ``(customer_id, key)`` rows of one workspace; it holds exactly one
    ``{ws}`` mark (the workspace id, bound) and ends in a WHERE clause so that the index
    can append ``AND <customer_column> IN (...)`` when it reloads a few customers.
    ``reads`` names every table and column it reads: each must be watched by the change
    journal (``siyu.kit.changes.WATCHED``), or a write there would leave the index stale;
    ``register`` refuses a source that reads anything else. Keys are texts (coded
    through the index vocabulary) unless ``text_keys`` is False.
    """

    name: str
    sql: str
    customer_column: str
    reads: dict[str, frozenset[str]]
    text_keys: bool = True

    def unwatched(self) -> list[str]:
        """``table.column`` read here that the change journal does not watch."""
        return [
            f"{table}.{col}"
            for table, cols in sorted(self.reads.items())
            for col in sorted(cols)
            if col not in changes.WATCHED.get(table, ("", frozenset()))[1]
        ]


@dataclass(frozen=True)
class TermKind:
    """One kind of audience term; see the module docstring.

    ``sql(term, ctx)`` returns a :class:`~siyu.segments.audience.context.Rel` (membership
    in a related table) or a boolean column expression on ``customers``; it must be
    two-valued (never NULL) so that NOT means "everyone else". ``index(term, ctx, cols)``
    returns the boolean mask over the index slots with the same meaning. ``prepare``
    (optional) sees every value of this kind in an expression once, before either runs
    (to look names up in one query). ``indexed``: the SQL is backed by an index, so on
    SQLite a rare value may drive the query. ``cacheable``: the SQL depends only on the
    term (not on ``ctx.negated`` or other state), so repeats share it.
    """

    name: str
    help: str
    sql: Callable[[Term, Ctx], Rel | ColumnElement[bool]]
    index: Callable[[Term, Ctx, Columns], Mask]
    value: str = "NAME"
    notes: str = ""
    aliases: tuple[str, ...] = ()
    number: NumberRange | None = None
    canonical: Callable[[str], str] | None = None
    prepare: Callable[[list[str], Ctx], None] | None = None
    postings: PostingSource | None = None
    indexed: bool = False
    cacheable: bool = True

    @property
    def is_number(self) -> bool:
        return self.number is not None


# What the scanner reads as a field (parser._FIELD_RE); canonical names are ASCII.
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[\u3400-\u9fff]+")
_kinds: dict[str, TermKind] = {}
_aliases: dict[str, str] = {}
_words: tuple[str, ...] | None = None
_loaded = False
_lock = threading.RLock()


def register(kind: TermKind) -> TermKind:
    """Declare a term kind; a name or alias already taken, or index data read from an
    unwatched column, is a programming error (ValueError)."""
    global _words
    if not _NAME.fullmatch(kind.name):
        raise ValueError(f"audience term name {kind.name!r} must be lower-case letters, digits and _")
    for alias in kind.aliases:
        if not _ALIAS.fullmatch(alias):
            raise ValueError(f"alias {alias!r} of {kind.name!r} must be letters, digits and _, or Chinese")
    if kind.postings is not None and kind.postings.unwatched():
        missing = ", ".join(kind.postings.unwatched())
        raise ValueError(
            f"audience term {kind.name!r} reads {missing}, which the change journal does not watch: "
            "add it to siyu.kit.changes.WATCHED so that the audience index sees writes there"
        )
    with _lock:
        for word in (kind.name, *kind.aliases):
            key = word.lower()
            if key in _aliases or key in _kinds:
                raise ValueError(f"audience term {word!r} is declared twice")
        _kinds[kind.name] = kind
        for alias in kind.aliases:
            _aliases[alias.lower()] = kind.name
        _words = None
    return kind


def unregister(name: str) -> None:
    """Withdraw a term kind (a plugin being unloaded, a test's own term)."""
    global _words
    with _lock:
        kind = _kinds.pop(name)
        for alias in kind.aliases:
            _aliases.pop(alias.lower(), None)
        _words = None


def _load() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if not _loaded:
            for module in TERM_MODULES:
                importlib.import_module(module)
            _loaded = True


def kinds() -> list[TermKind]:
    """Every term kind: name terms first, then number terms, each in declaration order."""
    _load()
    every = list(_kinds.values())
    return [k for k in every if not k.is_number] + [k for k in every if k.is_number]


def find(field: str) -> TermKind | None:
    """The kind a field name or alias (any case) stands for, if any."""
    _load()
    key = field.lower()
    return _kinds.get(_aliases.get(key, key))


def get(name: str) -> TermKind:
    """The kind of a canonical field name (as stored in a ``Term``)."""
    _load()
    return _kinds[name]


def words() -> tuple[str, ...]:
    """Every field name and alias, longest first (the parser splits ``且`` on them)."""
    global _words
    _load()
    if _words is None:
        _words = tuple(sorted({*_kinds, *_aliases}, key=len, reverse=True))
    return _words


def posting_sources() -> list[PostingSource]:
    """The extra per-key index data that declared terms need."""
    return [k.postings for k in kinds() if k.postings is not None]


def value_suffix(field: str) -> str:
    """The unit suffix a number term drops from its value (``元`` for spent)."""
    kind = find(field)
    return kind.number.suffix if kind is not None and kind.number is not None else ""


# --- validating a term ------------------------------------------------------------------


def canonical_number(kind: TermKind, text: str) -> str:
    """The canonical text of a number for ``kind``, or TermError naming the range."""
    rng = kind.number
    assert rng is not None
    name = kind.name
    what = "a whole number" if rng.integer else "a number"
    expected = f"{what} from {rng.describe()}"
    try:
        dec = Decimal(text)
    except InvalidOperation:
        raise TermError(f"{name} needs {what}, got {text!r}", expected) from None
    if not dec.is_finite():
        raise TermError(f"{name} needs {what}, got {text!r}", expected)
    if dec < rng.low or dec > rng.high:
        shown = text if len(text) <= 40 else text[:37] + "…"
        raise TermError(f"{name} must be from {rng.describe()}, got {shown}", expected)
    if rng.integer and dec != dec.to_integral_value():
        raise TermError(f"{name} needs a whole number, got {text!r}", expected)
    if rng.decimals is not None and dec != dec.quantize(Decimal(1).scaleb(-rng.decimals)):
        unit = f" in {rng.unit}" if rng.unit else ""
        raise TermError(f"{name} is{unit} with at most {rng.decimals} decimals, got {text!r}", expected)
    if dec == dec.to_integral_value():
        return str(dec.quantize(Decimal(1)))
    return format(dec.normalize(), "f")


def make_term(field: str, op: str, value: str) -> Term:
    """A validated, canonical term; TermError says what is wrong."""
    kind = find(field)
    if kind is None:
        return _unknown_field(field)
    if kind.is_number:
        if op not in COMPARISONS:
            raise TermError(
                f"{kind.name} compares a number: use >=, >, <=, < or =",
                f"'{kind.name}>=N' (>=, >, <=, <, =)",
                on_field=True,
            )
        return Term(kind.name, canonical_number(kind, value), op)
    if op != ":":
        raise TermError(
            f"{kind.name} takes a name after ':', not {op!r}", f"'{kind.name}:NAME'", on_field=True
        )
    if not value.strip():
        raise TermError(f"{kind.name}: the name is empty", f"a {kind.name} name")
    return Term(kind.name, kind.canonical(value) if kind.canonical else value)


def field_names() -> str:
    """``tag, layer, …`` for messages."""
    return ", ".join(k.name for k in kinds())


def _unknown_field(field: str) -> NoReturn:
    canon = field.lower()
    close = difflib.get_close_matches(canon, [*_kinds, *_aliases], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise TermError(f"unknown field {canon!r}{hint}", f"a field: {field_names()}", on_field=True)
