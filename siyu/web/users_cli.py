"""``siyu users``: console / API users, their roles and bearer tokens."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from siyu.kit import audit
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, err_console, fail, workspace_session
from siyu.kit.timeutil import utcnow
from siyu.models import ApiToken, Staff, User

app = typer.Typer(help="Console and API users: create, list, tokens, revoke, disable.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


def _read_password() -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail("--password-stdin was given but stdin has no password on its first line")
    return line


def _show_token(token: str, name: str) -> None:
    # The token alone on stdout so that scripts can capture it; the warning goes to stderr.
    err_console.print(f"API token for [bold]{name}[/] (shown once; store it now):", highlight=False)
    print(token)  # noqa: T201 - the one place a token is printed, by design


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Login name (no spaces).")],
    role: Annotated[str, typer.Option("--role", help="owner, admin, operator or staff.")],
    staff: Annotated[
        str | None, typer.Option("--staff", help="WeCom userid of the staff account (required for staff).")
    ] = None,
    password_stdin: PasswordStdin = False,
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="Name shown in the console.")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a user and print its first API token (once)."""
    from siyu.web.auth import create_user

    password = _read_password() if password_stdin else None
    with workspace_session(workspace) as (session, ws):
        _, token = create_user(
            session,
            workspace_id=ws.id,
            name=name,
            role=role,
            password=password,
            staff_userid=staff,
            display_name=display_name,
            actor="cli",
        )
    _show_token(token, name)


@app.command("list")
def list_users(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List the users of a workspace with role, staff link and active tokens."""
    with workspace_session(workspace) as (session, ws):
        rows = session.execute(
            select(User, Staff.userid)
            .outerjoin(Staff, Staff.id == User.staff_id)
            .where(User.workspace_id == ws.id)
            .order_by(User.id)
        )
        out = []
        for user, staff_userid in rows:
            tokens = session.scalars(
                select(ApiToken.prefix).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            ).all()
            out.append(
                {
                    "id": user.id,
                    "name": user.name,
                    "role": user.role,
                    "staff": staff_userid,
                    "disabled": user.disabled,
                    "password": user.password_hash is not None,
                    "tokens": list(tokens),
                    "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
                }
            )
    if as_json:
        print(json.dumps(out, ensure_ascii=False, indent=2))  # noqa: T201
        return
    table = Table("id", "name", "role", "staff", "password", "active tokens", "disabled", "last login")
    for u in out:
        table.add_row(
            str(u["id"]),
            str(u["name"]),
            str(u["role"]),
            str(u["staff"] or "—"),
            "yes" if u["password"] else "no",
            ", ".join(f"{p}…" for p in u["tokens"]) or "—",  # type: ignore[attr-defined]
            "yes" if u["disabled"] else "no",
            str(u["last_login_at"] or "—"),
        )
    console.print(table)


@app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="User name.")],
    label: Annotated[str | None, typer.Option("--label", help="What the token is for.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create another API token for a user and print it (once)."""
    from siyu.web.auth import create_token, get_user

    with workspace_session(workspace) as (session, ws):
        user = get_user(session, workspace_id=ws.id, name=name)
        if user.disabled:
            fail(f"user {name!r} is disabled; enable it first")
        row, plain = create_token(session, user=user, name=label)
        audit.record(
            session,
            workspace_id=ws.id,
            actor="cli",
            action="token.create",
            target_type="token",
            target_id=row.id,
            detail={"prefix": row.prefix, "user_id": user.id},
        )
    _show_token(plain, name)


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="User name.")],
    prefix: Annotated[
        str | None, typer.Option("--token", help="Prefix of the token to revoke (default: all of them).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Revoke a user's API tokens (all, or the one with the given prefix)."""
    from siyu.web.auth import get_user, revoke_token

    with workspace_session(workspace) as (session, ws):
        user = get_user(session, workspace_id=ws.id, name=name)
        stmt = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        if prefix:
            stmt = stmt.where(ApiToken.prefix == prefix.rstrip("…."))
        rows = list(session.scalars(stmt))
        if prefix and not rows:
            fail(f"user {name!r} has no active token starting with {prefix!r}")
        for row in rows:
            revoke_token(session, workspace_id=ws.id, token_id=row.id, actor="cli")
    console.print(f"revoked {len(rows)} token(s) of {name}")


def _set_disabled(name: str, disabled: bool, workspace: str | None) -> None:
    from siyu.web.auth import get_user

    with workspace_session(workspace) as (session, ws):
        user = get_user(session, workspace_id=ws.id, name=name)
        if user.disabled != disabled:
            user.disabled = disabled
            audit.record(
                session,
                workspace_id=ws.id,
                actor="cli",
                action="user.update",
                target_type="user",
                target_id=user.id,
                detail={"disabled": disabled, "at": utcnow().isoformat()},
            )
    console.print(f"{name} is {'disabled' if disabled else 'enabled'}")


@app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="User name.")], workspace: WorkspaceOpt = None) -> None:
    """Disable a user: sessions and tokens stop working at once."""
    _set_disabled(name, True, workspace)


@app.command("enable")
def enable(name: Annotated[str, typer.Argument(help="User name.")], workspace: WorkspaceOpt = None) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False, workspace)


@app.command("password")
def password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: PasswordStdin = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Set a user's console password (read from stdin); existing sessions end."""
    from siyu.web.auth import get_user, set_password

    if not password_stdin:
        fail("give the new password on stdin with --password-stdin (never on the command line)")
    secret = _read_password()
    with workspace_session(workspace) as (session, ws):
        user = get_user(session, workspace_id=ws.id, name=name)
        set_password(session, user=user, password=secret, actor="cli")
    console.print(f"password of {name} changed")
