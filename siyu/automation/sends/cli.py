"""``siyu sends``: create, preview, approve, plan, deliver, follow, remind, cancel, lift."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session

app = typer.Typer(help="Mass sends (群发) to customers and groups.", no_args_is_help=True)

IdArg = Annotated[int, typer.Argument(help="The send's id.")]


def _out(value: Any) -> None:
    console.print_json(json.dumps(value, default=str, ensure_ascii=False))


def _when(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{field}: not an ISO time with zone, e.g. 2026-12-01T10:00+08:00")
    if value.tzinfo is None:
        fail(f"{field}: give the time zone, e.g. 2026-12-01T10:00+08:00")
    return value


def _new(
    title: str,
    text: str | None,
    content: list[int] | None,
    audience: str | None,
    segment: str | None,
    chat_id: list[str] | None,
    owner: list[str] | None,
    group_type: str | None,
    sender: str | None,
    holdout: int | None,
    at: str | None,
    recurrence: str | None,
    until: str | None,
) -> Any:
    from siyu.automation.sends.service import NewSend

    group = bool(chat_id or owner or group_type)
    return NewSend(
        title=title,
        kind="group" if group else "customer",
        text=text,
        content_ids=list(content or []),
        audience=audience,
        segment=segment,
        chat_ids=list(chat_id or []),
        owners=list(owner or []),
        group_type=group_type,
        sender=sender,
        holdout_pct=holdout,
        scheduled_at=_when(at, "at"),
        recurrence=recurrence,
        recurrence_until=_when(until, "until"),
    )


TitleOpt = Annotated[str, typer.Option("--title", help="What operators call the send.")]
TextOpt = Annotated[
    str | None, typer.Option("--text", help="The message (≤ 4,000 bytes; {员工姓名} filled).")
]
ContentOpt = Annotated[
    list[int] | None, typer.Option("--content", help="Library item id to attach (repeatable).")
]
AudienceOpt = Annotated[str | None, typer.Option("--audience", help="Audience expression, e.g. 'layer:vip'.")]
SegmentOpt = Annotated[str | None, typer.Option("--segment", help="A saved segment's name.")]
ChatOpt = Annotated[
    list[str] | None, typer.Option("--chat-id", help="Group send: a group's chat_id (repeatable).")
]
OwnerOpt = Annotated[list[str] | None, typer.Option("--owner", help="Group send: all groups of this owner.")]
GroupTypeOpt = Annotated[str | None, typer.Option("--group-type", help="Group send: groups of this type.")]
SenderOpt = Annotated[
    str | None, typer.Option("--sender", help="Named sender (staff userid) where a friend.")
]
HoldoutOpt = Annotated[int | None, typer.Option("--holdout", help="Holdout percent (default: workspace).")]
AtOpt = Annotated[str | None, typer.Option("--at", help="When to plan it (ISO with zone); default now.")]
RecurOpt = Annotated[str | None, typer.Option("--recurrence", help="daily or weekly.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Last occurrence (ISO with zone).")]


@app.command("create")
def create(
    title: TitleOpt,
    text: TextOpt = None,
    content: ContentOpt = None,
    audience: AudienceOpt = None,
    segment: SegmentOpt = None,
    chat_id: ChatOpt = None,
    owner: OwnerOpt = None,
    group_type: GroupTypeOpt = None,
    sender: SenderOpt = None,
    holdout: HoldoutOpt = None,
    at: AtOpt = None,
    recurrence: RecurOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a send: scheduled (planned when due) or waiting for an admin's approval."""
    from siyu.automation.sends.service import create_send, send_json

    new = _new(
        title,
        text,
        content,
        audience,
        segment,
        chat_id,
        owner,
        group_type,
        sender,
        holdout,
        at,
        recurrence,
        until,
    )
    with workspace_session(workspace) as (s, ws):
        send = create_send(s, workspace_id=ws.id, new=new, actor="cli")
        data = send_json(send)
    if as_json:
        _out(data)
    else:
        console.print(f"send {data['id']} {data['status']} (audience now {data['counts'].get('live_count')})")


