"""Parsed rows of an export file, read in this process or in a second one.

Parsing (cells, money, dates, phones, places) and keying the buyer identities (the
HMAC of each phone and buyer id) are the per-row work of an import that needs no
database. For a large file they run in a child process that streams compact tuples
in chunks while this process writes the previous batches, so the two halves of an
import use two CPU cores. Rows come out in file order either way, with the same
records and the same row errors (file, line, field, why).
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import queue
import signal
import sys
import traceback
from collections.abc import Generator, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from siyu.customers.bulk import SQLITE_TEXT as _SQLITE_TEXT
from siyu.customers.bulk import SQLITE_TEXT_KEPT
from siyu.customers.schemas import IdentityInput
from siyu.customers.service import prepare_identities
from siyu.kit.pii import vault_for
from siyu.orders.importers.base import ItemRecord, OrderRecord, RowProblem
from siyu.orders.importers.reader import LineTally, iter_csv, iter_jsonl
from siyu.orders.limits import DEFAULT_MAX_ORDER_FEN
from siyu.orders.schemas import RowErrorOut

# Files with at least this many rows (estimated from line breaks) are parsed in a child
# process; below it, starting one costs more than it saves.
PARALLEL_MIN_ROWS = 20_000
_CHUNK = 1_000  # rows per message from the child
_QUEUED = 8  # messages in flight at most (bounds memory)
_DATETIME_FIELDS = ("ordered_at", "paid_at", "completed_at")
# Identities keyed in the child are remembered (repeat buyers), up to this many (~40 MB).
_DIGESTS_KEPT = 100_000
_PR_SET_PDEATHSIG = 1  # prctl(2)
_F_SETPIPE_SZ = 1031  # fcntl(2), Linux
_PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size for unprivileged processes
_ITEM_SLOTS = ItemRecord.__slots__
# Datetimes travel as their UTC ISO text with microseconds ("2021-06-18 20:00:01.000000+00:00"):
# read back with one C call, and, less its "+00:00", the text the SQLite bulk insert
# stores (so the writer does not format them again).
_from_iso = datetime.fromisoformat

# A row, the error that kept a row out, or (last of all) the file's line tally.
Parsed = tuple[int, OrderRecord | RowErrorOut | LineTally]

# fork where the platform has it: the child starts at once and, unlike spawn, does not
# re-run the caller's main script (a script without an ``if __name__ == "__main__"``
# guard would import twice). The child only parses: it never touches the database
# connections or the console it inherits, and leaves through os._exit.
_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def records(plan: Any, tz: str, after: int = 0, max_fen: int = DEFAULT_MAX_ORDER_FEN) -> Iterator[Parsed]:
    """Parsed rows after line ``after``, in order: a record, or the error that kept the row out.

    ``plan`` is a :class:`siyu.orders.service.FilePlan`; ``max_fen`` the workspace's
    limit for the amounts of one order. The last item is the file's
    :class:`LineTally`, with the lines up to ``after`` counted as skipped.
    """
    fp, fmt, cols = plan.probe, plan.fmt, plan.cols
    name = fp.path.name
    tally = LineTally()
    rows: Iterator[tuple[int, Any, int]] = (
        iter_jsonl(fp, fp.header, tally) if fp.layout == "jsonl" else iter_csv(fp, tally)
    )
    cols.max_fen = max_fen
    parse = fmt.row_parser(cols, tz)
    for line, row, n in rows:
        if line <= after:
            tally.skipped += n
            continue
        if isinstance(row, tuple):
            message, value = row
            yield line, RowErrorOut(file=name, line=line, field=None, value=value, message=message, lines=n)
            continue
        try:
            rec = parse(row, line)
        except RowProblem as exc:
            yield (
                line,
                RowErrorOut(
                    file=name, line=line, field=exc.field, value=exc.value, message=exc.message, lines=n
                ),
            )
            continue
        if n != 1:
            rec.lines = n
        yield line, rec
    yield tally.read, tally


def parsed_rows(
    plan: Any, tz: str, after: int, *, secret_key: str, parallel: bool, max_fen: int = DEFAULT_MAX_ORDER_FEN
) -> Generator[Parsed]:
    """:func:`records`, from a child process when ``parallel`` (with identity keys computed there)."""
    if not parallel:
        yield from records(plan, tz, after, max_fen)
        return
    ctx = multiprocessing.get_context(_START_METHOD)
    q: Any = ctx.Queue(maxsize=_QUEUED)
    _widen_pipe(q)
    proc = ctx.Process(  # type: ignore[attr-defined]
        target=_child, args=(plan, tz, after, max_fen, secret_key, q), daemon=True
    )
    proc.start()
    try:
        while True:
            try:
                msg = q.get(timeout=1.0)
            except queue.Empty:
                if not proc.is_alive():
                    code = proc.exitcode
                    raise RuntimeError(
                        f"the parser process stopped unexpectedly (exit code {code})"
                    ) from None
                continue
            kind, payload = msg
            if kind == "rows":
                if len(_SQLITE_TEXT) > SQLITE_TEXT_KEPT:
                    _SQLITE_TEXT.clear()
                for enc in payload:
                    yield _decode(enc)
            elif kind == "done":
                break
            else:
                raise RuntimeError(f"the parser process failed:\n{payload}")
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=10)
        q.close()


def _widen_pipe(q: Any) -> None:
    """Linux: a pipe buffer that holds several chunks (64 KiB by default, less than one).

    The queue's feeder thread writes each pickled chunk into the pipe; with the default
    buffer it can only do so while the writer reads, so every ``get`` waited for the
    parser's side to pickle and push the chunk, and the parser, its feeder stuck, stopped
    parsing. With room for a few chunks both sides keep working.
    """
    if not sys.platform.startswith("linux"):
        return
    with suppress(OSError, AttributeError, ValueError, ImportError):
        import fcntl  # Unix only

        fcntl.fcntl(q._writer.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)


def _die_with_parent() -> None:
    """Linux: have the kernel kill this process when the writer dies (kill -9 included)."""
    if not sys.platform.startswith("linux"):
        return
    with suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _child(plan: Any, tz: str, after: int, max_fen: int, secret_key: str, q: Any) -> None:
    parent = os.getppid()
    _die_with_parent()
    # A short-lived process whose data has no reference cycles: no collector needed.
    gc.disable()

    def put(msg: Any) -> None:
        # Never block for good on a full queue: a writer that died reads no more.
        while True:
            try:
                q.put(msg, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != parent:
                    q.cancel_join_thread()
                    os._exit(1)

    try:
        vault = vault_for(secret_key)
        shapes: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[int, ...]]] = {}
        digests: dict[tuple[str, str, str], Any] = {}
        chunk: list[Any] = []
        for line, item in records(plan, tz, after, max_fen):
            chunk.append(_encode(line, item, vault, shapes, digests))
            if len(chunk) >= _CHUNK:
                put(("rows", chunk))
                chunk = []
        if chunk:
            put(("rows", chunk))
        put(("done", None))
    except BaseException:
        put(("error", traceback.format_exc()))
    finally:
        q.close()
        q.join_thread()


def _encode(
    line: int,
    item: OrderRecord | RowErrorOut | LineTally,
    vault: Any,
    shapes: dict[Any, Any],
    digests: dict[Any, Any],
) -> Any:
    """A compact, quickly unpickled form: plain tuples, datetimes as UTC ISO text."""
    if isinstance(item, LineTally):
        return (line, item.read, item.skipped)
    if isinstance(item, RowErrorOut):
        return (line, item.file, item.field, item.value, item.message, item.lines)
    f = item.fields
    shape = shapes.get(keys := tuple(f))
    if shape is None:
        # One key tuple object per shape (pickle then writes it once per chunk), and
        # where in it the datetimes are.
        at = tuple(i for i, k in enumerate(keys) if k in _DATETIME_FIELDS)
        shape = shapes[keys] = (keys, at)
    keys, at = shape
    values = list(f.values())
    for i in at:
        v = values[i]
        if v is not None:
            if v.tzinfo is not UTC:
                v = v.astimezone(UTC)
            values[i] = v.isoformat(" ", "microseconds")
    prepared: Any = []
    for ident in item.identities:
        # Buyers come back order after order: each identity is keyed once.
        key = (ident.kind, ident.value, ident.platform)
        done = digests.get(key)
        if done is None:
            try:
                done = digests[key] = tuple(prepare_identities([ident], vault))
            except Exception:
                prepared = None  # the writer keys them and reports the problem as it always has
                break
            if len(digests) > _DIGESTS_KEPT:
                digests.clear()
        prepared.extend(done)
    return (
        line,
        item.platform,
        item.external_id,
        keys,
        tuple(values),
        tuple(tuple(getattr(it, s) for s in _ITEM_SLOTS) for it in item.items),
        () if prepared is not None else tuple((i.kind, i.value, i.platform) for i in item.identities),
        item.money_from_items,
        item.items_only,
        prepared,
        item.lines,
    )


def _decode(enc: Any) -> Parsed:
    if len(enc) == 3:
        return enc[0], LineTally(enc[1], enc[2])
    if len(enc) == 6:
        line, file, field, value, message, lines = enc
        return line, RowErrorOut(file=file, line=line, field=field, value=value, message=message, lines=lines)
    line, platform, external_id, keys, values, items, idents, from_items, items_only, prepared, lines = enc
    fields = dict(zip(keys, values, strict=True))
    for k in _DATETIME_FIELDS:
        v = fields.get(k)
        if v is not None:
            # The parser's ISO text is the datetime's SQLite text plus "+00:00": the
            # bulk insert takes the text as it is instead of formatting it again.
            fields[k] = dt = _from_iso(v)
            _SQLITE_TEXT[dt] = v[:-6]
    rec = OrderRecord(
        line,
        platform,
        external_id,
        fields,
        [ItemRecord(*it) for it in items] if items else [],
        # Keyed identities are all the writer needs (OrderRecord.keys).
        [] if prepared is not None else [IdentityInput(*i) for i in idents],
        from_items,
        items_only,
        None if prepared is None else list(prepared),
        lines,
    )
    return line, rec
