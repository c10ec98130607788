"""Who matches a plan's trigger now, and under which occurrence key.

Each match is ``(customer_id, trigger_key, at, staff_id, group_id)``: ``trigger_key``
names the occurrence (a friendship's day, a first order, a silent spell ...), ``at``
is when it happened (None when the data cannot say, such as a layer reached), so an
activation that does not take existing customers can tell old from new.
"""

from __future__ import annotations

from calendar import isleap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from siyu.kit.errors import Invalid
from siyu.kit.timeutil import local_day, utcnow
from siyu.models import (
    Channel,
    Customer,
    CustomerFieldValue,
    CustomerScore,
    CustomerStats,
    CustomerTag,
    Follow,
    Group,
    GroupMember,
    ProfileField,
    Segment,
    Staff,
    Tag,
)
from siyu.segments.audience import customer_ids_query, parse

# First and category orders older than this are no longer "just bought".
FRESH_DAYS = 7
# A silent spell is caught within this many days of crossing the threshold.
SILENT_WINDOW_DAYS = 30
CHUNK = 2000


@dataclass(frozen=True)
class Match:
    """One occurrence; in a group plan ``customer_id`` is None and ``group_id`` the subject."""

    customer_id: int | None
    key: str
    at: datetime | None
    staff_id: int | None = None
    group_id: int | None = None


def _day(at: datetime | None, tz: str | None) -> str:
    return local_day(at or utcnow(), tz).isoformat()


def channel_state(session: Session, *, workspace_id: int, channel: str) -> str:
    """A channel named by its name or its state: the state WeCom reports on friend.add."""
    state = session.scalar(
        select(Channel.state).where(
            Channel.workspace_id == workspace_id, (Channel.name == channel) | (Channel.state == channel)
        )
    )
    return state or channel


def find_tag_id(session: Session, *, workspace_id: int, name: str) -> int | None:
    return session.scalar(
        select(Tag.id).where(Tag.workspace_id == workspace_id, Tag.name == name, Tag.deleted_at.is_(None))
    )


def find_segment(session: Session, *, workspace_id: int, name: str) -> Segment | None:
    return session.scalar(select(Segment).where(Segment.workspace_id == workspace_id, Segment.name == name))


def owners(session: Session, *, workspace_id: int, customer_ids: Iterable[int]) -> dict[int, int]:
    """Each customer's owning staff account: the earliest active friendship."""
    ids = sorted(set(customer_ids))
    out: dict[int, int] = {}
    for n in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Follow.customer_id, Follow.staff_id)
            .where(
                Follow.workspace_id == workspace_id,
                Follow.customer_id.in_(ids[n : n + CHUNK]),
                Follow.state == "active",
            )
            .order_by(Follow.customer_id, Follow.added_at.desc(), Follow.id.desc())
        )
        for cid, sid in rows:
            out[cid] = sid  # the last written is the earliest added
    return out


def in_audience(
    session: Session, *, workspace_id: int, audience: str | None, customer_ids: Sequence[int]
) -> set[int]:
    """Which of ``customer_ids`` the plan's audience condition admits."""
    ids = sorted(set(customer_ids))
    if not audience:
        return set(ids)
    sub = customer_ids_query(session, workspace_id=workspace_id, expr=parse(audience)).subquery()
    col = sub.c[0]
    got: set[int] = set()
    for n in range(0, len(ids), CHUNK):
        got.update(session.scalars(select(col).where(col.in_(ids[n : n + CHUNK]))))
    return got


def _limit(stmt: Any, column: Any, customer_ids: Sequence[int] | None) -> Any:
    return stmt if customer_ids is None else stmt.where(column.in_(list(customer_ids)))


