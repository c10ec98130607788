"""Commands ``siyu segments recompute`` and ``siyu clv fit`` (wired in ``segments/cli.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, err_console, fail, workspace_session
from siyu.kit.money import format_fen
from siyu.segments.service import Progress as ProgressFn
from siyu.segments.service import RecomputeResult

AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Reference day for recency and ages (YYYY-MM-DD); default today."),
]


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option} must be a date like 2026-06-30, got {value!r}")


@contextmanager
def _progress(enabled: bool) -> Iterator[ProgressFn | None]:
    """A Rich progress bar on stderr (stdout stays clean for --json)."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield update


def _counts_table(title: str, counts: dict[str, int], total: int) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("value")
    table.add_column("customers", justify="right")
    table.add_column("share", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}", f"{n / total:.1%}" if total else "-")
    return table


def _print_result(result: RecomputeResult, slug: str) -> None:
    console.print(
        f"workspace [bold]{slug}[/] as of {result.as_of}: {result.customers:,} customers, "
        f"{result.buyers:,} with an effective order; {result.written:,} score rows written, "
        f"{result.unchanged:,} unchanged, {result.removed:,} removed ({result.seconds:.1f} s)"
    )
    share = result.pareto_top20_share
    console.print(
        "Pareto: top 20 % of buyers bring "
        + (f"[bold]{share:.1%}[/] of net revenue" if share is not None else "no revenue yet")
    )
    console.print(_counts_table("RFM segments (R×F grid)", result.rfm_segments, result.buyers))
    console.print(_counts_table("RFM 8 classes", result.rfm8, result.buyers))
    for name, counts in result.layers.items():
        base = result.buyers if name == "layer_age" else result.customers
        console.print(_counts_table(name, counts, base))
    if result.rules:
        added = sum(int(r.get("added", 0)) for r in result.rules)
        removed = sum(int(r.get("removed", 0)) for r in result.rules)
        console.print(
            f"auto-tag rules: {len(result.rules)} applied, {added:,} tags added, {removed:,} removed"
        )
    if result.clv_model_fitted_at:
        console.print(f"CLV predictions from the model fitted at {result.clv_model_fitted_at}")
    else:
        console.print("CLV: no model fitted yet; run [bold]siyu clv fit[/] to add predictions")


def recompute_cmd(
    workspace: WorkspaceOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="Rewrite every score row, not only the changed ones.")
    ] = False,
    as_of: AsOfOpt = None,
    center: Annotated[
        str | None,
        typer.Option("--center", help="Centre of the 8 RFM classes: mean or median (default: setting)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute RFM scores, layers and CLV predictions of every customer."""
    from siyu.segments.service import recompute

    day = _parse_day(as_of, "--as-of")
    if center not in (None, "mean", "median"):
        fail(f"--center must be 'mean' or 'median', got {center!r}")
    chosen: Literal["mean", "median"] | None = center  # type: ignore[assignment]
    with workspace_session(workspace) as (session, ws), _progress(not as_json) as progress:
        result = recompute(
            session, workspace_id=ws.id, full=full, as_of=day, center=chosen, progress=progress
        )
        slug = ws.slug
    if as_json:
        console.print_json(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        _print_result(result, slug)


def fit_cmd(
    workspace: WorkspaceOpt = None,
    calibration_end: Annotated[
        str | None,
        typer.Option("--calibration-end", help="Last day of the fitting period (YYYY-MM-DD); default today."),
    ] = None,
    time_unit: Annotated[
        str, typer.Option("--time-unit", help="Time unit of the BG/NBD model: day or week.")
    ] = "day",
    as_json: JsonOpt = False,
) -> None:
    """Fit BG/NBD + Gamma-Gamma on the orders and store per-customer predictions."""
    from siyu.segments.service import fit_clv_models, recompute

    end = _parse_day(calibration_end, "--calibration-end")
    if time_unit not in ("day", "week"):
        fail(f"--time-unit must be 'day' or 'week', got {time_unit!r}")
    unit: Literal["day", "week"] = time_unit  # type: ignore[assignment]
    with workspace_session(workspace) as (session, ws):
        model = fit_clv_models(session, workspace_id=ws.id, calibration_end=end, time_unit=unit)
        result = recompute(session, workspace_id=ws.id)
    if as_json:
        payload = {
            "bgnbd": {"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b},
            "gamma_gamma": {"p": model.p, "q": model.q, "gamma": model.gamma},
            "customers": model.customers,
        }
        console.print_json(json.dumps(payload))
        return
    table = Table(title=f"CLV models fitted on orders up to {model.calibration_end}", title_justify="left")
    table.add_column("model")
    table.add_column("parameters")
    table.add_row(
        "BG/NBD",
        f"r={model.r:.4g}  alpha={model.alpha:.4g} ({model.time_unit}s)  a={model.a:.4g}  b={model.b:.4g}",
    )
    table.add_row("Gamma-Gamma", f"p={model.p:.4g}  q={model.q:.4g}  gamma={model.gamma:.4g} (yuan)")
    console.print(table)
    console.print(
        f"{model.customers:,} customers in the fit, {model.repeat_customers:,} of them came back; "
        f"predictions stored for {result.buyers:,} buyers (next 90 days, as of {result.as_of})"
    )
    if result.expected_value_90d_fen is not None:
        console.print(
            f"expected net revenue from them in the next 90 days: {format_fen(result.expected_value_90d_fen)}"
        )
