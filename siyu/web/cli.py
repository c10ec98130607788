"""``siyu serve``: the web app under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    migrate: Annotated[bool, typer.Option(help="Run `db upgrade` first.")] = True,
) -> None:
    """Serve the API, the console, the WeCom callback endpoint and /healthz."""
    import uvicorn

    from siyu.cli.common import console
    from siyu.config import get_settings
    from siyu.kit.migrate import upgrade
    from siyu.web.app import create_app

    settings = get_settings()
    if migrate:
        upgrade(settings.database_url)
    console.print(f"siyu serving on [bold]http://{host}:{port}/[/] (API docs at /api/docs)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    from siyu.web.users_cli import app as users_app

    app.add_typer(users_app, name="users")
