"""``siyu audit verify``: check that no audit entry was edited or deleted."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy import select

from siyu.kit.audit import ChainReport, verify_chain
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, err_console, fail
from siyu.kit.db import session_scope
from siyu.models import Workspace

app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)


def _as_dict(slug: str, report: ChainReport) -> dict[str, object]:
    return {
        "workspace": slug,
        "ok": report.ok,
        "entries": report.entries,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "problems": [
            {"kind": p.kind, "entry_id": p.entry_id, "seq": p.seq, "message": p.message}
            for p in report.problems
        ],
    }


@app.command("verify")
def verify(
    workspace: WorkspaceOpt = None,
    all_workspaces: Annotated[bool, typer.Option("--all", help="Verify every workspace.")] = False,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            help="SEQ:HASH printed by an earlier verify and kept elsewhere: "
            "that entry must still have that hash.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the audit chain; name every edited, deleted or unchained entry (exit 1 if any)."""
    from siyu.config import get_settings

    anchored: tuple[int, str] | None = None
    if anchor is not None:
        seq_text, _, hash_text = anchor.partition(":")
        if not seq_text.isdigit() or len(hash_text) != 64:
            fail(f"--anchor must be SEQ:HASH (a number, a colon, 64 hex digits), not {anchor!r}")
        if all_workspaces:
            fail("--anchor checks one workspace; give --workspace instead of --all")
        anchored = (int(seq_text), hash_text.lower())

    results: list[tuple[str, ChainReport]] = []
    with session_scope() as session:
        stmt = select(Workspace.id, Workspace.slug).order_by(Workspace.id)
        if not all_workspaces:
            slug = workspace or get_settings().default_workspace
            stmt = stmt.where(Workspace.slug == slug)
        rows = session.execute(stmt).all()
        if not rows:
            fail(f"no workspace named {workspace or get_settings().default_workspace!r}")
        for ws_id, ws_slug in rows:
            results.append((ws_slug, verify_chain(session, workspace_id=ws_id, anchor=anchored)))
    broken = any(not r.ok for _, r in results)
    if as_json:
        print(json.dumps([_as_dict(s, r) for s, r in results], ensure_ascii=False, indent=2))  # noqa: T201
    else:
        for slug, report in results:
            if report.ok:
                console.print(
                    f"audit chain of {slug}: intact, {report.entries} entries, "
                    f"head {report.head_seq}:{report.head_hash or '—'}",
                    highlight=False,
                )
                continue
            err_console.print(
                f"audit chain of {slug}: BROKEN, {len(report.problems)} problem(s) "
                f"in {report.entries} entries",
                highlight=False,
            )
            for problem in report.problems:
                err_console.print(f"  {problem.kind}: {problem.message}", highlight=False, soft_wrap=True)
    if broken:
        raise typer.Exit(1)
