"""``siyu wecom doctor``: the setup check (what silently breaks, and the admin page that fixes it)."""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, workspace_session
from siyu.wecom import doctor

MARK = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]fail[/]", "skip": "[dim]skip[/]"}


def doctor_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Check secrets per API family, trusted IP, callback, pool permissions, welcomes, sidebar, archive."""
    with workspace_session(workspace) as (session, ws):
        checks = doctor.run_checks(session, ws)
    overall = doctor.summary(checks)
    if as_json:
        console.print_json(
            json.dumps({"status": overall, "checks": [c.as_dict() for c in checks]}, ensure_ascii=False)
        )
    else:
        for c in checks:
            console.print(f"{MARK[c.status]:>22}  {c.name:14} {escape(c.detail)}")
            if c.items:
                console.print(f"{'':24}{escape(', '.join(c.items[:20]))}")
            if c.fix and c.status in ("warn", "fail"):
                console.print(f"{'':24}fix: {escape(c.fix)}")
    if overall == "fail":
        raise typer.Exit(1)
