"""``siyu wecom``: sync, reconcile, behaviour stats, the callback inbox and the simulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session
from siyu.wecom.archive.cli import app as archive_app
from siyu.wecom.callbacks_cli import register as register_callbacks
from siyu.wecom.errors import WeComAPIError, WeComError, WeComNetworkError

app = typer.Typer(
    help="WeCom (企业微信): sync, reconcile, behaviour stats, callbacks, simulator.", no_args_is_help=True
)
register_callbacks(app)
app.add_typer(archive_app, name="archive")

HINTS = {
    40001: "; check the secret (SIYU_WECOM_SECRET or the workspace's WeCom app)",
    40013: "; check the corp id (SIYU_WECOM_CORP_ID)",
    48002: "; give the app the customer-contact (客户联系) permission in the admin console",
    60020: "; add this server's IP to the app's trusted IPs",
}
STAGES = {"staff": "员工 staff", "tags": "标签 tags", "contacts": "客户 customers", "groups": "客户群 groups"}


@contextmanager
def _wecom_errors() -> Iterator[None]:
    """WeCom failures become one plain line: config problems exit 2, WeCom's side 1."""
    try:
        yield
    except (WeComAPIError, WeComNetworkError) as exc:
        hint = HINTS.get(exc.errcode or 0, "")
        fail(escape(f"WeCom call failed: {exc}{hint}"), code=1)
    except WeComError as exc:
        fail(escape(str(exc)))


@contextmanager
def _failed_run(holder: dict[str, int], kind: str) -> Iterator[None]:
    """Record a failed SyncRun when WeCom fails mid-way; wrap it *outside* the unit of
    work, so the data has rolled back (and SQLite's write lock is free) by then."""
    from siyu.kit.db import session_factory
    from siyu.wecom.sync.run import record_failed_run

    try:
        yield
    except (WeComAPIError, WeComNetworkError) as exc:
        if "workspace_id" in holder:
            record_failed_run(
                session_factory(),
                workspace_id=holder["workspace_id"],
                kind=kind,
                error=f"{type(exc).__name__}: {exc}",
            )
        raise


def _print_counts(title: str, counts: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(counts, ensure_ascii=False, sort_keys=True))
        return
    table = Table(title=title, show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)


