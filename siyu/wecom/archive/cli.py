"""``siyu wecom archive``: import an archive export, settings, purge, coverage, view;
``siyu wecom archive accept``: record when a friend request was accepted."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, err_console, fail, workspace_session
from siyu.kit.errors import SiyuError
from siyu.kit.timeutil import utcnow

app = typer.Typer(
    help="Conversation archive (会话内容存档): import, settings, purge, view.", no_args_is_help=True
)

SHOWN_PROBLEMS = 20


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--{name}: not an ISO date or time: {value!r}")
    if at.tzinfo is None:
        fail(f"--{name}: give a time zone (e.g. {value}+08:00)")
    return at


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="Decrypted archive export: one JSON message per line.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Import messages (idempotent by msgid; problems reported per line, nothing lost)."""
    from siyu.kit.db import session_factory
    from siyu.wecom.archive.service import import_file

    if not file.is_file():
        fail(f"no such file: {file}")
    with workspace_session(workspace) as (_, ws):
        workspace_id = ws.id
    size = file.stat().st_size
    bar = Progress(
        TextColumn("存档导入 archive"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    show = progress and err_console.is_terminal and not as_json
    task = bar.add_task("import", total=size)
    try:
        if show:
            bar.start()
        report = import_file(
            session_factory(),
            workspace_id=workspace_id,
            path=file,
            on_progress=lambda done: bar.update(task, completed=done),
        )
    except SiyuError as exc:
        fail(exc.message)
    finally:
        if show:
            bar.stop()
    data = report.as_dict()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=f"archive import: {file.name}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in data.items():
        if isinstance(value, int) and (value or key in ("lines", "stored")):
            table.add_row(key, f"{value:,}")
    console.print(table)
    for p in report.problems[:SHOWN_PROBLEMS]:
        console.print(escape(f"line {p['line']}: {p['kind']}: {p['message']}"), highlight=False)
    more = len(report.problems) - SHOWN_PROBLEMS + report.problems_left_out
    if more > 0:
        console.print(f"... and {more:,} more problem lines (--json lists them)")


@app.command("settings")
def settings_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    store_text: Annotated[
        str | None, typer.Option(help="encrypted | none (none erases stored text).")
    ] = None,
    retention_days: Annotated[
        int | None, typer.Option(help="Erase message text after this many days.")
    ] = None,
    covered: Annotated[
        list[str] | None,
        typer.Option("--covered", help="Staff userid the archive licence covers (repeat; * = all)."),
    ] = None,
    viewer_role: Annotated[
        list[str] | None, typer.Option("--viewer-role", help="Role allowed to view the archive (repeat).")
    ] = None,
    sdk_library: Annotated[str | None, typer.Option(help="Path of libWeWorkFinanceSdk_C.so.")] = None,
) -> None:
    """Show or change the archive settings."""
    from siyu.wecom.archive.service import get_settings, set_settings

    changes: dict[str, Any] = {}
    for key, value in (
        ("store_text", store_text),
        ("retention_days", retention_days),
        ("covered", covered),
        ("viewer_roles", viewer_role),
        ("sdk_library", sdk_library),
    ):
        if value is not None:
            changes[key] = value
    with workspace_session(workspace) as (session, ws):
        if changes:
            result = set_settings(session, workspace_id=ws.id, changes=changes, actor="cli")
        else:
            result = get_settings(session, workspace_id=ws.id)
        data = result.as_dict()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
    else:
        for key, value in data.items():
            console.print(escape(f"{key}: {value}"), highlight=False)


@app.command("purge")
def purge_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Erase message text older than the retention period now (the daily job does it too)."""
    from siyu.wecom.archive.service import purge

    with workspace_session(workspace) as (session, ws):
        erased = purge(session, workspace_id=ws.id, actor="cli")
    typer.echo(json.dumps({"texts_erased": erased}) if as_json else f"{erased:,} message texts erased")


@app.command("coverage")
def coverage_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Which staff accounts the archive covers (the others fall back to WeCom's figures)."""
    from siyu.wecom.archive.service import coverage

    with workspace_session(workspace) as (session, ws):
        rows = coverage(session, workspace_id=ws.id)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title="archive coverage")
    for col in ("userid", "name", "covered", "last message"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["userid"],
            r["name"],
            "yes" if r["covered"] else "no (WeCom figures)",
            r["last_message_at"] or "-",
        )
    console.print(table)


@app.command("view")
def view_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    customer: Annotated[int | None, typer.Option(help="Customer id.")] = None,
    external_userid: Annotated[str | None, typer.Option(help="Customer's external_userid.")] = None,
    staff: Annotated[str | None, typer.Option(help="Staff userid.")] = None,
    group: Annotated[str | None, typer.Option(help="Group chat id.")] = None,
    word: Annotated[str | None, typer.Option(help="A word the text contains.")] = None,
    since: Annotated[str | None, typer.Option(help="From this time (ISO, with zone).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO, with zone).")] = None,
    limit: Annotated[int, typer.Option(help="How many (1-200).")] = 50,
) -> None:
    """Search the archive (as the workspace owner; audited)."""
    from siyu.wecom.archive.service import Search, search

    q = Search(
        customer_id=customer,
        external_userid=external_userid,
        staff=staff,
        group=group,
        word=word,
        since=_time(since, "since"),
        until=_time(until, "until"),
        limit=limit,
    )
    with workspace_session(workspace) as (session, ws):
        result = search(session, workspace_id=ws.id, role="owner", actor="cli", q=q)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    for m in result["items"]:
        who = m["staff_name"] or m["staff"] or "?"
        peer = m["group_name"] or m["customer_name"] or m["customer_id"] or "?"
        arrow = "←" if m["direction"] == "in" else "→"
        console.print(
            escape(f"{m['sent_at'][:19]} {who} {arrow} {peer} [{m['msgtype']}] {m['text'] or ''}"),
            highlight=False,
        )


