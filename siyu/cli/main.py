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
    from siyu.acquisition.cli import app as channels_app
    from siyu.acquisition.cli_binding import app as bind_app
    from siyu.acquisition.cli_dedup import app as dedup_app
    from siyu.acquisition.cli_funnel import app as funnel_app
    from siyu.acquisition.cli_leads import app as leads_app
    from siyu.automation.keywords.cli import app as keywords_app
    from siyu.automation.library_cli import app as content_app
    from siyu.automation.moments.cli import app as moments_app
    from siyu.automation.sends.cli import app as sends_app
    from siyu.automation.sop.cli import app as sop_app
    from siyu.customers.cli import app as customers_app
    from siyu.customers.fields_cli import app as fields_app
    from siyu.demo.cli import register as register_demo
    from siyu.execution.cli import app as tasks_app
    from siyu.insights.cli import app as insights_app
    from siyu.kit.audit_cli import app as audit_app
    from siyu.orders.cli import import_app
    from siyu.segments.cli import app as segments_app
    from siyu.segments.cli import clv_app
    from siyu.staff.cli import app as staff_app
    from siyu.staff.cli_transfers import app as transfer_app
    from siyu.web.cli import register as register_web
    from siyu.wecom.cli import app as wecom_app
    from siyu.wecom.cli_doctor import doctor_cmd
    from siyu.wecom.sidebar_cli import app as sidebar_app
    from siyu.worker.cli import register as register_worker

    app.add_typer(import_app, name="import")
    app.add_typer(customers_app, name="customers")
    app.add_typer(segments_app, name="segments")
    app.add_typer(clv_app, name="clv")
    app.add_typer(wecom_app, name="wecom")
    wecom_app.command("doctor")(doctor_cmd)
    app.add_typer(audit_app, name="audit")
    app.add_typer(staff_app, name="staff")
    app.add_typer(moments_app, name="moments")
    app.add_typer(channels_app, name="channels")
    staff_app.add_typer(transfer_app, name="transfer")
    app.add_typer(funnel_app, name="funnel")
    app.add_typer(bind_app, name="bind")
    app.add_typer(dedup_app, name="dedup")
    app.add_typer(leads_app, name="leads")
    app.add_typer(insights_app, name="insights")
    app.add_typer(sop_app, name="sop")
    app.add_typer(tasks_app, name="tasks")
    app.add_typer(keywords_app, name="keywords")
    app.add_typer(fields_app, name="fields")
    app.add_typer(sidebar_app, name="sidebar")
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
