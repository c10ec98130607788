"""Demo step: an owner login for the console, with a fresh random password printed once.

Only ever touches the demo's own user (marked by its display name): a real ``admin``
in the same workspace is left alone, so running the demo against a real database can
never take over an account.
"""

from __future__ import annotations

import secrets
from typing import Any

from siyu.kit.db import session_scope
from siyu.web.auth import create_user, find_user, set_password

DEMO_USER = "admin"
DEMO_DISPLAY_NAME = "演示管理员 (demo only)"


def create_login(ctx: Any) -> None:
    """Create (or re-key) the demo owner and add the console address and login to the notes."""
    workspace_id = ctx.workspace_id
    assert workspace_id is not None, "the demo workspace is created before the steps run"
    password = secrets.token_urlsafe(9)
    with session_scope() as session:
        user = find_user(session, workspace_id=workspace_id, name=DEMO_USER)
        if user is None:
            create_user(
                session,
                workspace_id=workspace_id,
                name=DEMO_USER,
                role="owner",
                password=password,
                display_name=DEMO_DISPLAY_NAME,
                actor="demo",
            )
        elif user.display_name == DEMO_DISPLAY_NAME:
            set_password(session, user=user, password=password, actor="demo")
            user.disabled = False
        else:
            ctx.notes.append(
                f"console: a user named {DEMO_USER!r} already exists and is not the demo's; "
                "log in with its own password"
            )
            return
    host = getattr(ctx, "host", "127.0.0.1")
    port = getattr(ctx, "port", 8000)
    ctx.notes.append(
        f"console: [bold]http://{host}:{port}/[/]  user [bold]{DEMO_USER}[/]  "
        f"password [bold]{password}[/]  (demo only: a new password on every run)"
    )
