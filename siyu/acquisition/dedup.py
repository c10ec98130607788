"""Matrix dedup (矩阵去重): customers who are friends of two or more of the brand's accounts.

A duplicate is a customer (OneID profile) with two or more active follows. It is found
"by external_userid" when every follow carries the same WeCom id (the same WeChat user
added several accounts), "by OneID" when the follows carry different ids that OneID
joined (a phone, a unionid, an order binding). The account the customer added first is
the *first* account; each later one is a *second* account, and the later follow's
channel (live-code state) is the channel the duplicate arrived through.

Each channel picks a policy, stored in ``channels.settings["dedup_policy"]``:

- ``allow`` (default): nothing happens;
- ``task``: the second account's staff member gets a ``matrix_duplicate`` task ("this
  customer is already the friend of …"), through ``siyu.execution.service.create_task``;
- ``route_back``: a returning customer is sent to the account that already has them.
  WeCom does this natively with ``is_exclusive`` on the live code: :func:`exclusive` tells
  the channel sync to set it (the live code itself belongs to the channels module).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.acquisition.channels import channel_by_state
from siyu.execution.service import NewTask, create_task
from siyu.kit import audit
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import Channel, Follow, Staff

POLICIES = ("allow", "task", "route_back")
DEFAULT_POLICY = "allow"
TASK_KIND = "matrix_duplicate"
TASK_DUE = timedelta(days=1)


def policy_of(channel: Channel | None) -> str:
    value = (channel.settings or {}).get("dedup_policy") if channel is not None else None
    return value if value in POLICIES else DEFAULT_POLICY


def exclusive(channel: Channel) -> bool:
    """Whether the channel's live code should carry WeCom's ``is_exclusive`` (route back)."""
    return policy_of(channel) == "route_back"


def _added_through(session: Session, workspace_id: int, staff_id: int, state: str) -> bool:
    """Whether any friend of the account came in through the channel (a store's code too)."""
    from siyu.acquisition.channels import STORE_SEP

    match = (Follow.live_code_state == state) | Follow.live_code_state.startswith(
        state + STORE_SEP, autoescape=True
    )
    found = session.scalar(
        select(Follow.id)
        .where(Follow.workspace_id == workspace_id, Follow.staff_id == staff_id, match)
        .limit(1)
    )
    return found is not None


def _channel(session: Session, workspace_id: int, channel: str, own_staff_id: int | None = None) -> Channel:
    """The live channel by state or name; NotFound when unknown or, for a staff user's view
    (``own_staff_id``), not one of theirs: the same answer, so that names cannot be probed.

    A staff user's channels: those that may route to their account (``scope``) and those
    their account's friends came in through (their report names those anyway).
    """
    found = session.scalar(
        select(Channel).where(
            Channel.workspace_id == workspace_id,
            Channel.deleted_at.is_(None),
            (Channel.state == channel) | (Channel.name == channel),
        )
    )
    if found is not None and own_staff_id is not None:
        from siyu.acquisition.scope import sees_channel

        if not sees_channel(session, found, own_staff_id) and not _added_through(
            session, workspace_id, own_staff_id, found.state
        ):
            found = None
    if found is None:
        raise NotFound(f"no channel with state or name {channel!r}", field="channel")
    return found


def set_policy(session: Session, *, workspace_id: int, channel: str, policy: str, actor: str) -> Channel:
    """Store a channel's dedup policy (allow | task | route_back)."""
    if policy not in POLICIES:
        raise Invalid(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}", field="policy")
    row = _channel(session, workspace_id, channel)
    before = policy_of(row)
    row.settings = {**(row.settings or {}), "dedup_policy": policy}
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="channel.dedup_policy",
        target_type="channel",
        target_id=row.id,
        detail={"from": before, "to": policy},
    )
    if (before == "route_back") != (policy == "route_back") and row.kind == "contact_way":
        # is_exclusive lives on the WeCom code: bring the code in step (sync.py).
        from siyu.acquisition.channels import queue_sync

        queue_sync(session, row, reason="dedup_policy")
    session.flush()
    return row


@dataclass
class DedupReport:
    customers: int = 0
    by_external_userid: int = 0
    by_oneid: int = 0
    channels: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "by_external_userid": self.by_external_userid,
            "by_oneid": self.by_oneid,
            "channels": self.channels,
            "staff": self.staff,
            "sample": self.sample,
        }


