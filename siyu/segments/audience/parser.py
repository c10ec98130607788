"""Text → tree: a hand-written scanner and recursive-descent parser.

Grammar (NOT binds tightest, then AND, then OR; no implicit AND)::

    expr    := and_ (OR and_)*
    and_    := not_ (AND not_)*
    not_    := NOT not_ | primary
    primary := "(" expr ")" | term
    term    := field ":" name | field cmp number

Operators: ``AND``/``且``/``并且``/``&&``, ``OR``/``或``/``或者``/``||``,
``NOT``/``非``/``!``. Names with spaces go in "…", “…” or 「…」. The scanner is lazy
so that the first error from the left is the one reported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from siyu.kit.errors import Invalid
from siyu.segments.audience import registry
from siyu.segments.audience.ast import Expr, Not, Term, TermError, all_of, any_of

MAX_LENGTH = 10_000  # an expression longer than this is a mistake (or an attack)
MAX_DEPTH = 100  # nesting of parentheses / NOT; keeps recursion bounded

_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[\u3400-\u9fff]+")
_OPS = (
    (">=", ">="),
    ("≥", ">="),
    ("＞＝", ">="),
    ("<=", "<="),
    ("≤", "<="),
    ("＜＝", "<="),
    ("==", "="),
    ("=", "="),
    ("＝", "="),
    (">", ">"),
    ("＞", ">"),
    ("<", "<"),
    ("＜", "<"),
    (":", ":"),
    ("：", ":"),
)
_QUOTES = {'"': '"', "“": "”", "「": "」", "”": "”"}
_OPEN = ("(", "（")
_CLOSE = (")", "）")
# Keyword operators: longest first. ASCII words need a boundary after them.
_WORD_OPS = (("and", "AND"), ("or", "OR"), ("not", "NOT"))
_SYMBOL_OPS = (
    ("&&", "AND"),
    ("||", "OR"),
    ("并且", "AND"),
    ("或者", "OR"),
    ("且", "AND"),
    ("或", "OR"),
    ("非", "NOT"),
    ("!", "NOT"),
    ("！", "NOT"),
)
_OP_WORDS = {"AND": "AND", "OR": "OR", "NOT": "NOT"}


class AudienceSyntaxError(Invalid):
    """An expression that cannot be read; ``column`` is 1-based, ``expected`` says what fits."""

    code = "audience_syntax"

    def __init__(self, problem: str, *, text: str, column: int, expected: str) -> None:
        self.problem = problem
        self.text = text
        self.column = column
        self.expected = expected
        super().__init__(f"第 {column} 列: {problem}\n{_caret(text, column)}", field="expression")


def _width(s: str) -> int:
    # Chinese characters take two terminal cells; the caret must line up under them.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def _caret(text: str, column: int) -> str:
    offset = max(0, column - 1)
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line = text[line_start : line_end if line_end >= 0 else len(text)].replace("\t", " ")
    return f"  {line}\n  {' ' * _width(line[: offset - line_start])}^"


@dataclass(frozen=True)
class Token:
    kind: str  # ( ) AND OR NOT TERM END
    start: int  # 0-based offset
    text: str
    term: Term | None = None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, problem: str, at: int, expected: str) -> AudienceSyntaxError:
        return AudienceSyntaxError(problem, text=self.text, column=at + 1, expected=expected)

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def next(self) -> Token:
        self._skip_space()
        t, i = self.text, self.pos
        if i >= len(t):
            return Token("END", i, "")
        ch = t[i]
        if ch in _OPEN or ch in _CLOSE:
            self.pos += 1
            return Token("(" if ch in _OPEN else ")", i, ch)
        for word, kind in _WORD_OPS:
            end = i + len(word)
            if t[i:end].lower() == word and (end >= len(t) or not _is_word_char(t[end])):
                self.pos = end
                return Token(kind, i, t[i:end])
        for sym, kind in _SYMBOL_OPS:
            if t.startswith(sym, i):
                self.pos = i + len(sym)
                return Token(kind, i, sym)
        return self._term()

    def _term(self) -> Token:
        t, start = self.text, self.pos
        m = _FIELD_RE.match(t, start)
        if not m:
            raise self.error(f"unexpected {t[start]!r}", start, "a term such as tag:VIP or spent>=3000")
        field = m.group(0)
        self.pos = m.end()
        self._skip_space()
        op_at = self.pos
        op = next((canon for sym, canon in _OPS if t.startswith(sym, op_at)), None)
        if op is None:
            hint = "a ':' and a name, or a comparison such as >= and a number"
            raise self.error(f"expected ':' or a comparison after {field!r}", op_at, hint)
        self.pos += next(len(sym) for sym, canon in _OPS if t.startswith(sym, op_at))
        self._skip_space()
        value_at = self.pos
        value = self._value(field)
        try:
            term = registry.make_term(field, op, value)
        except TermError as exc:
            raise self.error(str(exc), start if exc.on_field else value_at, exc.expected) from None
        return Token("TERM", start, t[start : self.pos], term)

    def _value(self, field: str) -> str:
        t, i = self.text, self.pos
        if i >= len(t):
            raise self.error(f"expected a value after {field!r}", i, "a name or a number")
        close = _QUOTES.get(t[i])
        if close is not None:
            return self._quoted(close)
        j = i
        while j < len(t):
            ch = t[j]
            if ch.isspace() or ch in _OPEN or ch in _CLOSE or ch in _QUOTES or ch in "”」":
                break
            if t.startswith(("&&", "||"), j):
                break
            if ch in "且或" and _term_follows(t, j + 1):
                break
            j += 1
        if j == i:
            raise self.error(f"expected a value after {field!r}", i, "a name or a number")
        self.pos = j
        value = t[i:j]
        suffix = registry.value_suffix(field)
        if suffix and value.endswith(suffix):
            value = value[: -len(suffix)]
        return value

    def _quoted(self, close: str) -> str:
        t, open_at = self.text, self.pos
        out: list[str] = []
        j = open_at + 1
        while j < len(t):
            ch = t[j]
            if close == '"' and ch == "\\" and j + 1 < len(t):
                out.append(t[j + 1])
                j += 2
                continue
            if ch == close:
                self.pos = j + 1
                return "".join(out)
            out.append(ch)
            j += 1
        raise self.error(f"the quote {t[open_at]} is never closed", open_at, f"a closing {close}")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_:：<>=≥≤"


def _term_follows(t: str, j: int) -> bool:
    """Whether a term (maybe after NOT / '(') starts at ``j``: splits ``tag:A且tag:B``."""
    while j < len(t) and (t[j].isspace() or t[j] in "(（!！非"):
        j += 1
    for name in registry.words():
        if t[j : j + len(name)].lower() == name.lower():
            k = j + len(name)
            while k < len(t) and t[k] == " ":
                k += 1
            if k < len(t) and t[k] in ":：<>=≥≤＜＞＝":
                return True
    return False


class _Parser:
    def __init__(self, text: str) -> None:
        self.scanner = _Scanner(text)
        self.tok = self.scanner.next()
        self.depth = 0

    def advance(self) -> Token:
        tok = self.tok
        self.tok = self.scanner.next()
        return tok

    def error(self, problem: str, expected: str, tok: Token | None = None) -> AudienceSyntaxError:
        return self.scanner.error(problem, (tok or self.tok).start, expected)

    def parse(self) -> Expr:
        if self.tok.kind == "END":
            raise self.error("the expression is empty", "a term such as tag:VIP")
        expr = self.or_()
        if self.tok.kind == ")":
            raise self.error("unexpected ')' with no matching '('", "AND, OR or the end")
        if self.tok.kind != "END":
            raise self.error(
                "expected AND or OR between terms (terms are never joined implicitly)", "AND or OR"
            )
        return expr

    def or_(self) -> Expr:
        items = [self.and_()]
        while self.tok.kind == "OR":
            op = self.advance()
            items.append(self.operand_after(op))
        return any_of(*items)

    def and_(self) -> Expr:
        items = [self.not_()]
        while self.tok.kind == "AND":
            op = self.advance()
            items.append(self.operand_after(op, tight=True))
        return all_of(*items)

    def operand_after(self, op: Token, tight: bool = False) -> Expr:
        if self.tok.kind not in ("TERM", "(", "NOT"):
            raise self.error(f"expected a term after {_OP_WORDS[op.kind]}", "a term, NOT or '('")
        return self.not_() if tight else self.and_()

    def not_(self) -> Expr:
        if self.tok.kind == "NOT":
            op = self.advance()
            if self.tok.kind not in ("TERM", "(", "NOT"):
                raise self.error("expected a term after NOT", "a term or '('")
            self.enter(op)
            inner = self.not_()
            self.depth -= 1
            return Not(inner)
        return self.primary()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels", "a flatter expression", tok)

    def primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "TERM":
            self.advance()
            assert tok.term is not None
            return tok.term
        if tok.kind == "(":
            self.advance()
            self.enter(tok)
            if self.tok.kind in (")", "END"):
                raise self.error("expected a term inside '(' ')'", "a term")
            if self.tok.kind in ("AND", "OR"):
                raise self.error(f"expected a term before {self.tok.kind}", "a term")
            inner = self.or_()
            if self.tok.kind != ")":
                if self.tok.kind == "END":
                    raise self.error(f"the '(' at column {tok.start + 1} is never closed", "')'")
                raise self.error("expected AND, OR or ')' (terms are never joined implicitly)", "')'")
            self.advance()
            self.depth -= 1
            return inner
        if tok.kind == ")":
            raise self.error("unexpected ')' with no matching '('", "a term")
        if tok.kind == "END":
            raise self.error("expected a term at the end", "a term")
        raise self.error(f"expected a term before {tok.kind}", "a term")


def parse(text: str) -> Expr:
    """Read an audience expression; AudienceSyntaxError says where and what is wrong."""
    if len(text) > MAX_LENGTH:
        raise AudienceSyntaxError(
            f"the expression is longer than {MAX_LENGTH} characters",
            text=text[:80],
            column=1,
            expected="a shorter expression",
        )
    return _Parser(text).parse()
