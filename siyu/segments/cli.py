"""``siyu segments`` (recompute scores, audiences, rules) and ``siyu clv`` (fit CLV models)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Segments: recompute RFM / layers / CLV, audiences, auto-tag rules.", no_args_is_help=True
)
clv_app = typer.Typer(help="Customer lifetime value: fit BG/NBD + Gamma-Gamma.", no_args_is_help=True)


def _register_audience() -> None:
    # Audience, saved-segment and auto-tag-rule commands live with the audience package.
    from siyu.segments.audience.cli import register

    register(app)


_register_audience()


def _register_scores() -> None:
    # RFM / layers / CLV commands live in their own module (segments/cli_scores.py).
    from siyu.segments.cli_scores import fit_cmd, recompute_cmd

    app.command("recompute")(recompute_cmd)
    clv_app.command("fit")(fit_cmd)


_register_scores()
