"""The ``siyu`` command: Typer root; each domain adds its own sub-commands."""

from __future__ import annotations

from typing import Annotated

import typer

from siyu import __version__
from siyu.config import get_settings
from siyu.kit.cli import console, fail

app = typer.Typer(
    name="siyu",
    help="siyu (私域): private-domain customer operations for brands on WeCom.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

db_app = typer.Typer(
    help="Database schema: upgrade, check for drift, show the revision.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the schema of SIYU_DATABASE_URL."""
    from siyu.kit.migrate import current_revision, upgrade

    url = get_settings().database_url
    upgrade(url, revision)
    console.print(f"database at revision [bold]{current_revision(url)}[/]")


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrations have drifted apart."""
    from alembic.util.exc import CommandError

    from siyu.kit.migrate import check

    try:
        check(get_settings().database_url)
    except CommandError as exc:
        fail(str(exc), code=1)
    console.print("models and migrations agree")


@app.command("version")
def version() -> None:
    """Print the siyu version."""
    console.print(__version__)


def _register() -> None:
    # Each domain owns its commands; the root only wires them in.
    from siyu.automation.library_cli import app as content_app
    from siyu.automation.sends.cli import app as sends_app
    from siyu.customers.cli import app as customers_app
    from siyu.demo.cli import register as register_demo
    from siyu.kit.audit_cli import app as audit_app
    from siyu.orders.cli import import_app
    from siyu.segments.cli import app as segments_app
    from siyu.segments.cli import clv_app
    from siyu.staff.cli import app as staff_app
    from siyu.web.cli import register as register_web
    from siyu.wecom.cli import app as wecom_app
    from siyu.worker.cli import register as register_worker

    app.add_typer(import_app, name="import")
    app.add_typer(customers_app, name="customers")
    app.add_typer(segments_app, name="segments")
    app.add_typer(clv_app, name="clv")
    app.add_typer(wecom_app, name="wecom")
    app.add_typer(audit_app, name="audit")
    app.add_typer(staff_app, name="staff")
    app.add_typer(content_app, name="content")
    app.add_typer(sends_app, name="sends")
    register_web(app)
    register_demo(app)
    register_worker(app)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
