"""``siyu dedup``: customers who are friends of several of the brand's accounts, and policies."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from siyu.acquisition import dedup
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, workspace_session

app = typer.Typer(
    help="Matrix dedup: customers who are friends of two or more accounts.", no_args_is_help=True
)


@app.command("report")
def report_cmd(
    channel: Annotated[
        str | None, typer.Option("--channel", help="Duplicates that arrived through it.")
    ] = None,
    staff: Annotated[str | None, typer.Option("--staff", help="Duplicates this account holds.")] = None,
    sample: Annotated[int, typer.Option("--sample", min=0, max=1000, help="Customers listed.")] = 20,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many customers are friends of ≥ 2 accounts, per channel and per account."""
    with workspace_session(workspace) as (session, ws):
        data = dedup.report(
            session, workspace_id=ws.id, channel=channel, staff=staff, sample=sample
        ).as_dict()
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    console.print(
        f"{data['customers']:,} customers are friends of 2+ accounts "
        f"({data['by_external_userid']:,} by external_userid, {data['by_oneid']:,} by OneID)"
    )
    for c in data["channels"]:
        console.print(f"  channel {escape(c['name'])}: {c['duplicates']:,} (policy {c['policy']})")
    for s in data["staff"]:
        console.print(
            f"  {escape(s['userid'])}: first account of {s['as_first']:,}, second of {s['as_second']:,}"
        )


@app.command("policy")
def policy_cmd(
    channel: Annotated[str, typer.Argument(help="The channel (state or name).")],
    policy: Annotated[str, typer.Argument(help="allow, task or route_back.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set what happens when a customer adds a second account through this channel."""
    with workspace_session(workspace) as (session, ws):
        row = dedup.set_policy(session, workspace_id=ws.id, channel=channel, policy=policy, actor="cli")
        data = {"channel": row.state, "name": row.name, "policy": dedup.policy_of(row)}
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    console.print(f"channel {escape(data['name'])}: dedup policy {data['policy']}")
