"""``siyu keywords ...``: keyword rules, sensitive words and boss alerts."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from siyu.automation.keywords import alerts as alerts_service
from siyu.automation.keywords import rules as rules_service
from siyu.automation.keywords.engine import process_new
from siyu.automation.keywords.matcher import Matcher, Pattern
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, workspace_session

app = typer.Typer(
    help="Keyword rules on incoming messages, sensitive words and alerts.", no_args_is_help=True
)
words_app = typer.Typer(help="Sensitive words (a message with one raises an alert).", no_args_is_help=True)
alerts_app = typer.Typer(
    help="Alerts for the boss: sensitive words, staff deleting customers.", no_args_is_help=True
)
app.add_typer(words_app, name="words")
app.add_typer(alerts_app, name="alerts")

ACTOR = "cli"


def _out(data: Any, as_json: bool, text: str) -> None:
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
    else:
        console.print(escape(text))


def _input(
    name: str,
    match: str,
    keywords: list[str],
    sources: list[str] | None,
    tags: list[str] | None,
    field: str | None,
    reply: str | None,
    reply_content: int | None,
    task: str | None,
    priority: int,
    stop: bool,
    cooldown: int,
    disabled: bool,
) -> rules_service.RuleInput:
    fkey, fval = None, None
    if field:
        fkey, _, fval = field.partition("=")
    return rules_service.RuleInput(
        name=name,
        match=match,
        keywords=keywords,
        sources=sources or list(rules_service.SOURCES),
        tags=tags or [],
        field_key=fkey or None,
        field_value=fval,
        reply=reply,
        reply_content_id=reply_content,
        task=task,
        priority=priority,
        stop=stop,
        cooldown_s=cooldown,
        enabled=not disabled,
    )


KeywordsOpt = Annotated[list[str], typer.Option("--keyword", "-k", help="A keyword (repeat for several).")]
MatchOpt = Annotated[str, typer.Option("--match", help="exact, contains or regex.")]
SourcesOpt = Annotated[
    list[str] | None, typer.Option("--source", help="kf, archive, group (repeat); default all.")
]
TagsOpt = Annotated[list[str] | None, typer.Option("--tag", help="Tag the customer (repeat).")]
FieldOpt = Annotated[str | None, typer.Option("--field", help="Set a profile field: key=value.")]
ReplyOpt = Annotated[
    str | None,
    typer.Option("--reply", help="Reply text (automatic in WeChat customer service, a task elsewhere)."),
]
ReplyContentOpt = Annotated[
    int | None, typer.Option("--reply-content", help="Reply with this text/script item.")
]
TaskOpt = Annotated[
    str | None, typer.Option("--task", help="Create a task for the staff member with this title.")
]
PriorityOpt = Annotated[int, typer.Option("--priority", help="Higher runs first.")]
StopOpt = Annotated[bool, typer.Option("--stop", help="No lower rule acts on the same message.")]
CooldownOpt = Annotated[
    int, typer.Option("--cooldown", help="Seconds before the rule acts again for a customer.")
]
DisabledOpt = Annotated[bool, typer.Option("--disabled", help="Save it switched off.")]


@app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="Rule name.")],
    keyword: KeywordsOpt,
    match: MatchOpt = "contains",
    source: SourcesOpt = None,
    tag: TagsOpt = None,
    field: FieldOpt = None,
    reply: ReplyOpt = None,
    reply_content: ReplyContentOpt = None,
    task: TaskOpt = None,
    priority: PriorityOpt = 0,
    stop: StopOpt = False,
    cooldown: CooldownOpt = 0,
    disabled: DisabledOpt = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a rule (refused: an invalid regex, naming where; an empty keyword)."""
    data = _input(
        name,
        match,
        keyword,
        source,
        tag,
        field,
        reply,
        reply_content,
        task,
        priority,
        stop,
        cooldown,
        disabled,
    )
    with workspace_session(workspace) as (session, ws):
        rule = rules_service.create_rule(session, workspace_id=ws.id, data=data, actor=ACTOR)
        out = rules_service.rule_json(rule)
    _out(out, as_json, f"rule {out['id']} saved: {out['name']}")