def matches_now(
    session: Session,
    *,
    workspace_id: int,
    trigger: dict[str, Any],
    tz: str | None,
    customer_ids: Sequence[int] | None = None,
) -> list[Match]:
    """The customers who match ``trigger`` at this moment (before the audience condition)."""
    kind = trigger["kind"]
    now = utcnow()
    out: list[Match] = []
    stmt: Any
    if kind == "friend_added":
        stmt = select(Follow.customer_id, Follow.staff_id, Follow.added_at).where(
            Follow.workspace_id == workspace_id, Follow.state == "active"
        )
        if trigger.get("channel"):
            state = channel_state(session, workspace_id=workspace_id, channel=trigger["channel"])
            stmt = stmt.where(Follow.live_code_state == state)
        for cid, sid, at in session.execute(_limit(stmt, Follow.customer_id, customer_ids)):
            out.append(Match(cid, f"friend:{sid}:{_day(at, tz)}", at, sid))
    elif kind == "tag_added":
        tag_id = find_tag_id(session, workspace_id=workspace_id, name=trigger["tag"])
        if tag_id is not None:
            stmt = select(CustomerTag.customer_id, CustomerTag.created_at).where(
                CustomerTag.workspace_id == workspace_id, CustomerTag.tag_id == tag_id
            )
            for cid, at in session.execute(_limit(stmt, CustomerTag.customer_id, customer_ids)):
                out.append(Match(cid, f"tag:{tag_id}:{_day(at, tz)}", at))
    elif kind == "joined_group":
        stmt = (
            select(GroupMember.customer_id, GroupMember.group_id, GroupMember.join_time, Group.owner_staff_id)
            .join(Group, Group.id == GroupMember.group_id)
            .where(
                GroupMember.workspace_id == workspace_id,
                GroupMember.state == "active",
                GroupMember.customer_id.is_not(None),
                Group.status == "active",
                Group.dismissed_at.is_(None),
            )
        )
        if trigger.get("group"):
            stmt = stmt.where((Group.name == trigger["group"]) | (Group.chat_id == trigger["group"]))
        for cid, gid, at, owner in session.execute(_limit(stmt, GroupMember.customer_id, customer_ids)):
            out.append(Match(cid, f"group:{gid}:{_day(at, tz)}", at, owner, gid))
    elif kind in ("first_order", "category_order"):
        since = now - timedelta(days=FRESH_DAYS)
        col = CustomerStats.first_paid_at if kind == "first_order" else CustomerStats.last_paid_at
        stmt = select(
            CustomerStats.customer_id,
            CustomerStats.first_order_id,
            CustomerStats.last_order_id,
            col,
            CustomerStats.categories,
        ).where(CustomerStats.workspace_id == workspace_id, col >= since)
        for cid, first_id, last_id, at, cats in session.execute(
            _limit(stmt, CustomerStats.customer_id, customer_ids)
        ):
            if kind == "first_order":
                out.append(Match(cid, f"first:{first_id}", at))
            elif trigger["category"] in (cats or {}):
                out.append(Match(cid, f"cat:{trigger['category']}:{last_id}", at))
    elif kind == "layer_changed":
        field = getattr(CustomerScore, trigger["field"])
        stmt = select(CustomerScore.customer_id).where(
            CustomerScore.workspace_id == workspace_id, field == trigger["to"]
        )
        for (cid,) in session.execute(_limit(stmt, CustomerScore.customer_id, customer_ids)):
            out.append(Match(cid, f"{trigger['field']}:{trigger['to']}", None))
    elif kind == "inactive":
        col = CustomerStats.last_paid_at if trigger["what"] == "order" else CustomerStats.last_interaction_at
        cross = now - timedelta(days=trigger["days"])
        stmt = select(CustomerStats.customer_id, col).where(
            CustomerStats.workspace_id == workspace_id,
            and_(col <= cross, col > cross - timedelta(days=SILENT_WINDOW_DAYS)),
        )
        for cid, last in session.execute(_limit(stmt, CustomerStats.customer_id, customer_ids)):
            out.append(
                Match(
                    cid, f"silent:{trigger['what']}:{_day(last, tz)}", last + timedelta(days=trigger["days"])
                )
            )
    elif kind == "date_field":
        out.extend(
            _date_matches(
                session, workspace_id=workspace_id, trigger=trigger, tz=tz, customer_ids=customer_ids
            )
        )
    elif kind == "segment":
        seg = find_segment(session, workspace_id=workspace_id, name=trigger["segment"])
        if seg is not None:
            q = customer_ids_query(session, workspace_id=workspace_id, expr=parse(seg.expression)).subquery()
            stmt = select(q.c[0])
            for (cid,) in session.execute(_limit(stmt, q.c[0], customer_ids)):
                out.append(Match(cid, f"segment:{seg.id}", None))
    return out


# -- group triggers ---------------------------------------------------------------------------


