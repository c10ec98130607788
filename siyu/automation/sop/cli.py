"""``siyu sop``: SOP plans (templates, create, edit, activate, pause, copy, preview, run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from siyu.automation.sop import service, spec
from siyu.automation.sop.service import PlanInput
from siyu.automation.sop.templates import TEMPLATES, template
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session

app = typer.Typer(
    help="SOP plans: timed steps after a trigger, run once per enrolled customer.", no_args_is_help=True
)

PlanArg = Annotated[int, typer.Argument(help="The plan's id.")]


def _out(data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
        return
    for line in lines:
        console.print(line, highlight=False, markup=False)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read the plan file {path}: {exc}")
    if not isinstance(data, dict):
        fail("the plan file holds one JSON object (name, trigger, steps ...)")
    return data


@app.command("templates")
def templates_cmd(as_json: JsonOpt = False) -> None:
    """The plan templates shipped with siyu."""
    data = [{"template": k, **v} for k, v in TEMPLATES.items()]
    _out(
        data,
        as_json,
        [f"{d['template']:<18} {d['name']}  ({len(d['steps'])} steps) {d['description']}" for d in data],
    )


@app.command("create")
def create_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    file: Annotated[
        Path | None, typer.Option("--file", help="A plan as JSON (name, trigger, audience, steps, exits).")
    ] = None,
    from_template: Annotated[
        str | None, typer.Option("--template", help="Start from a template (see `siyu sop templates`).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The plan's name (overrides the file's or template's).")
    ] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="Only customers matching this audience expression.")
    ] = None,
) -> None:
    """Create a draft plan (checked whole: nothing is saved when any part is wrong)."""
    if (file is None) == (from_template is None):
        fail("give exactly one of --file or --template")
    with workspace_session(workspace) as (session, ws):
        data = _read(file) if file is not None else template(from_template or "")
        if name:
            data["name"] = name
        if audience:
            data["audience"] = audience
        plan = service.create_plan(session, workspace_id=ws.id, data=PlanInput.from_dict(data), actor="cli")
        out = service.plan_dict(plan)
    _out(out, as_json, [f"created draft plan {out['id']}: {out['name']} ({len(out['steps'])} steps)"])


@app.command("update")
def update_cmd(
    plan_id: PlanArg,
    file: Annotated[Path, typer.Option("--file", help="The plan as JSON.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a plan's parts; enrolled customers stay enrolled, once."""
    with workspace_session(workspace) as (session, ws):
        plan = service.update_plan(
            session, workspace_id=ws.id, plan_id=plan_id, data=PlanInput.from_dict(_read(file)), actor="cli"
        )
        out = service.plan_dict(plan)
    _out(out, as_json, [f"plan {plan_id} saved (version {out['version']})"])


@app.command("copy")
def copy_cmd(plan_id: PlanArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """A draft copy of a plan."""
    with workspace_session(workspace) as (session, ws):
        out = service.plan_dict(service.copy_plan(session, workspace_id=ws.id, plan_id=plan_id, actor="cli"))
    _out(out, as_json, [f"copied plan {plan_id} to draft {out['id']}: {out['name']}"])


@app.command("list")
def list_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    status: Annotated[str | None, typer.Option("--status", help="draft, active, paused or archived.")] = None,
) -> None:
    """Plans with their enrollment counts."""
    with workspace_session(workspace) as (session, ws):
        data = [
            {
                **service.plan_dict(p),
                "enrollments": service.enrollment_counts(session, workspace_id=ws.id, plan_id=p.id),
            }
            for p in service.list_plans(session, workspace_id=ws.id, status=status)
        ]
    _out(
        data,
        as_json,
        [
            f"{d['id']:>4} {d['status']:<8} {d['name']}  {d['subject']}:{d['trigger']['kind']}  "
            f"{d['enrollments']}"
            for d in data
        ]
        or ["no plans yet"],
    )


