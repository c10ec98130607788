"""The four metrics of the practice per staff account, team and workspace (docs/metrics.md).

通过率 pass rate, 回复率 reply rate and reply time, 互动率 interaction rate (and monthly
coverage), 转化率 conversion — by day, week or month, each beside WeCom's own figure from
``staff_daily_stats`` (``get_user_behavior_data``). Reply and interaction figures read the
maintained aggregates (``staff_metric_days``, ``interaction_days``); pass rate and
conversion read follows, group members and orders in the period through their indexes.
A team is a staff account's department.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Interval, and_, exists, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session, aliased

from siyu.insights import monthly
from siyu.insights.aggregates import BUCKETS, hist_quantile, knobs_for
from siyu.insights.knobs import InsightKnobs
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import (
    Channel,
    Event,
    Follow,
    Group,
    GroupMember,
    InteractionDay,
    Order,
    Staff,
    StaffDailyStats,
    StaffMetricDay,
    Workspace,
)

Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
MAX_PERIODS = 24
NO_TEAM = "未分组"
_NOT_EFFECTIVE = ("pending", "closed")


def period_of(grain: str, on: date) -> tuple[date, date]:
    """[start, end] business days of the day / ISO week / calendar month holding ``on``."""
    if grain == "day":
        return on, on
    if grain == "week":
        start = on - timedelta(days=on.isoweekday() - 1)
        return start, start + timedelta(days=6)
    if grain == "month":
        start = on.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return start, nxt - timedelta(days=1)
    raise Invalid(f"grain must be one of {', '.join(GRAINS)}, got {grain!r}", field="grain")


def previous_period(grain: str, start: date) -> tuple[date, date]:
    return period_of(grain, start - timedelta(days=1))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def _minutes(seconds: float | int | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


@dataclass
class _Acc:
    """Raw counts of one staff account (or a sum of several)."""

    entrants: int = 0
    entrants_passed: int = 0
    adds: int = 0
    adds_instant: int = 0
    accept_s: list[int] = field(default_factory=list)
    accept_ok: int = 0
    conversations: int = 0
    exempt: int = 0
    replied: int = 0
    replied_10m: int = 0
    unanswered: int = 0
    reply_s_sum: int = 0
    hist: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    messages: int = 0
    friends_end: int = 0
    touched: int = 0
    month_friends: int = 0
    month_touched: int = 0
    new_friends: int = 0
    converted: int = 0
    w_apply: int = 0
    w_contact: int = 0
    w_chat: int = 0
    w_msgs: int = 0
    w_reply_weighted: float = 0.0
    w_reply_weight: int = 0
    w_time_weighted: float = 0.0
    w_time_weight: int = 0
    w_days: int = 0

    def add(self, o: _Acc) -> None:
        for name, value in vars(o).items():
            mine = getattr(self, name)
            if name == "hist":
                self.hist = [a + b for a, b in zip(mine, value, strict=True)]
            elif isinstance(mine, list):
                mine.extend(value)
            else:
                setattr(self, name, mine + value)


def _figures(a: _Acc, knobs: InsightKnobs, covered: bool) -> dict[str, Any]:
    accept = sorted(a.accept_s)
    p90 = accept[min(len(accept) - 1, int(0.9 * len(accept)))] if accept else None
    counted = a.conversations
    wecom_reply = round(a.w_reply_weighted / a.w_reply_weight / 100, 4) if a.w_reply_weight else None
    wecom_time = round(a.w_time_weighted / a.w_time_weight, 1) if a.w_time_weight else None
    return {
        "pass": {
            "entrants": a.entrants,
            "entrants_passed": a.entrants_passed,
            "rate": _share(a.entrants_passed, a.entrants),
            "adds": a.adds,
            "adds_instant": a.adds_instant,
            "instant_share": _share(a.adds_instant, a.adds),
            "accept_known": len(accept),
            "accept_p50_min": _minutes(statistics.median(accept)) if accept else None,
            "accept_p90_min": _minutes(p90),
            "accept_within_target_share": _share(a.accept_ok, len(accept)),
            "wecom_new_apply": a.w_apply if a.w_days else None,
            "wecom_new_contact": a.w_contact if a.w_days else None,
            "wecom_rate": _share(a.w_contact, a.w_apply) if a.w_days else None,
        },
        "reply": {
            "covered": covered,
            "source": "archive" if covered else ("wecom" if a.w_days else "none"),
            "conversations": counted,
            "exempt": a.exempt,
            "replied": a.replied,
            "replied_in_target": a.replied_10m,
            "rate": _share(a.replied_10m, counted) if covered else wecom_reply,
            "unanswered": a.unanswered,
            "unanswered_share": _share(a.unanswered, counted),
            "p50_min": _minutes(hist_quantile(a.hist, 0.5)),
            "p90_min": _minutes(hist_quantile(a.hist, 0.9)),
            "avg_min": _minutes(a.reply_s_sum / a.replied) if a.replied else None,
            "wecom_reply_percentage": wecom_reply,
            "wecom_avg_reply_min": wecom_time,
        },
        "interaction": {
            "covered": covered,
            "friends_end": a.friends_end,
            "touched": a.touched,
            "rate": _share(a.touched, a.friends_end),
            "month_friends": a.month_friends,
            "month_touched": a.month_touched,
            "month_coverage": _share(a.month_touched, a.month_friends),
            "wecom_chat_cnt": a.w_chat if a.w_days else None,
            "wecom_message_cnt": a.w_msgs if a.w_days else None,
        },
        "conversion": {
            "new_friends": a.new_friends,
            "bought": a.converted,
            "window_days": knobs.conversion_days,
            "rate": _share(a.converted, a.new_friends),
        },
    }


class _Ctx:
    def __init__(
        self, session: Session, workspace_id: int, staff_ids: list[int], start: date, end: date
    ) -> None:
        self.s = session
        self.ws = workspace_id
        self.staff_ids = staff_ids
        self.start, self.end = start, end
        self.knobs = knobs_for(session, workspace_id)
        self.tz = self.knobs.hours.tz
        self.since = day_start_utc(start, self.tz)
        self.until = day_start_utc(end + timedelta(days=1), self.tz)
        self.acc: dict[int, _Acc] = {s: _Acc() for s in staff_ids}

    def in_staff(self, col: Any) -> Any:
        return col.in_(self.staff_ids)


def _pass(c: _Ctx) -> None:
    # (a) group entrants who became friends of the group owner by the period end.
    passed = exists().where(
        Follow.workspace_id == c.ws,
        Follow.staff_id == Group.owner_staff_id,
        Follow.customer_id == GroupMember.customer_id,
        Follow.added_at.is_not(None),
        Follow.added_at < c.until,
    )
    rows = c.s.execute(
        select(Group.owner_staff_id, func.count(), func.count().filter(passed))
        .select_from(GroupMember)
        .join(Group, Group.id == GroupMember.group_id)
        .where(
            GroupMember.workspace_id == c.ws,
            GroupMember.member_type == 2,
            GroupMember.join_time >= c.since,
            GroupMember.join_time < c.until,
            c.in_staff(Group.owner_staff_id),
        )
        .group_by(Group.owner_staff_id)
    )
    for staff_id, n, ok in rows:
        c.acc[int(staff_id or 0)].entrants += int(n)
        c.acc[int(staff_id or 0)].entrants_passed += int(ok or 0)
    # (b) adds: through a code that skips verification = accepted at once; otherwise the
    # accept time is known only where staff recorded the request (a friend.request event).
    # Counted in SQL; only adds with a recorded request are read one by one.
    instant_states = list(
        c.s.scalars(select(Channel.state).where(Channel.workspace_id == c.ws, Channel.skip_verify.is_(True)))
    )
    in_window = (
        Follow.workspace_id == c.ws,
        Follow.added_at >= c.since,
        Follow.added_at < c.until,
        c.in_staff(Follow.staff_id),
    )
    instant = Follow.live_code_state.in_(instant_states) if instant_states else literal(False)
    counts = (
        select(Follow.staff_id, func.count(), func.count().filter(instant))
        .where(*in_window)
        .group_by(Follow.staff_id)
        if instant_states
        else select(Follow.staff_id, func.count(), literal(0)).where(*in_window).group_by(Follow.staff_id)
    )
    any_adds = False
    for staff_id, n, n_instant in c.s.execute(counts):
        a = c.acc[staff_id]
        a.adds += int(n)
        a.new_friends += int(n)
        a.adds_instant += int(n_instant or 0)
        a.accept_s.extend([0] * int(n_instant or 0))
        a.accept_ok += int(n_instant or 0)
        any_adds = any_adds or n > 0
    if not any_adds:
        return
    requests: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    for staff_id, customer_id, at in c.s.execute(
        select(Event.staff_id, Event.customer_id, Event.occurred_at).where(
            Event.workspace_id == c.ws,
            Event.kind == "friend.request",
            Event.occurred_at >= c.since - timedelta(days=30),
            Event.occurred_at < c.until,
            c.in_staff(Event.staff_id),
        )
    ):
        requests[(int(staff_id or 0), int(customer_id or 0))].append(at)
    target = c.knobs.accept_minutes * 60
    keys = sorted(requests)
    for i in range(0, len(keys), 500):
        for staff_id, customer_id, added_at, is_instant in c.s.execute(
            select(Follow.staff_id, Follow.customer_id, Follow.added_at, instant).where(
                *in_window, tuple_(Follow.staff_id, Follow.customer_id).in_(keys[i : i + 500])
            )
        ):
            if added_at is None or is_instant:
                continue
            asked = [t for t in requests[(staff_id, customer_id)] if t <= added_at]
            if asked:
                work = c.knobs.hours.seconds_between(max(asked), added_at)
                a = c.acc[staff_id]
                a.accept_s.append(work)
                a.accept_ok += 1 if work <= target else 0


def _reply(c: _Ctx) -> None:
    # Summed in SQL per account, the histogram bucket by bucket (a missing bucket is 0).
    hist = [
        func.sum(func.coalesce(StaffMetricDay.reply_hist[i].as_integer(), 0)) for i in range(len(BUCKETS) + 1)
    ]
    for staff_id, conv, exempt, replied, r10, unanswered, ssum, *buckets in c.s.execute(
        select(
            StaffMetricDay.staff_id,
            func.sum(StaffMetricDay.conversations),
            func.sum(StaffMetricDay.exempt),
            func.sum(StaffMetricDay.replied),
            func.sum(StaffMetricDay.replied_10m),
            func.sum(StaffMetricDay.unanswered),
            func.sum(StaffMetricDay.reply_work_s_sum),
            *hist,
        )
        .where(
            StaffMetricDay.workspace_id == c.ws,
            StaffMetricDay.day >= c.start,
            StaffMetricDay.day <= c.end,
            c.in_staff(StaffMetricDay.staff_id),
        )
        .group_by(StaffMetricDay.staff_id)
    ):
        a = c.acc[staff_id]
        a.conversations += int(conv or 0)
        a.exempt += int(exempt or 0)
        a.replied += int(replied or 0)
        a.replied_10m += int(r10 or 0)
        a.unanswered += int(unanswered or 0)
        a.reply_s_sum += int(ssum or 0)
        a.hist = [x + int(y or 0) for x, y in zip(a.hist, buckets, strict=True)]


def _touched(c: _Ctx, start: date, end: date, until: datetime) -> tuple[dict[int, int], dict[int, int]]:
    """(friends at ``until`` touched in [start, end], messages) per staff, from ``interaction_days``.

    For a period that is not a whole month (a whole month reads ``monthly``'s aggregates).
    """
    t = (
        select(
            InteractionDay.staff_id.label("staff_id"),
            InteractionDay.customer_id.label("customer_id"),
            func.sum(InteractionDay.msgs_in + InteractionDay.msgs_out).label("msgs"),
            func.sum(InteractionDay.msgs_in).label("n_in"),
            func.sum(InteractionDay.msgs_out).label("n_out"),
            func.sum(InteractionDay.moments).label("n_mom"),
        )
        .where(
            InteractionDay.workspace_id == c.ws,
            InteractionDay.day >= start,
            InteractionDay.day <= end,
            c.in_staff(InteractionDay.staff_id),
        )
        .group_by(InteractionDay.staff_id, InteractionDay.customer_id)
        .subquery()
    )
    two_way = or_(and_(t.c.n_in > 0, t.c.n_out > 0), t.c.n_mom > 0)
    f = aliased(Follow)
    friend_now = exists().where(
        f.workspace_id == c.ws,
        f.staff_id == t.c.staff_id,
        f.customer_id == t.c.customer_id,
        f.added_at.is_not(None),
        f.added_at < until,
        or_(f.deleted_at.is_(None), f.deleted_at >= until),
    )
    touched: dict[int, int] = {}
    msgs: dict[int, int] = {}
    for staff_id, n, m in c.s.execute(
        select(t.c.staff_id, func.count().filter(and_(two_way, friend_now)), func.sum(t.c.msgs)).group_by(
            t.c.staff_id
        )
    ):
        touched[staff_id] = int(n or 0)
        msgs[staff_id] = int(m or 0)
    return touched, msgs


def _interaction(c: _Ctx) -> None:
    m_start, m_end = period_of("month", c.end)
    if (m_start, m_end) == (c.start, c.end):
        friends, touched, msgs = monthly.month_figures(c.s, c.ws, c.staff_ids, c.start, c.tz)
        for s, a in c.acc.items():
            a.friends_end = a.month_friends = friends.get(s, 0)
            a.touched = a.month_touched = touched.get(s, 0)
            a.messages = msgs.get(s, 0)
        return
    friends = monthly.friends_at(c.s, c.ws, c.staff_ids, c.end + timedelta(days=1), c.tz)
    touched, msgs = _touched(c, c.start, c.end, c.until)
    for s, a in c.acc.items():
        a.friends_end = friends.get(s, 0)
        a.touched = touched.get(s, 0)
        a.messages = msgs.get(s, 0)
    # Month to date (the calendar month holding the period end, up to the period end).
    mt, _ = _touched(c, m_start, c.end, c.until)
    for s, a in c.acc.items():
        a.month_friends = a.friends_end
        a.month_touched = mt.get(s, 0)


def _conversion(c: _Ctx) -> None:
    days = c.knobs.conversion_days
    # No workspace filter inside: the customer implies it, and it steers the planner to
    # the (customer_id, paid_at) index.
    bought = exists().where(
        Order.customer_id == Follow.customer_id,
        Order.paid_at >= Follow.added_at,
        Order.paid_at < Follow.added_at + literal(timedelta(days=days), Interval()),
        Order.status.not_in(_NOT_EFFECTIVE),
        Order.paid_fen > Order.refunded_fen,
    )
    if c.s.get_bind().dialect.name == "sqlite":
        # SQLite stores UTC text: add the window with datetime().
        bought = exists().where(
            Order.customer_id == Follow.customer_id,
            Order.paid_at >= Follow.added_at,
            Order.paid_at < func.strftime("%Y-%m-%d %H:%M:%f", Follow.added_at, f"+{days} days"),
            Order.status.not_in(_NOT_EFFECTIVE),
            Order.paid_fen > Order.refunded_fen,
        )
    for staff_id, n in c.s.execute(
        select(Follow.staff_id, func.count())
        .where(
            Follow.workspace_id == c.ws,
            Follow.added_at >= c.since,
            Follow.added_at < c.until,
            c.in_staff(Follow.staff_id),
            bought,
        )
        .group_by(Follow.staff_id)
    ):
        c.acc[staff_id].converted = int(n)


def _wecom(c: _Ctx) -> None:
    for staff_id, apply_, contact, chat, msgs, pct, avg in c.s.execute(
        select(
            StaffDailyStats.staff_id,
            StaffDailyStats.new_apply_cnt,
            StaffDailyStats.new_contact_cnt,
            StaffDailyStats.chat_cnt,
            StaffDailyStats.message_cnt,
            StaffDailyStats.reply_percentage,
            StaffDailyStats.avg_reply_time,
        ).where(
            StaffDailyStats.workspace_id == c.ws,
            StaffDailyStats.day >= c.start,
            StaffDailyStats.day <= c.end,
            c.in_staff(StaffDailyStats.staff_id),
        )
    ):
        a = c.acc[staff_id]
        a.w_days += 1
        a.w_apply += apply_ or 0
        a.w_contact += contact or 0
        a.w_chat += chat or 0
        a.w_msgs += msgs or 0
        if pct is not None and chat:
            a.w_reply_weighted += float(pct) * chat
            a.w_reply_weight += chat
        if avg is not None and chat:
            a.w_time_weighted += float(avg) * chat
            a.w_time_weight += chat


def _staff_in_scope(
    session: Session, workspace_id: int, staff_id: int | None, team: str | None
) -> list[Staff]:
    stmt = select(Staff).where(Staff.workspace_id == workspace_id)
    if staff_id is not None:
        stmt = stmt.where(Staff.id == staff_id)
    else:
        stmt = stmt.where(Staff.status == "active")
        if team is not None:
            stmt = (
                stmt.where(Staff.department == team)
                if team != NO_TEAM
                else stmt.where(Staff.department.is_(None))
            )
    rows = list(session.scalars(stmt.order_by(Staff.name, Staff.id)))
    if staff_id is not None and not rows:
        raise NotFound(f"staff account {staff_id} not found", field="staff_id")
    return rows


def _collect(session: Session, workspace_id: int, staff: list[Staff], start: date, end: date) -> _Ctx:
    c = _Ctx(session, workspace_id, [s.id for s in staff], start, end)
    if staff:
        _pass(c)
        _reply(c)
        _interaction(c)
        _conversion(c)
        _wecom(c)
    return c


def _sum(accs: Iterable[_Acc]) -> _Acc:
    total = _Acc()
    for a in accs:
        total.add(a)
    return total


def resolve_period(
    session: Session, workspace_id: int, grain: str, on: date | None
) -> tuple[date, date, str]:
    ws = session.get(Workspace, workspace_id)
    tz = ws.timezone if ws is not None else "Asia/Shanghai"
    day = on or local_day(utcnow(), tz)
    start, end = period_of(grain, day)
    return start, end, tz


def report(
    session: Session,
    *,
    workspace_id: int,
    grain: str = "month",
    on: date | None = None,
    staff_id: int | None = None,
    team: str | None = None,
    trend: int = 6,
) -> dict[str, Any]:
    """The four metrics for one period: per staff account, per team and in total, plus a trend.

    ``staff_id`` / ``team`` narrow the accounts (a staff user is given their own id).
    ``trend`` earlier periods (the last one included) of the scope's totals.
    """
    if not 1 <= trend <= MAX_PERIODS:
        raise Invalid(f"trend must be between 1 and {MAX_PERIODS} periods", field="trend")
    start, end, tz = resolve_period(session, workspace_id, grain, on)
    staff = _staff_in_scope(session, workspace_id, staff_id, team)
    c = _collect(session, workspace_id, staff, start, end)
    knobs = c.knobs
    covered = {s for s, a in c.acc.items() if a.messages > 0 or a.conversations > 0}
    rows = []
    teams: dict[str, list[int]] = defaultdict(list)
    for s in staff:
        teams[s.department or NO_TEAM].append(s.id)
        rows.append(
            {"staff_id": s.id, "userid": s.userid, "name": s.name, "team": s.department or NO_TEAM}
            | _figures(c.acc[s.id], knobs, s.id in covered)
        )
    team_rows = []
    for name, ids in sorted(teams.items()):
        acc = _sum(c.acc[i] for i in ids if i in covered)
        wecom_only = _sum(c.acc[i] for i in ids if i not in covered)
        acc = _merge_uncovered(acc, wecom_only)
        team_rows.append(
            {"team": name, "accounts": len(ids), "covered_accounts": len([i for i in ids if i in covered])}
            | _figures(acc, knobs, bool(covered & set(ids)))
        )
    total_acc = _merge_uncovered(
        _sum(a for s, a in c.acc.items() if s in covered),
        _sum(a for s, a in c.acc.items() if s not in covered),
    )
    total = {"accounts": len(staff), "covered_accounts": len(covered)} | _figures(
        total_acc, knobs, bool(covered)
    )
    series = []
    p_start, p_end = start, end
    periods = [(start, end)]
    for _ in range(trend - 1):
        p_start, p_end = previous_period(grain, p_start)
        periods.append((p_start, p_end))
    for p_start, p_end in reversed(periods):
        if (p_start, p_end) == (start, end):
            t_acc, t_cov = total_acc, bool(covered)
        else:
            tc = _collect(session, workspace_id, staff, p_start, p_end)
            cov = {s for s, a in tc.acc.items() if a.messages > 0 or a.conversations > 0}
            t_acc = _merge_uncovered(
                _sum(a for s, a in tc.acc.items() if s in cov),
                _sum(a for s, a in tc.acc.items() if s not in cov),
            )
            t_cov = bool(cov)
        f = _figures(t_acc, knobs, t_cov)
        series.append(
            {
                "start": p_start,
                "end": p_end,
                "pass_rate": f["pass"]["rate"],
                "reply_rate": f["reply"]["rate"],
                "interaction_rate": f["interaction"]["rate"],
                "conversion_rate": f["conversion"]["rate"],
                "wecom_pass_rate": f["pass"]["wecom_rate"],
                "wecom_reply_rate": f["reply"]["wecom_reply_percentage"],
            }
        )
    return {
        "grain": grain,
        "start": start,
        "end": end,
        "timezone": tz,
        "working_hours": {
            "start": knobs.hours.start.strftime("%H:%M"),
            "end": knobs.hours.end.strftime("%H:%M"),
            "weekdays": sorted(knobs.hours.weekdays),
        },
        "reply_minutes": knobs.reply_minutes,
        "silence_minutes": knobs.silence_minutes,
        "accept_minutes": knobs.accept_minutes,
        "staff_id": staff_id,
        "team": team,
        "total": total,
        "teams": team_rows,
        "accounts": rows,
        "not_covered": [s.userid for s in staff if s.id not in covered],
        "trend": series,
        "send_conversion": _send_conversion(session, workspace_id, start, end, tz, staff_id, team),
    }


def _send_conversion(
    session: Session,
    workspace_id: int,
    start: date,
    end: date,
    tz: str,
    staff_id: int | None,
    team: str | None,
) -> dict[str, Any] | None:
    """Buyers among customers targeted by the period's sends (not per team: sends are not)."""
    if team is not None and staff_id is None:
        return None
    from siyu.insights.send_profit import send_conversion  # it reads profit, which reads this module

    return send_conversion(
        session,
        workspace_id=workspace_id,
        since=day_start_utc(start, tz),
        until=day_start_utc(end + timedelta(days=1), tz),
        staff_id=staff_id,
    )


def _merge_uncovered(covered: _Acc, uncovered: _Acc) -> _Acc:
    """Totals: reply and interaction from archive-covered accounts only; the rest from all."""
    out = _Acc()
    out.add(covered)
    reply_fields = (
        "conversations", "exempt", "replied", "replied_10m", "unanswered", "reply_s_sum", "hist",
        "messages", "friends_end", "touched", "month_friends", "month_touched",
    )  # fmt: skip
    for name, value in vars(uncovered).items():
        if name in reply_fields:
            continue
        mine = getattr(out, name)
        if isinstance(mine, list):
            mine.extend(value)
        else:
            setattr(out, name, mine + value)
    return out
