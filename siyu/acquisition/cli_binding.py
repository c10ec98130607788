"""``siyu bind``: order binding (包裹卡): friends' binding links, binding by hand, the list."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from siyu.acquisition import binding
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, workspace_session

app = typer.Typer(
    help="Order binding: a friend claims an imported order (包裹卡), joining them to its buyer.",
    no_args_is_help=True,
)

UserOpt = Annotated[str, typer.Option("--userid", help="The staff account's WeCom userid.")]
ExtOpt = Annotated[str, typer.Option("--external-userid", help="The customer's external_userid.")]


@app.command("link")
def link_cmd(
    userid: UserOpt,
    external_userid: ExtOpt,
    base_url: Annotated[str, typer.Option("--base-url", help="Where siyu is served (https://...).")] = "",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The friend's binding page link (send it in the chat or the welcome)."""
    with workspace_session(workspace) as (session, ws):
        data = binding.link_for(
            session, workspace_id=ws.id, userid=userid, external_userid=external_userid, base_url=base_url
        )
    if as_json:
        console.print_json(json.dumps(data))
        return
    console.print(data["url"])


@app.command("order")
def order_cmd(
    userid: UserOpt,
    external_userid: ExtOpt,
    order_no: Annotated[str, typer.Option("--order", help="The platform's order number.")],
    last4: Annotated[str | None, typer.Option("--last4", help="The phone's last four digits.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bind an order to a friend by hand (an operator checked it; no pause applies)."""
    with workspace_session(workspace) as (session, ws):
        link = binding.link_for(session, workspace_id=ws.id, userid=userid, external_userid=external_userid)
        bound = binding.bind_order(
            session,
            workspace_id=ws.id,
            follow_id=link["follow_id"],
            order_no=order_no,
            last4=last4,
            source="operator",
            actor="cli",
        )
        data = bound.as_dict()
    if as_json:
        console.print_json(json.dumps(data))
        return
    done = "was already bound to" if bound.already else "bound to"
    console.print(
        f"order {escape(bound.platform)}:{escape(bound.external_id)} {done} customer {bound.customer_id}"
    )


@app.command("list")
def list_cmd(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bindings, newest first."""
    with workspace_session(workspace) as (session, ws):
        rows, total = binding.list_bindings(session, workspace_id=ws.id, limit=limit)
    if as_json:
        console.print_json(json.dumps({"items": rows, "total": total}, ensure_ascii=False))
        return
    console.print(f"{total:,} bindings")
    for r in rows:
        console.print(
            f"  {r['platform']}:{escape(r['order_no'])} → customer {r['customer_id']} ({r['source']})"
        )