@app.command("accept")
def accept_cmd(
    staff: Annotated[str, typer.Option(help="Staff userid who accepted.")],
    external_userid: Annotated[str, typer.Option(help="The new friend's external_userid.")],
    requested_at: Annotated[str, typer.Option(help="When the request came (ISO, with zone).")],
    accepted_at: Annotated[str | None, typer.Option(help="When it was accepted (default now).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record when a friend request that waited for verification was accepted."""
    from siyu.wecom.archive.service import record_accept

    req = _time(requested_at, "requested-at")
    acc = _time(accepted_at, "accepted-at") or utcnow()
    assert req is not None
    with workspace_session(workspace) as (session, ws):
        row = record_accept(
            session,
            workspace_id=ws.id,
            staff_userid=staff,
            external_userid=external_userid,
            requested_at=req,
            accepted_at=acc,
            actor="cli",
        )
        minutes = round((row.accepted_at - row.requested_at).total_seconds() / 60, 1)
    typer.echo(json.dumps({"minutes": minutes}) if as_json else f"recorded: accepted after {minutes} minutes")


@app.command("connect")
def connect_cmd(
    corp_id: Annotated[str, typer.Option(help="The corp id (企业ID).")],
    secret: Annotated[str, typer.Option(help="The archive's own secret (会话内容存档 Secret).")],
    sdk_library: Annotated[str, typer.Option(help="Path of libWeWorkFinanceSdk_C.so.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Configure the Finance SDK pull: corp id, archive secret (stored encrypted), library."""
    from siyu.wecom.archive.sdk import APP_NAME
    from siyu.wecom.archive.service import set_settings
    from siyu.wecom.settings import save_app

    if not Path(sdk_library).is_file():
        fail(f"--sdk-library: no such file: {sdk_library}")
    with workspace_session(workspace) as (session, ws):
        save_app(session, workspace_id=ws.id, corp_id=corp_id, secret=secret, name=APP_NAME)
        set_settings(session, workspace_id=ws.id, changes={"sdk_library": sdk_library}, actor="cli")
    console.print("archive pull configured; add the private keys with 'siyu wecom archive key-add'")


@app.command("key-add")
def key_add_cmd(
    version: Annotated[int, typer.Option(help="The key's publickey_ver.")],
    file: Annotated[Path, typer.Option(help="The RSA private key (PEM).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Add (or replace) the archive's private key of one version; kept rows are retried on the next pull."""
    from siyu.wecom.archive.sdk import add_key

    if not file.is_file():
        fail(f"--file: no such file: {file}")
    with workspace_session(workspace) as (session, ws):
        add_key(session, workspace_id=ws.id, version=version, pem=file.read_text(), actor="cli")
    console.print(f"key version {version} stored (encrypted)")


@app.command("pull")
def pull_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Pull new messages from the Finance SDK now (the worker does it on msgaudit_notify and every 5 min)."""
    from siyu.kit.db import session_factory
    from siyu.wecom.archive.sdk import SdkError, open_sdk, pull

    try:
        with workspace_session(workspace) as (session, ws):
            workspace_id = ws.id
            sdk = open_sdk(session, ws)
    except SdkError as exc:
        fail(str(exc), code=1)
    if sdk is None:
        fail("the archive pull is not configured (siyu wecom archive connect)")
    try:
        report = pull(session_factory(), workspace_id=workspace_id, sdk=sdk)
    except SdkError as exc:
        fail(str(exc), code=1)
    except SiyuError as exc:
        fail(exc.message)
    finally:
        sdk.close()
    data = report.as_dict()
    if as_json:
        typer.echo(json.dumps(data))
    else:
        for key, value in data.items():
            console.print(f"{key}: {value}")


@app.command("adds")
def adds_cmd(
    since: Annotated[str, typer.Option(help="From this time (ISO, with zone).")],
    until: Annotated[str | None, typer.Option(help="Before this time (default now).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Friend adds: accepted at once (codes that skip verification), accept time recorded, unknown."""
    from siyu.wecom.archive.service import add_share

    start = _time(since, "since")
    end = _time(until, "until") or utcnow()
    assert start is not None
    with workspace_session(workspace) as (session, ws):
        data = add_share(session, workspace_id=ws.id, since=start, until=end)
    if as_json:
        typer.echo(json.dumps(data))
    else:
        for key, value in data.items():
            console.print(f"{key}: {value}")


@app.command("relink")
def relink_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Link messages stored with an unknown staff account, customer or group (after a sync)."""
    from siyu.kit import audit
    from siyu.wecom.archive.importer import relink

    with workspace_session(workspace) as (session, ws):
        counts = relink(session, workspace_id=ws.id)
        audit.record(session, workspace_id=ws.id, actor="cli", action="archive.relink", detail=counts)
    typer.echo(json.dumps(counts) if as_json else ", ".join(f"{k}: {v}" for k, v in counts.items()))
