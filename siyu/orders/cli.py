"""``siyu import orders``: order exports from every platform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from siyu.config import get_settings
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, err_console, fail
from siyu.kit.errors import SiyuError
from siyu.orders.importers import FORMAT_CHOICES
from siyu.orders.schemas import ImportSummary

import_app = typer.Typer(help="Import data exported from sales platforms.", no_args_is_help=True)


@import_app.command("orders")
def import_orders_cmd(
    files: Annotated[list[Path], typer.Argument(help="Export files (CSV, or JSON lines for generic).")],
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help=f"One of {', '.join(FORMAT_CHOICES)}; auto reads the header."),
    ] = "auto",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Do not draw a progress bar.")] = False,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, max=100_000, help="Rows per transaction.", hidden=True),
    ] = None,
) -> None:
    """Import order exports (Taobao, Youzan, Douyin, JD or the generic format); re-runs change nothing."""
    from siyu.orders.service import BATCH_SIZE, import_orders

    try:
        summaries = import_orders(
            files,
            workspace_slug=workspace or get_settings().default_workspace,
            fmt=fmt.lower(),
            progress=not no_progress and not as_json,
            actor="cli",
            batch_size=batch_size or BATCH_SIZE,
            console=err_console,
        )
    except SiyuError as exc:
        fail(exc.message)
    _follow_up()
    if as_json:
        console.print_json(json.dumps([s.model_dump(mode="json") for s in summaries], ensure_ascii=False))
        return
    _print_summaries(summaries)


def _follow_up() -> None:
    """Deliver the import's events now (auto-tag rules follow refreshed stats).

    A worker would deliver them too (``siyu serve`` or ``siyu worker``); the command
    line may run without one, so it pumps the same outbox once. Delivery is locked per
    subscriber, so a worker running beside it never delivers a batch twice.
    """
    from siyu.kit.db import session_factory
    from siyu.worker.outbox import deliver

    summary = deliver(session_factory(), max_batches=10_000)
    for error in summary.errors:
        err_console.print(
            f"[yellow]a follow-up of the import failed and will be retried by the worker:[/] {error}"
        )


def _print_summaries(summaries: list[ImportSummary]) -> None:
    table = Table(title="Import summary", title_justify="left")
    for col in ("file", "format", "rows", "failed", "created", "updated", "unchanged", "customers new"):
        table.add_column(
            col, justify="left" if col in ("file", "format") else "right", overflow="fold", min_width=4
        )
    for s in summaries:
        table.add_row(
            s.file,
            s.format,
            str(s.rows_total),
            str(s.rows_failed),
            str(s.orders_created),
            str(s.orders_updated),
            str(s.orders_unchanged + s.orders_stale),
            str(s.customers_created),
        )
    console.print(table)
    for s in summaries:
        notes = []
        if s.resumed_after_line:
            notes.append(f"resumed an interrupted import after line {s.resumed_after_line}")
        if s.orders_stale:
            notes.append(f"{s.orders_stale} rows older than the stored orders were left as they are")
        if s.customers_merged:
            notes.append(f"{s.customers_merged} customer profiles merged (shared phone or id)")
        if s.orders_without_customer:
            notes.append(f"{s.orders_without_customer} orders have no usable buyer id or phone")
        if s.orders_of_erased_customers:
            notes.append(
                f"{s.orders_of_erased_customers} orders belong to customers erased on request; "
                "they were kept for the books without personal data"
            )
        if s.orders_awaiting_order_file:
            notes.append(
                f"{s.orders_awaiting_order_file} orders are known only from line items; "
                "import the matching order file to complete them"
            )
        for note in notes:
            console.print(f"[bold]{s.file}[/]: {note}", highlight=False)
        if s.errors:
            errors = Table(title=f"{s.file}: {s.rows_failed} rows not imported", title_justify="left")
            for col in ("line", "field", "value", "problem"):
                errors.add_column(col)
            for e in s.errors:
                errors.add_row(str(e.line), e.field or "", e.value or "", e.message)
            console.print(errors)
            if s.rows_failed > len(s.errors):
                console.print(
                    f"… and {s.rows_failed - len(s.errors)} more; "
                    f"all are stored with import run {s.import_id}"
                )
