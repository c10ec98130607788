"""``siyu moments ...``: plan moments, the week calendar, publishing and reactions."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from siyu.automation.moments.service import (
    AttachmentInput,
    MomentInput,
    cancel_moment,
    plan_moment,
)
from siyu.automation.moments.views import list_interactions, moment_view, week
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import local_to_utc, utcnow
from siyu.models import Staff

app = typer.Typer(
    help=(
        "Moments calendar (客户朋友圈). WeCom has no schedule: siyu creates each task at its "
        "planned time and every staff member publishes it in their own WeCom client."
    ),
    no_args_is_help=True,
)

FLAG_WORDS = {"gap": "none", "under": "below target", "over": "above target", "burst": "too close together"}


def _out(data: Any, as_json: bool) -> bool:
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
    return as_json


def parse_at(value: str, tz: str) -> datetime:
    """'2026-12-07 20:00' in the workspace zone (or an ISO time with an offset) → UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(
            f"planned_at: {value!r} is not a time like 2026-12-07 20:00", field="planned_at"
        ) from None
    return local_to_utc(parsed, tz)


@app.command("plan")
def plan_cmd(
    at: Annotated[str, typer.Option("--at", help="When (workspace time): 'YYYY-MM-DD HH:MM'.")],
    staff: Annotated[list[str], typer.Option("--staff", help="A sending staff userid (repeat).")],
    text: Annotated[str, typer.Option("--text", help="The text (≤ 2,000 characters).")] = "",
    image: Annotated[
        list[Path] | None, typer.Option("--image", help="A JPG/PNG ≤ 10 MB (repeat, ≤ 9).")
    ] = None,
    video: Annotated[Path | None, typer.Option("--video", help="One MP4 ≤ 10 MB.")] = None,
    link: Annotated[str | None, typer.Option("--link", help="One link URL.")] = None,
    link_title: Annotated[str | None, typer.Option("--link-title", help="The link's title.")] = None,
    content: Annotated[
        list[int] | None,
        typer.Option("--content", help="A content-library item (image, video or link; repeat)."),
    ] = None,
    text_from: Annotated[
        int | None, typer.Option("--text-from", help="Take the text from this content-library item.")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only customers with this corp tag see it (name or id; repeat)."),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan a moment for some staff accounts at a time; siyu creates the WeCom task then."""
    items = [AttachmentInput("image", path=str(p)) for p in image or []]
    if video is not None:
        items.append(AttachmentInput("video", path=str(video)))
    if link is not None or link_title is not None:
        items.append(AttachmentInput("link", url=link, title=link_title))
    items += [AttachmentInput("content", content_id=c) for c in content or []]
    with workspace_session(workspace) as (session, ws):
        data = MomentInput(
            planned_at=parse_at(at, ws.timezone), staff_userids=staff, text=text, attachments=items,
            content_id=text_from, visible_tags=tag or [],
        )  # fmt: skip
        m = plan_moment(session, workspace_id=ws.id, data=data, actor="cli")
        out = moment_view(session, workspace_id=ws.id, moment_id=m.id).as_json()
    if _out(out, as_json):
        return
    console.print(
        f"moment {out['id']} planned for {escape(out['planned_at'])} ({len(out['senders'])} staff). "
        "siyu creates the WeCom task then; each staff member publishes it in their WeCom client."
    )


@app.command("show")
def show_cmd(moment_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """One moment: its status and, per staff account, whether it was published."""
    with workspace_session(workspace) as (session, ws):
        out = moment_view(session, workspace_id=ws.id, moment_id=moment_id).as_json()
    if _out(out, as_json):
        return
    console.print(f"moment {out['id']} · {out['status']} · {escape(out['planned_at'])}")
    console.print(escape(out["text"][:200]))
    for s in out["senders"]:
        reach = f" (visible to {s['reach']} friends with the tags)" if s["reach"] is not None else ""
        console.print(f"  {escape(s['userid'])}: {s['status']} {s['published_at'] or ''}{reach}")
    if out["error"]:
        console.print(f"[red]{escape(out['error'])}[/]")


@app.command("cancel")
def cancel_cmd(moment_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel a moment siyu has not handed to WeCom yet."""
    with workspace_session(workspace) as (session, ws):
        m = cancel_moment(session, workspace_id=ws.id, moment_id=moment_id, actor="cli")
        out = {"id": m.id, "status": m.status}
    if not _out(out, as_json):
        console.print(f"moment {moment_id} cancelled")


@app.command("week")
def week_cmd(
    start: Annotated[
        str | None, typer.Option("--start", help="First day (YYYY-MM-DD); default today.")
    ] = None,
    days: Annotated[int, typer.Option("--days", help="How many days (1–31).")] = 7,
    staff: Annotated[str | None, typer.Option("--staff", help="Only this staff userid.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The calendar: moments per staff account and day against the target, with flags."""
    try:
        first = date.fromisoformat(start) if start else None
    except ValueError:
        fail(f"--start {start!r} is not a date like 2026-12-07")
    with workspace_session(workspace) as (session, ws):
        staff_id = None
        if staff:
            staff_id = session.scalar(
                select(Staff.id).where(Staff.workspace_id == ws.id, Staff.userid == staff)
            )
            if staff_id is None:
                raise Invalid(f"no staff account {staff!r}", field="staff")
        out = week(session, workspace_id=ws.id, start=first, days=days, staff_id=staff_id).as_json()
    if _out(out, as_json):
        return
    table = Table(
        title=f"moments from {out['start']} (target {out['target']['min']}–{out['target']['max']} a day)"
    )
    table.add_column("staff")
    for d in out["days"]:
        table.add_column(d[5:], justify="center")
    for s in out["staff"]:
        cells = []
        for d in s["days"]:
            mark = ",".join(FLAG_WORDS[f] for f in d["flags"])
            cells.append(f"{d['published']}+{d['planned']}" + (f" [yellow]{mark}[/]" if mark else ""))
        table.add_row(escape(s["name"]), *cells)
    console.print(table)
    console.print("cells: published + still planned")


@app.command("sync")
def sync_cmd(
    days: Annotated[
        int, typer.Option("--days", help="Fetch likes and comments of this many days (≤ 30).")
    ] = 7,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Now, rather than on the worker's schedule: publishing status, reminders, likes and comments."""
    from siyu.automation.moments.tasks import moments_gateway
    from siyu.automation.moments.wecom import fetch_results, track_publishing

    if not 1 <= days <= 30:
        fail("--days is 1 to 30 (WeCom lists moments of at most 30 days at a time)")
    with workspace_session(workspace) as (session, ws), moments_gateway(session, ws) as gw:
        out = {
            "publishing": track_publishing(session, workspace_id=ws.id, gateway=gw),
            "results": fetch_results(session, workspace_id=ws.id, gateway=gw, days=days),
        }
    if not _out(out, as_json):
        p, r = out["publishing"], out["results"]
        console.print(
            f"{p['published']} newly published, {p['reminded']} reminders; {r['moments_new']} new moments, "
            f"{r['likes']} likes, {r['comments']} comments"
        )


@app.command("interactions")
def interactions_cmd(
    days: Annotated[int, typer.Option("--days", help="Of the last N days.")] = 30,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who liked or commented on which staff account's moment, and when (newest first)."""
    with workspace_session(workspace) as (session, ws):
        rows = list_interactions(session, workspace_id=ws.id, since=utcnow() - timedelta(days=days))
    if _out(rows, as_json):
        return
    table = Table()
    for col in ("when", "kind", "staff", "customer", "moment"):
        table.add_column(col)
    for r in rows:
        who = escape(r["customer"] or str(r["customer_id"]))
        table.add_row(r["occurred_at"][:16], r["kind"], escape(r["staff"]), who, str(r["moment_id"]))
    console.print(table)


@app.command("settings")
def settings_cmd(
    target_min: Annotated[
        int | None, typer.Option("--target-min", help="Fewest moments a day per account.")
    ] = None,
    target_max: Annotated[
        int | None, typer.Option("--target-max", help="Most moments a day per account.")
    ] = None,
    spacing: Annotated[
        int | None, typer.Option("--spacing", help="Minutes two moments of an account should be apart.")
    ] = None,
    remind_after: Annotated[
        int | None,
        typer.Option("--remind-after", help="Minutes after the task before a staff member is reminded."),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or change the cadence target (default 3–5 a day) and the reminder delay."""
    from siyu.automation.moments.service import update_settings

    given = {
        "moments_target_min": target_min,
        "moments_target_max": target_max,
        "moments_min_spacing_minutes": spacing,
        "moments_remind_after_minutes": remind_after,
    }
    with workspace_session(workspace) as (session, ws):
        out = update_settings(
            session, workspace_id=ws.id, values={k: v for k, v in given.items() if v is not None}, actor="cli"
        )
    if not _out(out, as_json):
        for k, v in out.items():
            console.print(f"{k}: {v}")
