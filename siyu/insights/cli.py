"""``siyu insights``: the four metrics, the P&L, execution scores and cohorts (``--json`` for machines)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session

app = typer.Typer(help="Metrics, P&L, execution scores and cohorts.", no_args_is_help=True)

GrainOpt = Annotated[str, typer.Option("--grain", help="day, week or month.")]
OnOpt = Annotated[
    str | None, typer.Option("--on", help="A day (YYYY-MM-DD or YYYY-MM) inside the period; default today.")
]


def _on(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value + "-01" if len(value) == 7 else value)
    except ValueError:
        fail(f"--on must be a date YYYY-MM-DD or a month YYYY-MM, got {value!r}")


def _pct(v: Any) -> str:
    return "—" if v is None else f"{v:.0%}"


def _dump(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


def _staff_id(session: Any, ws_id: int, userid: str | None) -> int | None:
    if userid is None:
        return None
    from siyu.staff.service import find_staff

    staff = find_staff(session, workspace_id=ws_id, userid=userid)
    if staff is None:
        fail(f"--staff: no staff account with userid {userid!r}")
    return staff.id


@app.command("refresh")
def refresh_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Drop the aggregates and recompute them.")
    ] = False,
) -> None:
    """Bring the metric aggregates up to date with new messages and moments events."""
    from siyu.insights import aggregates

    with workspace_session(workspace) as (session, ws):
        got = aggregates.rebuild(session, ws.id) if rebuild else aggregates.refresh_all(session, ws.id)
    if as_json:
        _dump(got)
    else:
        console.print(
            f"read {got['messages']:,} messages and {got['events']:,} moments events; "
            f"{got['staff_days']:,} staff-days updated"
        )


@app.command("metrics")
def metrics_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    grain: GrainOpt = "month",
    on: OnOpt = None,
    staff: Annotated[str | None, typer.Option("--staff", help="One staff account (userid).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="One team (department).")] = None,
    trend: Annotated[int, typer.Option("--trend", help="Periods in the trend (1-24).")] = 6,
) -> None:
    """Pass rate, reply rate, interaction rate and conversion, beside WeCom's own figures."""
    from siyu.insights.metrics import report

    with workspace_session(workspace) as (session, ws):
        data = report(
            session,
            workspace_id=ws.id,
            grain=grain,
            on=_on(on),
            staff_id=_staff_id(session, ws.id, staff),
            team=team,
            trend=trend,
        )
    if as_json:
        _dump(data)
        return
    console.print(f"{data['grain']} {data['start']} – {data['end']} ({data['timezone']})")
    table = Table()
    for col in ("account", "team", "pass", "WeCom pass", "reply ≤10m", "WeCom reply", "unanswered",
                "interaction", "month cover", "conversion"):  # fmt: skip
        table.add_column(col)
    for r in [*data["accounts"], {"userid": "TOTAL", "team": "", **data["total"]}]:
        table.add_row(
            escape(str(r["userid"])),
            escape(str(r["team"])),
            _pct(r["pass"]["rate"]),
            _pct(r["pass"]["wecom_rate"]),
            _pct(r["reply"]["rate"]) + ("" if r["reply"]["covered"] else " (WeCom)"),
            _pct(r["reply"]["wecom_reply_percentage"]),
            str(r["reply"]["unanswered"]),
            _pct(r["interaction"]["rate"]),
            _pct(r["interaction"]["month_coverage"]),
            _pct(r["conversion"]["rate"]),
        )
    console.print(table)
    if data["not_covered"]:
        console.print(f"not in the archive (WeCom's figures used): {', '.join(data['not_covered'])}")


costs_app = typer.Typer(help="Costs behind the P&L: the SKU price list, platform fees, account costs.")
app.add_typer(costs_app, name="costs")


@costs_app.command("import")
def costs_import_cmd(
    path: Annotated[Path, typer.Argument(help="CSV with sku, cost (yuan per unit), valid_from, valid_to.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Drop the listed SKUs' stored ranges first.")
    ] = False,
) -> None:
    """Import a price list; any wrong row (named by line and field) refuses the whole file."""
    from siyu.insights.profit import import_price_list_file

    with workspace_session(workspace) as (session, ws):
        result = import_price_list_file(session, workspace_id=ws.id, path=path, replace=replace)
    data = {
        "rows": result.rows,
        "written": result.written,
        "errors": [vars(e) for e in result.errors],
    }
    if as_json:
        _dump(data)
    if result.errors:
        if not as_json:
            for e in result.errors:
                console.print(f"line {e.line}, {e.field} {e.value!r}: {escape(e.message)}", highlight=False)
        fail(f"{len(result.errors)} wrong row(s) in {path.name}: nothing imported")
    if not as_json:
        console.print(f"imported {result.written:,} SKU cost rows")


