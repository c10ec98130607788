"""``siyu customers``: list and show OneID profiles."""

from __future__ import annotations

import typer

app = typer.Typer(help="Customers (OneID profiles): list, show.", no_args_is_help=True)