@app.command("update")
def update_cmd(
    rule_id: Annotated[int, typer.Argument(help="Rule id.")],
    name: Annotated[str, typer.Option("--name")],
    keyword: KeywordsOpt,
    match: MatchOpt = "contains",
    source: SourcesOpt = None,
    tag: TagsOpt = None,
    field: FieldOpt = None,
    reply: ReplyOpt = None,
    reply_content: ReplyContentOpt = None,
    task: TaskOpt = None,
    priority: PriorityOpt = 0,
    stop: StopOpt = False,
    cooldown: CooldownOpt = 0,
    disabled: DisabledOpt = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a rule's settings."""
    data = _input(
        name,
        match,
        keyword,
        source,
        tag,
        field,
        reply,
        reply_content,
        task,
        priority,
        stop,
        cooldown,
        disabled,
    )
    with workspace_session(workspace) as (session, ws):
        rule = rules_service.update_rule(session, workspace_id=ws.id, rule_id=rule_id, data=data, actor=ACTOR)
        out = rules_service.rule_json(rule)
    _out(out, as_json, f"rule {out['id']} updated")


@app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """The rules, highest priority first."""
    with workspace_session(workspace) as (session, ws):
        data = [rules_service.rule_json(r) for r in rules_service.list_rules(session, workspace_id=ws.id)]
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    if not data:
        console.print("no keyword rules yet")
    for d in data:
        state = "on" if d["enabled"] else "off"
        line = f"{d['id']:>4} [{state}] p{d['priority']} {d['name']}: {d['match']} {d['keywords']}"
        console.print(escape(f"{line} -> {d['actions']}"))


@app.command("delete")
def delete_cmd(rule_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a rule (its hits stay)."""
    with workspace_session(workspace) as (session, ws):
        rules_service.delete_rule(session, workspace_id=ws.id, rule_id=rule_id, actor=ACTOR)
    _out({"id": rule_id, "deleted": True}, as_json, f"rule {rule_id} deleted")


@app.command("test")
def try_cmd(
    text: Annotated[str, typer.Argument(help="A message to try.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which enabled rules a message would match (nothing is done)."""
    with workspace_session(workspace) as (session, ws):
        rules = [r for r in rules_service.list_rules(session, workspace_id=ws.id) if r.enabled]
        m = Matcher(Pattern(r.id, r.match, k) for r in rules for k in r.keywords)
        hits = m.match(text)
        data = [{"id": r.id, "name": r.name, "priority": r.priority} for r in rules if r.id in hits]
    _out(
        data,
        as_json,
        "\n".join(f"{d['id']} {d['name']} (p{d['priority']})" for d in data) or "no rule matches",
    )


@app.command("scan")
def scan_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Run the rules over new messages now (the worker does this every 5 s)."""
    total = {"messages": 0, "hits": 0, "acted": 0, "alerts": 0}
    while True:
        with workspace_session(workspace) as (session, ws):
            got = process_new(session, workspace_id=ws.id)
        for k, v in got.items():
            total[k] += v
        if not got["messages"]:
            break
    _out(total, as_json, ", ".join(f"{k}: {v}" for k, v in total.items()))


@words_app.command("add")
def words_add(
    words: Annotated[list[str], typer.Argument(help="Words to watch.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add sensitive words."""
    with workspace_session(workspace) as (session, ws):
        added = alerts_service.add_words(session, workspace_id=ws.id, words=words, actor=ACTOR)
    _out({"added": added}, as_json, f"added {len(added)} word(s)")


@words_app.command("remove")
def words_remove(
    words: Annotated[list[str], typer.Argument()], workspace: WorkspaceOpt = None, as_json: JsonOpt = False
) -> None:
    """Remove sensitive words."""
    with workspace_session(workspace) as (session, ws):
        n = alerts_service.remove_words(session, workspace_id=ws.id, words=words, actor=ACTOR)
    _out({"removed": n}, as_json, f"removed {n} word(s)")


@words_app.command("list")
def words_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """The workspace's sensitive words."""
    with workspace_session(workspace) as (session, ws):
        words = alerts_service.list_words(session, workspace_id=ws.id)
    _out(words, as_json, "\n".join(words) or "no sensitive words")


@alerts_app.command("list")
def alerts_list(
    kind: Annotated[
        str | None, typer.Option("--kind", help="sensitive_word or staff_deleted_customer.")
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only those nobody dealt with.")] = False,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts, newest first."""
    with workspace_session(workspace) as (session, ws):
        data = [
            alerts_service.alert_json(a)
            for a in alerts_service.list_alerts(
                session, workspace_id=ws.id, kind=kind, open_only=open_only, limit=limit
            )
        ]
    _out(
        data,
        as_json,
        "\n".join(
            f"{d['id']} {d['occurred_at'][:16]} {d['kind']}: {d['summary']}"
            + (" (dealt with)" if d["acked_at"] else "")
            for d in data
        )
        or "no alerts",
    )


@alerts_app.command("ack")
def alerts_ack(
    alert_id: int,
    note: Annotated[str | None, typer.Option("--note")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark an alert as dealt with."""
    with workspace_session(workspace) as (session, ws):
        a = alerts_service.ack_alert(session, workspace_id=ws.id, alert_id=alert_id, actor=ACTOR, note=note)
        out = alerts_service.alert_json(a)
    _out(out, as_json, f"alert {alert_id} dealt with")
