"""CLI for the callback inbox: ``process-callbacks`` (the worker) and ``callbacks`` (status).

``register(wecom_app)`` adds both commands to the ``siyu wecom`` group.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import func, select

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session

app = typer.Typer(help="WeCom callback inbox.", no_args_is_help=True)


def process_callbacks(
    workspace: WorkspaceOpt = None,
    limit: Annotated[
        int, typer.Option(min=1, help="Callbacks per pass (passes repeat until none is left).")
    ] = 1000,
    retry_failed: Annotated[bool, typer.Option(help="Put failed callbacks back in the queue first.")] = False,
    follow: Annotated[
        bool,
        typer.Option("--follow", help="Keep running as a worker, polling for new callbacks (Ctrl-C stops)."),
    ] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls with --follow.")] = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """Process stored callbacks that are still pending (after a crash, or as a worker)."""
    import json

    from siyu.kit.db import session_factory
    from siyu.kit.timeutil import utcnow
    from siyu.wecom.callbacks.processing import ProcessSummary, process_pending

    with workspace_session(workspace) as (_session, ws):
        workspace_id = ws.id
    total = ProcessSummary()
    first = True
    try:
        while True:
            s = process_pending(session_factory(), workspace_id, limit, retry_failed=retry_failed and first)
            first = False
            if follow:
                # A worker runs for weeks: report each busy pass, keep no history.
                if s.total:
                    console.print(
                        f"{utcnow():%Y-%m-%d %H:%M:%S}Z processed {s.processed}, failed {s.failed}, "
                        f"to retry {s.retried}",
                        highlight=False,
                    )
                    for line in s.errors[:20]:
                        console.print(f"  [red]{line}[/]", highlight=False)
                if s.processed + s.skipped < limit:
                    time.sleep(interval)
                continue
            total.processed += s.processed
            total.failed += s.failed
            total.retried += s.retried
            total.skipped += s.skipped
            total.errors.extend(s.errors)
            # Another pass only when this one was full and made progress.
            if s.processed + s.skipped < limit:
                break
    except KeyboardInterrupt:
        console.print("stopped")
        return
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "processed": total.processed,
                    "failed": total.failed,
                    "retry_later": total.retried,
                    "skipped": total.skipped,
                    "errors": total.errors,
                }
            )
        )
    else:
        console.print(
            f"processed [bold]{total.processed}[/], failed {total.failed}, "
            f"to retry {total.retried}, skipped {total.skipped}"
        )
        for line in total.errors[:20]:
            console.print(f"  [red]{line}[/]", highlight=False)
    if total.failed:
        fail(f"{total.failed} callback(s) failed; see `siyu wecom callbacks --status failed`", code=1)


def callbacks(
    workspace: WorkspaceOpt = None,
    status: Annotated[str | None, typer.Option(help="Only pending, processed, failed or ignored.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to list.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Show the inbox: counts by status and the latest callbacks (no bodies)."""
    import json

    from siyu.models import WeComCallback

    if status is not None and status not in ("pending", "processed", "failed", "ignored"):
        fail(f"--status {status!r} is not pending, processed, failed or ignored")
    with workspace_session(workspace) as (session, ws):
        counts = dict(
            session.execute(
                select(WeComCallback.status, func.count())
                .where(WeComCallback.workspace_id == ws.id)
                .group_by(WeComCallback.status)
            ).all()
        )
        q = select(WeComCallback).where(WeComCallback.workspace_id == ws.id)
        if status:
            q = q.where(WeComCallback.status == status)
        rows = list(session.scalars(q.order_by(WeComCallback.id.desc()).limit(limit)))
        items = [
            {
                "id": r.id,
                "status": r.status,
                "event": r.event or r.msg_type,
                "change_type": r.change_type,
                "create_time": r.create_time.isoformat() if r.create_time else None,
                "attempts": r.attempts,
                "error": r.error,
            }
            for r in rows
        ]
    if as_json:
        typer.echo(json.dumps({"counts": counts, "callbacks": items}, ensure_ascii=False))
        return
    console.print(", ".join(f"{k}: [bold]{v}[/]" for k, v in sorted(counts.items())) or "inbox is empty")
    table = Table("id", "status", "event", "change", "WeCom time", "tries", "error")
    for it in items:
        table.add_row(
            str(it["id"]),
            str(it["status"]),
            str(it["event"] or ""),
            str(it["change_type"] or ""),
            str(it["create_time"] or ""),
            str(it["attempts"]),
            str(it["error"] or "")[:60],
        )
    if items:
        console.print(table)


def configure(
    workspace: WorkspaceOpt = None,
    corp_id: Annotated[
        str | None, typer.Option(help="Corp id (企业ID), also the callback receive id.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="SIYU_WECOM_SET_TOKEN", help="Callback Token (env SIYU_WECOM_SET_TOKEN)."),
    ] = None,
    aes_key: Annotated[
        str | None,
        typer.Option(
            envvar="SIYU_WECOM_SET_AES_KEY", help="43-character EncodingAESKey (env SIYU_WECOM_SET_AES_KEY)."
        ),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(envvar="SIYU_WECOM_SET_SECRET", help="App secret (env SIYU_WECOM_SET_SECRET)."),
    ] = None,
    agent_id: Annotated[str | None, typer.Option(help="Agent id of the app.")] = None,
    api_base: Annotated[str | None, typer.Option(help="API base URL (a proxy, or the simulator).")] = None,
) -> None:
    """Set a workspace's WeCom app (secrets are stored encrypted); omitted fields stay as they are."""
    from siyu.wecom.settings import save_app

    with workspace_session(workspace) as (session, ws):
        save_app(
            session,
            workspace_id=ws.id,
            corp_id=corp_id,
            token=token,
            aes_key=aes_key,
            secret=secret,
            agent_id=agent_id,
            api_base=api_base,
        )
        slug = ws.slug
    console.print(
        f"WeCom app of workspace [bold]{slug}[/] saved; callback URL path: "
        f"/wecom/callback/{slug} (the default workspace also answers on /wecom/callback)"
    )


def show_config(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show a workspace's WeCom app config, secrets masked."""
    import json

    from siyu.wecom.settings import resolve_app

    def masked(value: str) -> str:
        return (
            "" if not value else f"{value[:2]}…{value[-2:]} ({len(value)} chars)" if len(value) > 6 else "***"
        )

    with workspace_session(workspace) as (session, ws):
        cfg = resolve_app(session, ws)
    out = {
        "workspace": cfg.workspace_slug,
        "corp_id": cfg.corp_id,
        "agent_id": cfg.agent_id,
        "api_base": cfg.api_base,
        "token": masked(cfg.token),
        "aes_key": masked(cfg.aes_key),
        "secret": masked(cfg.secret),
        "callbacks_ready": cfg.has_callback,
        "timestamp_tolerance_s": cfg.timestamp_tolerance,
    }
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    for key, value in out.items():
        console.print(f"{key:>22}: {value}", highlight=False)


app.command("process-callbacks")(process_callbacks)
app.command("callbacks")(callbacks)
app.command("configure")(configure)
app.command("config")(show_config)


def register(parent: typer.Typer) -> None:
    """Add the inbox and app-config commands to a Typer app (the ``siyu wecom`` group)."""
    parent.command("process-callbacks")(process_callbacks)
    parent.command("callbacks")(callbacks)
    parent.command("configure")(configure)
    parent.command("config")(show_config)
