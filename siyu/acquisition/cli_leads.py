"""``siyu leads``: the lead pool (客户公海) — buyers with a phone who are no one's friend yet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from siyu.acquisition import leads, scope
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session

app = typer.Typer(
    help="Lead pool: buyers with a phone but no friend relation become add-a-friend tasks.",
    no_args_is_help=True,
)


def _shops(values: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values or []:
        shop, sep, users = v.partition("=")
        if not sep or not shop.strip() or not users.strip():
            fail(f"--shop takes SHOP=userid,userid, not {v!r}")
        out[shop.strip()] = [u.strip() for u in users.split(",") if u.strip()]
    return out


@app.command("pool")
def pool_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """How many leads wait for an account."""
    with workspace_session(workspace) as (session, ws):
        n = leads.pool(session, workspace_id=ws.id)
    if as_json:
        console.print_json(json.dumps({"leads": n}))
        return
    console.print(f"{n:,} buyers with a phone are no one's friend yet")


@app.command("upload")
def upload_cmd(
    file: Annotated[Path, typer.Argument(help="A CSV or text file: one phone a line (phone[,name]).")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a phone list to the pool (checked whole first; phones are stored encrypted)."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    with workspace_session(workspace) as (session, ws):
        data = leads.upload_phones(session, workspace_id=ws.id, text=text, actor="cli").as_dict()
    if as_json:
        console.print_json(json.dumps(data))
        return
    console.print(
        f"{data['rows']:,} phones: {data['leads']:,} leads, {data['already_friends']:,} already friends"
    )


@app.command("assign")
def assign_cmd(
    rule: Annotated[str, typer.Option("--rule", help="least_loaded or shop.")] = "least_loaded",
    staff: Annotated[
        list[str] | None, typer.Option("--staff", help="Accounts to use (repeat); default all.")
    ] = None,
    shop: Annotated[
        list[str] | None, typer.Option("--shop", help="SHOP=userid,userid (repeat) for the shop rule.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many leads, best buyers first.")] = 500,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give leads to accounts as add-a-friend tasks (due in a day, reminded daily after)."""
    with workspace_session(workspace) as (session, ws):
        data = leads.assign(
            session, workspace_id=ws.id, rule=rule, staff=staff, shops=_shops(shop), limit=limit
        ).as_dict()
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    console.print(f"{data['tasks']:,} add-a-friend tasks; {data['left_in_pool']:,} leads left in the pool")
    for userid, n in data["by_staff"].items():
        console.print(f"  {escape(userid)}: {n:,}")


@app.command("stats")
def stats_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    staff: Annotated[
        str | None, typer.Option("--staff", help="One account (userid): its conversion and its tasks.")
    ] = None,
) -> None:
    """Per account: leads given, added as friends, open, overdue, and the conversion."""
    tasks: list[dict[str, object]] | None = None
    with workspace_session(workspace) as (session, ws):
        staff_id = scope.staff_id_of(session, workspace_id=ws.id, userid=staff)
        rows = leads.conversion(session, workspace_id=ws.id, staff_id=staff_id)
        n = leads.pool(session, workspace_id=ws.id)
        if staff_id is not None:
            tasks = leads.tasks_of(session, workspace_id=ws.id, staff_id=staff_id)
    if as_json:
        out: dict[str, object] = {"pool": n, "staff": rows}
        if tasks is not None:
            out["tasks"] = tasks
        console.print_json(json.dumps(out, ensure_ascii=False))
        return
    console.print(f"{n:,} leads in the pool")
    for r in rows:
        conv = f"{r['conversion']:.0%}" if r["conversion"] is not None else "—"
        console.print(
            f"  {escape(str(r['userid']))}: {r['added']}/{r['leads']} added ({conv}), {r['overdue']} overdue"
        )
