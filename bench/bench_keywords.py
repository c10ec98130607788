"""Keyword matching: 10,000 rules over many messages, siyu's matcher beside a plain loop.

Run: ``.venv/bin/python bench/bench_keywords.py`` (``--rules N --messages N --peer N``),
or ``make bench`` (pytest marker ``bench``).

siyu: ``siyu.automation.keywords.matcher.Matcher`` — exact keywords in a dict, contains
keywords and the required literals of regexes in one Aho–Corasick automaton
(pyahocorasick), regexes without a literal in combined chunks. Peer, in the same run:
the plain loop a first version would write — ``in`` / ``==`` / ``re.search`` (compiled
once) for every rule on every message. The peer is timed on the first ``--peer``
messages (it is ~1,000× slower; the full set would take hours), and both sides must
give the same rule ids on those messages.

Rules: 60 % contains (2–4 characters of a 3,000-word vocabulary of CJK syllables), 20 %
exact, 20 % regex (most with a literal, 1 in 10 without, such as ``\\d{11}``).
Messages: 4–30 characters of the same vocabulary, punctuation and digits; ~5 % carry a
phone-like or order-like number.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import resource
import time

import pytest

from siyu.automation.keywords.matcher import Matcher, Pattern, plain_loop

SYLLABLES = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
REGEX_SHAPES = [
    "{a}.{{0,6}}{b}",
    "{a}(吗|呢|么)",
    "(?:{a}|{b}){c}",
    "{a}\\d+",
    "^{a}",
    "{a}{b}$",
]
UNGATED = ["\\d{11}", "[A-Z]{2}\\d{6,}", "(\\d)\\1\\1", "(?i)vip\\d", "\\d{4}-\\d{2}-\\d{2}"]


def word(rng: random.Random, lo: int = 2, hi: int = 4) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(lo, hi)))


def make_rules(n: int, seed: int = 7) -> list[Pattern]:
    rng = random.Random(seed)
    out: list[Pattern] = []
    for i in range(n):
        r = rng.random()
        if r < 0.6:
            out.append(Pattern(i, "contains", word(rng)))
        elif r < 0.8:
            out.append(Pattern(i, "exact", word(rng, 2, 6)))
        elif rng.random() < 0.1:
            out.append(Pattern(i, "regex", rng.choice(UNGATED)))
        else:
            shape = rng.choice(REGEX_SHAPES)
            out.append(
                Pattern(i, "regex", shape.format(a=word(rng, 1, 3), b=word(rng, 1, 2), c=word(rng, 1, 2)))
            )
    return out


def make_messages(n: int, rules: list[Pattern], seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    exacts = [p.text for p in rules if p.kind == "exact"]
    msgs: list[str] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.02 and exacts:
            msgs.append(rng.choice(exacts))
            continue
        parts = [rng.choice(SYLLABLES) for _ in range(rng.randint(4, 30))]
        if r < 0.07:
            parts.insert(rng.randrange(len(parts)), str(rng.randint(10**10, 10**11 - 1)))
        if rng.random() < 0.3:
            parts.append(rng.choice("，。？！"))
        msgs.append("".join(parts))
    return msgs


def run(rules_n: int, messages_n: int, peer_n: int) -> dict[str, float]:
    rules = make_rules(rules_n)
    messages = make_messages(messages_n, rules)
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    matcher = Matcher(rules)
    build = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hits = 0
    t0 = time.perf_counter()
    for m in messages:
        hits += len(matcher.match(m))
    ours = time.perf_counter() - t0
    sample = messages[:peer_n]
    compiled = [Pattern(p.rule_id, p.kind, p.text) for p in rules]
    for p in compiled:  # the peer compiles once too (re's cache holds only 512)
        if p.kind == "regex":
            re.compile(p.text)
    regex_cache = {p.text: re.compile(p.text) for p in compiled if p.kind == "regex"}
    t0 = time.perf_counter()
    peer_hits = [_peer(compiled, regex_cache, m) for m in sample]
    peer = time.perf_counter() - t0
    for m, expected in zip(sample, peer_hits, strict=True):
        assert matcher.match(m) == expected, m
        assert expected == plain_loop(rules, m)
    return {
        "rules": rules_n,
        "messages": messages_n,
        "hits": hits,
        "build_s": build,
        "build_rss_mb": (rss1 - rss0) / 1024,
        "siyu_msgs_per_s": messages_n / ours,
        "peer_messages": peer_n,
        "peer_msgs_per_s": peer_n / peer,
    }


def _peer(rules: list[Pattern], cache: dict[str, re.Pattern[str]], text: str) -> set[int]:
    folded = text.casefold()
    key = text.strip().casefold()
    out: set[int] = set()
    for p in rules:
        if p.kind == "contains":
            ok = p.text.casefold() in folded
        elif p.kind == "exact":
            ok = p.text.strip().casefold() == key
        else:
            ok = cache[p.text].search(text) is not None
        if ok:
            out.add(p.rule_id)
    return out


def report(r: dict[str, float]) -> str:
    return (
        f"{int(r['rules']):,} rules, {int(r['messages']):,} messages ({int(r['hits']):,} hits): "
        f"build {r['build_s']:.2f} s (+{r['build_rss_mb']:.0f} MB max RSS); "
        f"siyu {r['siyu_msgs_per_s']:,.0f} msg/s; plain loop {r['peer_msgs_per_s']:,.0f} msg/s "
        f"(on {int(r['peer_messages']):,}); speed-up {r['siyu_msgs_per_s'] / r['peer_msgs_per_s']:,.0f}x"
    )


def engine_run(rules_n: int, messages_n: int, plain: bool) -> float:
    """Messages/s through ``process_new`` on a fresh SQLite file: decrypt, match, record
    hits, tag customers (rules tag; 1 in 20 also makes a task). ``plain``: the same
    engine with the plain loop as its matcher (the peer)."""
    import tempfile
    from pathlib import Path

    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from siyu.automation.keywords import engine
    from siyu.automation.keywords.rules import RuleInput, create_rule
    from siyu.customers.service import IdentityInput, resolve_customer
    from siyu.kit.db import make_engine
    from siyu.kit.migrate import upgrade
    from siyu.kit.pii import get_vault
    from siyu.kit.scope import ensure_workspace
    from siyu.kit.timeutil import utcnow
    from siyu.models import Message

    rules = make_rules(rules_n)
    texts = make_messages(messages_n, rules)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'kw.db'}"
        upgrade(url)
        db = make_engine(url)
        with Session(db) as s:
            ws = ensure_workspace(s, "bench").id
            by_rule: dict[int, list[str]] = {}
            for p in rules:
                by_rule.setdefault(p.rule_id, []).append(p.text)
            kinds = {p.rule_id: p.kind for p in rules}
            for rid, kws in by_rule.items():
                data = RuleInput(
                    f"r{rid}", kinds[rid], kws, tags=[f"t{rid % 200}"], task="跟进" if rid % 20 == 0 else None
                )
                try:
                    create_rule(s, workspace_id=ws, data=data, actor="bench")
                except Exception:
                    continue
            customers = [
                resolve_customer(
                    s,
                    workspace_id=ws,
                    identities=[IdentityInput("external_userid", f"wm{i}")],
                    source="bench",
                ).id
                for i in range(500)
            ]
            vault, now = get_vault(), utcnow()
            s.execute(
                insert(Message),
                [
                    {
                        "workspace_id": ws,
                        "source": "archive",
                        "msgid": f"m{i}",
                        "direction": "in",
                        "customer_id": customers[i % 500],
                        "sender": "wm",
                        "msgtype": "text",
                        "sent_at": now,
                        "text_enc": vault.encrypt(t),
                        "created_at": now,
                    }
                    for i, t in enumerate(texts)
                ],
            )
            s.commit()
        engine._CACHE.clear()
        real = engine.Matcher
        if plain:
            engine.Matcher = _PlainMatcher  # type: ignore[assignment,misc]
        try:
            t0 = time.perf_counter()
            done = 0
            while True:
                with Session(db) as s, s.begin():
                    got = engine.process_new(s, workspace_id=ws)
                done += got["messages"]
                if not got["messages"]:
                    break
            elapsed = time.perf_counter() - t0
        finally:
            engine.Matcher = real  # type: ignore[misc]
            engine._CACHE.clear()
        db.dispose()
    return done / elapsed


class _PlainMatcher:
    """The plain loop as the engine's matcher, regexes compiled once (``re``'s own cache
    holds 512 patterns; past that ``re.search(text)`` would recompile every time)."""

    def __init__(self, patterns: object) -> None:
        self.patterns = list(patterns)  # type: ignore[call-overload]
        self.cache = {p.text: re.compile(p.text) for p in self.patterns if p.kind == "regex"}

    def match(self, text: str) -> set[int]:
        return _peer(self.patterns, self.cache, text)


@pytest.mark.bench
def test_keyword_matching_10k_rules() -> None:
    r = run(10_000, 100_000, 1_000)
    print(report(r))
    assert r["siyu_msgs_per_s"] > 20 * r["peer_msgs_per_s"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--peer", type=int, default=2_000)
    parser.add_argument("--engine", type=int, default=0, help="also N messages through process_new (SQLite)")
    a = parser.parse_args()
    print(report(run(a.rules, a.messages, a.peer)))
    if a.engine:
        ours = engine_run(a.rules, a.engine, plain=False)
        peer = engine_run(a.rules, max(200, a.engine // 20), plain=True)
        print(
            f"engine (SQLite, {a.rules:,} rules): siyu {ours:,.0f} msg/s; "
            f"with the plain loop {peer:,.0f} msg/s"
        )
