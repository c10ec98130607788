"""``siyu channels ...``: channels (渠道活码), their WeCom codes, routing and welcomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition import channels as svc
from siyu.acquisition import qr, routing, welcome
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session
from siyu.kit.errors import Invalid
from siyu.kit.money import MoneyError, yuan_to_fen
from siyu.models import WelcomeSend
from siyu.staff.service import find_staff

app = typer.Typer(
    help="Channels (渠道活码): live codes, routing, welcomes and entry tags.", no_args_is_help=True
)
ACTOR = "cli"
DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}

Opt = typer.Option
NameOpt = Annotated[str | None, Opt("--name", help="Channel name (渠道名称).")]
GroupOpt = Annotated[str | None, Opt("--group", help="Channel group (渠道分组).")]
StateOpt = Annotated[
    str | None, Opt("--state", help="The code's state (≤ 30 characters; default: generated).")
]
CostOpt = Annotated[str | None, Opt("--cost", help="What the channel costs, in yuan (e.g. 1200.50).")]
StaffOpt = Annotated[list[str] | None, Opt("--staff", help="Pool account (WeCom userid); repeat for more.")]
StrategyOpt = Annotated[
    str | None, Opt("--strategy", help="Routing: wecom, weighted, least_loaded or capacity_first.")
]
ThresholdOpt = Annotated[
    float | None, Opt("--threshold", help="capacity_first: skip accounts at this share (0.9).")
]
WeightOpt = Annotated[list[str] | None, Opt("--weight", help="USERID=WEIGHT for weighted routing; repeat.")]
CapOpt = Annotated[
    list[str] | None, Opt("--cap", help="USERID=N: at most N adds a day through this channel.")
]
ScheduleOpt = Annotated[
    list[str] | None,
    Opt("--schedule", help='"mon-fri 09:00-18:00 userid,userid" (workspace time zone); repeat.'),
]
BackupOpt = Annotated[
    list[str] | None, Opt("--backup", help="Backup account, used when the pool is off or full.")
]
TagOpt = Annotated[list[str] | None, Opt("--tag", help="Entry tag as GROUP/NAME or NAME (created if new).")]
WelcomeOpt = Annotated[str | None, Opt("--welcome", help="Welcome text ({客户昵称}, {员工姓名} filled in).")]
NightOpt = Annotated[str | None, Opt("--welcome-night", help="Welcome text for 22:00–08:00.")]
WeekendOpt = Annotated[str | None, Opt("--welcome-weekend", help="Welcome text for Saturday and Sunday.")]
AttachOpt = Annotated[
    list[str] | None, Opt("--attach-link", help="Attach a link to the welcome: TITLE=URL; up to 9.")
]
ContentOpt = Annotated[
    list[int] | None,
    Opt(
        "--attach-content",
        help="Attach a content-library item (image, link, mini-program, video, file) by id; repeat "
        "(up to 9 attachments in all); 0 clears them.",
    ),
]
JoinOpt = Annotated[
    int | None, Opt("--join-channel", help="Group-code channel whose join link the welcome carries.")
]
VerifyOpt = Annotated[
    bool | None, Opt("--skip-verify/--verify", help="Add without the staff's confirmation.")
]
LandingOpt = Annotated[
    bool | None, Opt("--landing/--no-landing", help="Landing page /c/SLUG with per-visit routing.")
]
ChatOpt = Annotated[list[str] | None, Opt("--chat", help="Group chat id for a group code (up to 5).")]
StoreOpt = Annotated[
    list[str] | None,
    Opt("--store", help="Store channel: a store (id or name) to route to; repeat (default: all)."),
]
CampaignOpt = Annotated[
    str | None, Opt("--campaign", help='Referral campaign (老带新) name; "" removes the campaign.')
]
CampaignWelcomeOpt = Annotated[
    str | None, Opt("--campaign-welcome", help="The campaign's welcome (before the channel's while it runs).")
]
CampaignFromOpt = Annotated[
    str | None, Opt("--campaign-from", help="First day of the campaign (YYYY-MM-DD).")
]
CampaignUntilOpt = Annotated[
    str | None, Opt("--campaign-until", help="Last day of the campaign (YYYY-MM-DD).")
]


def _staff_ids(session: Session, workspace_id: int, userids: list[str], field: str = "pool") -> list[int]:
    out = []
    unknown: list[str] = []
    for u in userids:
        for part in u.split(","):
            part = part.strip()
            if not part:
                continue
            s = find_staff(session, workspace_id=workspace_id, userid=part)
            if s is None:
                unknown.append(part)
            else:
                out.append(s.id)
    if unknown:
        raise Invalid(f"unknown staff account(s): {', '.join(unknown)} (run `siyu wecom sync`?)", field=field)
    return out


def _store_ids(session: Session, workspace_id: int, values: list[str]) -> list[int]:
    from siyu.acquisition import stores

    by_name = {st.name: st.id for st in stores.list_stores(session, workspace_id=workspace_id)}
    out = []
    for v in values:
        for part in (p.strip() for p in v.split(",")):
            if not part:
                continue
            if part in by_name:
                out.append(by_name[part])
            elif part.isdigit():
                out.append(int(part))
            else:
                raise Invalid(f"store {part!r} does not exist", field="store_ids")
    return out


def _pairs(session: Session, workspace_id: int, values: list[str], what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        userid, _, n = v.partition("=")
        if not n.strip().lstrip("-").isdigit():
            raise Invalid(f"{what} {v!r} is not USERID=NUMBER", field="pool")
        (sid,) = _staff_ids(session, workspace_id, [userid])
        out[str(sid)] = int(n)
    return out


def _schedule(session: Session, workspace_id: int, text: str) -> dict[str, Any]:
    parts = text.split()
    if len(parts) != 3 or "-" not in parts[1]:
        raise Invalid(f'schedule {text!r} is not "mon-fri 09:00-18:00 userid,userid"', field="pool")
    days_txt, hours, users = parts
    days: list[int] = []
    for chunk in days_txt.lower().split(","):
        a, _, b = chunk.partition("-")
        if a not in DAYS or (b and b not in DAYS):
            raise Invalid(f"schedule days {days_txt!r}: use mon…sun, e.g. mon-fri or sat,sun", field="pool")
        lo, hi = DAYS[a], DAYS[b or a]
        days.extend(range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(0, hi + 1)])
    start, _, end = hours.partition("-")
    return {
        "days": sorted(set(days)),
        "start": start,
        "end": end,
        "staff_ids": _staff_ids(session, workspace_id, [users]),
    }


def _tags(session: Session, workspace_id: int, names: list[str]) -> list[int]:
    from siyu.customers.tags import ensure_tag

    ids = []
    for n in names:
        group, _, name = n.rpartition("/")
        ids.append(ensure_tag(session, workspace_id=workspace_id, name=name, group_name=group or "默认").id)
    return ids


def _input(
    session: Session,
    workspace_id: int,
    *,
    name: str | None,
    group: str | None,
    state: str | None,
    cost: str | None,
    staff: list[str] | None,
    strategy: str | None,
    threshold: float | None,
    weight: list[str] | None,
    cap: list[str] | None,
    schedule: list[str] | None,
    backup: list[str] | None,
    tag: list[str] | None,
    welcome_text: str | None,
    night: str | None,
    weekend: str | None,
    attach: list[str] | None,
    join: int | None,
    skip_verify: bool | None,
    landing: bool | None,
    chat: list[str] | None,
    current: dict[str, Any] | None = None,
    store: list[str] | None = None,
    campaign: str | None = None,
    campaign_welcome: str | None = None,
    campaign_from: str | None = None,
    campaign_until: str | None = None,
    content: list[int] | None = None,
) -> svc.ChannelInput:
    data = svc.ChannelInput(name=name, group_name=group, state=state, skip_verify=skip_verify, chat_ids=chat)
    if store is not None:
        data.store_ids = _store_ids(session, workspace_id, store)
    if any(v is not None for v in (campaign, campaign_welcome, campaign_from, campaign_until)):
        c: dict[str, Any] = dict((current or {}).get("campaign") or {})
        if campaign == "":
            data.campaign = {}
        else:
            if campaign is not None:
                c["name"] = campaign
            if campaign_welcome is not None:
                c["welcome"] = {**(c.get("welcome") or {}), "text": campaign_welcome}
            if campaign_from is not None:
                c["starts_on"] = campaign_from or None
            if campaign_until is not None:
                c["ends_on"] = campaign_until or None
            data.campaign = c
    if cost is not None:
        try:
            data.cost_fen = yuan_to_fen(cost, allow_negative=True)
        except MoneyError as exc:
            raise Invalid(f"cost {cost!r}: {exc}", field="cost_fen") from exc
    pool: dict[str, Any] = {}
    if staff is not None:
        pool["staff_ids"] = _staff_ids(session, workspace_id, staff)
    if strategy is not None:
        pool["strategy"] = strategy
    if threshold is not None:
        pool["threshold"] = threshold
    if weight:
        pool["weights"] = _pairs(session, workspace_id, weight, "weight")
    if cap:
        pool["daily_caps"] = _pairs(session, workspace_id, cap, "cap")
    if schedule:
        pool["schedules"] = [_schedule(session, workspace_id, s) for s in schedule]
    if backup:
        pool["backup_staff_ids"] = _staff_ids(session, workspace_id, backup)
    if landing is not None:
        pool["landing"] = landing
    if pool:
        data.pool = pool
    if tag is not None:
        data.tag_ids = _tags(session, workspace_id, tag)
    if any(v is not None for v in (welcome_text, night, weekend, attach, join, content)):
        w: dict[str, Any] = dict((current or {}).get("welcome") or {})
        if welcome_text is not None:
            w["text"] = welcome_text
        variants = dict(w.get("variants") or {})
        if night is not None:
            variants["night"] = {"text": night}
        if weekend is not None:
            variants["weekend"] = {"text": weekend}
        w["variants"] = variants
        if attach is not None:
            links = []
            for a in attach:
                title, _, url = a.partition("=")
                links.append({"msgtype": "link", "link": {"title": title, "url": url}})
            w["attachments"] = links
        if content is not None:
            w["content_ids"] = [c for c in content if c != 0]
        if join is not None:
            w["join_channel_id"] = join
        data.welcome = w
    return data


def _print(data: Any, as_json: bool) -> bool:
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
    return as_json


@app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False, group: GroupOpt = None) -> None:
    """Channels with their code's state, members and WeCom sync status."""
    with workspace_session(workspace) as (session, ws):
        data = [svc.channel_dict(c) for c in svc.list_channels(session, workspace_id=ws.id, group_name=group)]
    if _print(data, as_json):
        return
    if not data:
        console.print("no channels yet; make one with `siyu channels create --name ... --staff USERID`")
        return
    table = Table()
    for col in ("id", "group", "name", "kind", "state", "members", "cost", "sync"):
        table.add_column(col)
    for d in data:
        cost = f"{d['cost_fen'] / 100:,.2f}" if d["cost_fen"] is not None else ""
        if d["kind"] == "link" and d["link_url"]:
            d["members"] = [*d["members"], d["link_url"]]
        sync = d["sync_status"] + (f" [red]{escape(d['sync_error'] or '')}[/]" if d["sync_error"] else "")
        table.add_row(str(d["id"]), escape(d["group_name"]), escape(d["name"]), d["kind"], escape(d["state"]),
                      escape(",".join(d["members"])), cost, sync)  # fmt: skip
    console.print(table)


