"""``siyu segments`` (recompute scores, audiences, rules) and ``siyu clv`` (fit CLV models)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Segments: recompute RFM / layers / CLV, audiences, auto-tag rules.", no_args_is_help=True
)
clv_app = typer.Typer(help="Customer lifetime value: fit BG/NBD + Gamma-Gamma.", no_args_is_help=True)
