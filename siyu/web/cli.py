"""``siyu serve``: the web app under uvicorn."""

from __future__ import annotations

import gc
import importlib.util
from typing import Annotated, Any

import typer


def server_options(*, fast: bool = True) -> dict[str, Any]:
    """uvicorn's event loop and HTTP parser: uvloop and httptools when installed.

    Both are pinned dependencies; without them (``fast=False``, or an install that
    lacks them) uvicorn runs on asyncio and the pure-Python h11 parser, which costs
    roughly a third of the throughput of the callback endpoint.
    """
    has = importlib.util.find_spec
    fast_loop = fast and has("uvloop") is not None
    fast_http = fast and has("httptools") is not None
    return {"loop": "uvloop" if fast_loop else "asyncio", "http": "httptools" if fast_http else "h11"}


def settle_heap() -> None:
    """Before serving: configure the ORM now and take the start-up heap out of the GC.

    Everything imported and built at start-up (FastAPI, pydantic, SQLAlchemy) is
    long-lived; left in the collector's oldest generation, each full collection walks
    it again and stalls every request in flight for 0.1-0.2 s (that was the callback
    endpoint's p99). ``gc.freeze()`` moves it to the permanent generation.
    """
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    gc.collect()
    gc.freeze()


def worker_app() -> Any:
    """The app one ``siyu serve --workers N`` process serves (a uvicorn factory).

    Each worker process builds its own app from the same settings (environment and
    ``.env``) and settles its own start-up heap; the migrations ran once, before.
    """
    from siyu.web.app import create_app

    app = create_app()
    settle_heap()
    return app


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    migrate: Annotated[bool, typer.Option(help="Run `db upgrade` first.")] = True,
    access_log: Annotated[
        bool,
        typer.Option(help="Log one line per request (uvicorn's access log; off saves CPU under load)."),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port (one per core; 2 on a 2-core machine: "
            "a process serves callbacks on one core at most).",
        ),
    ] = 1,
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
    more = f", {workers} processes" if workers > 1 else ""
    console.print(f"siyu serving on [bold]http://{host}:{port}/[/] (API docs at /api/docs{more})")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "access_log": access_log,
        **server_options(),
    }
    if workers > 1:
        # uvicorn's supervisor: it binds the port, starts the processes (each imports
        # siyu and builds its app) and restarts any that dies.
        uvicorn.run("siyu.web.cli:worker_app", factory=True, workers=workers, **options)
        return
    app = create_app(settings)
    settle_heap()
    uvicorn.run(app, **options)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    from siyu.web.users_cli import app as users_app

    app.add_typer(users_app, name="users")
