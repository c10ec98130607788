"""``siyu demo``: a realistic brand in one command, then the console."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from siyu.config import get_settings
from siyu.demo.repository import summary
from siyu.demo.service import STEPS, DemoContext, DemoStep, check_options, prepare, run_demo
from siyu.kit.cli import WorkspaceOpt, console, err_console, fail
from siyu.kit.db import session_scope
from siyu.kit.errors import SiyuError
from siyu.kit.migrate import upgrade
from siyu.kit.money import format_fen


def demo(
    customers: Annotated[int, typer.Option(help="How many buyers to simulate.")] = 5000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed and --as-of give the same files.")
    ] = 42,
    out: Annotated[Path, typer.Option(help="Folder for the export files.")] = Path("demo-data"),
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Day of the export, YYYY-MM-DD (default: the day of an earlier demo run, else today).",
        ),
    ] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the console afterwards.")] = True,
    host: Annotated[str, typer.Option(help="Interface the console binds.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the console listens on.")] = 8000,
    workspace: WorkspaceOpt = None,
    skip: Annotated[
        list[str] | None,
        typer.Option("--skip", help="Leave out an optional step (repeatable), e.g. --skip wecom."),
    ] = None,
) -> None:
    """Create the demo brand 青禾: write real-format exports, import them, show the console."""
    settings = get_settings()
    day: date | None = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of must be a date like 2026-11-23, got {as_of!r}")
    if not 1 <= port <= 65535:
        fail(f"--port must be between 1 and 65535, got {port}")
    slug = workspace or settings.default_workspace
    try:
        check_options(customers, out)
    except SiyuError as exc:
        fail(exc.message)
    optional = [s.name for s in STEPS if s.optional]
    for name in skip or []:
        if name not in optional:
            fail(f"--skip {name!r}: not an optional demo step; optional steps are {', '.join(optional)}")
    steps = [s for s in STEPS if s.name not in set(skip or [])]
    upgrade(settings.database_url)
    titles = {s.name: s.title for s in STEPS}

    def on_step(step: DemoStep, state: str) -> None:
        if state == "start":
            console.print(f"• {step.title} …")
        elif state == "done":
            console.print(f"  [green]done[/] in {ctx.timings[step.name]:.1f} s")
        elif state == "skipped":
            console.print(f"• {step.title}: [dim]skipped, {step.requires} is not installed[/]")
        elif state == "failed":
            name = titles.get(step.name, step.name)
            err_console.print(f"  [yellow]warning:[/] {name} failed: {ctx.failed[-1][1]}")

    ctx = DemoContext(
        customers=customers,
        seed=seed,
        out=out,
        as_of=day,
        workspace_slug=slug,
        progress=console.is_terminal,
        host=host,
        port=port,
    )
    started = datetime.now().astimezone()
    try:
        prepare(ctx)
        console.print(
            f"[bold]青禾 QINGHE[/] demo: {customers:,} customers, seed {seed}, exports as of {ctx.as_of} "
            f"→ [cyan]{out}[/] → workspace [bold]{slug}[/]"
        )
        run_demo(ctx, on_step=on_step, steps=steps)
    except SiyuError as exc:
        fail(exc.message + (f" ({exc.field})" if exc.field else ""))
    except OSError as exc:
        fail(f"cannot write the demo files to {out}: {exc.strerror or exc}")
    _print_files(ctx)
    _print_imports(ctx)
    _print_summary(ctx)
    elapsed = (datetime.now().astimezone() - started).total_seconds()
    console.print(f"demo ready in {elapsed:.1f} s")
    if serve:
        from siyu.web.cli import serve as serve_command

        serve_command(host=host, port=port, migrate=False)


def _print_files(ctx: DemoContext) -> None:
    table = Table(title="Export files", title_justify="left")
    for col in ("file", "format", "encoding", "rows", "orders", "net"):
        table.add_column(col, justify="right" if col in ("rows", "orders", "net") else "left")
    for f in ctx.files:
        net = format_fen(f.net_fen) if f.format != "taobao_detail" else "(line items)"
        table.add_row(f.path.name, f.format, f.encoding, f"{f.rows:,}", f"{f.orders:,}", net)
    console.print(table)


def _print_imports(ctx: DemoContext) -> None:
    if not ctx.imports:
        return
    table = Table(title="Imported (siyu import orders)", title_justify="left")
    cols = ("file", "rows", "new", "updated", "unchanged", "no buyer id", "failed")
    for col in cols:
        table.add_column(col, justify="left" if col == "file" else "right")
    for s in ctx.imports:
        table.add_row(
            s.file,
            f"{s.rows_total:,}",
            f"{s.orders_created:,}",
            f"{s.orders_updated:,}",
            f"{s.orders_unchanged:,}",
            f"{s.orders_without_customer:,}",
            f"[red]{s.rows_failed:,}[/]" if s.rows_failed else "0",
        )
    console.print(table)
    for s in ctx.imports:
        for e in s.errors[:5]:
            err_console.print(f"[yellow]warning:[/] {e.file} line {e.line} {e.field or ''}: {e.message}")


def _print_summary(ctx: DemoContext) -> None:
    assert ctx.workspace_id is not None
    for note in ctx.notes:
        console.print(f"• {note}")
    if "import" not in ctx.timings:
        console.print("[yellow]The order importer is not installed: files written, nothing imported.[/]")
        return
    with session_scope() as session:
        s = summary(session, workspace_id=ctx.workspace_id)
    table = Table(title=f"{ctx.workspace_slug}: what is in siyu now", title_justify="left", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("customers (OneID profiles)", f"{s.customers:,}")
    table.add_row("orders (paid)", f"{s.orders:,} ({s.paid_orders:,})")
    table.add_row("paid", format_fen(s.paid_fen))
    table.add_row("refunded", format_fen(s.refunded_fen))
    table.add_row("net revenue", format_fen(s.net_fen))
    table.add_row("customers on 2+ platforms (one OneID profile)", f"{s.cross_platform_customers:,}")
    table.add_row("profiles merged into another", f"{s.merged_profiles:,}")
    console.print(table)
    if s.top_cities:
        cities = Table(title="Top cities by net revenue", title_justify="left")
        cities.add_column("city")
        cities.add_column("customers", justify="right")
        cities.add_column("net", justify="right")
        for city, n, net in s.top_cities:
            cities.add_row(city, f"{n:,}", format_fen(net))
        console.print(cities)


def register(app: typer.Typer) -> None:
    """Add ``siyu demo`` to the root command."""
    app.command("demo")(demo)
