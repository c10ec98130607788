"""``siyu tasks``: frontline task lists, completion, sources, escalation."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import typer

from siyu.customers.visibility import WholeWorkspace
from siyu.execution import sources, tracking
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session
from siyu.kit.timeutil import day_start_utc, local_day, local_to_utc, utcnow

app = typer.Typer(
    help="Staff task lists: what each account should do, and whether it was done.", no_args_is_help=True
)

StaffOpt = Annotated[str | None, typer.Option("--staff", help="The staff account's WeCom userid.")]


def _out(data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
        return
    for line in lines:
        console.print(line, highlight=False, markup=False)


@app.command("list")
def list_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    staff: StaffOpt = None,
    status: Annotated[str, typer.Option("--status", help="open, done, cancelled or all.")] = "open",
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only this kind (greet, reply_sla, coverage, sop_step ...).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1 to 500).")] = 100,
) -> None:
    """Tasks, most urgent first, with the customer's profile summary."""
    with workspace_session(workspace) as (session, ws):
        sid = tracking.find_staff_id(session, workspace_id=ws.id, userid=staff) if staff else None
        data = tracking.list_tasks(
            session,
            WholeWorkspace(ws.id),
            staff_id=sid,
            status=None if status == "all" else status,
            kind=kind,
            limit=limit,
        )
    _out(
        data,
        as_json,
        [
            f"{d['id']:>6} P{d['priority']} {d['due_at'][:16]} {'逾期 ' if d['overdue'] else ''}"
            f"{d['status']:<5} {d['staff'] or '-'}: {d['title']}"
            for d in data
        ]
        or ["no tasks"],
    )


@app.command("add")
def add_cmd(
    staff: Annotated[str, typer.Option("--staff", help="The staff account's WeCom userid.")],
    title: Annotated[str, typer.Option("--title", help="What to do.")],
    due: Annotated[str, typer.Option("--due", help="Due time, local (workspace zone): YYYY-MM-DD HH:MM.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    customer: Annotated[int | None, typer.Option("--customer", help="The customer's id.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="Suggested words to send.")] = None,
    content: Annotated[
        int | None, typer.Option("--content", help="Suggested content from the library (id).")
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="1 high, 2 normal, 3 low.")] = 2,
) -> None:
    """Set a task by hand for a staff account."""
    try:
        local = datetime.fromisoformat(due)
    except ValueError:
        fail(f"--due is YYYY-MM-DD HH:MM, not {due!r} (due)")
    with workspace_session(workspace) as (session, ws):
        sid = tracking.find_staff_id(session, workspace_id=ws.id, userid=staff)
        tid = tracking.add_manual(
            session,
            workspace_id=ws.id,
            staff_id=sid,
            title=title,
            due_at=local_to_utc(local, ws.timezone),
            customer_id=customer,
            body=body,
            content_id=content,
            priority=priority,
            actor="cli",
        )
    _out({"id": tid}, as_json, [f"task {tid} added for {staff}"])


@app.command("done")
def done_cmd(
    task_id: Annotated[int, typer.Argument(help="The task's id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    how: Annotated[
        str, typer.Option("--how", help="self_reported (staff say so) or operator.")
    ] = "self_reported",
) -> None:
    """Mark a task done, saying how it is known."""
    with workspace_session(workspace) as (session, ws):
        task = tracking.mark_done(session, WholeWorkspace(ws.id), task_id=task_id, how=how)
        data = tracking.task_dict(task)
    _out(data, as_json, [f"task {task_id} done ({how})"])


@app.command("generate")
def generate_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    morning: Annotated[
        bool,
        typer.Option(
            "--morning/--no-morning",
            help="Also the morning lists (coverage, wake-ups, post-purchase, group entrants).",
        ),
    ] = True,
) -> None:
    """Run the task sources now (the worker runs SLAs every minute and the morning lists at 07:00)."""
    with workspace_session(workspace) as (session, ws):
        data = sources.slas(session, workspace_id=ws.id)
        if morning:
            data.update(sources.morning(session, workspace_id=ws.id))
    _out(data, as_json, [f"{k}: {v}" for k, v in data.items()])


@app.command("detect")
def detect_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Mark tasks done that the data shows done (a message sent after the task)."""
    with workspace_session(workspace) as (session, ws):
        n = tracking.detect_completion(session, workspace_id=ws.id)
    _out({"detected": n}, as_json, [f"{n} tasks done (detected)"])


@app.command("escalate")
def escalate_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Escalate overdue tasks to the team leads (settings tasks.team_leads)."""
    with workspace_session(workspace) as (session, ws):
        data = tracking.escalate_overdue(session, workspace_id=ws.id)
    _out(data, as_json, [f"escalated {data['escalated']} tasks; {data['lead_tasks']} lead tasks"])


@app.command("summary")
def summary_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    days: Annotated[
        int, typer.Option("--days", help="Tasks due in the last N days (local), today included.")
    ] = 7,
    until: Annotated[
        str | None, typer.Option("--until", help="Count back from this day (YYYY-MM-DD) instead of today.")
    ] = None,
) -> None:
    """Completion per account and per team: done, on time, late, overdue, detected or self-reported."""
    if not 1 <= days <= 366:
        fail("--days is 1 to 366 (days)")
    try:
        last = date.fromisoformat(until) if until else None
    except ValueError:
        fail(f"--until is YYYY-MM-DD, not {until!r} (until)")
    with workspace_session(workspace) as (session, ws):
        last = last or local_day(utcnow(), ws.timezone)
        since = day_start_utc(last - timedelta(days=days - 1), ws.timezone)
        end = day_start_utc(last + timedelta(days=1), ws.timezone)
        data = tracking.completion(session, WholeWorkspace(ws.id), since=since, until=end)
    lines = ["accounts:"] + [
        f"  {a['staff']:<12} {a['done']}/{a['total']} ({a['rate']:.0%}) on time {a['on_time']} "
        f"late {a['late']} overdue {a['overdue']} self-reported {a['self_reported']}"
        for a in data["accounts"]
    ]
    lines += ["teams:"] + [
        f"  {t['team']:<12} {t['done']}/{t['total']} ({t['rate']:.0%})" for t in data["teams"]
    ]
    _out(data, as_json, lines)
