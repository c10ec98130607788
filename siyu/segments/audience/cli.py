"""``siyu segments count|preview|save|list|show|delete|terms`` and ``siyu segments rules ...``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from siyu.customers.visibility import WholeWorkspace
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, err_console, workspace_session
from siyu.kit.money import format_fen
from siyu.models import AutoTagRule, Segment
from siyu.segments import rules as rules_service
from siyu.segments.audience import AudienceSyntaxError, Expr, parse, preview, registry, scoped, to_json
from siyu.segments.audience.saved import (
    delete_segment,
    get_segment,
    list_segments,
    recount_segment,
    save_segment,
)
from siyu.segments.schemas import RuleOut, SegmentOut

ExprArg = Annotated[str, typer.Argument(help='Audience expression, e.g. "tag:VIP AND spent>=3000".')]
rules_app = typer.Typer(help="Auto-tag rules: expression → tags to add / remove.", no_args_is_help=True)


def _parse(text: str) -> Expr:
    try:
        return parse(text)
    except AudienceSyntaxError as exc:
        # soft_wrap: the caret line must stay under the column it points at.
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)


def _dump(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


def count(expression: ExprArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Print how many customers match an expression."""
    tree = _parse(expression)
    with workspace_session(workspace) as (session, ws):
        # The count the API and the console give a caller who sees the whole workspace.
        counted = scoped.count(session, WholeWorkspace(ws.id), tree)
        n, warnings = counted.count, counted.warnings
    if as_json:
        _dump({"count": n, "expression": to_json(tree), "warnings": warnings})
        return
    _warn(warnings)
    console.print(n)


def preview_cmd(
    expression: ExprArg,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="Customers to show.")] = 20,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the count and the first customers of an audience (phones masked)."""
    tree = _parse(expression)
    with workspace_session(workspace) as (session, ws):
        result = preview(session, workspace_id=ws.id, expr=tree, limit=limit)
    if as_json:
        _dump(result.model_dump())
        return
    _warn(result.warnings)
    table = Table(title=f"{result.count} customers match (showing {len(result.rows)})")
    for col in ("id", "name", "phone", "province", "city", "net spend", "orders", "tags"):
        table.add_column(col, justify="right" if col in ("id", "net spend", "orders") else "left")
    for r in result.rows:
        table.add_row(
            str(r.id),
            escape(r.name or ""),
            r.phone_masked or "",
            escape(r.province or ""),
            escape(r.city or ""),
            format_fen(r.net_fen),
            str(r.orders),
            escape(", ".join(r.tags)),
        )
    console.print(table)


def save(
    name: Annotated[str, typer.Argument(help="Segment name (unique in the workspace).")],
    expression: ExprArg,
    description: Annotated[str | None, typer.Option("--description", "-d", help="What it is for.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a segment of that name.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Save an expression as a named segment (人群包)."""
    _parse(expression)
    with workspace_session(workspace) as (session, ws):
        seg, warnings = save_segment(
            session,
            workspace_id=ws.id,
            name=name,
            expression=expression,
            description=description,
            replace=replace,
            actor="cli",
        )
        n = seg.last_count
    _warn(warnings)
    console.print(f"saved segment [bold]{escape(name.strip())}[/]: {n} customers")


def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List saved segments."""
    with workspace_session(workspace) as (session, ws):
        segs = [_segment_out(s) for s in list_segments(session, workspace_id=ws.id)]
    if as_json:
        _dump(segs)
        return
    if not segs:
        console.print('no saved segments yet; save one with: siyu segments save NAME "EXPRESSION"')
        return
    table = Table()
    for col in ("name", "expression", "last count", "counted at", "description"):
        table.add_column(col)
    for s in segs:
        table.add_row(
            escape(s["name"]),
            escape(s["expression"]),
            "" if s["last_count"] is None else str(s["last_count"]),
            str(s["last_counted_at"] or "")[:19],
            escape(s["description"] or ""),
        )
    console.print(table)


def show(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a saved segment with a fresh count."""
    with workspace_session(workspace) as (session, ws):
        get_segment(session, workspace_id=ws.id, name=name)
        data = _segment_out(recount_segment(session, workspace_id=ws.id, name=name))
    if as_json:
        _dump(data)
        return
    console.print(f"[bold]{escape(data['name'])}[/]  {data['last_count']} customers")
    if data["description"]:
        console.print(escape(data["description"]))
    console.print(f"expression: {escape(data['expression'])}")
    console.print_json(json.dumps(data["expression_json"], ensure_ascii=False))