def report(
    session: Session,
    *,
    workspace_id: int,
    channel: str | None = None,
    staff: str | None = None,
    sample: int = 50,
    own_staff_id: int | None = None,
) -> DedupReport:
    """Duplicates now, per channel they arrived through and per account (first / second).

    ``own_staff_id``: a staff user's own view: only duplicates involving that account, the
    account's own row in the per-account counts, and only the channels set up for it listed
    without duplicates (``staff`` is then ignored).
    """
    state_filter = _channel(session, workspace_id, channel, own_staff_id).state if channel else None
    staff_row = None
    if own_staff_id is not None:
        staff_row = session.get(Staff, own_staff_id)
        if staff_row is None or staff_row.workspace_id != workspace_id:
            return DedupReport()
    elif staff:
        staff_row = session.scalar(
            select(Staff).where(Staff.workspace_id == workspace_id, Staff.userid == staff)
        )
        if staff_row is None:
            raise NotFound(f"no staff account with userid {staff!r}", field="staff")
    dup = (
        select(Follow.customer_id)
        .where(Follow.workspace_id == workspace_id, Follow.state == "active")
        .group_by(Follow.customer_id)
        .having(func.count() >= 2)
    ).subquery()
    rows = session.execute(
        select(
            Follow.id,
            Follow.customer_id,
            Follow.staff_id,
            Follow.external_userid,
            Follow.live_code_state,
            Follow.added_at,
        )
        .join(dup, dup.c.customer_id == Follow.customer_id)
        .where(Follow.workspace_id == workspace_id, Follow.state == "active")
        .order_by(Follow.customer_id, Follow.added_at, Follow.id)
    ).all()
    staff_rows = {s.id: s for s in session.scalars(select(Staff).where(Staff.workspace_id == workspace_id))}
    channels = {
        c.state: c
        for c in session.scalars(
            select(Channel).where(Channel.workspace_id == workspace_id, Channel.deleted_at.is_(None))
        )
    }
    by_customer: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        by_customer[r.customer_id].append(r)
    out = DedupReport()
    per_channel: dict[str, int] = defaultdict(int)
    per_staff: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for cid, follows in by_customer.items():
        seconds = follows[1:]
        if state_filter is not None and not any(f.live_code_state == state_filter for f in seconds):
            continue
        if staff_row is not None and not any(f.staff_id == staff_row.id for f in follows):
            continue
        out.customers += 1
        same = len({f.external_userid for f in follows}) == 1
        out.by_external_userid += int(same)
        out.by_oneid += int(not same)
        per_staff[follows[0].staff_id][0] += 1
        for f in seconds:
            per_channel[f.live_code_state or ""] += 1
            per_staff[f.staff_id][1] += 1
        if len(out.sample) < sample:
            out.sample.append(
                {
                    "customer_id": cid,
                    "by": "external_userid" if same else "oneid",
                    "accounts": [
                        {
                            "userid": staff_rows[f.staff_id].userid,
                            "state": f.live_code_state,
                            "added_at": f.added_at.isoformat() if f.added_at else None,
                        }
                        for f in follows
                    ],
                }
            )
    out.channels = sorted(
        (
            {
                "state": state or None,
                "name": channels[state].name if state in channels else (state or "（无渠道）"),
                "duplicates": n,
                "policy": policy_of(channels.get(state)),
            }
            for state, n in per_channel.items()
        ),
        key=lambda c: (-c["duplicates"], c["name"]),
    )
    visible: set[str] | None = None
    if own_staff_id is not None:
        from siyu.acquisition.scope import channels_of

        visible = {c.state for c in channels_of(session, workspace_id=workspace_id, staff_id=own_staff_id)}
        per_staff = {own_staff_id: per_staff[own_staff_id]} if own_staff_id in per_staff else {}
    for state, c in channels.items():
        if visible is not None and state not in visible:
            continue
        if state not in per_channel and (state_filter is None or state == state_filter):
            out.channels.append({"state": state, "name": c.name, "duplicates": 0, "policy": policy_of(c)})
    out.staff = sorted(
        (
            {
                "userid": staff_rows[sid].userid,
                "name": staff_rows[sid].name,
                "as_first": first,
                "as_second": second,
            }
            for sid, (first, second) in per_staff.items()
        ),
        key=lambda s: (-s["as_second"], -s["as_first"], s["userid"]),
    )
    return out


def on_add(
    session: Session, *, workspace_id: int, customer_id: int, staff_id: int, at: datetime | None
) -> int | None:
    """A friend add: under the channel's ``task`` policy, tell the second account's staff.

    Returns the task id (None: not a duplicate, another policy, or already told).
    """
    follows = list(
        session.scalars(
            select(Follow)
            .where(
                Follow.workspace_id == workspace_id,
                Follow.customer_id == customer_id,
                Follow.state == "active",
            )
            .order_by(Follow.added_at, Follow.id)
        )
    )
    if len(follows) < 2:
        return None
    new = next((f for f in follows if f.staff_id == staff_id), None)
    if new is None or new is follows[0]:
        return None
    channel = (
        channel_by_state(session, workspace_id=workspace_id, state=new.live_code_state)
        if new.live_code_state
        else None
    )
    if policy_of(channel) != "task":
        return None
    first = session.get(Staff, follows[0].staff_id)
    owner = first.name if first is not None else "另一个账号"
    return create_task(
        session,
        workspace_id=workspace_id,
        task=NewTask(
            staff_id=new.staff_id,
            kind=TASK_KIND,
            title=f"这位客户已是{owner}的好友：请确认由谁跟进，避免重复打扰",
            due_at=(at or utcnow()) + TASK_DUE,
            customer_id=customer_id,
            source="dedup",
            source_ref=f"follow:{new.id}",
            dedup_key=f"{TASK_KIND}:{new.id}",
            extra={"first_staff_id": follows[0].staff_id, "channel": new.live_code_state},
        ),
    )
