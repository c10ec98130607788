"""``siyu import orders``: order exports from every platform."""

from __future__ import annotations

import typer

import_app = typer.Typer(help="Import data exported from sales platforms.", no_args_is_help=True)
