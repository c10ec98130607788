"""``siyu content``: the content library (素材库 / 话术库)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, workspace_session

app = typer.Typer(help="The content library: texts, links, images, files, scripts.", no_args_is_help=True)


def _out(value: Any) -> None:
    console.print_json(json.dumps(value, default=str, ensure_ascii=False))


@app.command("add")
def add(
    kind: Annotated[str, typer.Argument(help="text, image, link, miniprogram, video, file or script")],
    title: Annotated[str, typer.Option("--title")],
    text: Annotated[
        str | None, typer.Option("--text", help="Text; {员工姓名} {客户昵称} are filled.")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="A link's address.")] = None,
    desc: Annotated[str | None, typer.Option("--desc", help="A link's description.")] = None,
    appid: Annotated[str | None, typer.Option("--appid", help="A mini-program's appid.")] = None,
    page: Annotated[str | None, typer.Option("--page", help="A mini-program's page.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Image, video or file to store.")] = None,
    folder: Annotated[str, typer.Option("--folder")] = "",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Library tag (repeatable).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an item (a file is checked against WeCom's media limits first)."""
    from siyu.automation.library import add_item, content_store, item_json

    body = {k: v for k, v in {"url": url, "desc": desc, "appid": appid, "page": page}.items() if v}
    store = content_store()  # SIYU_CONTENT_DIR, as the console and the API use
    with workspace_session(workspace) as (s, ws):
        item = add_item(
            s,
            workspace_id=ws.id,
            kind=kind,
            title=title,
            text=text,
            folder=folder,
            tags=tag or [],
            body=body,
            path=file,
            store_dir=store,
            actor="cli",
        )
        data = item_json(item)
    _out(data) if as_json else console.print(f"content {data['id']} added ({data['kind']})")


@app.command("list")
def list_cmd(
    kind: Annotated[str | None, typer.Option("--kind")] = None,
    folder: Annotated[str | None, typer.Option("--folder")] = None,
    tag: Annotated[str | None, typer.Option("--tag")] = None,
    search: Annotated[str | None, typer.Option("--search")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Items, most used first."""
    from siyu.automation.library import item_json, list_items

    with workspace_session(workspace) as (s, ws):
        rows = [
            item_json(i)
            for i in list_items(s, workspace_id=ws.id, kind=kind, folder=folder, tag=tag, search=search)
        ]
    if as_json:
        _out(rows)
        return
    for r in rows:
        console.print(f"{r['id']:>5} {r['kind']:<11} {r['folder'] or '-':<12} {r['title']}")


@app.command("show")
def show(content_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    from siyu.automation.content import get_content
    from siyu.automation.library import item_json

    with workspace_session(workspace) as (s, ws):
        data = item_json(get_content(s, workspace_id=ws.id, content_id=content_id))
    _out(data) if as_json else console.print(data)


@app.command("edit")
def edit(
    content_id: int,
    title: Annotated[str | None, typer.Option("--title")] = None,
    text: Annotated[str | None, typer.Option("--text")] = None,
    folder: Annotated[str | None, typer.Option("--folder")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from siyu.automation.library import item_json, update_item

    with workspace_session(workspace) as (s, ws):
        data = item_json(
            update_item(
                s, workspace_id=ws.id, content_id=content_id, title=title, text=text, folder=folder, tags=tag
            )
        )
    _out(data) if as_json else console.print(f"content {content_id} saved")


@app.command("delete")
def delete(content_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Delete an item (sends that used it keep their history)."""
    from siyu.automation.library import delete_item, item_json

    with workspace_session(workspace) as (s, ws):
        data = item_json(delete_item(s, workspace_id=ws.id, content_id=content_id))
    _out(data) if as_json else console.print(f"content {content_id} deleted")


@app.command("folders")
def folders_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    from siyu.automation.library import folders

    with workspace_session(workspace) as (s, ws):
        rows = [{"folder": f, "items": n} for f, n in folders(s, workspace_id=ws.id)]
    if as_json:
        _out(rows)
        return
    for r in rows:
        console.print(f"{r['folder'] or '(none)'}: {r['items']}")


@app.command("link")
def link_cmd(
    content_id: int,
    customer: Annotated[int, typer.Option("--customer", help="The customer's id (who will open it).")],
    staff: Annotated[str, typer.Option("--staff", help="The staff userid who sends it.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A tracked link (内容雷达) for one customer: opens are recorded and the staff is told."""
    from sqlalchemy import select

    from siyu.automation.content import get_content
    from siyu.automation.radar import tracked_url
    from siyu.kit.cli import fail
    from siyu.models import Staff

    with workspace_session(workspace) as (s, ws):
        staff_id = s.scalar(select(Staff.id).where(Staff.workspace_id == ws.id, Staff.userid == staff))
        if staff_id is None:
            fail(f"no staff account {staff!r} (staff)")
        item = get_content(s, workspace_id=ws.id, content_id=content_id)
        url = tracked_url(s, item=item, staff_id=staff_id, customer_id=customer)
    _out({"url": url}) if as_json else console.print(url)
