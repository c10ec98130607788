"""``siyu demo``: build the demo brand through the same paths a real brand takes.

The demo is a list of steps. The first ones are fixed (write the export files, import
them with ``siyu.orders.service.import_orders``); the others are hooks that other
domains fill in: each names the module it needs and runs only once that module
exists, so the demo grows with the product. To add one, append a :class:`DemoStep`
to :data:`STEPS` (or call :func:`register_step`) with a function taking the
:class:`DemoContext`; it may add lines to ``ctx.notes`` for the closing summary.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siyu.demo import catalog
from siyu.demo.repository import count_orders
from siyu.demo.simulate import DemoData, simulate
from siyu.demo.writers import WrittenFile, write_all
from siyu.kit.db import session_scope
from siyu.kit.errors import Invalid
from siyu.kit.scope import ensure_workspace
from siyu.kit.timeutil import utcnow, zone

if TYPE_CHECKING:
    from siyu.orders.schemas import ImportSummary

MAX_CUSTOMERS = 1_000_000


@dataclass
class DemoContext:
    """What the steps share: the options, the simulated truth, the files and notes."""

    customers: int
    seed: int
    out: Path
    # The day of the export; None: the day pinned by an earlier demo run, else today.
    as_of: date | None
    workspace_slug: str
    progress: bool = True
    # Where the console will listen (steps print the address and the login).
    host: str = "127.0.0.1"
    port: int = 8000
    workspace_id: int | None = None
    data: DemoData | None = None
    files: list[WrittenFile] = field(default_factory=list)
    imports: list[ImportSummary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo; ``requires`` is ``"module"`` or ``"module:attribute"``."""

    name: str
    title: str
    run: Callable[[DemoContext], None]
    requires: str | None = None
    # A hook's failure is reported and the demo goes on (the brand data is in already);
    # a core step's failure stops the demo.
    optional: bool = True

    def available(self) -> bool:
        """True when the module (and attribute) this step needs exists."""
        if self.requires is None:
            return True
        module, _, attr = self.requires.partition(":")
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except ModuleNotFoundError:
            return False
        return not attr or hasattr(importlib.import_module(module), attr)


def _write_files(ctx: DemoContext) -> None:
    assert ctx.as_of is not None, "prepare() pins the day first"
    ctx.data = simulate(ctx.customers, ctx.seed, ctx.as_of)
    ctx.files = write_all(ctx.data, ctx.out)
    write_manifest(ctx)


def write_manifest(ctx: DemoContext) -> Path:
    """``manifest.json`` beside the files: what was generated, with the money it carries."""
    assert ctx.data is not None
    assert ctx.as_of is not None
    paid = sum(f.paid_fen for f in ctx.files)
    refunded = sum(f.refunded_fen for f in ctx.files)
    manifest = {
        "brand": catalog.BRAND,
        "seed": ctx.seed,
        "customers": ctx.customers,
        "as_of": ctx.as_of.isoformat(),
        "files": [
            {
                "name": f.path.name,
                "format": f.format,
                "encoding": f.encoding,
                "rows": f.rows,
                "orders": f.orders,
                "paid_fen": f.paid_fen,
                "refunded_fen": f.refunded_fen,
            }
            for f in ctx.files
        ],
        "orders": len(ctx.data.orders),
        "paid_fen": paid,
        "refunded_fen": refunded,
        "net_fen": paid - refunded,
    }
    path = ctx.out / "manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def _import_files(ctx: DemoContext) -> None:
    from siyu.orders.service import import_orders

    # The main Taobao file goes before its detail file, as a user would import them.
    paths = [f.path for f in ctx.files]
    ctx.imports = list(
        import_orders(paths, workspace_slug=ctx.workspace_slug, progress=ctx.progress, actor="demo")
    )
    failed = sum(s.rows_failed for s in ctx.imports)
    if failed:
        # The demo's own files must import cleanly; say so loudly rather than hide it.
        ctx.notes.append(f"[red]{failed} rows of the demo files were refused by the importer[/]")


