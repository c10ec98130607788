"""``siyu customers``: list and show OneID profiles; tag, untag and export a selection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, err_console, workspace_session
from siyu.kit.money import format_fen
from siyu.kit.timeutil import zone

if TYPE_CHECKING:
    from siyu.customers.selection import Selection

app = typer.Typer(help="Customers (OneID profiles): list, show, tag, untag, export.", no_args_is_help=True)


def _local(value: object, tz: str) -> str:
    from datetime import datetime

    if isinstance(value, datetime):
        return value.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")
    return ""


@app.command("list")
def list_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10000, help="How many.")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many first.")] = 0,
) -> None:
    """Customers, newest first, with orders and net spend."""
    from siyu.customers.service import list_customers

    with workspace_session(workspace) as (session, ws):
        rows = list_customers(session, workspace_id=ws.id, limit=limit, offset=offset)
        tz = ws.timezone
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False))
        return
    table = Table(title=f"Customers ({len(rows)} shown from {offset + 1})", title_justify="left")
    for col in ("id", "name", "phone", "place", "orders", "net", "last paid", "platforms"):
        table.add_column(col, justify="right" if col in ("id", "orders", "net") else "left")
    for r in rows:
        table.add_row(
            str(r.id),
            r.name or "",
            r.phone_masked or "",
            " ".join(x for x in (r.province, r.city) if x and x != r.province) or (r.province or ""),
            str(r.effective_orders_count),
            format_fen(r.net_fen),
            _local(r.last_paid_at, tz),
            ", ".join(r.platforms),
        )
    console.print(table)


@app.command("show")
def show_cmd(
    customer_id: Annotated[int, typer.Argument(help="Customer id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One customer: profile, identities (phones masked), tags, stats and recent orders."""
    from siyu.customers.service import customer_detail

    with workspace_session(workspace) as (session, ws):
        d = customer_detail(session, workspace_id=ws.id, customer_id=customer_id)
        tz = ws.timezone
    if d.id != customer_id:
        err_console.print(f"customer {customer_id} was merged into customer {d.id}; showing {d.id}")
    if as_json:
        console.print_json(json.dumps(d.model_dump(mode="json"), ensure_ascii=False))
        return
    s = d.stats
    console.print(f"[bold]Customer {d.id}[/] {d.name or ''}  {d.phone_masked or ''}", highlight=False)
    console.print(
        f"place: {d.province or '-'} {d.city or ''}   first seen: {_local(d.first_seen_at, tz) or '-'}"
        + ("   [red]opted out[/]" if d.opt_out else ""),
        highlight=False,
    )
    if d.merged_ids:
        console.print(f"merged from: {', '.join(map(str, d.merged_ids))}")
    console.print(
        f"orders {s.orders_count} · paid {s.paid_orders_count} · effective {s.effective_orders_count} · "
        f"paid {format_fen(s.paid_fen)} · refunded {format_fen(s.refunded_fen)} · "
        f"net {format_fen(s.net_fen)} · "
        f"purchase days {s.purchase_days} · last paid {_local(s.last_paid_at, tz) or '-'}",
        highlight=False,
    )
    ids = Table(title="Identities", title_justify="left")
    for col in ("kind", "platform", "value", "source"):
        ids.add_column(col)
    for i in d.identities:
        ids.add_row(i.kind, i.platform, i.value or "", i.source)
    console.print(ids)
    if d.tags:
        console.print("tags: " + ", ".join(f"{t.group}/{t.name}" for t in d.tags), highlight=False)
    orders = Table(title=f"Orders ({len(d.orders)} of {d.orders_total})", title_justify="left")
    for col in ("platform", "order", "status", "paid at", "paid", "refunded", "title"):
        orders.add_column(col, justify="right" if col in ("paid", "refunded") else "left")
    for o in d.orders:
        orders.add_row(
            o.platform,
            o.external_id,
            o.status,
            _local(o.paid_at, tz),
            format_fen(o.paid_fen),
            format_fen(o.refunded_fen),
            (o.title or "")[:40],
        )
    console.print(orders)


