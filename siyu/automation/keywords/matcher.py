"""Many keyword patterns matched against one text at once.

Three kinds, with the meaning a plain loop would give (the property tests hold the
matcher to it):

- ``exact``: the message, trimmed and case-folded, equals the keyword (trimmed and
  case-folded);
- ``contains``: the case-folded keyword occurs in the case-folded message;
- ``regex``: ``re.search(pattern, message)`` finds something (the pattern as written;
  ``(?i)`` for case-insensitive).

How: exact keywords are one dict lookup; contains keywords are one Aho–Corasick
automaton (``pyahocorasick``) walked once over the case-folded text. Regexes are split
in two: a regex with a literal run every match must contain (``退款.*订单`` needs
``退款``) is *gated* by that literal, which joins the same automaton, so only regexes
whose literal occurs are run at all; the rest are tried in chunks, each chunk one
combined alternation, and only a chunk that matches is tried pattern by pattern.
Case folding is per character, so a literal that occurs in the text also occurs,
folded, in the folded text: the gate never hides a match.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ahocorasick

KINDS = ("exact", "contains", "regex")
CHUNK = 64  # regexes per combined alternation
MIN_GATE = 1  # shortest literal worth gating on (one CJK character is selective)
_BACKREF = re.compile(r"\\[1-9]|\(\?P=|\(\?P<|\(\?<[A-Za-z_]|\\g<")


@dataclass(frozen=True)
class Pattern:
    """One keyword of one rule."""

    rule_id: int
    kind: str
    text: str


def fold(text: str) -> str:
    return text.casefold()


def exact_key(text: str) -> str:
    return text.strip().casefold()


def required_literal(pattern: str) -> str | None:
    """The longest literal run at the top level of ``pattern`` (every match has it).

    ``None`` when the pattern has flags (``(?i)`` changes what a literal matches), a
    top-level alternation, or no literal at all. Uses the standard library's own regex
    parser; a pattern it cannot read is simply not gated.
    """
    try:
        sre_parse: Any = importlib.import_module("re._parser")
        parsed = sre_parse.parse(pattern)
    except Exception:  # an older or newer parser: no gate, still correct
        return None
    if parsed.state.flags & ~re.UNICODE:
        return None
    best: list[str] = []
    run: list[str] = []
    literal = sre_parse.LITERAL
    for op, av in parsed.data:
        if op is literal:
            run.append(chr(av))
            if len(run) > len(best):
                best = list(run)
        else:
            run = []
    if len(best) < MIN_GATE:
        return None
    return "".join(best)


class Matcher:
    """Compiled once per rule set; ``match(text)`` gives the rule ids that hit."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self.exact: dict[str, set[int]] = {}
        self.size = 0
        # automaton value: (contains rule ids, gated regex indexes)
        words: dict[str, tuple[set[int], set[int]]] = {}
        # one entry per distinct regex text: (rule ids, compiled)
        self.regexes: list[tuple[set[int], re.Pattern[str]]] = []
        by_text: dict[str, int] = {}
        ungated: list[int] = []
        for p in patterns:
            self.size += 1
            if p.kind == "exact":
                key = exact_key(p.text)
                if key:
                    self.exact.setdefault(key, set()).add(p.rule_id)
            elif p.kind == "contains":
                key = fold(p.text)
                if key:
                    words.setdefault(key, (set(), set()))[0].add(p.rule_id)
            elif p.kind == "regex":
                if p.text in by_text:
                    self.regexes[by_text[p.text]][0].add(p.rule_id)
                    continue
                idx = by_text[p.text] = len(self.regexes)
                self.regexes.append(({p.rule_id}, re.compile(p.text)))
                gate = required_literal(p.text)
                if gate:
                    words.setdefault(fold(gate), (set(), set()))[1].add(idx)
                else:
                    ungated.append(idx)
            else:
                raise ValueError(f"unknown pattern kind {p.kind!r}")
        self.automaton: Any = None
        if words:
            auto = ahocorasick.Automaton()
            for key, value in words.items():
                auto.add_word(key, value)
            auto.make_automaton()
            self.automaton = auto
        # Regexes that cannot share an alternation (backreferences, group names, global
        # flags) are tried alone; the others in chunks, each chunk one alternation first.
        self.solo = [i for i in ungated if not _combinable(self.regexes[i][1].pattern)]
        rest = [i for i in ungated if _combinable(self.regexes[i][1].pattern)]
        self.chunks: list[tuple[re.Pattern[str] | None, list[int]]] = []
        for start in range(0, len(rest), CHUNK):
            members = rest[start : start + CHUNK]
            self.chunks.append((_combine([self.regexes[i][1].pattern for i in members]), members))

    def match(self, text: str) -> set[int]:
        """Ids of the rules with at least one keyword matching ``text``."""
        hits: set[int] = set()
        if not text:
            # Only a regex such as ``^$`` can match an empty message.
            for rule_ids, rx in self.regexes:
                if rx.search(text):
                    hits |= rule_ids
            return hits
        exact = self.exact.get(exact_key(text)) if self.exact else None
        if exact:
            hits |= exact
        run: set[int] = set()
        if self.automaton is not None:
            for _end, (rule_ids, gated) in self.automaton.iter(fold(text)):
                if rule_ids:
                    hits |= rule_ids
                if gated:
                    run |= gated
        for idx in run:
            self._try(idx, text, hits)
        for idx in self.solo:
            self._try(idx, text, hits)
        for combined, members in self.chunks:
            if combined is not None and not combined.search(text):
                continue
            for idx in members:
                self._try(idx, text, hits)
        return hits

    def _try(self, idx: int, text: str, hits: set[int]) -> None:
        rule_ids, rx = self.regexes[idx]
        if not rule_ids <= hits and rx.search(text):
            hits |= rule_ids


def _combinable(pattern: str) -> bool:
    """Whether ``(?:pattern)`` means the same inside a larger alternation."""
    return not (_BACKREF.search(pattern) or _global_flags(pattern))


def _combine(patterns: list[str]) -> re.Pattern[str] | None:
    """One alternation that matches where any of ``patterns`` does (None: try each)."""
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns))
    except re.error:
        return None


def _global_flags(pattern: str) -> bool:
    return re.match(r"\(\?[aiLmsux]+\)", pattern) is not None


def plain_loop(patterns: Iterable[Pattern], text: str) -> set[int]:
    """The reference: each keyword tried one by one (tests and the benchmark's peer)."""
    hits: set[int] = set()
    for p in patterns:
        if p.kind == "exact":
            ok = bool(exact_key(p.text)) and exact_key(text) == exact_key(p.text)
        elif p.kind == "contains":
            ok = bool(fold(p.text)) and fold(p.text) in fold(text)
        else:
            ok = re.search(p.text, text) is not None
        if ok:
            hits.add(p.rule_id)
    return hits