def _recompute_segments(ctx: DemoContext) -> None:
    # Imported by name: the segments service may not exist yet in this checkout.
    recompute = importlib.import_module("siyu.segments.service").recompute
    assert ctx.workspace_id is not None
    fit_clv_models = importlib.import_module("siyu.segments.service").fit_clv_models
    with session_scope() as session:
        # Fit BG/NBD + Gamma-Gamma first so that recompute stores p_alive and CLV.
        try:
            fit_clv_models(session, workspace_id=ctx.workspace_id)
            clv = "CLV fitted"
        except Invalid as exc:
            clv = f"CLV not fitted ({exc.message})"
    with session_scope() as session:
        _add_demo_rules(session, ctx.workspace_id)
    with session_scope() as session:
        recompute(session, workspace_id=ctx.workspace_id)  # applies the rules afterwards
    ctx.notes.append(f"RFM, layers and CLV recomputed, auto-tag rules applied; {clv}")


# The auto-tag rules docs/audiences.md shows, so that its examples (tag:VIP ...) find
# customers in the demo as they would in a brand that follows them.
DEMO_RULES = (("三千会员", "spent>=3000", "VIP"), ("复购客户", "orders>=2", "复购"))


def _add_demo_rules(session: Any, workspace_id: int) -> None:
    rules = importlib.import_module("siyu.segments.rules")
    have = {r.name for r in rules.list_rules(session, workspace_id=workspace_id)}
    for name, expression, tag in DEMO_RULES:
        if name not in have:  # a re-run changes nothing
            rules.add_rule(
                session, workspace_id=workspace_id, name=name, expression=expression, add=[tag], actor="demo"
            )


STEPS: list[DemoStep] = [
    DemoStep("files", "Writing the platforms' export files", _write_files, optional=False),
    DemoStep(
        "import",
        "Importing them (siyu import orders)",
        _import_files,
        requires="siyu.orders.service:import_orders",
        optional=False,
    ),
    DemoStep(
        "wecom",
        "Bringing the WeCom side to life (simulator → callbacks/sync)",
        lambda ctx: importlib.import_module("siyu.demo.wecom").seed(ctx),
        requires="siyu.demo.wecom:seed",
    ),
    DemoStep(
        "channels",
        "Channels: live codes, routing, welcomes",
        lambda ctx: importlib.import_module("siyu.demo.channels").seed(ctx),
        requires="siyu.demo.channels:seed",
    ),
    DemoStep(
        "moments",
        "Moments: two past weeks with reactions, a planned week",
        lambda ctx: importlib.import_module("siyu.demo.moments").seed(ctx),
        requires="siyu.demo.moments:seed",
    ),
    DemoStep(
        "messages",
        "Chats in the conversation archive",
        lambda ctx: importlib.import_module("siyu.demo.messages").seed(ctx),
        requires="siyu.demo.messages:seed",
    ),
    DemoStep(
        "segments",
        "Recomputing RFM, layers and CLV",
        _recompute_segments,
        requires="siyu.segments.service:recompute",
    ),
    DemoStep("profit", "Costs for the P&L, metric aggregates", lambda ctx: importlib.import_module("siyu.demo.profit").seed(ctx), requires="siyu.demo.profit:seed"),  # noqa: E501
    DemoStep(
        "funnel",
        "Order binding and the channel funnel",
        lambda ctx: importlib.import_module("siyu.demo.funnel").seed(ctx),
        requires="siyu.demo.funnel:seed",
    ),
    DemoStep(
        "sop",
        "Running the SOP templates and task lists",
        lambda ctx: importlib.import_module("siyu.demo.sop").seed(ctx),
        requires="siyu.demo.sop:seed",
    ),
    DemoStep(
        "keywords",
        "Keyword rules, sensitive words, profile fields and scripts",
        lambda ctx: importlib.import_module("siyu.demo.keywords").seed(ctx),
        requires="siyu.demo.keywords:seed",
    ),
    DemoStep(
        "sends",
        "A month of past mass sends with holdouts",
        lambda ctx: importlib.import_module("siyu.demo.outbound").seed(ctx),
        requires="siyu.demo.outbound:seed",
    ),
    DemoStep(
        "rewards",
        "Rewards: red packets, coupons and gifts",
        lambda ctx: importlib.import_module("siyu.demo.rewards").seed(ctx),
        requires="siyu.demo.rewards:seed",
    ),
    DemoStep(
        "console-login",
        "Creating the console login",
        lambda ctx: importlib.import_module("siyu.web.console.demo").create_login(ctx),
        requires="siyu.web.console.demo:create_login",
    ),
]


