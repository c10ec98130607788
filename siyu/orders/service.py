"""``import_orders``: stream export files into orders, customers (OneID) and stats.

Every file is checked (readable, encoding, known format) before anything is written.
Then rows are parsed one at a time and applied in batches, each batch committed in its
own transaction, so memory stays flat and a killed import keeps what it committed. A
re-run of an interrupted file skips the lines its committed batches covered.

Customer stats are recomputed once per file, set-based, for every customer the file's
batches touched, a few thousand customers per transaction, before the run is marked
completed. Each stats transaction records one ``stats.refreshed`` event naming its
customers; the auto-tag rules that read stats follow as a subscriber of that event
(``siyu.segments.tasks``), after the commit. A run killed before that point stays
``running``; the re-run that resumes it also recomputes the customers of every order
the killed runs wrote (each written order carries its run's ``import_id``), so stats
end exact either way.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import update

from siyu.config import get_settings
from siyu.customers.service import refresh_stats
from siyu.kit.db import get_engine, local_write_lock, session_scope, tune_for_bulk_writes
from siyu.kit.events import record_event
from siyu.kit.gcpause import collector_paused
from siyu.kit.scope import ensure_workspace
from siyu.kit.timeutil import utcnow
from siyu.models import ImportRun
from siyu.orders import repository as repo
from siyu.orders.batch import BatchCounts, apply_batch
from siyu.orders.importers import FORMAT_CHOICES, GenericOrders, detect
from siyu.orders.importers.base import Columns, Format, OrderRecord
from siyu.orders.importers.reader import FileProbe, ImportFileError, LineTally, probe
from siyu.orders.limits import max_order_fen
from siyu.orders.pipeline import PARALLEL_MIN_ROWS, parsed_rows
from siyu.orders.schemas import ImportSummary, RowErrorOut

BATCH_SIZE = 10_000
# Rows of one order that may run past a full batch so that the order is not split.
ORDER_ROWS_KEPT = 10_000
MAX_ERRORS_SHOWN = 100
# Customers per stats transaction at the end of a file. Each chunk commits on its own,
# so another writer (a WeCom callback, which must be answered within 5 s) waits for one
# chunk at most, under a second on SQLite; 5,000 costs ~2 % more per customer than 20,000.
STATS_CHUNK = 5_000

__all__ = ["ImportFileError", "ImportSummary", "import_orders", "plan_file"]


@dataclass
class FilePlan:
    """A checked file: how to read it and which format it is."""

    probe: FileProbe
    fmt: Format
    cols: Columns


def plan_file(path: Path, wanted: str = "auto", encoding: str = "auto") -> FilePlan:
    """Check one file and recognise its format; ImportFileError says what is wrong.

    ``encoding`` is auto or one of ``siyu.orders.importers.reader.ENCODINGS``.
    """
    if wanted not in FORMAT_CHOICES:
        raise ImportFileError(
            f"unknown format {wanted!r}; one of {', '.join(FORMAT_CHOICES)}", field="format"
        )
    fp = probe(path, encoding)
    if fp.layout == "jsonl":
        if wanted not in ("auto", "generic"):
            raise ImportFileError(f"{path}: a JSON-lines file can only be the generic format", field="format")
        fmt: Format = GenericOrders()
        # JSON objects are looked up by key: the "header" is every name the format knows.
        header = [a for names in fmt.aliases.values() for a in names]
        fp.header = header
        cols = Columns(header, fmt.aliases)
        missing = [n for n in fmt.required if n not in _jsonl_keys(fp)]
        if missing:
            raise ImportFileError(
                f"{path}: line 1 lacks required field(s) {', '.join(missing)} of the generic format",
                field="file",
            )
        return FilePlan(fp, fmt, cols)
    found = detect(fp.header, wanted)
    if found is None:
        shown = ", ".join(h.strip() for h in fp.header[:8] if h.strip())
        kind = "any known export format" if wanted == "auto" else f"the {wanted} format"
        raise ImportFileError(
            f"{path}: the header row does not match {kind} (it starts with: {shown}); "
            "see docs/imports.md for the columns each format needs, or use --format generic",
            field="file",
        )
    fmt, cols = found
    missing = [fmt.aliases[n][0] for n in fmt.required if not cols.has(n)]
    if missing:
        raise ImportFileError(
            f"{path}: looks like a {fmt.name} export but lacks column(s) {', '.join(missing)}", field="file"
        )
    return FilePlan(fp, fmt, cols)


def _jsonl_keys(fp: FileProbe) -> set[str]:
    import json

    with fp.path.open(encoding=fp.encoding, errors=fp.errors) as fh:
        for line in fh:
            if line.strip():
                obj = json.loads(line)
                aliases = GenericOrders.aliases
                return {n for n, names in aliases.items() if any(a in obj for a in names)}
    return set()


def import_orders(
    paths: Sequence[str | Path],
    *,
    workspace_slug: str,
    fmt: str = "auto",
    progress: bool = True,
    actor: str = "cli",
    batch_size: int = BATCH_SIZE,
    console: Console | None = None,
    parallel: bool | None = None,
    encoding: str = "auto",
) -> list[ImportSummary]:
    """Import order export files into a workspace; one summary per file (commits per batch).

    ``parallel`` parses in a second process (``siyu.orders.pipeline``); None decides by
    file size. ``encoding`` (auto, utf-8, gbk, gb18030) applies to every file.
    """
    plans = [plan_file(Path(p), fmt, encoding) for p in paths]
    # Order files before detail files, so that items find their orders in one command.
    plans.sort(key=lambda p: p.fmt.name == "taobao-items")
    with session_scope() as session:
        ws = ensure_workspace(session, workspace_slug)
        workspace_id, tz = ws.id, ws.timezone
        # A bad setting stops the import here, before anything is written.
        max_fen = max_order_fen(ws.settings)
    show = progress and (console or Console(stderr=True)).is_terminal
    bar = (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        if show
        else None
    )
    summaries = []
    with bar or nullcontext(), _young_gc_only() as collector:
        for plan in plans:
            two = parallel if parallel is not None else plan.probe.rows >= PARALLEL_MIN_ROWS
            summaries.append(
                _run_file(plan, workspace_id, tz, actor, batch_size, bar, two, max_fen, collector)
            )
    return summaries


GC_YOUNG_ROWS = 10_000  # rows between two young-generation collections while importing
GC_FULL_ROWS = 100_000  # rows between two collections of the whole heap


class _Collector:
    """Garbage collection paced by rows imported, not by batches.

    A batch allocates hundreds of thousands of small objects, which makes Python's
    collector walk the whole heap again and again (a fifth of the writer's time). The
    import turns automatic collection off and collects the young objects every
    ``GC_YOUNG_ROWS`` rows and the whole heap every ``GC_FULL_ROWS`` (sessions leave
    cycles behind that would otherwise pile up in the old generation), and the whole
    heap once more at the end if many rows came since. Counting rows rather than batches
    keeps a small batch size from walking a large heap after every few rows.
    """

    def __init__(self) -> None:
        self.young = 0
        self.full = 0

    def rows(self, n: int) -> None:
        self.young += n
        self.full += n
        if self.full >= GC_FULL_ROWS:
            gc.collect()
            self.young = self.full = 0
        elif self.young >= GC_YOUNG_ROWS:
            gc.collect(1)
            self.young = 0


@contextmanager
def _young_gc_only() -> Iterator[_Collector]:
    """Only the collections :class:`_Collector` paces while importing."""
    collector = _Collector()
    try:
        with collector_paused():
            yield collector
    finally:
        if collector.full >= GC_YOUNG_ROWS:
            gc.collect()
        else:
            gc.collect(1)


def _run_file(
    plan: FilePlan,
    workspace_id: int,
    tz: str,
    actor: str,
    batch_size: int,
    bar: Progress | None,
    parallel: bool,
    max_fen: int,
    collector: _Collector,
) -> ImportSummary:
    fp = plan.probe
    with session_scope() as session:
        # Killed runs of this file (latest first): the latest says where to resume; all
        # of them are marked failed once this run has finished their stats.
        interrupted = repo.interrupted_runs(
            session, workspace_id=workspace_id, sha256=fp.sha256, fmt=plan.fmt.name
        )
        earlier = interrupted[0] if interrupted else None
        resume_after = earlier.committed_line if earlier is not None else 0
        run = ImportRun(
            workspace_id=workspace_id,
            kind="order_items" if plan.fmt.name == "taobao-items" else "orders",
            format=plan.fmt.name,
            filename=str(fp.path)[:500],
            file_sha256=fp.sha256,
            file_size=fp.size,
            status="running",
            actor=actor[:64],
            committed_line=resume_after,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    interrupted_ids = [r.id for r in interrupted]
    summary = ImportSummary(
        import_id=run_id,
        file=fp.path.name,
        format=plan.fmt.name,
        status="running",
        resumed_after_line=resume_after,
    )
    task = bar.add_task(fp.path.name, total=fp.rows or None) if bar is not None else None
    source = f"import:{run_id}"
    records: list[OrderRecord] = []
    errors: list[RowErrorOut] = []
    touched: set[int] = set()
    last_line = resume_after
    tally = LineTally()
    rows = parsed_rows(
        plan, tz, resume_after, secret_key=get_settings().secret_key, parallel=parallel, max_fen=max_fen
    )
    try:
        for line, item in rows:
            if isinstance(item, LineTally):
                tally = item  # the last item: the file has been read to its end
                continue
            size = len(records) + len(errors)
            # A batch ends between two orders, not inside one: the rows of an order
            # (Taobao's detail lines, Douyin's sub-orders) that follow each other are
            # written together, so identical lines stay separate lines, and a resumed
            # run starts on an order's first row. A runaway order (a file whose rows all
            # name one order) is cut after ORDER_ROWS_KEPT more rows.
            if size >= batch_size and (size >= batch_size + ORDER_ROWS_KEPT or not _continues(records, item)):
                _commit_batch(
                    summary, workspace_id, run_id, records, errors, last_line, source, actor, touched
                )
                if bar is not None and task is not None:
                    bar.update(task, completed=summary.rows_total + resume_after)
                collector.rows(size)
                records, errors = [], []
            last_line = line
            if isinstance(item, RowErrorOut):
                errors.append(item)
            else:
                records.append(item)
        _commit_batch(summary, workspace_id, run_id, records, errors, last_line, source, actor, touched)
        summary.lines_read, summary.lines_skipped = tally.read, tally.skipped
        _finish(workspace_id, run_id, touched, interrupted_ids, resume_after)
    except BaseException as exc:
        # Stop the parser process now, not when the traceback lets go of the generator.
        with suppress(Exception):
            rows.close()
        if touched:
            # Best effort: leave exact stats for what the committed batches wrote.
            # The original error is the one to report.
            with suppress(Exception):
                _finish_stats(workspace_id, touched, run_id)
        with session_scope() as session:
            failed = session.get(ImportRun, run_id)
            if failed is not None:
                failed.status = "failed"
                failed.finished_at = utcnow()
                failed.error_message = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    if bar is not None and task is not None:
        bar.update(task, completed=summary.rows_total, total=summary.rows_total)
    summary.status = "completed"
    return summary


def _continues(records: list[OrderRecord], item: OrderRecord | RowErrorOut) -> bool:
    """Whether ``item`` is another row of the order the batch ended with."""
    if not records or isinstance(item, RowErrorOut):
        return False
    last = records[-1]
    return last.external_id == item.external_id and last.platform == item.platform


def _finish_stats(workspace_id: int, customer_ids: set[int], run_id: int | None = None) -> None:
    """Recompute stats for these customers, and say so with a ``stats.refreshed`` event.

    One transaction per ``STATS_CHUNK`` customers, so that other writers (WeCom
    callbacks, the console) wait for at most one chunk. A chunk is complete on its own
    (a customer's stats and the event that tells the subscribers, such as the auto-tag
    rules, go together); the run is marked completed only after the last one, so a run
    killed in between is finished by its re-run.
    """
    ids = sorted(customer_ids)
    for start in range(0, len(ids), STATS_CHUNK):
        part = ids[start : start + STATS_CHUNK]
        # Each transaction takes its turn at SQLite's write lock, as WeCom callback
        # writers do: a waiting callback is let in as soon as this one commits.
        with local_write_lock(get_engine()), session_scope() as session:
            tune_for_bulk_writes(session)
            refresh_stats(session, workspace_id=workspace_id, customer_ids=part)
            # Auto-tag rules ("net spend ≥ 3000 → VIP") follow the stats they read, as a
            # subscriber of this event, once it is committed.
            record_event(
                session,
                workspace_id=workspace_id,
                kind="stats.refreshed",
                occurred_at=utcnow(),
                source="import",
                payload={"customer_ids": part, "import_id": run_id},
            )


def _finish(
    workspace_id: int, run_id: int, touched: set[int], interrupted_ids: list[int], resume_after: int
) -> None:
    """Stats for every customer this run (and the killed runs it resumed) wrote, then done."""
    with session_scope() as session:
        due = touched | repo.customers_of_runs(session, workspace_id=workspace_id, import_ids=interrupted_ids)
    _finish_stats(workspace_id, due, run_id)
    with session_scope() as session:
        now = utcnow()
        for rid in interrupted_ids:
            old = session.get(ImportRun, rid)
            if old is not None and old.status == "running":
                old.status = "failed"
                old.finished_at = now
                old.error_message = f"interrupted; run {run_id} resumed after line {resume_after}"
        run = session.get(ImportRun, run_id)
        assert run is not None
        run.status = "completed"
        run.finished_at = now


def _commit_batch(
    summary: ImportSummary,
    workspace_id: int,
    run_id: int,
    records: list[OrderRecord],
    errors: list[RowErrorOut],
    last_line: int,
    source: str,
    actor: str,
    touched: set[int],
) -> None:
    """Apply, record and commit one batch (one transaction: all of it or none of it)."""
    # A turn at SQLite's write lock, as for the stats chunks (_finish_stats).
    with local_write_lock(get_engine()), session_scope() as session:
        tune_for_bulk_writes(session)
        # Writing first takes SQLite's write lock for the whole batch (ids are allocated
        # from max(id) in it); on PostgreSQL it simply locks this run's row.
        session.execute(update(ImportRun).where(ImportRun.id == run_id).values(committed_line=last_line))
        counts = (
            apply_batch(
                session,
                workspace_id=workspace_id,
                import_id=run_id,
                records=records,
                source=source,
                actor=actor,
            )
            if records
            else BatchCounts()
        )
        touched |= counts.touched
        if counts.conflicts:
            # Rows left out because their order id disagrees with an earlier row (or
            # the stored order): reported like any bad row, in file order.
            errors = sorted(
                [
                    *errors,
                    *(
                        RowErrorOut(
                            file=summary.file,
                            line=c.record.line,
                            field=c.field,
                            value=c.value,
                            message=c.message,
                            lines=c.record.lines,
                        )
                        for c in counts.conflicts
                    ),
                ],
                key=lambda e: e.line,
            )
        repo.insert_row_errors(
            session,
            [
                {
                    "import_id": run_id,
                    "workspace_id": workspace_id,
                    "filename": e.file[:500],
                    "line": e.line,
                    "field": (e.field or None) and e.field[:64],
                    "value": None if e.value is None else e.value[:500],
                    "message": e.message,
                }
                for e in errors
            ],
        )
        s = summary
        conflicts = len(counts.conflicts)
        s.rows_total += len(records) + len(errors) - conflicts
        s.rows_ok += len(records) - conflicts
        s.rows_failed += len(errors)
        s.orders_conflicting += conflicts
        bad_lines = sum(e.lines for e in errors)
        s.lines_bad += bad_lines
        s.lines_imported += sum(r.lines for r in records) - sum(c.record.lines for c in counts.conflicts)
        s.orders_created += counts.created
        s.orders_updated += counts.updated
        s.orders_unchanged += counts.unchanged
        s.orders_stale += counts.stale
        s.orders_without_customer += counts.without_customer
        s.orders_of_erased_customers += counts.of_erased
        s.orders_awaiting_order_file += counts.awaiting
        s.items_written += counts.items_written
        s.customers_created += counts.customers_created
        s.customers_merged += counts.customers_merged
        room = MAX_ERRORS_SHOWN - len(s.errors)
        if room > 0:
            s.errors.extend(errors[:room])
        run = session.get(ImportRun, run_id)
        assert run is not None
        run.rows_total, run.rows_ok, run.rows_failed = s.rows_total, s.rows_ok, s.rows_failed
        run.orders_created, run.orders_updated = s.orders_created, s.orders_updated
        run.orders_unchanged = s.orders_unchanged + s.orders_stale
        run.customers_created = s.customers_created
        run.committed_line = last_line
