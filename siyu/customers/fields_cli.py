"""``siyu fields ...``: the workspace's custom profile fields (生日, 肤质 ...)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from siyu.customers import fields as fields_service
from siyu.kit import audit
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, workspace_session

app = typer.Typer(help="Custom profile fields staff fill in from the chat sidebar.", no_args_is_help=True)


@app.command("define")
def define_cmd(
    key: Annotated[str, typer.Argument(help="Stable key, e.g. birthday, skin_type.")],
    label: Annotated[str, typer.Argument(help="What staff read, e.g. 生日.")],
    kind: Annotated[str, typer.Option("--kind", help="text, date, number or choice.")] = "text",
    option: Annotated[list[str] | None, typer.Option("--option", help="A choice (repeat).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or change a field."""
    with workspace_session(workspace) as (session, ws):
        f = fields_service.define_field(
            session, workspace_id=ws.id, key=key, label=label, kind=kind, options=option
        )
        audit.record(
            session,
            workspace_id=ws.id,
            actor="cli",
            action="profile_field.define",
            target_type="profile_field",
            target_id=f.id,
            detail={"key": f.key, "kind": f.kind},
        )
        out = {"id": f.id, "key": f.key, "label": f.label, "kind": f.kind, "options": list(f.options)}
    if as_json:
        console.print_json(json.dumps(out, ensure_ascii=False))
    else:
        console.print(escape(f"field {out['key']} ({out['label']}, {out['kind']}) saved"))


@app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """The fields, in the order the sidebar shows them."""
    with workspace_session(workspace) as (session, ws):
        out = [
            {"key": f.key, "label": f.label, "kind": f.kind, "options": list(f.options)}
            for f in fields_service.list_fields(session, workspace_id=ws.id)
        ]
    if as_json:
        console.print_json(json.dumps(out, ensure_ascii=False))
        return
    for f in out:
        console.print(escape(f"{f['key']}: {f['label']} ({f['kind']}) {' / '.join(f['options'])}"))
    if not out:
        console.print("no profile fields yet")
