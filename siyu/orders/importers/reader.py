"""Open an export file: check it, sniff its encoding and layout, stream its rows.

Probing reads the whole file once (SHA-256, size, encoding check) before anything is
written, so that an unreadable file fails cleanly instead of half-way through.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siyu.kit.errors import Invalid

_CHUNK = 1 << 20
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


def probe(path: Path) -> FileProbe:
    """Check a file and learn how to read it; raises ImportFileError saying what is wrong."""
    if not path.exists():
        raise ImportFileError(f"{path}: no such file", field="file")
    if not path.is_file():
        raise ImportFileError(f"{path}: not a file", field="file")
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    utf8_ok = True
    size = 0
    newlines = 0
    head = b""
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                if not head:
                    head = chunk[:8192]
                size += len(chunk)
                newlines += chunk.count(b"\n")
                digest.update(chunk)
                if utf8_ok:
                    try:
                        utf8.decode(chunk)
                    except UnicodeDecodeError:
                        utf8_ok = False
        if utf8_ok:
            utf8.decode(b"", final=True)
    except UnicodeDecodeError:
        utf8_ok = False
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc.strerror})", field="file") from exc
    if size == 0 or not head.strip():
        raise ImportFileError(f"{path}: the file is empty", field="file")
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or b"\x00" in head:
        raise ImportFileError(
            f"{path}: this is a binary file (an Excel workbook?); export or save it as CSV first",
            field="file",
        )
    if utf8_ok:
        encoding = "utf-8-sig"
    elif _valid(path, "gb18030"):
        encoding = "gb18030"
    else:
        raise ImportFileError(f"{path}: the text is neither UTF-8 nor GBK/GB18030", field="file")

    with path.open(encoding=encoding, newline="") as fh:
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
        return FileProbe(path, size, digest.hexdigest(), encoding, "jsonl", "", list(obj), newlines)
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    header = next(csv.reader([first], delimiter=delimiter), [])
    return FileProbe(path, size, digest.hexdigest(), encoding, "csv", delimiter, header, max(newlines - 1, 0))


def iter_csv(fp: FileProbe) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record starts, cells) for each non-empty data row."""
    with fp.path.open(encoding=fp.encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=fp.delimiter)
        start = 1
        header_seen = False
        for row in reader:
            line, start = start, reader.line_num + 1
            if not header_seen:
                if any(c.strip() for c in row):
                    header_seen = True
                continue
            if not any(row):
                continue
            yield line, row


def iter_jsonl(fp: FileProbe, header: list[str]) -> Iterator[tuple[int, list[str] | str]]:
    """(line, cells in ``header`` order) per JSON object; a bad line yields its error text."""
    with fp.path.open(encoding=fp.encoding) as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                obj: Any = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line_no, f"not valid JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(obj, dict):
                yield line_no, "not a JSON object"
                continue
            yield line_no, [_cell(obj.get(name)) for name in header]


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
