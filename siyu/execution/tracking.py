"""Reading task lists, detecting completion from data, escalating, and completion rates.

Readers take a viewer (``siyu.customers.visibility.Viewer``): a staff user sees their
own tasks, a whole-workspace viewer (the CLI, owners, operators) anyone's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from siyu.customers.visibility import Viewer
from siyu.execution.service import NewTask, complete_task, create_task
from siyu.execution.settings import next_due, task_settings
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.events import record_event
from siyu.kit.timeutil import local_day, utcnow
from siyu.models import (
    ContentItem,
    Customer,
    CustomerScore,
    CustomerStats,
    Follow,
    Message,
    Staff,
    StaffTask,
)

# Kinds no API can see done (liking a customer's moments): only self-reported.
SELF_REPORT_ONLY = ("like_moment",)
DETECT_BATCH = 5000
LIST_MAX = 500


def _scoped(viewer: Viewer, staff_id: int | None) -> int | None:
    """The staff account whose tasks the viewer reads (a staff user: always their own)."""
    if viewer.sees_all_customers:
        return staff_id
    if viewer.staff_id is None:
        raise NotFound("this user has no staff account", field="staff")
    return viewer.staff_id


def find_staff_id(session: Session, *, workspace_id: int, userid: str) -> int:
    sid = session.scalar(select(Staff.id).where(Staff.workspace_id == workspace_id, Staff.userid == userid))
    if sid is None:
        raise NotFound(f"no staff account {userid!r}", field="staff")
    return sid


def list_tasks(
    session: Session,
    viewer: Viewer,
    *,
    staff_id: int | None = None,
    status: str | None = "open",
    kind: str | None = None,
    due_before: datetime | None = None,
    customer_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Tasks, most urgent first, each with the customer's profile summary and content."""
    if not 1 <= limit <= LIST_MAX:
        raise Invalid(f"limit is 1 to {LIST_MAX}", field="limit")
    if status not in (None, "open", "done", "cancelled"):
        raise Invalid("status is open, done or cancelled", field="status")
    ws = viewer.workspace_id
    sid = _scoped(viewer, staff_id)
    stmt = (
        select(
            StaffTask,
            Staff.name,
            func.coalesce(Follow.remark, Customer.name),
            CustomerScore.layer_value,
            CustomerScore.rfm_segment,
            CustomerStats.net_fen,
            CustomerStats.paid_orders_count,
            CustomerStats.last_paid_at,
            ContentItem.title,
        )
        .outerjoin(Staff, Staff.id == StaffTask.staff_id)
        .outerjoin(Customer, Customer.id == StaffTask.customer_id)
        .outerjoin(
            Follow, and_(Follow.customer_id == StaffTask.customer_id, Follow.staff_id == StaffTask.staff_id)
        )
        .outerjoin(CustomerScore, CustomerScore.customer_id == StaffTask.customer_id)
        .outerjoin(CustomerStats, CustomerStats.customer_id == StaffTask.customer_id)
        .outerjoin(ContentItem, ContentItem.id == StaffTask.content_id)
        .where(StaffTask.workspace_id == ws)
    )
    if sid is not None:
        stmt = stmt.where(StaffTask.staff_id == sid)
    if status:
        stmt = stmt.where(StaffTask.status == status)
    if kind:
        stmt = stmt.where(StaffTask.kind == kind)
    if due_before is not None:
        stmt = stmt.where(StaffTask.due_at <= due_before)
    if customer_id is not None:
        stmt = stmt.where(StaffTask.customer_id == customer_id)
    stmt = stmt.order_by(StaffTask.priority, StaffTask.due_at, StaffTask.id).limit(limit)
    now = utcnow()
    out = []
    for task, staff_name, name, layer, rfm, net, orders, last_paid, content_title in session.execute(stmt):
        out.append(
            {
                **task_dict(task, now),
                "staff": staff_name,
                "customer": {
                    "name": name,
                    "layer": layer,
                    "rfm": rfm,
                    "net_fen": net,
                    "orders": orders,
                    "last_paid_at": last_paid.isoformat() if last_paid else None,
                }
                if task.customer_id
                else None,
                "content_title": content_title,
            }
        )
    return out


