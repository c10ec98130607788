"""Shared CLI plumbing: console, workspace option, sessions, clear failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.kit.db import session_scope
from siyu.kit.errors import SiyuError
from siyu.kit.scope import ensure_workspace
from siyu.models import Workspace

console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    str | None,
    typer.Option("--workspace", "-w", help="Workspace (brand) slug; default from SIYU_DEFAULT_WORKSPACE."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a plain-words error to stderr and exit (2 = bad input)."""
    # Escaped: file names and cell values may hold "[...]"; soft wrap: no line breaks
    # inserted into the message, so it stays greppable whatever the terminal width.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def workspace_session(slug: str | None) -> Iterator[tuple[Session, Workspace]]:
    """One CLI unit of work in a workspace (created on first use); SiyuError → exit 2."""
    try:
        with session_scope() as session:
            ws = ensure_workspace(session, slug or get_settings().default_workspace)
            yield session, ws
    except SiyuError as exc:
        where = f" ({exc.field})" if exc.field else ""
        fail(exc.message + where)