@app.command("show")
def show_cmd(plan_id: PlanArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """A plan, its timeline for someone entering now, and each step's reach now."""
    with workspace_session(workspace) as (session, ws):
        plan = service.plan_dict(service.get_plan(session, workspace_id=ws.id, plan_id=plan_id))
        prev = service.preview(session, workspace_id=ws.id, plan_id=plan_id)
    data = {**plan, "preview": prev}
    lines = [
        f"{plan['id']} {plan['name']} [{plan['status']}] trigger={plan['trigger']} "
        f"audience={plan['audience'] or '-'}"
    ]
    lines += [
        f"  step {s['index']}: day {s['day']} {s['at'] or ''} {s['action']:<13} {s['title']}  "
        f"reach now {s['reach_now']}"
        for s in prev["steps"]
    ]
    lines.append(f"  enrollments: {prev['counts']}")
    _out(data, as_json, lines)


@app.command("activate")
def activate_cmd(
    plan_id: PlanArg,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    existing: Annotated[
        bool,
        typer.Option(
            "--existing/--no-existing", help="Enroll the customers who already match (or only new ones)."
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say how many already match.")] = False,
) -> None:
    """Start or resume a plan; says how many customers already match and whether they enroll."""
    with workspace_session(workspace) as (session, ws):
        act = service.activate(
            session,
            workspace_id=ws.id,
            plan_id=plan_id,
            enroll_existing=existing,
            dry_run=dry_run,
            actor="cli",
        )
    data = act.__dict__
    verb = (
        "would enroll"
        if dry_run and existing
        else ("enrolled" if existing else "left out (only new occurrences enroll)")
    )
    _out(
        data,
        as_json,
        [
            f"plan {plan_id}: {act.already_matching} customers already match; {verb}"
            + ("" if dry_run else f"; status {act.status}")
        ],
    )


@app.command("pause")
def pause_cmd(plan_id: PlanArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Pause: no new steps run and nobody new enrolls until it is activated again."""
    with workspace_session(workspace) as (session, ws):
        out = service.plan_dict(
            service.set_status(session, workspace_id=ws.id, plan_id=plan_id, status="paused", actor="cli")
        )
    _out(out, as_json, [f"plan {plan_id} paused"])


@app.command("archive")
def archive_cmd(plan_id: PlanArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Archive a plan (kept for its history)."""
    with workspace_session(workspace) as (session, ws):
        out = service.plan_dict(
            service.set_status(session, workspace_id=ws.id, plan_id=plan_id, status="archived", actor="cli")
        )
    _out(out, as_json, [f"plan {plan_id} archived"])


@app.command("enrollments")
def enrollments_cmd(
    customer_id: Annotated[int | None, typer.Option("--customer", help="The customer's id.")] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="A group's id or WeCom chat id (its group plans).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A customer's (or a group's) SOP enrollments: plan, state, next step, exit."""
    if (customer_id is None) == (group is None):
        fail("give --customer or --group")
    with workspace_session(workspace) as (session, ws):
        if customer_id is not None:
            data = service.customer_enrollments(session, workspace_id=ws.id, customer_id=customer_id)
        else:
            assert group is not None
            gid = service.find_group_id(session, workspace_id=ws.id, group=group)
            data = service.group_plan_enrollments(session, workspace_id=ws.id, group_id=gid)
    _out(
        data,
        as_json,
        [
            f"{d.get('group') or ''}{' ' if d.get('group') else ''}{d['plan']} [{d['status']}] "
            f"step {d['current_step']}/{d['steps']} "
            f"next {d['next_step'] or '-'} {d['next_due_at'] or ''} {d['exit_reason'] or ''}"
            for d in data
        ]
        or ["not enrolled in any plan"],
    )


@app.command("run")
def run_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Enroll whoever state triggers match now, then run the steps now due (as the worker does)."""
    with workspace_session(workspace) as (session, ws):
        ended = service.exit_all_dismissed(session, workspace_id=ws.id)
        enrolled = {
            p.id: service.enroll_matching(session, p)
            for p in service.list_plans(session, workspace_id=ws.id, status="active")
            if p.trigger["kind"] in spec.SCANNED
        }
        session.flush()
        ran = service.run_all_due(session, workspace_id=ws.id)
    data = {"enrolled": enrolled, "ran": ran.ran, "exited": ran.exited + ended}
    _out(data, as_json, [f"enrolled {sum(enrolled.values())}; ran {ran.ran} steps; {data['exited']} exited"])