def task_dict(task: StaffTask, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    return {
        "id": task.id,
        "staff_id": task.staff_id,
        "customer_id": task.customer_id,
        "group_id": task.group_id,
        "kind": task.kind,
        "title": task.title,
        "body": task.body,
        "content_id": task.content_id,
        "priority": task.priority,
        "due_at": task.due_at.isoformat(),
        "status": task.status,
        "overdue": task.status == "open" and task.due_at < now,
        "done_at": task.done_at.isoformat() if task.done_at else None,
        "done_how": task.done_how,
        "on_time": (task.done_at <= task.due_at) if task.done_at else None,
        "escalated_at": task.escalated_at.isoformat() if task.escalated_at else None,
        "source": task.source,
        "source_ref": task.source_ref,
        "created_at": task.created_at.isoformat(),
    }


def add_manual(
    session: Session,
    *,
    workspace_id: int,
    staff_id: int,
    title: str,
    due_at: datetime,
    customer_id: int | None = None,
    body: str | None = None,
    content_id: int | None = None,
    priority: int = 2,
    actor: str = "operator",
) -> int:
    """A task set by hand by an operator."""
    staff = session.get(Staff, staff_id)
    if staff is None or staff.workspace_id != workspace_id:
        raise NotFound(f"no staff account {staff_id}", field="staff")
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.workspace_id != workspace_id:
            raise NotFound(f"no customer {customer_id}", field="customer_id")
    if content_id is not None:
        from siyu.automation.content import get_content

        get_content(session, workspace_id=workspace_id, content_id=content_id)
    tid = create_task(
        session,
        workspace_id=workspace_id,
        task=NewTask(
            staff_id=staff_id,
            kind="manual",
            title=title,
            due_at=due_at,
            customer_id=customer_id,
            body=body,
            content_id=content_id,
            priority=priority,
            source="manual",
            source_ref=actor[:64],
        ),
    )
    assert tid is not None
    return tid


def mark_done(session: Session, viewer: Viewer, *, task_id: int, how: str = "self_reported") -> StaffTask:
    """Staff say a task is done (``self_reported``) or an operator closes it (``operator``)."""
    task = session.get(StaffTask, task_id)
    if task is None or task.workspace_id != viewer.workspace_id:
        raise NotFound(f"no task {task_id}", field="task_id")
    if not viewer.sees_all_customers and task.staff_id != viewer.staff_id:
        raise NotFound(f"no task {task_id}", field="task_id")
    if how == "detected":
        raise Invalid("only siyu marks a task detected; say self_reported or operator", field="how")
    return complete_task(session, workspace_id=viewer.workspace_id, task_id=task_id, how=how)


def detect_completion(session: Session, *, workspace_id: int, limit: int = DETECT_BATCH) -> int:
    """Open tasks about a customer that the staff account has since messaged: done, detected."""
    first_out = (
        select(StaffTask.id, func.min(Message.sent_at))
        .join(
            Message,
            and_(
                Message.customer_id == StaffTask.customer_id,
                Message.staff_id == StaffTask.staff_id,
                Message.direction == "out",
                Message.sent_at >= StaffTask.created_at,
            ),
        )
        .where(
            StaffTask.workspace_id == workspace_id,
            StaffTask.status == "open",
            StaffTask.customer_id.is_not(None),
            StaffTask.kind.not_in(SELF_REPORT_ONLY),
        )
        .group_by(StaffTask.id)
        .limit(limit)
    )
    done = 0
    for tid, at in session.execute(first_out).all():
        complete_task(session, workspace_id=workspace_id, task_id=tid, how="detected", at=at)
        done += 1
    return done


def complete_on_event(
    session: Session,
    *,
    workspace_id: int,
    staff_id: int | None,
    customer_id: int | None,
    at: datetime,
    task_id: int | None = None,
) -> int:
    """A moment comment or a confirmed send: the matching open tasks are done, detected."""
    stmt = select(StaffTask.id).where(StaffTask.workspace_id == workspace_id, StaffTask.status == "open")
    if task_id is not None:
        stmt = stmt.where(StaffTask.id == task_id)
    elif staff_id is not None and customer_id is not None:
        stmt = stmt.where(
            StaffTask.staff_id == staff_id,
            StaffTask.customer_id == customer_id,
            StaffTask.created_at <= at,
            StaffTask.kind.not_in(SELF_REPORT_ONLY),
        )
    else:
        return 0
    ids = list(session.scalars(stmt))
    for tid in ids:
        complete_task(session, workspace_id=workspace_id, task_id=tid, how="detected", at=at)
    return len(ids)


def escalate_overdue(session: Session, *, workspace_id: int) -> dict[str, int]:
    """Overdue open tasks: marked escalated, and each team lead gets one task a day per account."""
    s = task_settings(session, workspace_id)
    now = utcnow()
    rows = session.execute(
        select(StaffTask.staff_id, func.count())
        .where(
            StaffTask.workspace_id == workspace_id,
            StaffTask.status == "open",
            StaffTask.due_at < now,
            StaffTask.escalated_at.is_(None),
            StaffTask.kind != "escalation",
        )
        .group_by(StaffTask.staff_id)
    ).all()
    if not rows:
        return {"escalated": 0, "lead_tasks": 0}
    total = 0
    lead_tasks = 0
    day = local_day(now, s.tz).isoformat()
    for sid, n in rows:
        session.execute(
            update(StaffTask)
            .where(
                StaffTask.workspace_id == workspace_id,
                StaffTask.status == "open",
                StaffTask.due_at < now,
                StaffTask.escalated_at.is_(None),
                StaffTask.kind != "escalation",
                StaffTask.staff_id == sid if sid is not None else StaffTask.staff_id.is_(None),
            )
            .values(escalated_at=now)
        )
        total += int(n)
        staff = session.get(Staff, sid) if sid is not None else None
        lead_userid = s.team_leads.get(staff.department or "") if staff is not None else None
        lead = (
            session.scalar(
                select(Staff.id).where(Staff.workspace_id == workspace_id, Staff.userid == lead_userid)
            )
            if lead_userid
            else None
        )
        record_event(
            session,
            workspace_id=workspace_id,
            kind="task.escalated",
            occurred_at=now,
            source="siyu",
            staff_id=sid,
            payload={"overdue": int(n), "lead_staff_id": lead},
        )
        if lead is not None and lead != sid and staff is not None:
            made = create_task(
                session,
                workspace_id=workspace_id,
                task=NewTask(
                    staff_id=lead,
                    kind="escalation",
                    title=f"{staff.name or staff.userid} 有任务逾期未完成",
                    body=f"逾期 {n} 个任务（{day}）",
                    due_at=next_due(now, s),
                    priority=1,
                    source="escalation",
                    source_ref=f"staff:{sid}",
                    dedup_key=f"esc:{lead}:{sid}:{day}",
                    extra={"staff_id": sid, "overdue": int(n)},
                ),
            )
            lead_tasks += made is not None
    return {"escalated": total, "lead_tasks": lead_tasks}


@dataclass
class Completion:
    staff_id: int | None
    staff: str
    team: str
    total: int = 0
    done: int = 0
    on_time: int = 0
    late: int = 0
    open: int = 0
    overdue: int = 0
    detected: int = 0
    self_reported: int = 0

    @property
    def rate(self) -> float:
        return round(self.done / self.total, 4) if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate}


