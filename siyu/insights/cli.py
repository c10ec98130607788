"""``siyu insights``: the four metrics, the P&L, execution scores and cohorts (``--json`` for machines)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session

app = typer.Typer(help="Metrics, P&L, execution scores and cohorts.", no_args_is_help=True)

GrainOpt = Annotated[str, typer.Option("--grain", help="day, week or month.")]
OnOpt = Annotated[
    str | None, typer.Option("--on", help="A day (YYYY-MM-DD or YYYY-MM) inside the period; default today.")
]


def _on(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value + "-01" if len(value) == 7 else value)
    except ValueError:
        fail(f"--on must be a date YYYY-MM-DD or a month YYYY-MM, got {value!r}")


def _pct(v: Any) -> str:
    return "—" if v is None else f"{v:.0%}"


def _dump(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


def _staff_id(session: Any, ws_id: int, userid: str | None) -> int | None:
    if userid is None:
        return None
    from siyu.staff.service import find_staff

    staff = find_staff(session, workspace_id=ws_id, userid=userid)
    if staff is None:
        fail(f"--staff: no staff account with userid {userid!r}")
    return staff.id


@app.command("refresh")
def refresh_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Drop the aggregates and recompute them.")
    ] = False,
) -> None:
    """Bring the metric aggregates up to date with new messages and moments events."""
    from siyu.insights import aggregates

    with workspace_session(workspace) as (session, ws):
        got = aggregates.rebuild(session, ws.id) if rebuild else aggregates.refresh_all(session, ws.id)
    if as_json:
        _dump(got)
    else:
        console.print(
            f"read {got['messages']:,} messages and {got['events']:,} moments events; "
            f"{got['staff_days']:,} staff-days updated"
        )


@app.command("metrics")
def metrics_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    grain: GrainOpt = "month",
    on: OnOpt = None,
    staff: Annotated[str | None, typer.Option("--staff", help="One staff account (userid).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="One team (department).")] = None,
    trend: Annotated[int, typer.Option("--trend", help="Periods in the trend (1-24).")] = 6,
) -> None:
    """Pass rate, reply rate, interaction rate and conversion, beside WeCom's own figures."""
    from siyu.insights.metrics import report

    with workspace_session(workspace) as (session, ws):
        data = report(
            session,
            workspace_id=ws.id,
            grain=grain,
            on=_on(on),
            staff_id=_staff_id(session, ws.id, staff),
            team=team,
            trend=trend,
        )
    if as_json:
        _dump(data)
        return
    console.print(f"{data['grain']} {data['start']} – {data['end']} ({data['timezone']})")
    table = Table()
    for col in ("account", "team", "pass", "WeCom pass", "reply ≤10m", "WeCom reply", "unanswered",
                "interaction", "month cover", "conversion"):  # fmt: skip
        table.add_column(col)
    for r in [*data["accounts"], {"userid": "TOTAL", "team": "", **data["total"]}]:
        table.add_row(
            escape(str(r["userid"])),
            escape(str(r["team"])),
            _pct(r["pass"]["rate"]),
            _pct(r["pass"]["wecom_rate"]),
            _pct(r["reply"]["rate"]) + ("" if r["reply"]["covered"] else " (WeCom)"),
            _pct(r["reply"]["wecom_reply_percentage"]),
            str(r["reply"]["unanswered"]),
            _pct(r["interaction"]["rate"]),
            _pct(r["interaction"]["month_coverage"]),
            _pct(r["conversion"]["rate"]),
        )
    console.print(table)
    if data["not_covered"]:
        console.print(f"not in the archive (WeCom's figures used): {', '.join(data['not_covered'])}")