WhereOpt = Annotated[
    str | None,
    typer.Option(
        "--where", "-q", help='Every customer of this audience expression, e.g. "spent>=500 AND city:杭州".'
    ),
]
IdsOpt = Annotated[
    list[int] | None, typer.Option("--id", help="A customer id (repeat for several); instead of --where.")
]


def _selection(where: str | None, ids: list[int] | None, *, everyone_by_default: bool = False) -> Selection:
    from siyu.customers.selection import Selection
    from siyu.kit.cli import fail

    if where is not None and ids:
        fail("give either --where EXPRESSION or --id, not both")
    if where is None and not ids:
        if everyone_by_default:
            return Selection(everyone=True)
        fail("give --where EXPRESSION or one or more --id")
    return Selection(expression=where) if where is not None else Selection(customer_ids=tuple(ids or ()))


def _bulk(
    tag_names: list[str], where: str | None, ids: list[int] | None, workspace: str | None, remove: bool
) -> None:
    from siyu.customers.selection import Caller, bulk_tag
    from siyu.customers.tags import find_tag
    from siyu.kit.cli import fail

    selection = _selection(where, ids)
    with workspace_session(workspace) as (session, ws):
        tag_ids = []
        for name in tag_names:
            tag = find_tag(session, workspace_id=ws.id, name=name)
            if tag is None:
                fail(f"no tag named {name!r} (see `siyu tags list` or create it in the console)")
            tag_ids.append(tag.id)
        result = bulk_tag(session, Caller(ws.id, "cli", via="cli"), selection, tag_ids=tag_ids, remove=remove)
    verb = "untagged" if remove else "tagged"
    console.print(
        f"{verb} {result.customers:,} customers with {', '.join(result.tags)}: "
        f"{result.changed:,} tag links changed"
    )


@app.command("tag")
def tag_cmd(
    tag: Annotated[list[str], typer.Option("--tag", "-t", help="Tag name (repeat for several).")],
    where: WhereOpt = None,
    ids: IdsOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Tag every customer of an expression (or the given ids); audited."""
    _bulk(tag, where, ids, workspace, remove=False)


@app.command("untag")
def untag_cmd(
    tag: Annotated[list[str], typer.Option("--tag", "-t", help="Tag name (repeat for several).")],
    where: WhereOpt = None,
    ids: IdsOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Take tags off every customer of an expression (or the given ids); audited."""
    _bulk(tag, where, ids, workspace, remove=True)


@app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.csv or .xlsx).")],
    where: WhereOpt = None,
    ids: IdsOpt = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from the file name).")
    ] = None,
    full_phones: Annotated[
        bool, typer.Option("--full-phones", help="Write full phone numbers instead of masked ones (audited).")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Export customers (masked phones unless --full-phones) as CSV or XLSX; audited."""
    from siyu.customers.selection import Caller, export
    from siyu.kit.cli import fail

    selection = _selection(where, ids, everyone_by_default=True)
    chosen = fmt or out.suffix.lstrip(".").lower()
    if chosen not in ("csv", "xlsx"):
        fail(f"--format must be csv or xlsx (the file name {out.name!r} does not say)")
    if out.exists() and out.is_dir():
        fail(f"{out} is a folder; give a file name")
    tmp = out.with_name(out.name + ".part")
    try:
        with workspace_session(workspace) as (session, ws), tmp.open("wb") as fh:
            caller = Caller(ws.id, "cli", may_see_phones=True, via="cli")
            result = export(session, caller, selection, fmt=chosen, out=fh, full_phones=full_phones)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    for w in result.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")
    phones = "full phones" if not result.masked else "phones masked"
    console.print(f"wrote {result.rows:,} customers to {out} ({chosen}, {phones})")