def delete(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    force: Annotated[
        bool, typer.Option("--force", help="Delete even if other segments or rules use it.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Delete a saved segment (refused while segment: terms elsewhere use it)."""
    with workspace_session(workspace) as (session, ws):
        delete_segment(session, workspace_id=ws.id, name=name, force=force, actor="cli")
    console.print(f"deleted segment [bold]{escape(name.strip())}[/]")


def _segment_out(seg: Segment) -> dict[str, Any]:
    return SegmentOut.model_validate(seg).model_dump(mode="json")


def _rule_out(rule: AutoTagRule) -> dict[str, Any]:
    return RuleOut.model_validate(rule).model_dump(mode="json")


@rules_app.command("add")
def rules_add(
    name: Annotated[str, typer.Argument(help="Rule name (unique in the workspace).")],
    expression: ExprArg,
    add: Annotated[list[str] | None, typer.Option("--add", "-a", help="Tag to add (repeatable).")] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", "-r", help="Tag to remove (repeatable).")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Add a rule: customers matching EXPRESSION get --add tags and lose --remove tags."""
    _parse(expression)
    with workspace_session(workspace) as (session, ws):
        rule, warnings = rules_service.add_rule(
            session,
            workspace_id=ws.id,
            name=name,
            expression=expression,
            add=add or [],
            remove=remove or [],
            enabled=not disabled,
            actor="cli",
        )
        rule_id = rule.id
    _warn(warnings)
    console.print(
        f"added rule [bold]{escape(name.strip())}[/] (#{rule_id}); "
        "run `siyu segments rules apply` to tag customers now"
    )


@rules_app.command("list")
def rules_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List auto-tag rules in the order they apply."""
    with workspace_session(workspace) as (session, ws):
        rows = [_rule_out(r) for r in rules_service.list_rules(session, workspace_id=ws.id)]
    if as_json:
        _dump(rows)
        return
    if not rows:
        console.print('no rules yet; add one with: siyu segments rules add NAME "EXPRESSION" --add TAG')
        return
    table = Table()
    for col in ("id", "name", "expression", "add", "remove", "enabled", "last applied"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            escape(r["name"]),
            escape(r["expression"]),
            escape(", ".join(r["add_tags"])),
            escape(", ".join(r["remove_tags"])),
            "yes" if r["enabled"] else "no",
            str(r["last_applied_at"] or "never")[:19],
        )
    console.print(table)


@rules_app.command("apply")
def rules_apply(
    names: Annotated[
        list[str] | None, typer.Argument(help="Rules to apply (default: every enabled rule).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply the rules to every customer now (also runs on recompute and new orders)."""
    with workspace_session(workspace) as (session, ws):
        results = rules_service.apply_rules(session, workspace_id=ws.id, names=names or None)
    if as_json:
        _dump([r.model_dump() for r in results])
        return
    if not results:
        console.print("no enabled rules to apply")
        return
    for r in results:
        console.print(f"{escape(r.name)}: {r.matched} match, {r.added} tags added, {r.removed} tags removed")


@rules_app.command("delete")
def rules_delete(
    name: Annotated[str, typer.Argument(help="Rule name.")],
    keep_tags: Annotated[
        bool, typer.Option("--keep-tags", help="Leave the tags this rule added on customers.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Delete a rule and, unless --keep-tags, the tags it added."""
    with workspace_session(workspace) as (session, ws):
        removed = rules_service.delete_rule(
            session, workspace_id=ws.id, name=name, keep_tags=keep_tags, actor="cli"
        )
    console.print(f"deleted rule [bold]{escape(name.strip())}[/]; {removed} tags it had added removed")


@rules_app.command("enable")
def rules_enable(
    name: Annotated[str, typer.Argument(help="Rule name.")], workspace: WorkspaceOpt = None
) -> None:
    """Switch a rule on."""
    with workspace_session(workspace) as (session, ws):
        rules_service.set_enabled(session, workspace_id=ws.id, name=name, enabled=True, actor="cli")
    console.print(f"rule [bold]{escape(name.strip())}[/] enabled")


@rules_app.command("disable")
def rules_disable(
    name: Annotated[str, typer.Argument(help="Rule name.")], workspace: WorkspaceOpt = None
) -> None:
    """Switch a rule off (its tags stay until it is deleted)."""
    with workspace_session(workspace) as (session, ws):
        rules_service.set_enabled(session, workspace_id=ws.id, name=name, enabled=False, actor="cli")
    console.print(f"rule [bold]{escape(name.strip())}[/] disabled")


def terms_cmd(as_json: JsonOpt = False) -> None:
    """List the terms an expression may use, with their values and allowed ranges."""
    rows: list[dict[str, Any]] = [
        {
            "term": k.name,
            "form": f"{k.name} OP {k.value}" if k.number else f"{k.name}:{k.value}",
            "matches": k.help.replace("**", "").replace("`", ""),
            "range": k.number.describe() if k.number else None,
            "whole_numbers": bool(k.number and k.number.integer),
            "aliases": list(k.aliases),
            "notes": k.notes,
        }
        for k in registry.kinds()
    ]
    if as_json:
        _dump(rows)
        return
    table = Table()
    for col in ("term", "matches a customer who…", "range", "aliases"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            escape(str(r["form"])),
            escape(str(r["matches"])),
            r["range"] or "",
            escape(", ".join(r["aliases"])),
        )
    console.print(table)
    console.print("OP is one of >=, >, <=, <, =. Combine terms with AND, OR, NOT and parentheses.")


def register(app: typer.Typer) -> None:
    """Add the audience, segment and rule commands to ``siyu segments``."""
    app.command("count")(count)
    app.command("preview")(preview_cmd)
    app.command("save")(save)
    app.command("list")(list_cmd)
    app.command("show")(show)
    app.command("delete")(delete)
    app.command("terms")(terms_cmd)
    app.add_typer(rules_app, name="rules")
