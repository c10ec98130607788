"""``siyu staff list``: staff accounts and how full each is (friends against the limit)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from siyu.customers.visibility import WholeWorkspace
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, workspace_session
from siyu.staff.service import NEAR_FULL_SHARE, CapacitySort, list_capacity

app = typer.Typer(help="Staff accounts (WeCom members) and their capacity.", no_args_is_help=True)


@app.command("list")
def list_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    status: Annotated[
        str | None, typer.Option("--status", help="Only accounts in this status: active, resigned, disabled.")
    ] = None,
    sort: Annotated[
        CapacitySort, typer.Option("--sort", help="usage_desc (fullest first), name or status.")
    ] = ("usage_desc"),
) -> None:
    """Each account with its active friends against its WeCom customer limit."""
    with workspace_session(workspace) as (session, ws):
        rows, _ = list_capacity(session, WholeWorkspace(ws.id), status=status, sort=sort)
        data = [
            {
                "id": c.staff.id,
                "userid": c.staff.userid,
                "name": c.staff.name,
                "status": c.staff.status,
                "friends": c.friends,
                "pending": c.pending,
                "customer_limit": c.limit,
                "usage": c.usage,
                "near_full": c.near_full,
            }
            for c in rows
        ]
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    if not data:
        console.print("no staff accounts yet; run `siyu wecom sync` to bring them in")
        return
    table = Table()
    for col, justify in (("userid", "left"), ("name", "left"), ("status", "left"), ("friends", "right"),
                         ("limit", "right"), ("usage", "right")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for d in data:
        usage = f"{d['usage']:.0%}" + (" [bold red]near full[/]" if d["near_full"] else "")
        table.add_row(escape(str(d["userid"])), escape(str(d["name"])), str(d["status"]), f"{d['friends']:,}",
                      f"{d['customer_limit']:,}", usage)  # fmt: skip
    console.print(table)
    console.print(
        f"near full: at or above {NEAR_FULL_SHARE:.0%} of the limit (WeCom refuses friends when full)"
    )


@app.command("capacity")
def capacity_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Accounts near or at their limit (alerts), with the channel pools each is in."""
    from siyu.acquisition.routing import capacity_alerts

    with workspace_session(workspace) as (session, ws):
        data = capacity_alerts(session, workspace_id=ws.id)
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    if not data:
        console.print(f"no account at or above {NEAR_FULL_SHARE:.0%} of its limit")
        return
    for d in data:
        level = "[bold red]FULL[/] (out of every pool)" if d["full"] else "[yellow]near full[/]"
        pools = ", ".join(escape(p) for p in d["channels"]) or "no channel pool"
        console.print(f"{escape(d['userid'])} {escape(d['name'])}: {d['friends']:,}/{d['customer_limit']:,} "
                      f"({d['usage']:.0%}) {level} — {pools}")  # fmt: skip
