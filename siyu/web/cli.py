"""``siyu serve``: the web app under uvicorn."""

from __future__ import annotations

import gc
import importlib.util
import os
import socket
from typing import Annotated, Any, cast

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


def _listen_shared(host: str, port: int) -> socket.socket:
    """A listening socket of its own on a port the other workers listen on too.

    Called in each worker process (see ``_SharedPort``): with ``SO_REUSEPORT`` the kernel
    spreads new connections evenly over the workers' sockets, where one shared socket lets
    whichever process wakes first accept a whole burst of connections (32 keep-alive
    connections split 29/3 or 32/0 between two workers in the benchmark).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _SharedPort:
    """The port as uvicorn's supervisor hands it to each worker: a socket of its own.

    uvicorn's ``Multiprocess`` passes its sockets to the workers it spawns by pickling
    them; this one unpickles, in the worker, as a new ``SO_REUSEPORT`` socket on the port.
    The supervisor's own socket is bound (so the port is checked and held) but never
    listens, so the kernel never hands it a connection.
    """

    def __init__(self, host: str, port: int) -> None:
        self.held = _listen_shared(host, port)
        self.host, self.port = host, int(self.held.getsockname()[1])

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return _listen_shared, (self.host, self.port)


def run_workers(app: str, *, workers: int, host: str, port: int, **options: Any) -> None:
    """Serve the uvicorn factory ``app`` ("module:function") in ``workers`` processes.

    uvicorn's supervisor starts them, restarts any that dies and stops them on SIGTERM
    or SIGINT; each worker listens on a ``SO_REUSEPORT`` socket of its own (where the
    system has it; else uvicorn's one shared socket).
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Linux and the BSDs have it
        uvicorn.run(app, factory=True, workers=workers, host=host, port=port, **options)
        return
    config = uvicorn.Config(app, factory=True, workers=workers, host=host, port=port, **options)
    shared = _SharedPort(host, port)  # OSError when the port is taken
    try:
        Multiprocess(config, sockets=[cast(socket.socket, shared)]).run()
    finally:
        shared.held.close()


def worker_app() -> Any:
    """The app one ``siyu serve --workers N`` process serves (a uvicorn factory).

    Each worker process builds its own app from the same settings (environment and
    ``.env``) and settles its own start-up heap; the migrations ran once, before.
    """
    from siyu.web.app import create_app
    from siyu.wecom.endpoints import prime

    app = create_app()
    prime()
    if os.environ.get(_EMBEDDED_WORKER_ENV) == "1":
        start_embedded_worker()
    settle_heap()
    return app


_EMBEDDED_WORKER_ENV = "SIYU_SERVE_EMBEDDED_WORKER"


def start_embedded_worker() -> None:
    """Run this process's job runner in a thread (events, jobs, periodic tasks; ADR 0006)."""
    from siyu.kit.db import session_factory
    from siyu.kit.jobs import on_enqueue
    from siyu.worker.service import start_in_process, wake_in_process

    start_in_process(session_factory())
    on_enqueue(wake_in_process)


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
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run the job runner (events, scheduled jobs, uploads, periodic tasks) inside "
            "this server (the default; what `make demo` uses). In production on PostgreSQL, "
            "serve with --no-worker and run `siyu worker` processes beside it.",
        ),
    ] = True,
) -> None:
    """Serve the API, the console, the WeCom callback endpoint and /healthz."""
    import uvicorn

    from siyu.config import get_settings
    from siyu.kit.cli import console, fail
    from siyu.kit.migrate import upgrade

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
    os.environ[_EMBEDDED_WORKER_ENV] = "1" if worker else "0"
    if worker:
        console.print("jobs, events and periodic tasks run in this process (--no-worker: run `siyu worker`)")
    if workers > 1:
        # Each process imports siyu and builds its app; see run_workers.
        try:
            run_workers("siyu.web.cli:worker_app", workers=workers, **options)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        return
    # Imported here: with --workers the supervisor never builds an app (its processes do).
    from siyu.web.app import create_app
    from siyu.wecom.endpoints import prime

    app = create_app(settings)
    prime(settings)  # the WeCom callback path's workspace look-up and connection, ahead of time
    if worker:
        start_embedded_worker()
    settle_heap()
    uvicorn.run(app, **options)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    from siyu.web.users_cli import app as users_app

    app.add_typer(users_app, name="users")
