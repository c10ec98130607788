"""Execution score per staff account: the four habits the practice asks for, weighted by profit.

Parts (each a share 0–1 for the month): ``pass`` (group entrants who became friends; where
no one entered a group, adds accepted within the target), ``reply`` (customer-initiated
conversations answered within the target; WeCom's reply percentage for accounts outside
the archive), ``coverage`` (friends touched this month) and ``tasks`` (tasks due in the
month done by their due time). ``score`` = 100 × the weighted mean of the parts the
account has (weights: ``insights.score_weights``). ``weighted_score`` multiplies it by the
account's profit factor: its contribution per friend against the workspace's, clipped to
0.5–1.5, so the same habits count for more where profit followed them.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.insights import metrics, profit
from siyu.insights.aggregates import knobs_for
from siyu.kit.timeutil import day_start_utc
from siyu.models import StaffTask

PART_LABELS = {"pass": "通过率", "reply": "回复及时率", "coverage": "月度覆盖", "tasks": "任务完成"}
PROFIT_FACTOR = (0.5, 1.5)


def _tasks(
    session: Session, workspace_id: int, start: date, end: date, tz: str
) -> dict[int, tuple[int, int]]:
    since, until = day_start_utc(start, tz), day_start_utc(end + timedelta(days=1), tz)
    on_time = (StaffTask.status == "done") & (StaffTask.done_at <= StaffTask.due_at)
    rows = session.execute(
        select(StaffTask.staff_id, func.count(), func.count().filter(on_time))
        .where(
            StaffTask.workspace_id == workspace_id,
            StaffTask.due_at >= since,
            StaffTask.due_at < until,
            StaffTask.status != "cancelled",
            StaffTask.staff_id.is_not(None),
        )
        .group_by(StaffTask.staff_id)
    )
    return {int(s): (int(n), int(ok or 0)) for s, n, ok in rows if s is not None}


def leaderboard(
    session: Session, *, workspace_id: int, on: date | None = None, staff_id: int | None = None
) -> dict[str, Any]:
    """Accounts ranked by weighted score for the calendar month holding ``on``."""
    knobs = knobs_for(session, workspace_id)
    m = metrics.report(session, workspace_id=workspace_id, grain="month", on=on, trend=1)
    pl = profit.pnl(session, workspace_id=workspace_id, on=m["start"])
    tasks = _tasks(session, workspace_id, m["start"], m["end"], m["timezone"])
    per_friend = {a["staff_id"]: a for a in pl["accounts"]}
    friends_all = sum(a["friends"] for a in pl["accounts"])
    contrib_all = sum(a["contribution_fen"] for a in pl["accounts"])
    mean_ppf = contrib_all / friends_all if friends_all else None
    weights = knobs.score_weights
    rows = []
    for r in m["accounts"]:
        sid = r["staff_id"]
        n_tasks, done = tasks.get(sid, (0, 0))
        pass_part = r["pass"]["rate"] if r["pass"]["entrants"] else r["pass"]["accept_within_target_share"]
        parts: dict[str, float | None] = {
            "pass": pass_part,
            "reply": r["reply"]["rate"],
            "coverage": r["interaction"]["month_coverage"] if r["interaction"]["covered"] else None,
            "tasks": round(done / n_tasks, 4) if n_tasks else None,
        }
        have = {k: v for k, v in parts.items() if v is not None and weights.get(k, 0) > 0}
        wsum = sum(weights[k] for k in have)
        score = round(100 * sum(weights[k] * v for k, v in have.items()) / wsum, 1) if wsum else None
        acct = per_friend.get(sid)
        ppf = acct["profit_per_friend_fen"] if acct else None
        factor = 1.0
        if ppf is not None and mean_ppf:
            factor = min(PROFIT_FACTOR[1], max(PROFIT_FACTOR[0], ppf / mean_ppf)) if mean_ppf > 0 else 1.0
        weakest = min(have, key=lambda k: have[k]) if have else None
        rows.append(
            {
                "staff_id": sid,
                "userid": r["userid"],
                "name": r["name"],
                "team": r["team"],
                "parts": parts,
                "tasks_due": n_tasks,
                "tasks_done_on_time": done,
                "score": score,
                "profit_per_friend_fen": ppf,
                "contribution_fen": acct["contribution_fen"] if acct else 0,
                "profit_factor": round(factor, 3),
                "weighted_score": round(score * factor, 1) if score is not None else None,
                "weakest": weakest,
                "weakest_label": PART_LABELS.get(weakest or ""),
            }
        )
    rows.sort(key=lambda x: (x["weighted_score"] is None, -(x["weighted_score"] or 0)))
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    if staff_id is not None:
        rows = [x for x in rows if x["staff_id"] == staff_id]
    return {
        "month": m["start"].strftime("%Y-%m"),
        "start": m["start"],
        "end": m["end"],
        "weights": dict(weights),
        "profit_factor_bounds": list(PROFIT_FACTOR),
        "workspace_profit_per_friend_fen": round(mean_ppf) if mean_ppf is not None else None,
        "accounts": rows,
    }
