"""Routing: which staff accounts a channel's new friends go to, now.

``plan(session, channel)`` reads the pool, the schedule that applies in the
workspace's zone, each account's friends against its limit and its adds through the
channel today, and answers the accounts the live code should hold (``members``) with
each account's state. WeCom picks among a multi-person code's members by itself (no
documented order), so siyu applies its strategy by keeping that member list current:

- ``wecom``: every eligible account (WeCom's own choice among them);
- ``capacity_first``: every eligible account below ``threshold`` of its limit;
- ``least_loaded``: the one eligible account with the fewest friends;
- ``weighted``: the one eligible account furthest below its weighted share of the
  channel's adds.

An account at its limit, over its daily cap, off schedule or not active is never a
member; backups are used only when nobody else is. The ``acquisition.routing``
subscriber re-plans on every friend add and the periodic task on schedule boundaries;
a changed plan queues the channel's sync job. ``pick(...)`` is the per-visit choice of
the ``/c/{slug}`` landing page.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.customers.visibility import WholeWorkspace
from siyu.kit.timeutil import utcnow, zone
from siyu.models import Channel, Follow, Staff, Workspace
from siyu.staff.service import list_capacity


@dataclass
class Account:
    """One pool account as routing sees it."""

    staff_id: int
    userid: str
    name: str
    friends: int
    limit: int
    adds_today: int
    adds_total: int
    cap: int | None
    weight: int
    status: str = "on"  # on | off_schedule | full | near_full | capped | inactive | backup

    @property
    def usage(self) -> float:
        return round(self.friends / self.limit, 4) if self.limit > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "staff_id": self.staff_id,
            "userid": self.userid,
            "name": self.name,
            "friends": self.friends,
            "limit": self.limit,
            "usage": self.usage,
            "adds_today": self.adds_today,
            "daily_cap": self.cap,
            "weight": self.weight,
            "status": self.status,
        }


@dataclass
class Plan:
    """The accounts the code should hold now, and every pool account's state."""

    members: list[Account]
    accounts: list[Account] = field(default_factory=list)
    eligible: list[Account] = field(default_factory=list)
    used_backup: bool = False
    schedule: int | None = None  # index of the schedule in force, if any

    @property
    def userids(self) -> list[str]:
        return [a.userid for a in self.members]


def _local(workspace_id: int, session: Session, at: datetime) -> datetime:
    ws = session.get(Workspace, workspace_id)
    return at.astimezone(zone(ws.timezone if ws is not None else None))


def _in_schedule(sch: dict[str, Any], local: datetime) -> bool:
    if local.weekday() not in sch.get("days", range(7)):
        return False
    start = time.fromisoformat(sch.get("start", "00:00"))
    end = time.fromisoformat(sch.get("end", "23:59"))
    now = local.time().replace(second=0, microsecond=0)
    if start <= end:
        return start <= now <= end
    return now >= start or now <= end  # overnight (e.g. 22:00–08:00)


def scheduled_ids(channel: Channel, local: datetime) -> tuple[list[int], int | None]:
    """The pool in force at ``local`` time: the first matching schedule's, else the base pool.

    Outside every schedule the base pool (``staff_ids``) is on; with none, nobody is
    (backups then take over).
    """
    pool = channel.pool or {}
    schedules = pool.get("schedules") or []
    for i, sch in enumerate(schedules):
        if _in_schedule(sch, local):
            return [int(s) for s in sch.get("staff_ids") or []], i
    return [int(s) for s in pool.get("staff_ids") or []], None


def _adds(
    session: Session, channel: Channel, staff_ids: Sequence[int], since: datetime | None
) -> dict[int, int]:
    stmt = select(Follow.staff_id, func.count()).where(
        Follow.workspace_id == channel.workspace_id,
        Follow.live_code_state == channel.state,
        Follow.staff_id.in_(list(staff_ids)),
    )
    if since is not None:
        stmt = stmt.where(Follow.added_at >= since)
    return {int(s): int(n) for s, n in session.execute(stmt.group_by(Follow.staff_id))}