@app.command("sync")
def sync(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Full sync from WeCom: staff, corp tags, customers and follows, groups and members."""
    from siyu.kit.db import session_factory
    from siyu.wecom.gateway import client_for
    from siyu.wecom.sync import full_sync

    with workspace_session(workspace) as (session, ws):
        workspace_id, slug = ws.id, ws.slug
        with _wecom_errors():
            client = client_for(session, ws)
    with (
        _wecom_errors(),
        client,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=as_json,
            transient=False,
        ) as bar,
    ):
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total if total is not None else done)

        counts = full_sync(session_factory(), workspace_id=workspace_id, gateway=client, progress=progress)
    _print_counts(f"WeCom sync of {slug}", counts, as_json)


@app.command("reconcile")
def reconcile_cmd(
    workspace: WorkspaceOpt = None,
    external_userid: Annotated[
        list[str] | None, typer.Option("--external-userid", "-e", help="Re-read this customer (repeatable).")
    ] = None,
    chat_id: Annotated[
        list[str] | None, typer.Option("--chat-id", "-c", help="Re-read this group (repeatable).")
    ] = None,
    tags: Annotated[bool, typer.Option("--tags", help="Re-read the corp tag library.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep running the queued re-fetches (a worker).")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between passes with --follow.")] = 5.0,
    as_json: JsonOpt = False,
) -> None:
    """Re-fetch specific customers/groups, or (no ids) run the re-fetches callbacks queued."""
    from siyu.kit.db import session_factory
    from siyu.wecom.gateway import client_for
    from siyu.wecom.sync import process_refetch_jobs, reconcile
    from siyu.wecom.sync.run import record_run
    from siyu.worker.outbox import deliver

    if external_userid or chat_id or tags:
        holder: dict[str, int] = {}
        # Order matters: the unit of work closes (rolls back) before a failed run is recorded.
        with (
            _wecom_errors(),
            _failed_run(holder, "reconcile"),
            workspace_session(workspace) as (session, ws),
        ):
            holder["workspace_id"] = ws.id
            with client_for(session, ws) as client:
                counts: dict[str, Any] = reconcile(
                    session,
                    workspace_id=ws.id,
                    gateway=client,
                    external_userids=external_userid or [],
                    chat_ids=chat_id or [],
                    tags=tags,
                )
            record_run(session, workspace_id=ws.id, kind="reconcile", counts=counts)
        _print_counts("WeCom reconcile", counts, as_json)
        return
    with workspace_session(workspace) as (session, ws):
        with _wecom_errors():
            client = client_for(session, ws)
        workspace_id = ws.id
    with _wecom_errors(), client:
        # Callbacks ask for re-fetches through their events: queue what is pending first.
        deliver(session_factory(), names=["wecom.refetch"], max_batches=10_000)
        summary = process_refetch_jobs(session_factory(), workspace_id=workspace_id, gateway=client)
        while follow:
            # A worker: WeCom outages are recorded on the jobs and retried, never fatal.
            if summary.jobs_done or summary.errors:
                console.print(
                    f"re-fetch jobs done {summary.jobs_done}, failed {summary.jobs_failed}",
                    highlight=False,
                )
            time.sleep(interval)
            deliver(session_factory(), names=["wecom.refetch"], max_batches=10_000)
            summary = process_refetch_jobs(session_factory(), workspace_id=workspace_id, gateway=client)
    _print_counts(
        "WeCom re-fetch jobs",
        {"jobs_done": summary.jobs_done, "jobs_failed": summary.jobs_failed, **summary.counts},
        as_json,
    )
    for line in summary.errors[:20]:
        console.print(f"  [red]{line}[/]", highlight=False)
    if summary.errors:
        fail(f"{len(summary.errors)} re-fetch job(s) failed; they are retried later", code=1)


@app.command("behavior")
def behavior(
    workspace: WorkspaceOpt = None,
    days: Annotated[int, typer.Option(help="How many days back, today included (1-180).")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Mirror WeCom's per-staff per-day contact stats (get_user_behavior_data)."""
    from siyu.wecom.gateway import client_for
    from siyu.wecom.sync import mirror_behavior

    if not 1 <= days <= 180:
        fail(f"--days {days} is out of range: WeCom keeps 1 to 180 days of behaviour data")
    holder: dict[str, int] = {}
    with _wecom_errors(), _failed_run(holder, "behavior"), workspace_session(workspace) as (session, ws):
        holder["workspace_id"] = ws.id
        with client_for(session, ws) as client:
            counts = mirror_behavior(session, workspace_id=ws.id, gateway=client, days=days, tz=ws.timezone)
    _print_counts("WeCom behaviour data", counts, as_json)


@app.command("simulator")
def simulator(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    corp_id: Annotated[str, typer.Option(help="The simulated corp id.")] = "wwsimcorp0000001",
    secret: Annotated[str, typer.Option(help="The app secret clients must use.")] = "sim-contact-secret",  # noqa: S107
    callback_url: Annotated[
        str | None, typer.Option(help="Where to POST callbacks (siyu's /wecom/callback).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="Callback Token.")] = None,
    aes_key: Annotated[str | None, typer.Option(help="Callback EncodingAESKey (43 characters).")] = None,
    quota: Annotated[
        str, typer.Option(help="Mass-send quota: month_days, week7, day1 or month4.")
    ] = "month_days",
) -> None:
    """Run a local WeCom (API + encrypted callbacks) for tests, demos and development."""
    import uvicorn

    from siyu.wecom.crypto import decode_aes_key
    from siyu.wecom.simulator import SimConfig, Simulator

    if callback_url and not (token and aes_key):
        fail("--callback-url needs --token and --aes-key (the same ones siyu is configured with)")
    if aes_key:
        try:
            decode_aes_key(aes_key)
        except Exception as exc:
            fail(f"--aes-key: {exc}")
    if quota not in ("month_days", "week7", "day1", "month4"):
        fail(f"--quota {quota!r} is not month_days, week7, day1 or month4")
    config = SimConfig(
        corp_id=corp_id,
        secret=secret,
        callback_url=callback_url,
        callback_token=token,
        callback_aes_key=aes_key,
        quota_mode=quota,  # type: ignore[arg-type]
    )
    sim = Simulator(config)
    console.print(
        f"WeCom simulator on [bold]http://{host}:{port}[/] (corp {corp_id}); "
        f"API base for siyu: SIYU_WECOM_API_BASE=http://{host}:{port}; drive it with `siyu wecom scenario`"
    )
    uvicorn.run(sim.app, host=host, port=port, log_level="warning")


@app.command("scenario")
def scenario(
    action: Annotated[
        str, typer.Argument(help="add_staff, new_customer, live_code, add_friend, chat, join_group…")
    ],
    arg: Annotated[
        list[str] | None, typer.Option("--arg", "-a", help="name=value (JSON values allowed), repeatable.")
    ] = None,
    sim: Annotated[str, typer.Option(help="Simulator URL.")] = "http://127.0.0.1:8100",
) -> None:
    """Make something happen in a running simulator (customers add staff, chat, join groups…)."""
    import httpx

    args: dict[str, Any] = {}
    for item in arg or []:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            fail(f"--arg {item!r} is not name=value")
        try:
            args[name] = json.loads(raw)
        except ValueError:
            args[name] = raw
    try:
        resp = httpx.post(f"{sim.rstrip('/')}/_sim/action/{action}", json=args, timeout=30)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the simulator at {sim}: {exc}", code=1)
    body = resp.json()
    if resp.status_code != 200:
        fail(f"{action}: {body.get('error', resp.text)}")
    typer.echo(json.dumps(body.get("result"), ensure_ascii=False))