@app.command("show")
def show_cmd(channel_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """One channel, with its routing plan now."""
    with workspace_session(workspace) as (session, ws):
        ch = svc.get_channel(session, workspace_id=ws.id, channel_id=channel_id, deleted=True)
        data = svc.channel_dict(ch)
        if ch.kind == "link" and ch.deleted_at is None:
            from siyu.acquisition.sync import workspace_quota

            data["acquisition_quota"] = workspace_quota(session, ws.id)
        if ch.kind in svc.POOL_KINDS and ch.deleted_at is None:
            p = routing.plan(session, ch)
            data["routing"] = {"members": p.userids, "used_backup": p.used_backup,
                               "accounts": [a.as_dict() for a in p.accounts]}  # fmt: skip
    if not _print(data, as_json):
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))


@app.command("create")
def create_cmd(
    name: NameOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    kind: Annotated[
        str,
        Opt(
            "--kind",
            help="contact_way (live code), join_way (group code), link (获客助手 link, paid quota) "
            "or store (landing that routes to the nearest store).",
        ),
    ] = "contact_way",
    group: GroupOpt = None,
    state: StateOpt = None,
    cost: CostOpt = None,
    staff: StaffOpt = None,
    strategy: StrategyOpt = None,
    threshold: ThresholdOpt = None,
    weight: WeightOpt = None,
    cap: CapOpt = None,
    schedule: ScheduleOpt = None,
    backup: BackupOpt = None,
    tag: TagOpt = None,
    welcome_text: WelcomeOpt = None,
    night: NightOpt = None,
    weekend: WeekendOpt = None,
    attach: AttachOpt = None,
    content: ContentOpt = None,
    join: JoinOpt = None,
    skip_verify: VerifyOpt = None,
    landing: LandingOpt = None,
    chat: ChatOpt = None,
    store: StoreOpt = None,
    campaign: CampaignOpt = None,
    campaign_welcome: CampaignWelcomeOpt = None,
    campaign_from: CampaignFromOpt = None,
    campaign_until: CampaignUntilOpt = None,
) -> None:
    """Make a channel; its WeCom code is created by the worker (add_contact_way / add_join_way)."""
    if not name:
        fail("--name is required (name)")
    with workspace_session(workspace) as (session, ws):
        data = _input(session, ws.id, name=name, group=group, state=state, cost=cost, staff=staff,
                      strategy=strategy, threshold=threshold, weight=weight, cap=cap, schedule=schedule,
                      backup=backup, tag=tag, welcome_text=welcome_text, night=night, weekend=weekend,
                      attach=attach, join=join, skip_verify=skip_verify, landing=landing,
                      chat=chat, store=store, campaign=campaign, campaign_welcome=campaign_welcome,
                      campaign_from=campaign_from, campaign_until=campaign_until,
                      content=content)  # fmt: skip
        data.kind = kind
        if data.pool is None and kind in svc.POOL_KINDS:
            data.pool = {}
        out = svc.channel_dict(svc.create_channel(session, workspace_id=ws.id, data=data, actor=ACTOR))
    if not _print(out, as_json):
        console.print(f"channel {out['id']} made (state {out['state']}); its WeCom code is being created")