def _accounts(session: Session, channel: Channel, ids: Sequence[int], local: datetime) -> dict[int, Account]:
    if not ids:
        return {}
    pool = channel.pool or {}
    caps = pool.get("daily_caps") or {}
    weights = pool.get("weights") or {}
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(local.tzinfo)
    today = _adds(session, channel, ids, day_start)
    total = _adds(session, channel, ids, None)
    rows, _ = list_capacity(session, WholeWorkspace(channel.workspace_id))
    by_id = {c.staff.id: c for c in rows if c.staff.id in set(ids)}
    out: dict[int, Account] = {}
    for sid in ids:
        c = by_id.get(sid)
        if c is None:
            continue
        cap = caps.get(str(sid))
        acc = Account(
            staff_id=sid,
            userid=c.staff.userid,
            name=c.staff.name,
            friends=c.friends + c.pending,
            limit=c.limit,
            adds_today=today.get(sid, 0),
            adds_total=total.get(sid, 0),
            cap=int(cap) if cap is not None else None,
            weight=int(weights.get(str(sid), 1)),
        )
        if c.staff.status != "active" or not c.staff.has_contact_permission:
            acc.status = "inactive"
        elif acc.limit > 0 and acc.friends >= acc.limit:
            acc.status = "full"
        elif acc.cap is not None and acc.adds_today >= acc.cap:
            acc.status = "capped"
        elif acc.limit > 0 and acc.friends >= acc.limit * float(pool.get("threshold", 0.9)):
            acc.status = "near_full"
        out[sid] = acc
    return out


def plan(session: Session, channel: Channel, *, at: datetime | None = None) -> Plan:
    """The members the channel's live code should hold now (see the module docstring)."""
    pool = channel.pool or {}
    local = _local(channel.workspace_id, session, at or utcnow())
    on_ids, sched = scheduled_ids(channel, local)
    all_ids = list(dict.fromkeys([*(int(s) for s in pool.get("staff_ids") or []), *on_ids]))
    for sch in pool.get("schedules") or []:
        all_ids.extend(int(s) for s in sch.get("staff_ids") or [] if int(s) not in all_ids)
    backup_ids = [int(s) for s in pool.get("backup_staff_ids") or []]
    accounts = _accounts(session, channel, list(dict.fromkeys([*all_ids, *backup_ids])), local)
    strategy = pool.get("strategy") or "wecom"
    usable = ("on",) if strategy == "capacity_first" else ("on", "near_full")
    for sid in all_ids:
        acc = accounts.get(sid)
        if acc is not None and sid not in on_ids and acc.status in ("on", "near_full"):
            acc.status = "off_schedule"
    eligible = [accounts[s] for s in on_ids if s in accounts and accounts[s].status in usable]
    used_backup = False
    if not eligible:
        eligible = [
            accounts[s]
            for s in backup_ids
            if s in accounts and accounts[s].status in ("on", "near_full", "backup")
        ]
        used_backup = bool(eligible)
    for s in backup_ids:
        acc = accounts.get(s)
        if acc is not None and acc.status in ("on", "near_full") and s not in on_ids:
            acc.status = "backup"
    members = _choose(strategy, eligible)
    ordered = [accounts[s] for s in dict.fromkeys([*all_ids, *backup_ids]) if s in accounts]
    return Plan(members=members, accounts=ordered, eligible=eligible, used_backup=used_backup, schedule=sched)


def _choose(strategy: str, eligible: list[Account]) -> list[Account]:
    if not eligible or strategy in ("wecom", "capacity_first"):
        return list(eligible)
    if strategy == "least_loaded":
        return [min(eligible, key=lambda a: (a.friends, a.staff_id))]
    # weighted: the account furthest below its share of the channel's adds so far
    total_w = sum(a.weight for a in eligible) or 1
    total_adds = sum(a.adds_total for a in eligible)
    weighted = [a for a in eligible if a.weight > 0] or eligible

    def deficit(a: Account) -> tuple[float, int]:
        return (a.adds_total - (total_adds + 1) * a.weight / total_w, a.staff_id)

    return [min(weighted, key=deficit)]