def completion(
    session: Session, viewer: Viewer, *, since: datetime, until: datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Completion per account and per team (department) for tasks due in the window."""
    until = until or utcnow()
    now = utcnow()
    ws = viewer.workspace_id
    on_time_col = (StaffTask.done_at <= StaffTask.due_at).label("on_time")
    past_col = (StaffTask.due_at < now).label("past")
    stmt = (
        select(
            StaffTask.staff_id,
            Staff.name,
            Staff.userid,
            Staff.department,
            StaffTask.status,
            StaffTask.done_how,
            on_time_col,
            past_col,
            func.count(),
        )
        .outerjoin(Staff, Staff.id == StaffTask.staff_id)
        .where(StaffTask.workspace_id == ws, StaffTask.due_at >= since, StaffTask.due_at < until)
        .where(StaffTask.kind != "escalation")
        .group_by(
            StaffTask.staff_id,
            Staff.name,
            Staff.userid,
            Staff.department,
            StaffTask.status,
            StaffTask.done_how,
            on_time_col,
            past_col,
        )
    )
    if not viewer.sees_all_customers:
        stmt = stmt.where(StaffTask.staff_id == viewer.staff_id)
    per: dict[int | None, Completion] = {}
    teams: dict[str, Completion] = {}
    for sid, name, userid, dept, status, how, on_time, past, n in session.execute(stmt):
        n = int(n)
        team = dept or "未分组"
        for agg in (
            per.setdefault(sid, Completion(sid, name or userid or "未分配", team)),
            teams.setdefault(team, Completion(None, team, team)),
        ):
            agg.total += n
            if status == "done":
                agg.done += n
                if on_time:
                    agg.on_time += n
                else:
                    agg.late += n
                if how == "detected":
                    agg.detected += n
                elif how == "self_reported":
                    agg.self_reported += n
            elif status == "open":
                agg.open += n
                if past:
                    agg.overdue += n
    return {
        "accounts": [c.as_dict() for c in sorted(per.values(), key=lambda c: (-c.rate, c.staff))],
        "teams": [c.as_dict() for c in sorted(teams.values(), key=lambda c: (-c.rate, c.team))],
    }


def open_counts(session: Session, *, workspace_id: int, staff_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(
        select(StaffTask.staff_id, func.count())
        .where(
            StaffTask.workspace_id == workspace_id,
            StaffTask.status == "open",
            StaffTask.staff_id.in_(list(staff_ids)),
        )
        .group_by(StaffTask.staff_id)
    )
    return {int(s or 0): int(n) for s, n in rows}