@app.command("edit")
def edit_cmd(
    channel_id: int,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    name: NameOpt = None,
    group: GroupOpt = None,
    state: StateOpt = None,
    cost: CostOpt = None,
    staff: StaffOpt = None,
    strategy: StrategyOpt = None,
    threshold: ThresholdOpt = None,
    weight: WeightOpt = None,
    cap: CapOpt = None,
    schedule: ScheduleOpt = None,
    backup: BackupOpt = None,
    tag: TagOpt = None,
    welcome_text: WelcomeOpt = None,
    night: NightOpt = None,
    weekend: WeekendOpt = None,
    attach: AttachOpt = None,
    content: ContentOpt = None,
    join: JoinOpt = None,
    skip_verify: VerifyOpt = None,
    landing: LandingOpt = None,
    chat: ChatOpt = None,
    store: StoreOpt = None,
    campaign: CampaignOpt = None,
    campaign_welcome: CampaignWelcomeOpt = None,
    campaign_from: CampaignFromOpt = None,
    campaign_until: CampaignUntilOpt = None,
) -> None:
    """Change a channel; its WeCom code follows (update_contact_way)."""
    with workspace_session(workspace) as (session, ws):
        current = svc.channel_dict(svc.get_channel(session, workspace_id=ws.id, channel_id=channel_id))
        data = _input(session, ws.id, name=name, group=group, state=state, cost=cost, staff=staff,
                      strategy=strategy, threshold=threshold, weight=weight, cap=cap, schedule=schedule,
                      backup=backup, tag=tag, welcome_text=welcome_text, night=night, weekend=weekend,
                      attach=attach, join=join, skip_verify=skip_verify, landing=landing, chat=chat,
                      current=current, store=store, campaign=campaign, campaign_welcome=campaign_welcome,
                      campaign_from=campaign_from, campaign_until=campaign_until,
                      content=content)  # fmt: skip
        out = svc.channel_dict(
            svc.update_channel(session, workspace_id=ws.id, channel_id=channel_id, data=data, actor=ACTOR)
        )
    if not _print(out, as_json):
        console.print(f"channel {channel_id} saved")


