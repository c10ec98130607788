"""Group @-mentions read from archive text.

WeCom's archive gives a group text message no list of the members it @-mentions: the
mention is only in ``text.content``, as ``@`` + the member's display name followed by a
space or U+2005 (the "four-per-em space" WeCom clients insert), or at the end of the text.
``@所有人`` (everyone) mentions no one in particular and is not counted.

Names are matched against the workspace's staff accounts (``staff.name``), longest name
first; a name two accounts share is ambiguous and attributed to neither.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

AT_ALL = "所有人"
SEPARATORS = frozenset(" \u2005")
# What :func:`strip_mentions` removes: "@" and the name up to its separator.
_MENTION_RE = re.compile("@[^ \u2005\n]*[ \u2005]?")


class MentionIndex:
    """Staff display names → staff ids, built once per import (no query per message)."""

    def __init__(self, names: Iterable[tuple[str, int]]) -> None:
        ids: dict[str, set[int]] = {}
        for name, staff_id in names:
            name = (name or "").strip()
            if name and name != AT_ALL:
                ids.setdefault(name, set()).add(staff_id)
        # unambiguous names only; ambiguous ones still listed so that they win over a
        # shorter name they start with ("@王芳" with two 王芳 is not a mention of 王)
        self._ids: dict[str, int | None] = {n: next(iter(s)) if len(s) == 1 else None for n, s in ids.items()}
        self._by_first: dict[str, list[str]] = {}
        for name in sorted(self._ids, key=len, reverse=True):
            self._by_first.setdefault(name[0], []).append(name)

    def __bool__(self) -> bool:
        return bool(self._ids)

    def find(self, text: str) -> list[int]:
        """The staff ids ``text`` @-mentions, in order of first mention, each once."""
        found: list[int] = []
        at = text.find("@")
        while at != -1:
            start = at + 1
            end = start
            for name in self._by_first.get(text[start : start + 1], ()):
                if text.startswith(name, start):
                    after = start + len(name)
                    if after == len(text) or text[after] in SEPARATORS:
                        sid = self._ids[name]
                        if sid is not None and sid not in found:
                            found.append(sid)
                        end = after
                        break
            at = text.find("@", max(end, start))
        return found


def strip_mentions(text: str) -> str:
    """The text without its @-mentions (to compare a closing word such as "@林 谢谢")."""
    return _MENTION_RE.sub("", text).strip()
