"""Open an export file: check it, sniff its encoding and layout, stream its rows.

Probing reads the whole file once (SHA-256, size, encoding check) before anything is
written, so that an unreadable file fails cleanly instead of half-way through.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siyu.kit.errors import Invalid

_CHUNK = 1 << 20
ENCODINGS = ("auto", "utf-8", "gbk", "gb18030")
_ASCII = bytes(range(128))
_REPLACEMENT = "\ufffd".encode()
# Share of a file's non-ASCII bytes that decode as UTF-8: near 1 for UTF-8 with a few
# stray bytes, about 0.3 for GBK text. At or above SURE the file is UTF-8; between
# UNSURE and SURE (and valid GBK) the user must say which it is.
_UTF8_SURE = 0.9
_UTF8_UNSURE = 0.6
# Non-ASCII bytes enough to tell: past them, a share below UNSURE ends the UTF-8 reading.
_SAMPLE = 1 << 16
csv.field_size_limit(1 << 24)


class ImportFileError(Invalid):
    """A file that cannot be imported at all (missing, binary, undecodable, unknown format)."""


@dataclass(slots=True)
class FileProbe:
    path: Path
    size: int
    sha256: str
    encoding: str
    layout: str  # csv | jsonl
    delimiter: str
    header: list[str]
    # Data rows, estimated from line breaks (quoted cells may hold more): for progress.
    rows: int = 0
    # "replace" for UTF-8 text with bytes that are not UTF-8 (``bad_bytes`` of them):
    # the rows holding them are reported as bad rows.
    errors: str = "strict"
    bad_bytes: int = 0


def _valid(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _non_ascii(path: Path, upto: int) -> int:
    """Bytes above 127 in the first ``upto`` bytes of a file."""
    n = 0
    with path.open("rb") as fh:
        while upto > 0 and (chunk := fh.read(min(_CHUNK, upto))):
            upto -= len(chunk)
            n += len(chunk.translate(None, _ASCII))
    return n


def probe(path: Path, encoding: str = "auto") -> FileProbe:
    """Check a file and learn how to read it; raises ImportFileError saying what is wrong.

    ``encoding`` is auto (UTF-8, or GBK/GB18030 when the text is not UTF-8) or one of
    :data:`ENCODINGS` that the user named.
    """
    if encoding not in ENCODINGS:
        raise ImportFileError(
            f"unknown encoding {encoding!r}; one of {', '.join(ENCODINGS)}", field="encoding"
        )
    if not path.exists():
        raise ImportFileError(f"{path}: no such file", field="file")
    if not path.is_file():
        raise ImportFileError(f"{path}: not a file", field="file")
    digest = hashlib.sha256()
    # Read as UTF-8 whatever the file is, counting the bytes that are not UTF-8.
    utf8 = codecs.getincrementaldecoder("utf-8")("replace")
    size = 0
    newlines = 0
    non_ascii = 0
    bad = 0
    first_bad_line = 0
    head = b""
    analyse = True
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                if not head:
                    head = chunk[:8192]
                size += len(chunk)
                digest.update(chunk)
                if not analyse:
                    newlines += chunk.count(b"\n")
                    continue
                text = utf8.decode(chunk)
                if not chunk.isascii():
                    # U+FFFD written in the file itself is text, not a bad byte.
                    n_bad = text.count("\ufffd")
                    if n_bad:
                        n_bad -= chunk.count(_REPLACEMENT)
                    if bad or n_bad > 0:
                        # Non-ASCII bytes are counted only once a bad byte is seen (a
                        # clean UTF-8 file needs no count): then the chunks before too.
                        if not bad:
                            non_ascii = _non_ascii(path, size - len(chunk))
                        non_ascii += len(chunk.translate(None, _ASCII))
                    if n_bad > 0:
                        if not bad:
                            first_bad_line = newlines + text[: text.index("\ufffd")].count("\n") + 1
                        bad += n_bad
                        # Far from UTF-8 (GBK text): reading on as UTF-8 would change nothing.
                        analyse = non_ascii < _SAMPLE or (non_ascii - bad) / non_ascii >= _UTF8_UNSURE
                newlines += chunk.count(b"\n")
            tail = utf8.decode(b"", final=True) if analyse else ""
            if "\ufffd" in tail:
                first_bad_line = first_bad_line or newlines + 1
                bad += tail.count("\ufffd")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc.strerror})", field="file") from exc
    if size == 0 or not head.strip():
        raise ImportFileError(f"{path}: the file is empty", field="file")
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or b"\x00" in head:
        raise ImportFileError(
            f"{path}: this is a binary file (an Excel workbook?); export or save it as CSV first",
            field="file",
        )
    encoding, errors = _choose_encoding(path, encoding, non_ascii, bad, first_bad_line)
    if errors == "strict":
        bad = 0

    with path.open(encoding=encoding, errors=errors, newline="") as fh:
        first = ""
        for line in fh:
            if line.strip():
                first = line
                break
    if first.lstrip().startswith("{"):
        try:
            obj = json.loads(first)
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"{path}: line 1 is not valid JSON ({exc.msg})", field="file") from exc
        if not isinstance(obj, dict):
            raise ImportFileError(f"{path}: line 1 is not a JSON object", field="file")
        return FileProbe(
            path, size, digest.hexdigest(), encoding, "jsonl", "", list(obj), newlines, errors, bad
        )
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    header = next(csv.reader([first], delimiter=delimiter), [])
    return FileProbe(
        path, size, digest.hexdigest(), encoding, "csv", delimiter, header, max(newlines - 1, 0), errors, bad
    )


def _choose_encoding(
    path: Path, wanted: str, non_ascii: int, bad: int, first_bad_line: int
) -> tuple[str, str]:
    """(encoding, errors) to read the file with.

    UTF-8 text with a few stray bytes stays UTF-8 (the rows holding them are reported as
    bad rows): read as GB18030, which decodes almost any bytes, every name in it would
    be garbled. GBK text read as UTF-8 decodes only about a third of its non-ASCII
    bytes; in between, the file is not imported until the user names its encoding.
    """
    if wanted == "utf-8":
        return "utf-8-sig", "replace" if bad else "strict"
    if wanted in ("gbk", "gb18030"):
        if not _valid(path, "gb18030"):
            raise ImportFileError(f"{path}: the text is not GBK/GB18030", field="encoding")
        return "gb18030", "strict"
    if bad == 0:
        return "utf-8-sig", "strict"
    share = (non_ascii - bad) / non_ascii if non_ascii else 0.0
    if share >= _UTF8_SURE:
        return "utf-8-sig", "replace"
    gbk = _valid(path, "gb18030")
    if share >= _UTF8_UNSURE:
        if not gbk:
            return "utf-8-sig", "replace"
        raise ImportFileError(
            f"{path}: the text looks like UTF-8 with {bad} bytes that are not UTF-8 (the first on "
            f"line {first_bad_line}); read as GBK its names would be garbled. If the file is UTF-8, "
            "import it with --encoding utf-8 (the rows with bad bytes are reported as bad rows); "
            "if it really is GBK, use --encoding gbk",
            field="encoding",
        )
    if gbk:
        return "gb18030", "strict"
    raise ImportFileError(f"{path}: the text is neither UTF-8 nor GBK/GB18030", field="file")


@dataclass(slots=True)
class LineTally:
    """Lines of a file as the reader went: read in all, and not part of any data row.

    ``skipped`` counts the header (and anything above it) and blank lines; every other
    line read belongs to a data row, which the import counts as imported or bad.
    """

    read: int = 0
    skipped: int = 0


_RUNAWAY = (
    "a quoted cell opened on this line is not closed on it and runs into the rows below "
    '(a stray " ?); this line is left out and the lines after it are read as rows again'
)
_BAD_BYTES = "this row has bytes that are not UTF-8 (shown as \ufffd); fix or re-export it"


def _looks_like_row(text: str, delimiter: str, need: int) -> bool:
    """Whether one physical line, read on its own, has the cells of a data row."""
    if text.count(delimiter) < need - 1:
        return False
    return len(next(csv.reader([text], delimiter=delimiter), [])) >= need


# A row that cannot be read at all: (why, the line as written, cut to 200 characters).
Unreadable = tuple[str, str | None]


def iter_csv(
    fp: FileProbe, tally: LineTally | None = None
) -> Iterator[tuple[int, list[str] | Unreadable, int]]:
    """(line where the row starts, its cells or why it cannot be read, lines it covers).

    A quoted cell may hold line breaks (a note, an address). One that runs over lines
    that read as rows of the file on their own, or past the field size limit, is an
    unclosed quote: its first line is reported (as text instead of cells) and the lines
    after it are read again as rows, so one stray ``"`` never swallows the rest of the
    file. ``tally`` is filled with the lines read and skipped.
    """
    tally = tally if tally is not None else LineTally()
    delimiter = fp.delimiter
    width = len(fp.header)
    check_bytes = fp.bad_bytes > 0
    with fp.path.open(encoding=fp.encoding, errors=fp.errors, newline="") as fh:
        back: deque[str] = deque()  # lines read again after an unclosed quote
        span: list[str] = []  # the physical lines of the record being read

        def source() -> Iterator[str]:
            while back:
                text = back.popleft()
                span.append(text)
                yield text
            for text in fh:
                span.append(text)
                yield text

        reader = csv.reader(source(), delimiter=delimiter)
        line = 1  # the line the next record starts on
        header_seen = False
        row_width = width  # cells of the last one-line data row (exports may trim empty ones)
        while True:
            span.clear()
            problem = None
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                # Past the field size limit (an unclosed quote in a big file), a NUL byte...
                row = []
                problem = (
                    f"{_RUNAWAY} ({exc})" if len(span) > 1 else f"this line cannot be read as CSV ({exc})"
                )
            n = len(span)
            if n > 1 and problem is None and header_seen:
                need = max(min(width, row_width), 3)
                if any(_looks_like_row(t, delimiter, need) for t in span[1:]):
                    problem = _RUNAWAY
            if problem is not None and n > 1:
                # Report the first line; read the others again as rows of their own.
                yield line, (problem, span[0].rstrip("\r\n")[:200]), 1
                back.extendleft(reversed(span[1:]))
                line += 1
                reader = csv.reader(source(), delimiter=delimiter)
                continue
            start = line
            line += n
            if problem is not None:
                yield start, (problem, span[0].rstrip("\r\n")[:200] if span else None), n
                continue
            if not header_seen:
                tally.skipped += n
                if any(c.strip() for c in row):
                    header_seen = True
                continue
            if not any(row):
                tally.skipped += n
                continue
            if n == 1:
                row_width = len(row)
            if check_bytes and any("\ufffd" in c for c in row):
                yield start, (_BAD_BYTES, "".join(span).rstrip("\r\n")[:200]), n
                continue
            yield start, row, n
        tally.read = line - 1


def iter_jsonl(
    fp: FileProbe, header: list[str], tally: LineTally | None = None
) -> Iterator[tuple[int, list[str] | Unreadable, int]]:
    """(line, cells in ``header`` order, 1) per JSON object; a bad line yields its error text."""
    tally = tally if tally is not None else LineTally()
    check_bytes = fp.bad_bytes > 0
    line_no = 0
    with fp.path.open(encoding=fp.encoding, errors=fp.errors) as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                tally.skipped += 1
                continue
            if check_bytes and "\ufffd" in text:
                yield line_no, (_BAD_BYTES, text.rstrip("\r\n")[:200]), 1
                continue
            try:
                obj: Any = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line_no, (f"not valid JSON ({exc.msg} at column {exc.colno})", None), 1
                continue
            if not isinstance(obj, dict):
                yield line_no, ("not a JSON object", None), 1
                continue
            yield line_no, [_cell(obj.get(name)) for name in header], 1
    tally.read = line_no


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)
