"""``siyu funnel``: the channel funnel to profit (adds → kept → buyers → gross profit)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from siyu.acquisition import funnel, scope
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session
from siyu.kit.money import format_fen

app = typer.Typer(
    help="Channel funnel: adds, kept after 7/30 days, buyers, repeat buyers, net revenue, "
    "gross profit and cost per kept friend and per buyer.",
    invoke_without_command=True,
)


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{name} must be a date like 2026-03-01, not {value!r}")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def _fen(v: int | None) -> str:
    return "—" if v is None else format_fen(v)


@app.callback()
def report_cmd(
    ctx: typer.Context,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    start: Annotated[str | None, typer.Option("--from", help="First day of adds (YYYY-MM-DD).")] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day of adds (YYYY-MM-DD); default today.")
    ] = None,
    grain: Annotated[str, typer.Option("--by", help="Periods: day, week, month or total.")] = "week",
    channel: Annotated[str | None, typer.Option("--channel", help="One channel: its state or name.")] = None,
    group: Annotated[str | None, typer.Option("--group", help="One channel group (渠道分组).")] = None,
    staff: Annotated[
        str | None, typer.Option("--staff", help="One account's adds (userid), as that staff user sees it.")
    ] = None,
) -> None:
    """The funnel per channel for the adds in a range (default: the last 90 days)."""
    if ctx.invoked_subcommand is not None:
        return
    first, last = _day(start, "--from"), _day(end, "--to")
    with workspace_session(workspace) as (session, ws):
        rep = funnel.report(
            session,
            workspace_id=ws.id,
            start=first,
            end=last,
            grain=grain,
            channel=channel,
            group=group,
            staff_id=scope.staff_id_of(session, workspace_id=ws.id, userid=staff),
        )
        data = rep.as_dict()
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    console.print(f"adds from {rep.start} to {rep.end} (cohorts by day of the add; orders after the add)")
    table = Table()
    cols = ("channel", "adds", "kept", "kept 7d", "buyers", "repeat", "net", "gross", "per buyer")
    for i, col in enumerate(cols):
        if i == 0:
            table.add_column(col, no_wrap=True, min_width=6)
        else:
            table.add_column(col, justify="right")
    for c in [*rep.channels, None]:
        t = rep.total if c is None else c.total
        name = "total" if c is None else escape(c.name)
        table.add_row(name, f"{t.adds:,}", f"{t.kept:,}", _pct(t.kept_7d_rate), f"{t.buyers:,}",
                      f"{t.repeat_buyers:,}", _fen(t.net_fen), _fen(t.gross_fen),
                      _fen(t.cost_per_buyer_fen))  # fmt: skip
    console.print(table)
    if rep.total.uncosted_orders:
        console.print(f"{rep.total.uncosted_orders:,} orders have no cost of goods (gross = net for them)")
    console.print("--json gives every figure: kept after 30 days, cost per kept friend, ROI, periods")


@app.command("rebuild")
def rebuild_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Recompute the funnel of the workspace from follows and orders (the nightly task does this)."""
    with workspace_session(workspace) as (session, ws):
        written = funnel.rebuild(session, workspace_id=ws.id)
    if as_json:
        console.print_json(json.dumps({"friends": written}))
        return
    console.print(f"funnel rebuilt: {written:,} channel friends")