@app.command("delete")
def delete_cmd(channel_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a channel (its code is removed from WeCom: del_contact_way); history stays."""
    with workspace_session(workspace) as (session, ws):
        out = svc.channel_dict(
            svc.delete_channel(session, workspace_id=ws.id, channel_id=channel_id, actor=ACTOR)
        )
    if not _print(out, as_json):
        console.print(f"channel {channel_id} deleted; its WeCom code is being removed")


@app.command("retry")
def retry_cmd(channel_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Queue a channel's WeCom sync again (after fixing what WeCom refused)."""
    with workspace_session(workspace) as (session, ws):
        out = svc.channel_dict(
            svc.retry_sync(session, workspace_id=ws.id, channel_id=channel_id, actor=ACTOR)
        )
    if not _print(out, as_json):
        console.print(f"channel {channel_id}: sync queued again")


@app.command("qr")
def qr_cmd(
    channel_id: int,
    out: Annotated[Path, Opt("--out", help="File to write (.png or .svg).")],
    workspace: WorkspaceOpt = None,
    fmt: Annotated[str | None, Opt("--format", help="png or svg (default: from --out).")] = None,
) -> None:
    """Write the channel's QR code (made locally from the code's URL)."""
    kind = (fmt or out.suffix.lstrip(".") or "png").lower()
    if kind not in ("png", "svg"):
        fail(f"format {kind!r} is not png or svg (format)")
    with workspace_session(workspace) as (session, ws):
        ch = svc.get_channel(session, workspace_id=ws.id, channel_id=channel_id)
        url = ch.qr_url
    if not url:
        fail(
            f"channel {channel_id} has no WeCom code yet (sync status: see `siyu channels show {channel_id}`)"
        )
    out.write_bytes(qr.png(url) if kind == "png" else qr.svg(url))
    console.print(f"wrote {out}")


@app.command("routing")
def routing_cmd(channel_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Who the live code routes to now, and why each pool account is in or out."""
    with workspace_session(workspace) as (session, ws):
        ch = svc.get_channel(session, workspace_id=ws.id, channel_id=channel_id)
        if ch.kind not in svc.POOL_KINDS:
            fail("only a live code (contact_way) or a 获客助手 link routes to staff (channel_id)")
        p = routing.plan(session, ch)
        data = {
            "channel_id": ch.id,
            "strategy": (ch.pool or {}).get("strategy", "wecom"),
            "members_now": p.userids,
            "members_on_code": (ch.settings or {}).get("members", []),
            "used_backup": p.used_backup,
            "accounts": [a.as_dict() for a in p.accounts],
        }
    if _print(data, as_json):
        return
    table = Table(title=f"{data['strategy']}: {', '.join(data['members_now']) or 'nobody available'}")
    for col in ("userid", "name", "status", "friends", "limit", "usage", "today", "cap"):
        table.add_column(col)
    for a in data["accounts"]:
        table.add_row(escape(a["userid"]), escape(a["name"]), a["status"], f"{a['friends']:,}",
                      f"{a['limit']:,}",
                      f"{a['usage']:.0%}", str(a["adds_today"]), str(a["daily_cap"] or ""))  # fmt: skip
    console.print(table)


@app.command("replan")
def replan_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Re-plan every live code now (the periodic task does this every minute)."""
    from siyu.acquisition.tasks import replan_all

    with workspace_session(workspace) as (session, ws):
        queued = replan_all(session, workspace_id=ws.id)
    if not _print({"queued": queued}, as_json):
        console.print(f"{queued} live code(s) get new members")


@app.command("welcomes")
def welcomes_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, Opt("--limit", help="Recent outcomes to list.")] = 20,
) -> None:
    """Welcome outcomes: sent, skipped (with why) and errors, and the most recent ones."""
    with workspace_session(workspace) as (session, ws):
        stats = welcome.welcome_stats(session, workspace_id=ws.id)
        rows = session.scalars(
            select(WelcomeSend)
            .where(WelcomeSend.workspace_id == ws.id)
            .order_by(WelcomeSend.id.desc())
            .limit(limit)
        )
        recent = [
            {
                "id": r.id,
                "channel_id": r.channel_id,
                "userid": r.userid,
                "status": r.status,
                "reason": r.reason,
                "source": r.source,
                "variant": r.variant,
                "via": r.via,
                "latency_ms": r.latency_ms,
                "at": r.created_at.isoformat(),
            }
            for r in rows
        ]
    data = {"counts": stats, "recent": recent}
    if _print(data, as_json):
        return
    for k, v in sorted(stats.items()):
        console.print(f"{k}: {v:,}")
    for r in recent:
        console.print(f"#{r['id']} {r['userid']} {r['status']} {r['reason'] or ''} {r['latency_ms'] or ''}ms")


