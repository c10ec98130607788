"""Where tasks come from: SLAs, monthly coverage, wake-ups, post-purchase, churn.

Each source is idempotent: its tasks carry a ``dedup_key`` naming the occurrence
(the first unanswered message, the friendship, the month and friend, the order), so
a re-run of the morning list or a re-delivered event adds nothing.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from siyu.execution.service import NewTask, add_tasks_bulk, create_task
from siyu.execution.settings import TaskSettings, due_on, task_settings
from siyu.kit.timeutil import local_day, utcnow, zone
from siyu.models import (
    Customer,
    CustomerStats,
    Follow,
    Group,
    GroupMember,
    Message,
    StaffTask,
)

SOURCES = ("reply_sla", "greet", "lead_add", "coverage", "wakeup", "post_purchase")


def _due(day: date, s: TaskSettings) -> datetime:
    return due_on(day, s)


def _local_text(iso: str, tz: str) -> str:
    """An ISO instant as staff read it: in the workspace's zone, to the minute."""
    return datetime.fromisoformat(iso).astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")


def working_days(year: int, month: int, weekdays: tuple[int, ...]) -> list[date]:
    last = calendar.monthrange(year, month)[1]
    return [d for d in (date(year, month, n) for n in range(1, last + 1)) if d.isoweekday() in weekdays]


@lru_cache(maxsize=65536)
def _char_key(ch: str) -> str:
    if ch.isascii():
        return ch.lower()
    # Imported here: its dictionaries cost every CLI call ~0.3 s at start-up.
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(ch, style=Style.NORMAL, errors="default")[0].lower()


def az_key(name: str | None) -> tuple[str, ...]:
    """The A-to-Z order of a remark name as staff read it: by pinyin, then by the name."""
    if not name:
        return ("~",)
    return (*tuple(_char_key(c) for c in name.strip()[:8]), name)


def coverage_day(position: int, friends: int, days: int) -> int:
    """Which working day (0-based) of the month the friend at ``position`` falls on."""
    return position * days // max(friends, 1)