def register_step(step: DemoStep, *, after: str | None = None) -> None:
    """Add a step (at the end, or right after the step named ``after``); replaces a namesake."""
    existing = [s.name for s in STEPS]
    if step.name in existing:
        STEPS[existing.index(step.name)] = step
        return
    if after is None:
        STEPS.append(step)
        return
    if after not in existing:
        raise ValueError(f"no demo step named {after!r}")
    STEPS.insert(existing.index(after) + 1, step)


def check_options(customers: int, out: Path) -> None:
    """Refuse options that cannot work, before anything is written."""
    if customers < 1 or customers > MAX_CUSTOMERS:
        raise Invalid(
            f"--customers must be between 1 and {MAX_CUSTOMERS:,}, got {customers}", field="customers"
        )
    if out.exists() and not out.is_dir():
        raise Invalid(f"{out} exists and is not a folder; choose another --out", field="out")


def prepare(ctx: DemoContext) -> DemoContext:
    """Check the options, create the workspace and pin the demo's options in it.

    The demo owns its workspace: it refuses one that holds orders it did not make, and
    once it ran, the same seed, size and day are reused (a run on another day would
    otherwise import a shifted copy of the brand on top of the first).
    """
    check_options(ctx.customers, ctx.out)
    with session_scope() as session:
        ws = ensure_workspace(session, ctx.workspace_slug, name=catalog.WORKSPACE_NAME)
        ctx.workspace_id = ws.id
        earlier = (ws.settings or {}).get("demo")
        if earlier is None:
            orders = count_orders(session, workspace_id=ws.id)
            if orders:
                raise Invalid(
                    f"workspace {ws.slug!r} already holds {orders:,} order{'s' if orders != 1 else ''} "
                    "that the demo did not make; "
                    "run the demo in a workspace of its own, e.g. --workspace demo",
                    field="workspace",
                )
            as_of = ctx.as_of or utcnow().astimezone(zone(ws.timezone)).date()
        else:
            as_of = ctx.as_of or date.fromisoformat(earlier["as_of"])
            wanted = {"seed": ctx.seed, "customers": ctx.customers, "as_of": as_of.isoformat()}
            if any(earlier.get(k) != v for k, v in wanted.items()):
                raise Invalid(
                    f"workspace {ws.slug!r} already holds the demo brand made with --seed {earlier['seed']} "
                    f"--customers {earlier['customers']} --as-of {earlier['as_of']}; run the demo with "
                    "those options (it changes nothing) or use another --workspace",
                    field="workspace",
                )
        ctx.as_of = as_of
        pinned = {"seed": ctx.seed, "customers": ctx.customers, "as_of": as_of.isoformat()}
        if earlier != pinned:
            # Reassigned, not mutated: JSON columns only notice a new value.
            ws.settings = {**(ws.settings or {}), "demo": pinned}
    return ctx


def run_demo(
    ctx: DemoContext,
    *,
    on_step: Callable[[DemoStep, str], None] | None = None,
    steps: list[DemoStep] | None = None,
) -> DemoContext:
    """Run every available step in order; ``on_step(step, "start"|"done"|"skipped"|"failed")``."""
    prepare(ctx)
    for step in steps if steps is not None else STEPS:
        if not step.available():
            if not step.optional:
                raise Invalid(f"the demo needs {step.requires}, which is not installed", field=step.name)
            ctx.skipped.append(step.name)
            if on_step:
                on_step(step, "skipped")
            continue
        if on_step:
            on_step(step, "start")
        started = time.perf_counter()
        try:
            step.run(ctx)
        except Exception as exc:
            if not step.optional:
                raise
            ctx.failed.append((step.name, f"{type(exc).__name__}: {exc}"))
            if on_step:
                on_step(step, "failed")
            continue
        finally:
            ctx.timings[step.name] = time.perf_counter() - started
        if on_step:
            on_step(step, "done")
    return ctx