@app.command("welcome-default")
def welcome_default_cmd(
    text: Annotated[str, Opt("--text", help="Welcome text ({客户昵称}, {员工姓名} filled in).")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    staff: Annotated[
        str | None, Opt("--staff", help="A staff member's default (userid); else the workspace's.")
    ] = None,
    night: NightOpt = None,
    weekend: WeekendOpt = None,
    department: Annotated[
        str | None,
        Opt("--department", help="A department's default (path like 华东/上海), for its staff without one."),
    ] = None,
    content: ContentOpt = None,
) -> None:
    """Set the workspace's default welcome, a department's or one staff member's.

    Order for an add: referral campaign > channel > staff > nearest department > workspace.
    """
    with workspace_session(workspace) as (session, ws):
        staff_id = _staff_ids(session, ws.id, [staff], "staff")[0] if staff else None
        variants = {k: {"text": v} for k, v in (("night", night), ("weekend", weekend)) if v}
        row = welcome.set_default(session, workspace_id=ws.id, staff_id=staff_id, department=department,
                                  welcome={"text": text, "variants": variants,
                                           "content_ids": [c for c in content or [] if c != 0]})  # fmt: skip
        out = {"staff_id": row.staff_id, "department": row.department, "welcome": row.welcome}
    if not _print(out, as_json):
        console.print("default welcome saved")


@app.command("welcome-defaults")
def welcome_defaults_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Every default welcome (workspace, departments, staff)."""
    with workspace_session(workspace) as (session, ws):
        rows = welcome.list_defaults(session, workspace_id=ws.id)
    if _print(rows, as_json):
        return
    for r in rows:
        who = r["department"] or (f"staff {r['staff_id']}" if r["staff_id"] else "workspace")
        console.print(f"{r['level']}: {escape(who)}: {escape(r['welcome'].get('text') or '')}")


@app.command("quota")
def quota_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """The corp's 获客助手 quota (paid; each new customer added through a link uses one)."""
    from siyu.acquisition.sync import workspace_quota

    with workspace_session(workspace) as (session, ws):
        data = workspace_quota(session, ws.id)
    if _print(data, as_json):
        return
    alert = data.get("alert")
    if alert:
        console.print(f"[bold red]ALERT[/]: {escape(alert['message_en'])} (WeCom, {alert['at']})")
        if alert["level"] == "exhausted" and alert["link_channels"]:
            names = ", ".join(alert["link_channels"])
            console.print(f"link channels getting no new customers: {escape(names)}")
    if data.get("error"):
        fail(str(data["error"]), code=1)
    console.print(f"获客助手使用量: {data['balance']:,} left of {data['total']:,}")


from siyu.acquisition.cli_stores import app as stores_app  # noqa: E402 (sub-commands)

app.add_typer(stores_app, name="stores")