def _set_setting(workspace: str | None, key: str, name: str, value: float) -> None:
    from sqlalchemy.orm.attributes import flag_modified

    from siyu.insights.knobs import knobs_from_settings

    with workspace_session(workspace) as (_session, ws):
        settings = dict(ws.settings or {})
        section = dict(settings.get("insights") or {})
        table = dict(section.get(key) or {})
        table[name] = value
        section[key] = table
        settings["insights"] = section
        knobs_from_settings(settings, ws.timezone)  # refuse a bad value before writing
        ws.settings = settings
        flag_modified(ws, "settings")


@costs_app.command("fee")
def costs_fee_cmd(
    platform: Annotated[str, typer.Argument(help="Platform as on orders: taobao, douyin, jd, youzan ...")],
    rate: Annotated[float, typer.Argument(help="Fee rate on net revenue, 0 to 1 (0.05 = 5 %).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Set a platform's fee rate (commission and payment fees) for gross profit."""
    _set_setting(workspace, "platform_fee_rates", platform, rate)
    console.print(f"platform fee of {platform}: {rate:.2%}")


@costs_app.command("account")
def costs_account_cmd(
    userid: Annotated[str, typer.Argument(help="Staff account (WeCom userid).")],
    yuan: Annotated[float, typer.Argument(help="The account's monthly cost in yuan (salary, phone, tools).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Set a staff account's monthly cost (subtracted in the P&L)."""
    with workspace_session(workspace) as (session, ws):
        _staff_id(session, ws.id, userid)
    _set_setting(workspace, "account_cost_yuan", userid, yuan)
    console.print(f"monthly cost of {userid}: ¥{yuan:,.2f}")


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else f"¥{fen / 100:,.2f}"


@app.command("pnl")
def pnl_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    on: OnOpt = None,
    staff: Annotated[str | None, typer.Option("--staff", help="One staff account (userid).")] = None,
) -> None:
    """The month's P&L: net revenue, gross profit, account costs and profit per friend."""
    from siyu.insights.profit import pnl

    with workspace_session(workspace) as (session, ws):
        data = pnl(session, workspace_id=ws.id, on=_on(on), staff_id=_staff_id(session, ws.id, staff))
    if as_json:
        _dump(data)
        return
    t = data["total"]
    console.print(
        f"{data['month']}: GMV {_yuan(t['gmv_fen'])}, net {_yuan(t['net_fen'])}, "
        f"gross profit {_yuan(t['gross_profit_fen'])} (margin {_pct(t['margin'])})"
    )
    if data["partial"]:
        console.print(
            f"[yellow]{data['month']} is not over: figures up to {data['as_of']}, account costs for "
            f"{data['days_elapsed']} of {data['days_in_month']} days.[/yellow]"
        )
    table = Table()
    for col in ("account", "orders", "net", "gross profit", "margin", "cost", "per friend", "flag"):
        table.add_column(col)
    for a in data["accounts"]:
        table.add_row(
            escape(a["userid"]),
            str(a["orders"]),
            _yuan(a["net_fen"]),
            _yuan(a["gross_profit_fen"]),
            _pct(a["margin"]),
            _yuan(a["account_cost_fen"]),
            _yuan(a["profit_per_friend_fen"]),
            "GMV↑ margin↓" if a["gmv_up_margin_down"] else "",
        )
    console.print(table)


@app.command("score")
def score_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    on: OnOpt = None,
    staff: Annotated[str | None, typer.Option("--staff", help="One staff account (userid).")] = None,
) -> None:
    """Execution leaderboard: pass, reply in time, monthly coverage, tasks — weighted by profit."""
    from siyu.insights.score import leaderboard

    with workspace_session(workspace) as (session, ws):
        data = leaderboard(session, workspace_id=ws.id, on=_on(on), staff_id=_staff_id(session, ws.id, staff))
    if as_json:
        _dump(data)
        return
    table = Table(title=f"execution {data['month']}")
    for col in ("#", "account", "score", "× profit", "weighted", "weakest"):
        table.add_column(col)
    for r in data["accounts"]:
        table.add_row(
            str(r["rank"]),
            escape(r["userid"]),
            "—" if r["score"] is None else f"{r['score']:.1f}",
            f"{r['profit_factor']:.2f}",
            "—" if r["weighted_score"] is None else f"{r['weighted_score']:.1f}",
            r["weakest"] or "",
        )
    console.print(table)


@app.command("cohorts")
def cohorts_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    weeks: Annotated[int, typer.Option("--weeks", help="Cohort weeks (1-52), this week included.")] = 12,
    months: Annotated[int, typer.Option("--months", help="First-order months for the lift (1-60).")] = 12,
    staff: Annotated[str | None, typer.Option("--staff", help="One staff account (userid).")] = None,
) -> None:
    """Friends by week of add (retention, bought, profit by week since add) and the repurchase lift."""
    from siyu.insights.cohorts import friend_cohorts, repurchase_lift

    with workspace_session(workspace) as (session, ws):
        sid = _staff_id(session, ws.id, staff)
        data: dict[str, Any] = {
            "cohorts": friend_cohorts(session, workspace_id=ws.id, weeks=weeks, staff_id=sid),
            "lift": repurchase_lift(session, workspace_id=ws.id, months=months) if sid is None else None,
        }
    if as_json:
        _dump(data)
        return
    table = Table(title="friends by week of add: retention / bought (cumulative)")
    table.add_column("week")
    table.add_column("size")
    for k in range(min(weeks, 8)):
        table.add_column(f"w{k}")
    for c in data["cohorts"]["cohorts"]:
        cells = [f"{_pct(r)}/{_pct(b)}" for r, b in zip(c["retention"][:8], c["bought"][:8], strict=True)]
        table.add_row(str(c["week"]), str(c["size"]), *cells)
    console.print(table)
    lift = data["lift"]
    if lift and lift["lift_points"] is not None:
        console.print(
            f"repurchase: friends {_pct(lift['friend_rate'])} vs matched non-friends "
            f"{_pct(lift['matched_other_rate'])} → lift {lift['lift_points']:+.1f} points"
        )


@costs_app.command("send")
def costs_send_cmd(
    yuan: Annotated[float, typer.Argument(help="Fixed cost of one send run in yuan (0 = none).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Set the fixed cost of each send (staff time, material), subtracted in the send P&L."""
    from sqlalchemy.orm.attributes import flag_modified

    from siyu.insights.knobs import knobs_from_settings

    with workspace_session(workspace) as (_session, ws):
        settings = dict(ws.settings or {})
        section = dict(settings.get("insights") or {})
        section["send_cost_yuan"] = yuan
        settings["insights"] = section
        knobs_from_settings(settings, ws.timezone)  # refuse a bad value before writing
        ws.settings = settings
        flag_modified(ws, "settings")
    console.print(f"fixed cost per send: ¥{yuan:,.2f}")


@app.command("sends")
def sends_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    days: Annotated[int, typer.Option("--days", help="Sends planned in the last N days (1-366).")] = 90,
    send: Annotated[int | None, typer.Option("--send", help="One send (id).")] = None,
    staff: Annotated[
        str | None, typer.Option("--staff", help="One staff account's recipients (userid).")
    ] = None,
) -> None:
    """P&L per send and campaign after 1, 7 and 30 days, with the holdout-adjusted profit."""
    from siyu.insights.send_profit import send_pnl

    with workspace_session(workspace) as (session, ws):
        data = send_pnl(
            session, workspace_id=ws.id, send_id=send, days=days, staff_id=_staff_id(session, ws.id, staff)
        )
    if as_json:
        _dump(data)
        return
    table = Table(title="sends: 30 days after (incremental = beyond the holdout)")
    for col in (
        "send",
        "title",
        "targeted",
        "buyers",
        "net",
        "gross profit",
        "cost",
        "profit",
        "incremental",
    ):
        table.add_column(col)
    for line in data["sends"]:
        w = line["windows"][-1]
        table.add_row(
            str(line["send_id"]),
            escape(line["title"]),
            str(w["targeted"]),
            f"{w['buyers']} ({_pct(w['conversion'])})",
            _yuan(w["net_fen"]),
            _yuan(w["gross_profit_fen"]),
            _yuan(w["cost_fen"]),
            _yuan(w["profit_fen"]),
            _yuan(w["incremental_profit_fen"]),
        )
    console.print(table)
    for c in data["campaigns"]:
        w = c["windows"][-1]
        console.print(
            f"campaign {c['campaign_id']} {escape(c['title'])}: {c['runs']} runs, "
            f"profit {_yuan(w['profit_fen'])}, "
            f"incremental {_yuan(w['incremental_profit_fen'])}",
            highlight=False,
        )


rewards_app = typer.Typer(
    help="Rewards paid to customers (red packets, coupons, gifts), taken off gross profit."
)
app.add_typer(rewards_app, name="rewards")


@rewards_app.command("import")
def rewards_import_cmd(
    path: Annotated[
        Path, typer.Argument(help="CSV: customer_id or external_userid, amount, kind, paid_at, ...")
    ],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import rewards; any wrong row (named by line and column) refuses the whole file."""
    from siyu.insights.rewards import import_rewards_file

    with workspace_session(workspace) as (session, ws):
        result = import_rewards_file(session, workspace_id=ws.id, path=path)
    if as_json:
        _dump(result.as_dict())
    if result.errors:
        if not as_json:
            for e in result.errors:
                console.print(f"line {e.line}, {e.field} {e.value!r}: {escape(e.message)}", highlight=False)
        fail(f"{len(result.errors)} wrong row(s) in {path.name}: nothing imported")
    if not as_json:
        console.print(f"recorded {result.written:,} rewards ({result.duplicates:,} already recorded)")


@rewards_app.command("add")
def rewards_add_cmd(
    amount: Annotated[str, typer.Argument(help="Amount in yuan.")],
    kind: Annotated[str, typer.Argument(help="red_packet, coupon or gift.")],
    customer: Annotated[int | None, typer.Option("--customer", help="Customer id.")] = None,
    external_userid: Annotated[str | None, typer.Option("--external-userid", help="Or the WeCom id.")] = None,
    paid_at: Annotated[str | None, typer.Option("--paid-at", help="YYYY-MM-DD HH:MM (default now).")] = None,
    send: Annotated[int | None, typer.Option("--send", help="The send it belongs to.")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="The channel's state.")] = None,
    staff: Annotated[str | None, typer.Option("--staff", help="Staff userid who paid it.")] = None,
    referred: Annotated[
        int | None, typer.Option("--referred", help="Customer id referred (referral).")
    ] = None,
    ref: Annotated[str | None, typer.Option("--ref", help="Payment reference (unique).")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record one reward."""
    from siyu.insights.rewards import record_reward, reward_dict
    from siyu.kit.timeutil import utcnow

    fields = {
        "customer_id": customer, "external_userid": external_userid, "amount": amount, "kind": kind,
        "paid_at": paid_at or utcnow().isoformat(), "send_id": send, "channel": channel, "staff": staff,
        "referred_customer_id": referred, "ref": ref, "note": note,
    }  # fmt: skip
    with workspace_session(workspace) as (session, ws):
        data = reward_dict(
            record_reward(session, workspace_id=ws.id, fields=fields, actor="cli", source="cli")
        )
    if as_json:
        _dump(data)
    else:
        console.print(
            f"reward {data['id']}: {_yuan(data['amount_fen'])} {data['kind']} "
            f"to customer {data['customer_id']}"
        )


@rewards_app.command("list")
def rewards_list_cmd(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    on: OnOpt = None,
) -> None:
    """Rewards paid in a month."""
    from datetime import timedelta

    from siyu.insights.metrics import resolve_period
    from siyu.insights.rewards import list_rewards, reward_dict
    from siyu.kit.timeutil import day_start_utc

    with workspace_session(workspace) as (session, ws):
        start, end, tz = resolve_period(session, ws.id, "month", _on(on))
        items = [
            reward_dict(r)
            for r in list_rewards(
                session,
                workspace_id=ws.id,
                since=day_start_utc(start, tz),
                until=day_start_utc(end + timedelta(days=1), tz),
            )
        ]
    data = {
        "month": start.strftime("%Y-%m"),
        "total_fen": sum(i["amount_fen"] for i in items),
        "rewards": items,
    }
    if as_json:
        _dump(data)
        return
    table = Table(title=f"rewards {data['month']}: {_yuan(data['total_fen'])}")
    for col in ("id", "paid", "customer", "kind", "amount", "send", "ref"):
        table.add_column(col)
    for i in items:
        table.add_row(
            str(i["id"]), str(i["paid_at"])[:16], str(i["customer_id"]), i["kind"], _yuan(i["amount_fen"]),
            str(i["send_id"] or ""), escape(i["ref"] or ""),
        )  # fmt: skip
    console.print(table)