def group_matches(
    session: Session,
    *,
    workspace_id: int,
    trigger: dict[str, Any],
    group_ids: Sequence[int] | None = None,
) -> list[Match]:
    """The live (not dismissed) groups that match a group plan's trigger now.

    ``group_created``: every group, at its WeCom creation time (so an activation without
    existing groups enrolls only groups created after it); ``group_type``: groups of the
    type (no time: the data cannot say when the type was set); ``group_age``: groups at
    least ``days`` days old, at the moment they reached that age. ``group_type`` and
    ``owner`` narrow each of them.
    """
    kind = trigger["kind"]
    created = func.coalesce(Group.wecom_created_at, Group.created_at)
    stmt: Any = select(Group.id, Group.owner_staff_id, created).where(
        Group.workspace_id == workspace_id, Group.status == "active", Group.dismissed_at.is_(None)
    )
    if trigger.get("group_type"):
        stmt = stmt.where(Group.group_type == trigger["group_type"])
    if trigger.get("owner"):
        stmt = stmt.where(
            Group.owner_staff_id.in_(
                select(Staff.id).where(Staff.workspace_id == workspace_id, Staff.userid == trigger["owner"])
            )
        )
    if kind == "group_age":
        stmt = stmt.where(created <= utcnow() - timedelta(days=int(trigger["days"])))
    out: list[Match] = []
    for gid, owner, at in session.execute(_limit(stmt.order_by(Group.id), Group.id, group_ids)):
        if kind == "group_created":
            out.append(Match(None, "group", at, owner, gid))
        elif kind == "group_type":
            out.append(Match(None, f"group_type:{trigger['group_type']}", None, owner, gid))
        else:
            out.append(
                Match(
                    None,
                    f"group_age:{trigger['days']}",
                    at + timedelta(days=int(trigger["days"])),
                    owner,
                    gid,
                )
            )
    return out


# -- date triggers ---------------------------------------------------------------------------


def check_date_field(session: Session, *, workspace_id: int, key: str) -> None:
    """``birthday``, or a live custom profile field of kind ``date``; Invalid otherwise."""
    if key == "birthday":
        return
    pf = session.scalar(
        select(ProfileField).where(
            ProfileField.workspace_id == workspace_id,
            ProfileField.key == key,
            ProfileField.deleted_at.is_(None),
        )
    )
    if pf is None:
        raise Invalid(f"no profile field {key!r} in this workspace", field="trigger.field")
    if pf.kind != "date":
        raise Invalid(
            f"profile field {key!r} is a {pf.kind} field; a date trigger needs a date field",
            field="trigger.field",
        )


def occurrence_day(trigger: dict[str, Any], today: date) -> date:
    """The date value whose occurrence is relevant on ``today`` (local): ``days_before``
    looks ahead, ``days_after`` looks back."""
    return today + timedelta(days=int(trigger.get("days_before", 0)) - int(trigger.get("days_after", 0)))


def anniversary_matches(value: date, target: date) -> bool:
    """Whether ``value``'s yearly occurrence falls on ``target`` (from its own year on).

    A 29 February date falls on 28 February in a year without one (it stays in its
    month, and the occurrence belongs to the same year's key).
    """
    if value > target:
        return False
    if (value.month, value.day) == (target.month, target.day):
        return True
    return (
        (value.month, value.day) == (2, 29)
        and (target.month, target.day) == (2, 28)
        and not isleap(target.year)
    )


def _date_values(
    session: Session, *, workspace_id: int, key: str, customer_ids: Sequence[int] | None
) -> dict[int, date]:
    """Each live customer's date in field ``key`` (``birthday``: the customer's column,
    else a ``birthday`` profile field staff filled in)."""
    out: dict[int, date] = {}
    live = Customer.merged_into_id.is_(None)
    stmt: Any = (
        select(CustomerFieldValue.customer_id, CustomerFieldValue.value)
        .join(ProfileField, ProfileField.id == CustomerFieldValue.field_id)
        .join(Customer, Customer.id == CustomerFieldValue.customer_id)
        .where(
            ProfileField.workspace_id == workspace_id,
            ProfileField.key == key,
            ProfileField.kind == "date",
            ProfileField.deleted_at.is_(None),
            live,
        )
    )
    for cid, raw in session.execute(_limit(stmt, CustomerFieldValue.customer_id, customer_ids)):
        try:
            out[cid] = date.fromisoformat(str(raw))
        except ValueError:
            continue  # stored before the field became a date: not a date, no trigger
    if key == "birthday":
        stmt = select(Customer.id, Customer.birthday).where(
            Customer.workspace_id == workspace_id, Customer.birthday.is_not(None), live
        )
        for cid, bday in session.execute(_limit(stmt, Customer.id, customer_ids)):
            out[cid] = bday
    return out


def _date_matches(
    session: Session,
    *,
    workspace_id: int,
    trigger: dict[str, Any],
    tz: str | None,
    customer_ids: Sequence[int] | None,
) -> list[Match]:
    key = trigger["field"]
    target = occurrence_day(trigger, local_day(utcnow(), tz))
    yearly = trigger.get("repeat", "yearly") == "yearly"
    out: list[Match] = []
    for cid, value in _date_values(
        session, workspace_id=workspace_id, key=key, customer_ids=customer_ids
    ).items():
        if yearly and anniversary_matches(value, target):
            occurrence = f"birthday:{target.year}" if key == "birthday" else f"date:{key}:{target.year}"
            out.append(Match(cid, occurrence, None))
        elif not yearly and value == target:
            out.append(Match(cid, f"date:{key}:{value.isoformat()}", None))
    return out
