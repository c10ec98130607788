"""``siyu users``: console / API users, their roles and bearer tokens."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from siyu.kit import audit
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, err_console, fail, workspace_session
from siyu.kit.timeutil import utcnow
from siyu.models import ApiToken, Staff, User

app = typer.Typer(
    help="Console and API users: create, list, tokens (expiring, rotatable), sessions, disable.",
    no_args_is_help=True,
)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]
ExpiresOpt = Annotated[
    int | None,
    typer.Option("--expires-in-days", help="Lifetime of the token in days (default 90).", min=1, max=3650),
]


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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
    expires_in_days: ExpiresOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a user and print its first API token (once; it expires after 90 days)."""
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
            token_days=expires_in_days,
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
            now = utcnow()
            tokens = session.scalars(
                select(ApiToken.prefix).where(
                    ApiToken.user_id == user.id,
                    ApiToken.revoked_at.is_(None),
                    (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now),
                )
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
    expires_in_days: ExpiresOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create another API token for a user and print it (once; 90 days unless told)."""
    from siyu.web.auth import create_token, get_user

    with workspace_session(workspace) as (session, ws):
        user = get_user(session, workspace_id=ws.id, name=name)
        if user.disabled:
            fail(f"user {name!r} is disabled; enable it first")
        row, plain = create_token(session, user=user, name=label, days=expires_in_days)
        audit.record(
            session,
            workspace_id=ws.id,
            actor="cli",
            action="token.create",
            target_type="token",
            target_id=row.id,
            detail={"prefix": row.prefix, "user_id": user.id, "expires_at": _when(row.expires_at)},
        )
    _show_token(plain, name)
    if row.expires_at is not None:
        err_console.print(f"it expires on {row.expires_at:%Y-%m-%d %H:%M} UTC", highlight=False)


@app.command("tokens")
def tokens(
    name: Annotated[str, typer.Argument(help="User name.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a user's API tokens: prefix, label, last use, expiry, state (never the token)."""
    from siyu.web.auth import get_user

    now = utcnow()
    with workspace_session(workspace) as (session, ws):
        user = get_user(session, workspace_id=ws.id, name=name)
        rows = list(
            session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
        )
        out = [
            {
                "id": r.id,
                "prefix": r.prefix,
                "label": r.name,
                "created_at": _when(r.created_at),
                "last_used_at": _when(r.last_used_at),
                "expires_at": _when(r.expires_at),
                "state": "revoked"
                if r.revoked_at is not None
                else "expired"
                if r.expires_at is not None and r.expires_at <= now
                else "active",
            }
            for r in rows
        ]
    if as_json:
        print(json.dumps(out, ensure_ascii=False, indent=2))  # noqa: T201
        return
    table = Table("id", "prefix", "label", "last used", "expires", "state")
    for t in out:
        table.add_row(
            str(t["id"]),
            f"{t['prefix']}…",
            str(t["label"] or "—"),
            str(t["last_used_at"] or "never"),
            str(t["expires_at"] or "never"),
            str(t["state"]),
        )
    console.print(table)


@app.command("rotate")
def rotate(
    name: Annotated[str, typer.Argument(help="User name.")],
    prefix: Annotated[str, typer.Option("--token", help="Prefix of the token to replace.")],
    expires_in_days: Annotated[
        int | None,
        typer.Option("--expires-in-days", help="Lifetime of the new token (default: the old one's).", min=1),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Replace a token by a new one (printed once); the old one stops working at once."""
    from siyu.web.auth import get_user, rotate_token

    with workspace_session(workspace) as (session, ws):
        user = get_user(session, workspace_id=ws.id, name=name)
        old = session.scalar(
            select(ApiToken).where(
                ApiToken.user_id == user.id,
                ApiToken.prefix == prefix.rstrip("…."),
                ApiToken.revoked_at.is_(None),
            )
        )
        if old is None:
            fail(f"user {name!r} has no unrevoked token starting with {prefix!r}")
        row, plain = rotate_token(
            session, workspace_id=ws.id, token_id=old.id, days=expires_in_days, actor="cli"
        )
    _show_token(plain, name)
    if row.expires_at is not None:
        err_console.print(
            f"it replaces {old.prefix}… (revoked now) and expires on {row.expires_at:%Y-%m-%d %H:%M} UTC",
            highlight=False,
        )


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
    from siyu.web.auth import end_user_sessions, get_user

    with workspace_session(workspace) as (session, ws):
        user = get_user(session, workspace_id=ws.id, name=name)
        if user.disabled != disabled:
            user.disabled = disabled
            detail: dict[str, object] = {"disabled": disabled, "at": utcnow().isoformat()}
            if disabled:
                detail["sessions_ended"] = end_user_sessions(session, user_id=user.id, reason="disabled")
            audit.record(
                session,
                workspace_id=ws.id,
                actor="cli",
                action="user.update",
                target_type="user",
                target_id=user.id,
                detail=detail,
            )
    console.print(f"{name} is {'disabled' if disabled else 'enabled'}")


@app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="User name.")], workspace: WorkspaceOpt = None) -> None:
    """Disable a user: sessions and tokens stop working at once."""
    _set_disabled(name, True, workspace)


@app.command("enable")
def enable(name: Annotated[str, typer.Argument(help="User name.")], workspace: WorkspaceOpt = None) -> None:
    """Enable a disabled user again (their old sessions stay ended: they log in anew)."""
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


@app.command("sessions")
def sessions(
    name: Annotated[str | None, typer.Argument(help="User name (default: every user).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List open console sessions (not ended, not expired)."""
    from siyu.web.auth import get_user, open_sessions

    with workspace_session(workspace) as (session, ws):
        user_id = get_user(session, workspace_id=ws.id, name=name).id if name else None
        names = dict(session.execute(select(User.id, User.name).where(User.workspace_id == ws.id)).all())
        out = [
            {
                "id": r.id,
                "user": names.get(r.user_id, "?"),
                "ip": r.ip,
                "user_agent": r.user_agent,
                "created_at": _when(r.created_at),
                "last_seen_at": _when(r.last_seen_at),
                "expires_at": _when(r.expires_at),
            }
            for r in open_sessions(session, workspace_id=ws.id, user_id=user_id)
        ]
    if as_json:
        print(json.dumps(out, ensure_ascii=False, indent=2))  # noqa: T201
        return
    table = Table("id", "user", "address", "started", "last seen", "expires")
    for r in out:
        table.add_row(
            str(r["id"]),
            str(r["user"]),
            str(r["ip"] or "—"),
            str(r["created_at"]),
            str(r["last_seen_at"] or "—"),
            str(r["expires_at"]),
        )
    console.print(table)


@app.command("end-sessions")
def end_sessions(
    name: Annotated[str, typer.Argument(help="User name.")],
    session_id: Annotated[
        int | None, typer.Option("--session", help="Only this session id (see `siyu users sessions`).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """End a user's console sessions on the server (all, or one); tokens are not touched."""
    from siyu.web.auth import end_user_sessions, get_user

    with workspace_session(workspace) as (session, ws):
        user = get_user(session, workspace_id=ws.id, name=name)
        ended = end_user_sessions(
            session,
            user_id=user.id,
            reason="cli",
            session_ids=[session_id] if session_id is not None else None,
        )
        if session_id is not None and not ended:
            fail(f"user {name!r} has no open session {session_id}")
        audit.record(
            session,
            workspace_id=ws.id,
            actor="cli",
            action="session.end",
            target_type="user",
            target_id=user.id,
            detail={"ended": ended, "session_id": session_id},
        )
    console.print(f"ended {ended} session(s) of {name}")