@app.command("preview")
def preview(
    title: TitleOpt = "preview",
    text: TextOpt = None,
    content: ContentOpt = None,
    audience: AudienceOpt = None,
    segment: SegmentOpt = None,
    chat_id: ChatOpt = None,
    owner: OwnerOpt = None,
    group_type: GroupTypeOpt = None,
    sender: SenderOpt = None,
    holdout: HoldoutOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What planning now would do: audience, removals per reason, holdout, calls, first recipients."""
    from siyu.automation.sends.service import preview as run_preview

    new = _new(
        title, text, content, audience, segment, chat_id, owner, group_type, sender, holdout, None, None, None
    )
    with workspace_session(workspace) as (s, ws):
        data = run_preview(s, workspace_id=ws.id, new=new)
    if as_json:
        _out(data)
        return
    console.print(f"audience {data['audience']}, targeted {data['targeted']}, holdout {data['holdout']}")
    for reason, n in data["removed"].items():
        console.print(f"  removed {reason}: {n}")
    console.print(f"WeCom calls {data['calls']} (minimum {data['min_calls']}) over {data['staff']} accounts")


@app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option("--status")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sends, newest first."""
    from siyu.automation.sends.service import list_sends, send_json

    with workspace_session(workspace) as (s, ws):
        rows = [send_json(x) for x in list_sends(s, workspace_id=ws.id, status=status)]
    if as_json:
        _out(rows)
        return
    table = Table("id", "title", "status", "targeted", "holdout", "planned")
    for r in rows:
        c = r["counts"]
        table.add_row(
            str(r["id"]),
            r["title"],
            r["status"],
            str(c.get("targeted", "")),
            str(c.get("holdout", "")),
            r["planned_at"] or "",
        )
    console.print(table)


@app.command("show")
def show(send_id: IdArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """One send: counts, staff confirmation progress, per-customer results."""
    from siyu.automation.radar import send_opens
    from siyu.automation.sends.results import result_counts, staff_progress
    from siyu.automation.sends.service import get_send, send_json

    with workspace_session(workspace) as (s, ws):
        send = get_send(s, workspace_id=ws.id, send_id=send_id)
        data = send_json(send) | {
            "staff": staff_progress(s, send.id),
            "results": result_counts(s, send.id),
            "opens": send_opens(s, send.id),
        }
    if as_json:
        _out(data)
        return
    console.print(f"[bold]{data['title']}[/] {data['status']}  {data['counts']}")
    for st in data["staff"]:
        console.print(f"  {st['userid']}: {st['size']} customers, {'/'.join(st['states'])}")
    console.print(f"results {data['results']}")


@app.command("approve")
def approve_cmd(send_id: IdArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Approve a send over the workspace's size limit (the CLI acts as the owner)."""
    from siyu.automation.sends.service import approve, send_json

    with workspace_session(workspace) as (s, ws):
        data = send_json(approve(s, workspace_id=ws.id, send_id=send_id, actor="cli", role="owner"))
    _out(data) if as_json else console.print(f"send {send_id} {data['status']}")


def _job_result(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _out(data)
    else:
        console.print(" ".join(f"{k}={v}" for k, v in data.items()))


@app.command("plan")
def plan_cmd(send_id: IdArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Freeze a scheduled send now (instead of waiting for the worker at its time)."""
    from siyu.automation.sends.tasks import run_plan
    from siyu.kit.db import session_factory

    with workspace_session(workspace) as (_s, ws):
        ws_id = ws.id
    _job_result(run_plan(session_factory(), ws_id, send_id), as_json)


@app.command("deliver")
def deliver_cmd(send_id: IdArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Make a planned send's WeCom calls now (each batch once; safe to repeat)."""
    from siyu.automation.sends.tasks import run_deliver
    from siyu.kit.db import session_factory

    with workspace_session(workspace) as (_s, ws):
        ws_id = ws.id
    try:
        _job_result(run_deliver(session_factory(), ws_id, send_id), as_json)
    except Exception as exc:
        fail(f"delivery stopped: {exc}", code=1)


@app.command("follow")
def follow_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Look at WeCom for every waiting send once (the worker does it every 2 minutes)."""
    from siyu.automation.sends.tasks import follow_all
    from siyu.kit.db import session_factory

    _job_result(follow_all(session_factory()), as_json)


@app.command("remind")
def remind_cmd(send_id: IdArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Remind the staff who have not confirmed (3 times per 24 hours)."""
    from siyu.automation.sends.results import remind
    from siyu.automation.sends.service import get_send
    from siyu.automation.sends.tasks import GATEWAY

    with workspace_session(workspace) as (s, ws):
        send = get_send(s, workspace_id=ws.id, send_id=send_id, lock=True)
        data = remind(s, send, GATEWAY[-1](s, ws.id))
    _job_result(data, as_json)


@app.command("cancel")
def cancel_cmd(send_id: IdArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel a send (for the staff who have not confirmed it yet)."""
    from siyu.automation.sends.results import cancel
    from siyu.automation.sends.service import get_send
    from siyu.automation.sends.tasks import GATEWAY

    with workspace_session(workspace) as (s, ws):
        send = get_send(s, workspace_id=ws.id, send_id=send_id, lock=True)
        gateway = GATEWAY[-1](s, ws.id) if send.status in ("delivering", "waiting") else None
        data = cancel(s, send, gateway, "cli")
    _job_result(data, as_json)


@app.command("lift")
def lift_cmd(send_id: IdArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Targeted vs holdout after 1, 7 and 30 days: orders, net revenue, gross profit, opt-outs."""
    from siyu.automation.sends.lift import lift_report
    from siyu.automation.sends.service import get_send

    with workspace_session(workspace) as (s, ws):
        data = lift_report(s, get_send(s, workspace_id=ws.id, send_id=send_id))
    if as_json:
        _out(data)
        return
    for w in data["windows"]:
        console.print(
            f"{w['days']:>2} days: net revenue per customer {w['net_fen']['target_mean'] / 100:.2f} vs "
            f"{w['net_fen']['holdout_mean'] / 100:.2f} yuan, lift {w['net_fen']['diff'] / 100:.2f} "
            f"[{w['net_fen']['ci_low'] / 100:.2f}, {w['net_fen']['ci_high'] / 100:.2f}]"
        )


@app.command("waiting")
def waiting_cmd(
    staff: Annotated[str, typer.Option("--staff", help="The staff account's userid.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The sends a staff account still has to confirm in the WeCom client."""
    from sqlalchemy import select

    from siyu.automation.sends.service import waiting_for_staff
    from siyu.models import Staff

    with workspace_session(workspace) as (s, ws):
        staff_id = s.scalar(select(Staff.id).where(Staff.workspace_id == ws.id, Staff.userid == staff))
        if staff_id is None:
            fail(f"no staff account {staff!r} (staff)")
        rows = waiting_for_staff(s, workspace_id=ws.id, staff_id=staff_id)
    if as_json:
        _out(rows)
    else:
        for r in rows:
            console.print(f"send {r['send_id']} {r['title']}: {r['customers']} customers")


@app.command("receipts")
def receipts_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Pull every creator's mass sends of the last month (they count against the quota)."""
    from siyu.automation.sends.results import pull_receipts
    from siyu.automation.sends.tasks import GATEWAY

    with workspace_session(workspace) as (s, ws):
        data = pull_receipts(s, workspace_id=ws.id, gateway=GATEWAY[-1](s, ws.id))
    _job_result(data, as_json)
