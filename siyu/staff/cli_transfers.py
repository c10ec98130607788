"""``siyu staff transfer``: hand an account's customers and groups to others (在职 / 离职继承)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session
from siyu.kit.db import session_factory
from siyu.staff import transfers

app = typer.Typer(
    help="Customer and group handovers between staff accounts (在职继承 / 离职继承), with results.",
    no_args_is_help=True,
)


def _run_now(workspace: str | None, batch: str, fn: Any) -> dict[str, int]:
    from siyu.wecom.errors import WeComError
    from siyu.wecom.gateway import client_for

    with workspace_session(workspace) as (session, ws):
        client = client_for(session, ws)
        ws_id = ws.id
    try:
        return dict(fn(session_factory(), client, workspace_id=ws_id, batch=batch))
    except WeComError as exc:
        fail(f"WeCom: {exc} (the batch stays queued; `siyu staff transfer status {batch}` shows it)")
    finally:
        client.close()


@app.command("start")
def start_cmd(
    handover: Annotated[str, typer.Option("--from", help="The account whose customers move (userid).")],
    takeover: Annotated[
        str | None, typer.Option("--to", help="The account that takes them (userid).")
    ] = None,
    rule: Annotated[
        str, typer.Option("--rule", help="hand (with --to), least_loaded or same_team (picks per customer).")
    ] = "hand",
    customers: Annotated[
        list[int] | None, typer.Option("--customer", help="Only these customer ids (repeat); default all.")
    ] = None,
    groups: Annotated[
        bool, typer.Option("--groups", help="Hand over the account's customer groups too.")
    ] = False,
    message: Annotated[
        str | None,
        typer.Option("--message", help="What the customer sees (≤ 200 characters; in-service only)."),
    ] = None,
    now: Annotated[bool, typer.Option("--now", help="Call WeCom now instead of through the worker.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check and queue a handover; the worker calls WeCom (``--now``: this command does)."""
    with workspace_session(workspace) as (session, ws):
        plan = transfers.start_transfer(
            session,
            workspace_id=ws.id,
            handover=handover,
            takeover=takeover,
            rule=rule,
            customer_ids=customers or None,
            include_groups=groups,
            message=message,
            actor="cli",
        )
        data = plan.as_dict()
    if now:
        data["sent"] = _run_now(workspace, plan.batch, transfers.send_batch)
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    what = f"{plan.customers:,} customers, {plan.groups:,} groups queued"
    console.print(f"batch [bold]{plan.batch}[/] ({plan.kind}): {what}")
    for userid, n in plan.by_takeover.items():
        console.print(f"  → {escape(userid)}: {n:,}")
    for s in plan.skipped[:20]:
        console.print(f"  skipped customer {s['customer_id']}: {escape(s['reason'])}")
    if "sent" in data:
        console.print(f"sent: {data['sent']}")
    console.print("WeCom gives each customer 24 hours; `siyu staff transfer status` shows the results")


@app.command("status")
def status_cmd(
    batch: Annotated[str | None, typer.Argument(help="One batch; default the 20 newest.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Batches with how many customers are waiting, done, refused, at the takeover's limit, failed."""
    with workspace_session(workspace) as (session, ws):
        data = transfers.batch_status(session, workspace_id=ws.id, batch=batch)
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    if not data:
        console.print("no handovers yet")
        return
    table = Table()
    for col in ("batch", "kind", "from", "customers", "groups"):
        table.add_column(col)
    for b in data:
        counts = ", ".join(f"{k} {v}" for k, v in b["customers"].items())
        gcounts = ", ".join(f"{k} {v}" for k, v in b["groups"].items())
        table.add_row(b["batch"], b["kind"], escape(b["handover"]), counts, gcounts)
    console.print(table)
    if batch:
        for r in data[0]["rows"]:
            if r["error"]:
                console.print(f"  customer {r['customer_id']}: {escape(r['error'])}")


@app.command("check")
def check_cmd(
    batch: Annotated[str, typer.Argument(help="The batch to read results for.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read ``transfer_result`` now for the batch's waiting customers (the worker does it hourly)."""
    with workspace_session(workspace) as (session, ws):
        transfers.batch_status(session, workspace_id=ws.id, batch=batch)  # NotFound → exit 2
    counts = _run_now(workspace, batch, transfers.check_batch)
    if as_json:
        console.print_json(json.dumps(counts))
        return
    console.print(", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing was waiting")


@app.command("unassigned")
def unassigned_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Customers of resigned accounts that WeCom lists as waiting for a new owner (待分配)."""
    from siyu.wecom.client.transfers import iter_unassigned
    from siyu.wecom.errors import WeComError
    from siyu.wecom.gateway import client_for

    with workspace_session(workspace) as (session, ws):
        client = client_for(session, ws)
    try:
        items = [i.model_dump() for i in iter_unassigned(client)]
    except WeComError as exc:
        fail(f"WeCom: {exc}")
    finally:
        client.close()
    per: dict[str, int] = {}
    for i in items:
        per[i["handover_userid"]] = per.get(i["handover_userid"], 0) + 1
    if as_json:
        console.print_json(json.dumps({"customers": items, "by_handover": per}, ensure_ascii=False))
        return
    for userid, n in per.items():
        console.print(
            f"{escape(userid)}: {n:,} customers wait (siyu staff transfer start --from {escape(userid)})"
        )
    if not per:
        console.print("no customer of a resigned account is waiting")


@app.command("history")
def history_cmd(
    customer_id: Annotated[int, typer.Argument(help="The customer id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who owned the customer when (each period is credited to its owner in reports)."""
    with workspace_session(workspace) as (session, ws):
        data = [
            p.as_dict() for p in transfers.ownership(session, workspace_id=ws.id, customer_id=customer_id)
        ]
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    for p in data:
        console.print(
            f"{escape(p['userid'])}  {p['started_at'] or '?'} → {p['ended_at'] or 'now'}  ({p['reason']})"
        )
