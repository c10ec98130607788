"""Every audience example in README.md and docs/*.md finds someone in the demo brand.

Examples are read from fenced code blocks: the quoted expression of a
``siyu segments count | preview | save NAME | rules add NAME`` line, and a line of a
plain block that is an expression by itself. Each is counted with ``siyu segments
count`` (the count every door shares) against one small demo brand.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from siyu.segments.audience import AudienceSyntaxError, parse
from tests.conftest import CliRun, DemoBrand

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^ *```([\w-]*)\n(.*?)^ *```", re.M | re.S)
# segments subcommand → how many plain arguments come before the expression
TAKES = {"count": 0, "preview": 0, "save": 1}


def _is_expression(text: str) -> bool:
    try:
        parse(text)
    except AudienceSyntaxError:
        return False
    return True


def _from_command(line: str) -> str | None:
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    while words and words[0] != "segments" and not words[0].endswith("siyu"):
        words = words[1:]
    if words and words[0].endswith("siyu"):
        words = words[1:]
    if len(words) < 2 or words[0] != "segments":
        return None
    args = [w for w in words[1:] if not w.startswith("-")]
    if args[:2] == ["rules", "add"] and len(args) >= 4:
        return args[3]
    skip = TAKES.get(args[0])
    if skip is None or len(args) <= skip + 1:
        return None
    return args[skip + 1]


def examples() -> list[tuple[str, str]]:
    """(where, expression) for every example in the docs."""
    found: list[tuple[str, str]] = []
    for path in DOCS:
        for match in FENCE.finditer(path.read_text(encoding="utf-8")):
            lang, body = match.group(1), match.group(2)
            line_no = path.read_text(encoding="utf-8")[: match.start()].count("\n") + 1
            for line in body.splitlines():
                where = f"{path.relative_to(ROOT)}:{line_no}"
                if "segments" in line:
                    expr = _from_command(line)
                    if expr is not None:
                        found.append((where, expr))
                elif not lang and line.strip() and _is_expression(line.strip()):
                    found.append((where, line.strip()))
    return found


def test_the_examples_are_found() -> None:
    """The extraction itself: the README's example and the language's opening example."""
    got = {expr for _, expr in examples()}
    assert "layer:high_value AND city:上海" in got
    assert "tag:VIP AND spent>=3000 AND NOT layer:沉默" in got
    assert "category:面霜" in got  # from `siyu segments rules add 面霜客 'category:面霜' ...`
    assert len(got) >= 6


@pytest.mark.xdist_group("demo")
def test_every_doc_example_finds_customers_in_the_demo(cli: CliRun, demo_brand: DemoBrand) -> None:
    empty = []
    for where, expr in examples():
        n = int(cli("segments", "count", expr).stdout.strip())
        if n == 0:
            empty.append(f"{where}: {expr}")
    assert not empty, "examples that find nobody in the demo:\n" + "\n".join(empty)