def pick(session: Session, channel: Channel, *, rng: random.Random | None = None) -> Account | None:
    """One account for one landing-page visit, by the channel's strategy (None: nobody free)."""
    p = plan(session, channel)
    if not p.eligible:
        return None
    strategy = (channel.pool or {}).get("strategy") or "wecom"
    r = rng or random.Random()
    if strategy == "weighted":
        weights = [max(a.weight, 0) for a in p.eligible]
        if sum(weights) > 0:
            return r.choices(p.eligible, weights=weights, k=1)[0]
    if strategy == "least_loaded":
        return p.members[0]
    return r.choice(p.eligible)


def next_boundary(channel: Channel, local: datetime) -> datetime | None:
    """The next schedule start or end after ``local`` (the periodic task's hint), or None."""
    best: datetime | None = None
    for sch in (channel.pool or {}).get("schedules") or []:
        for key in ("start", "end"):
            t = time.fromisoformat(sch.get(key, "00:00"))
            cand = local.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
            if cand <= local:
                cand += timedelta(days=1)
            if best is None or cand < best:
                best = cand
    return best


def pools_with_staff(session: Session, *, workspace_id: int, staff_ids: set[int]) -> list[Channel]:
    """Live contact-way channels whose pool (schedules and backups included) has any of these."""
    from siyu.acquisition.channels import pool_staff_ids

    rows = session.scalars(
        select(Channel).where(
            Channel.workspace_id == workspace_id,
            Channel.kind.in_(("contact_way", "link")),
            Channel.deleted_at.is_(None),
        )
    )
    return [c for c in rows if staff_ids & set(pool_staff_ids(c))]


def capacity_of(
    session: Session, workspace_id: int, staff_ids: Sequence[int]
) -> dict[int, tuple[int, int, bool]]:
    """Per account: (friends incl. pending, limit, usable: active with contact permission)."""
    ids = set(staff_ids)
    rows, _ = list_capacity(session, WholeWorkspace(workspace_id))
    return {
        c.staff.id: (
            c.friends + c.pending,
            c.limit,
            c.staff.status == "active" and c.staff.has_contact_permission,
        )
        for c in rows
        if c.staff.id in ids
    }


def staff_by_ids(session: Session, workspace_id: int, ids: Sequence[int]) -> dict[int, Staff]:
    return {
        s.id: s
        for s in session.scalars(
            select(Staff).where(Staff.workspace_id == workspace_id, Staff.id.in_(list(ids)))
        )
    }


def capacity_alerts(
    session: Session, *, workspace_id: int, staff_id: int | None = None
) -> list[dict[str, Any]]:
    """Active accounts at or above ``NEAR_FULL_SHARE`` of their limit, fullest first, with
    the channels whose pools hold them (a full account is out of every pool's plan).

    ``staff_id``: a staff user's view, their own account's alert only.
    """
    rows, _ = list_capacity(session, WholeWorkspace(workspace_id), status="active")
    near = [c for c in rows if c.near_full and (staff_id is None or c.staff.id == staff_id)]
    if not near:
        return []
    chans = pools_with_staff(session, workspace_id=workspace_id, staff_ids={c.staff.id for c in near})
    from siyu.acquisition.channels import pool_staff_ids

    out = []
    for c in near:
        out.append(
            {
                "staff_id": c.staff.id,
                "userid": c.staff.userid,
                "name": c.staff.name,
                "friends": c.friends,
                "customer_limit": c.limit,
                "usage": c.usage,
                "full": c.limit > 0 and c.friends >= c.limit,
                "channels": [ch.name for ch in chans if c.staff.id in pool_staff_ids(ch)],
            }
        )
    return out