@dataclass
class Generated:
    counts: dict[str, int]

    def add(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def reply_sla(session: Session, workspace_id: int, s: TaskSettings, now: datetime) -> int:
    """A customer message unanswered for ``reply_sla_minutes``: one task per waiting episode."""
    later = aliased(Message)
    answered = exists().where(
        later.workspace_id == workspace_id,
        later.customer_id == Message.customer_id,
        later.staff_id == Message.staff_id,
        later.direction == "out",
        later.sent_at >= Message.sent_at,
    )
    rows = session.execute(
        select(Message.staff_id, Message.customer_id, func.min(Message.id), func.min(Message.sent_at))
        .where(
            Message.workspace_id == workspace_id,
            Message.direction == "in",
            Message.group_id.is_(None),
            Message.staff_id.is_not(None),
            Message.customer_id.is_not(None),
            Message.sent_at >= now - timedelta(days=1),
            ~answered,
        )
        .group_by(Message.staff_id, Message.customer_id)
        .having(func.min(Message.sent_at) <= now - timedelta(minutes=s.reply_sla_minutes))
    ).all()
    tasks = [
        NewTask(
            staff_id=sid,
            kind="reply_sla",
            title=f"客户消息超过 {s.reply_sla_minutes} 分钟未回复",
            due_at=now + timedelta(minutes=s.reply_sla_minutes),
            customer_id=cid,
            priority=1,
            source="sla",
            source_ref=f"message:{mid}",
            dedup_key=f"reply:{mid}",
            extra={"waiting_since": (first if first.tzinfo else first.replace(tzinfo=UTC)).isoformat()},
        )
        for sid, cid, mid, first in rows
    ]
    return add_tasks_bulk(session, workspace_id=workspace_id, tasks=tasks)


def greet(session: Session, workspace_id: int, s: TaskSettings, now: datetime) -> int:
    """A new friend not greeted (no message to them) within ``greet_after_minutes``."""
    said = exists().where(
        Message.workspace_id == workspace_id,
        Message.customer_id == Follow.customer_id,
        Message.staff_id == Follow.staff_id,
        Message.direction == "out",
        Message.sent_at >= Follow.added_at,
    )
    rows = session.execute(
        select(Follow.id, Follow.staff_id, Follow.customer_id).where(
            Follow.workspace_id == workspace_id,
            Follow.state == "active",
            Follow.added_at >= now - timedelta(days=2),
            Follow.added_at <= now - timedelta(minutes=s.greet_after_minutes),
            ~said,
        )
    ).all()
    tasks = [
        NewTask(
            staff_id=sid,
            kind="greet",
            title="新好友还没打招呼",
            due_at=now + timedelta(hours=2),
            customer_id=cid,
            priority=1,
            content_id=s.content.get("greet"),
            source="sla",
            source_ref=f"follow:{fid}",
            dedup_key=f"greet:{fid}",
        )
        for fid, sid, cid in rows
    ]
    return add_tasks_bulk(session, workspace_id=workspace_id, tasks=tasks)


def lead_add(session: Session, workspace_id: int, s: TaskSettings, now: datetime) -> int:
    """A group entrant who is nobody's friend a day after joining: the owner adds them."""
    friend = exists().where(
        Follow.workspace_id == workspace_id,
        Follow.customer_id == GroupMember.customer_id,
        Follow.state == "active",
    )
    rows = session.execute(
        select(GroupMember.group_id, GroupMember.customer_id, Group.owner_staff_id, Group.name)
        .join(Group, Group.id == GroupMember.group_id)
        .where(
            GroupMember.workspace_id == workspace_id,
            GroupMember.state == "active",
            GroupMember.customer_id.is_not(None),
            GroupMember.join_time <= now - timedelta(hours=s.lead_add_hours),
            GroupMember.join_time >= now - timedelta(hours=s.lead_add_hours) - timedelta(days=7),
            Group.owner_staff_id.is_not(None),
            ~friend,
        )
    ).all()
    tasks = [
        NewTask(
            staff_id=owner,
            kind="lead_add",
            title=f"群「{name or '未命名'}」新成员还不是好友，加为好友",
            due_at=_due(local_day(now, s.tz), s),
            customer_id=cid,
            group_id=gid,
            source="sla",
            source_ref=f"group:{gid}",
            dedup_key=f"lead_add:{gid}:{cid}",
        )
        for gid, cid, owner, name in rows
    ]
    return add_tasks_bulk(session, workspace_id=workspace_id, tasks=tasks)


def _friends_by_staff(
    session: Session, workspace_id: int
) -> Iterator[tuple[int, list[tuple[int, str | None]]]]:
    rows = session.execute(
        select(Follow.staff_id, Follow.customer_id, func.coalesce(Follow.remark, Customer.name))
        .join(Customer, Customer.id == Follow.customer_id)
        .where(Follow.workspace_id == workspace_id, Follow.state == "active")
        .order_by(Follow.staff_id)
        .execution_options(yield_per=20000)
    )
    current: int | None = None
    batch: list[tuple[int, str | None]] = []
    for sid, cid, name in rows:
        if sid != current:
            if current is not None:
                yield current, batch
            current, batch = sid, []
        batch.append((cid, name))
    if current is not None:
        yield current, batch


def coverage(session: Session, workspace_id: int, s: TaskSettings, now: datetime) -> int:
    """Each friend once a month: today's share of each account's friends, A to Z."""
    today = local_day(now, s.tz)
    days = working_days(today.year, today.month, s.working_days)
    if today not in days:
        return 0
    d = days.index(today)
    month = f"{today:%Y-%m}"
    due = _due(today, s)
    content = s.content.get("coverage")
    made = 0
    tasks: list[NewTask] = []
    for sid, friends in _friends_by_staff(session, workspace_id):
        friends.sort(key=lambda f: az_key(f[1]))
        n = len(friends)
        for i, (cid, name) in enumerate(friends):
            if coverage_day(i, n, len(days)) != d:
                continue
            tasks.append(
                NewTask(
                    staff_id=sid,
                    kind="coverage",
                    title=f"本月触达：{name or '客户'}"[:200],
                    due_at=due,
                    customer_id=cid,
                    priority=3,
                    content_id=content,
                    source="coverage",
                    source_ref=month,
                    dedup_key=f"cov:{month}:{sid}:{cid}",
                )
            )
        if len(tasks) >= 5000:
            made += add_tasks_bulk(session, workspace_id=workspace_id, tasks=tasks)
            tasks = []
    return made + add_tasks_bulk(session, workspace_id=workspace_id, tasks=tasks)


def _owners_join() -> Any:
    return and_(Follow.customer_id == CustomerStats.customer_id, Follow.state == "active")


def _by_owner(rows: Sequence[Any]) -> list[Any]:
    """One row per customer: the earliest-added active friendship owns it."""
    seen: set[int] = set()
    out = []
    for row in rows:
        if row[0] in seen:
            continue
        seen.add(row[0])
        out.append(row)
    return out


def wakeup(session: Session, workspace_id: int, s: TaskSettings, now: datetime) -> int:
    """Customers whose last purchase was ``wakeup_days`` ago today: wake them up."""
    today = local_day(now, s.tz)
    day = today - timedelta(days=s.wakeup_days)
    lo = datetime.combine(day, time.min, tzinfo=zone(s.tz)).astimezone(UTC)
    rows = _by_owner(
        session.execute(
            select(CustomerStats.customer_id, Follow.staff_id, CustomerStats.net_fen)
            .join(Follow, _owners_join())
            .where(
                CustomerStats.workspace_id == workspace_id,
                CustomerStats.last_paid_at >= lo,
                CustomerStats.last_paid_at < lo + timedelta(days=1),
            )
            .order_by(CustomerStats.customer_id, Follow.added_at)
        ).all()
    )
    tasks = [
        NewTask(
            staff_id=sid,
            kind="wakeup",
            title=f"{s.wakeup_days} 天未复购，唤醒一下",
            due_at=_due(today, s),
            customer_id=cid,
            priority=2,
            content_id=s.content.get("wakeup"),
            source="wakeup",
            source_ref=day.isoformat(),
            dedup_key=f"wake:{cid}:{day.isoformat()}",
            extra={"net_fen": net},
        )
        for cid, sid, net in rows
    ]
    return add_tasks_bulk(session, workspace_id=workspace_id, tasks=tasks)


def post_purchase(session: Session, workspace_id: int, s: TaskSettings, now: datetime) -> int:
    """Customers who paid ``post_purchase_days`` ago (yesterday by default): follow up."""
    today = local_day(now, s.tz)
    day = today - timedelta(days=s.post_purchase_days)
    lo = datetime.combine(day, time.min, tzinfo=zone(s.tz)).astimezone(UTC)
    rows = _by_owner(
        session.execute(
            select(CustomerStats.customer_id, Follow.staff_id, CustomerStats.last_order_id)
            .join(Follow, _owners_join())
            .where(
                CustomerStats.workspace_id == workspace_id,
                CustomerStats.last_paid_at >= lo,
                CustomerStats.last_paid_at < lo + timedelta(days=1),
            )
            .order_by(CustomerStats.customer_id, Follow.added_at)
        ).all()
    )
    tasks = [
        NewTask(
            staff_id=sid,
            kind="post_purchase",
            title="昨天下单，做个售后关怀",
            due_at=_due(today, s),
            customer_id=cid,
            priority=2,
            content_id=s.content.get("post_purchase"),
            source="orders",
            source_ref=f"order:{oid}",
            dedup_key=f"post:{oid}",
        )
        for cid, sid, oid in rows
    ]
    return add_tasks_bulk(session, workspace_id=workspace_id, tasks=tasks)


def morning(
    session: Session,
    *,
    workspace_id: int,
    only: tuple[str, ...] = ("coverage", "wakeup", "post_purchase", "lead_add"),
) -> dict[str, int]:
    """The morning's lists: coverage, wake-ups, post-purchase follow-ups, group entrants."""
    s = task_settings(session, workspace_id)
    now = utcnow()
    fns = {"coverage": coverage, "wakeup": wakeup, "post_purchase": post_purchase, "lead_add": lead_add}
    return {name: fns[name](session, workspace_id, s, now) for name in only}


def slas(session: Session, *, workspace_id: int) -> dict[str, int]:
    """The SLA sources that run every minute: unanswered messages, ungreeted friends."""
    s = task_settings(session, workspace_id)
    now = utcnow()
    return {
        "reply_sla": reply_sla(session, workspace_id, s, now),
        "greet": greet(session, workspace_id, s, now),
    }


def churn(
    session: Session, *, workspace_id: int, customer_id: int, staff_id: int | None, at: datetime, ref: str
) -> int | None:
    """流失提醒: the customer deleted the staff account: who, after what, worth how much."""
    s = task_settings(session, workspace_id)
    name = session.scalar(
        select(func.coalesce(Follow.remark, Customer.name))
        .select_from(Customer)
        .outerjoin(Follow, and_(Follow.customer_id == Customer.id, Follow.staff_id == staff_id))
        .where(Customer.id == customer_id)
    )
    stats = session.get(CustomerStats, customer_id)
    net = stats.net_fen if stats is not None else 0
    orders = stats.paid_orders_count if stats is not None else 0
    after = _last_touch(session, workspace_id, customer_id, staff_id, at)
    body = (
        f"客户：{name or customer_id}；删除前最后一次接触：{after['what']}"
        f"{'（' + _local_text(after['at'], s.tz) + '）' if after.get('at') else ''}；"
        f"累计消费 {net / 100:.2f} 元，{orders} 单"
    )
    return create_task(
        session,
        workspace_id=workspace_id,
        task=NewTask(
            staff_id=staff_id,
            kind="churn",
            title=f"流失提醒：{name or '客户'} 删除了好友"[:200],
            due_at=at + timedelta(days=1),
            customer_id=customer_id,
            body=body,
            priority=1 if net > 0 else 2,
            source="wecom",
            source_ref=ref,
            dedup_key=f"churn:{ref}",
            extra={"net_fen": net, "orders": orders, "after": after, "tz": s.tz},
        ),
    )


def _last_touch(
    session: Session, workspace_id: int, customer_id: int, staff_id: int | None, before: datetime
) -> dict[str, Any]:
    """What the staff account last did to the customer before the deletion."""
    msg = session.execute(
        select(Message.sent_at, Message.msgtype)
        .where(Message.customer_id == customer_id, Message.direction == "out", Message.sent_at <= before)
        .order_by(Message.sent_at.desc())
        .limit(1)
    ).first()
    task = session.execute(
        select(StaffTask.done_at, StaffTask.title)
        .where(StaffTask.customer_id == customer_id, StaffTask.status == "done", StaffTask.done_at <= before)
        .order_by(StaffTask.done_at.desc())
        .limit(1)
    ).first()
    step = session.scalar(
        select(func.max(StaffTask.created_at)).where(
            StaffTask.workspace_id == workspace_id,
            StaffTask.customer_id == customer_id,
            StaffTask.kind == "sop_step",
            StaffTask.created_at <= before,
        )
    )
    options: list[tuple[datetime, str]] = []
    if msg is not None:
        options.append((msg[0], f"发送了一条{msg[1]}消息"))
    if task is not None and task[0] is not None:
        options.append((task[0], f"完成任务「{task[1]}」"))
    if step is not None:
        options.append((step, "收到 SOP 步骤"))
    if not options:
        return {"what": "没有记录的接触", "at": None}
    at, what = max(options, key=lambda o: o[0])
    return {"what": what, "at": at.isoformat()}
