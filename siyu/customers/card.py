"""The chat sidebar's reads and writes for one staff member (聊天工具栏).

A staff member sees a customer only through their own active follow (the same rule as
``siyu.customers.visibility``), and a group only when their account owns it or is in it.
Everything here takes the staff member's ``workspace_id`` and ``staff_id``.

Seams: tag changes go through ``siyu.customers.tags`` (the push to WeCom's
``mark_tag`` is the tagging domain's work, triggered from there); SOP enrollment comes
from ``sop_enrollment`` (empty until plans exist); tasks are read from ``staff_tasks``
and completed through ``siyu.execution.service.complete_task``.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers import fields as profile_fields
from siyu.customers.profile import profile
from siyu.customers.tags import add_tags, customer_tags, ensure_tag, remove_tags
from siyu.execution.service import complete_task
from siyu.kit import audit
from siyu.kit.errors import Forbidden, Invalid, NotFound
from siyu.models import (
    ContentItem,
    Customer,
    CustomerNote,
    Follow,
    Group,
    GroupMember,
    Order,
    OrderBinding,
    StaffTask,
)
from siyu.segments.labels import LAYER_NAMES, RFM_NAMES

NOTE_MAX = 2000
ORDER_NO_MAX = 64
SIDEBAR_TAG_GROUP = "默认"


def _follow(
    session: Session,
    workspace_id: int,
    staff_id: int,
    *,
    external_userid: str | None = None,
    customer_id: int | None = None,
) -> Follow:
    stmt = select(Follow).where(
        Follow.workspace_id == workspace_id, Follow.staff_id == staff_id, Follow.state == "active"
    )
    if external_userid is not None:
        stmt = stmt.where(Follow.external_userid == external_userid)
    else:
        stmt = stmt.where(Follow.customer_id == customer_id)
    follow = session.scalars(stmt.limit(1)).first()
    if follow is None:
        raise Forbidden("this customer is not one of your friends", field="customer")
    return follow


def my_customer(session: Session, workspace_id: int, staff_id: int, customer_id: int) -> Customer:
    """The customer, if the staff member follows them (else ``Forbidden``)."""
    _follow(session, workspace_id, staff_id, customer_id=customer_id)
    customer = session.get(Customer, customer_id)
    if customer is None or customer.workspace_id != workspace_id:
        raise NotFound(f"no customer {customer_id}", field="customer_id")
    return customer


def sop_enrollment(
    session: Session, *, workspace_id: int, customer_id: int | None = None, group_id: int | None = None
) -> list[dict[str, Any]]:
    """The SOP plans this customer is in, still running: plan, current step, next step.

    For a group: its own group plans (``subject: group``: next step and when), then the
    plans its members are in through the group (``joined_group`` plans: a group's
    onboarding runs per member who joins), each with its next step and how many members
    are at it.
    """
    sop = importlib.import_module("siyu.automation.sop.service")  # automation builds on customers
    if customer_id is None:
        if group_id is None:
            return []
        return list(sop.group_enrollments(session, workspace_id=workspace_id, group_id=group_id))
    rows = sop.customer_enrollments(session, workspace_id=workspace_id, customer_id=customer_id)
    return [
        {"plan": r["plan"], "step": r["next_step"] or "", "next_due_at": r["next_due_at"]}
        for r in rows
        if r["status"] == "active"
    ]


def _tasks(session: Session, workspace_id: int, staff_id: int, **where: int) -> list[dict[str, Any]]:
    stmt = select(StaffTask).where(
        StaffTask.workspace_id == workspace_id, StaffTask.staff_id == staff_id, StaffTask.status == "open"
    )
    for col, value in where.items():
        stmt = stmt.where(getattr(StaffTask, col) == value)
    return [
        {
            "id": t.id,
            "kind": t.kind,
            "title": t.title,
            "body": t.body,
            "content_id": t.content_id,
            "priority": t.priority,
            "due_at": t.due_at.isoformat(),
        }
        for t in session.scalars(stmt.order_by(StaffTask.due_at, StaffTask.id).limit(50))
    ]


def customer_card(
    session: Session, *, workspace_id: int, staff_id: int, external_userid: str
) -> dict[str, Any]:
    """What the sidebar shows beside a 1:1 chat with ``external_userid``."""
    follow = _follow(session, workspace_id, staff_id, external_userid=external_userid)
    customer = session.get(Customer, follow.customer_id)
    assert customer is not None
    p = profile(session, customer, can_reveal_phone=False, orders_limit=5, events_limit=0)
    layer = p.scores.layer_value or p.scores.layer_tier
    rfm = p.scores.rfm8 or p.scores.rfm_segment
    notes = session.scalars(
        select(CustomerNote)
        .where(CustomerNote.workspace_id == workspace_id, CustomerNote.customer_id == customer.id)
        .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc())
        .limit(20)
    )
    fields = profile_fields.list_fields(session, workspace_id=workspace_id)
    values = profile_fields.customer_values(session, workspace_id=workspace_id, customer_id=customer.id)
    bindings = session.execute(
        select(Order.external_id, OrderBinding.order_id)
        .join(Order, Order.id == OrderBinding.order_id)
        .where(OrderBinding.workspace_id == workspace_id, OrderBinding.customer_id == customer.id)
    ).all()
    return {
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "remark": follow.remark,
            "phone": p.phone_masked,
            "added_at": follow.added_at.isoformat() if follow.added_at else None,
        },
        "layer": {"code": layer, "name": LAYER_NAMES.get(layer or "", layer)} if layer else None,
        "rfm": {"code": rfm, "name": RFM_NAMES.get(rfm or "", rfm)} if rfm else None,
        "clv_fen": p.predictions.expected_value_fen,
        "stats": {
            "orders": p.stats.effective_orders_count,
            "paid_fen": p.stats.paid_fen,
        },
        "orders": [
            {
                "id": o.id,
                "external_id": o.external_id,
                "platform": o.platform,
                "status": o.status,
                "paid_fen": o.paid_fen,
                "title": o.title,
                "ordered_at": o.ordered_at.isoformat() if o.ordered_at else None,
            }
            for o in p.orders
        ],
        "tags": [{"id": t.id, "name": t.name, "group": t.group} for t in p.tags],
        "tasks": _tasks(session, workspace_id, staff_id, customer_id=customer.id),
        "sop": sop_enrollment(session, workspace_id=workspace_id, customer_id=customer.id),
        "fields": [
            {
                "key": f.key,
                "label": f.label,
                "kind": f.kind,
                "options": list(f.options),
                "value": values.get(f.key, ""),
            }
            for f in fields
        ],
        "notes": [{"id": n.id, "text": n.text, "created_at": n.created_at.isoformat()} for n in notes],
        "bound_orders": [{"order_no": no, "order_id": oid} for no, oid in bindings],
    }


def group_card(session: Session, *, workspace_id: int, staff_id: int, chat_id: str) -> dict[str, Any]:
    """What the sidebar shows beside a group chat: its type and the members who are customers."""
    group = session.scalar(select(Group).where(Group.workspace_id == workspace_id, Group.chat_id == chat_id))
    if group is None:
        raise NotFound("this group is not known to siyu yet (sync the groups)", field="chat_id")
    in_group = session.scalar(
        select(GroupMember.id).where(
            GroupMember.group_id == group.id, GroupMember.staff_id == staff_id, GroupMember.state == "active"
        )
    )
    if group.owner_staff_id != staff_id and in_group is None:
        raise Forbidden("you are not the owner or a member of this group", field="chat_id")
    mine = select(Follow.customer_id).where(
        Follow.workspace_id == workspace_id, Follow.staff_id == staff_id, Follow.state == "active"
    )
    members = session.execute(
        select(GroupMember.customer_id, GroupMember.name, GroupMember.join_time, Customer.name)
        .join(Customer, Customer.id == GroupMember.customer_id)
        .where(
            GroupMember.group_id == group.id,
            GroupMember.state == "active",
            GroupMember.customer_id.is_not(None),
        )
        .order_by(GroupMember.join_time)
    ).all()
    my_ids = set(session.scalars(mine.where(Follow.customer_id.in_([m[0] for m in members]))))
    return {
        "group": {
            "id": group.id,
            "name": group.name,
            "type": group.group_type,
            "member_count": group.member_count,
            "owner_is_me": group.owner_staff_id == staff_id,
        },
        "customers": [
            {
                "id": cid,
                "name": cname or gname,
                "joined_at": jt.isoformat() if jt else None,
                "my_friend": cid in my_ids,
            }
            for cid, gname, jt, cname in members
        ],
        "tasks": _tasks(session, workspace_id, staff_id, group_id=group.id),
        "sop": sop_enrollment(session, workspace_id=workspace_id, group_id=group.id),
    }


def scripts(session: Session, *, workspace_id: int, query: str = "", limit: int = 50) -> list[dict[str, Any]]:
    """Texts and scripts (话术) from the content library, for one-tap sending."""
    stmt = select(ContentItem).where(
        ContentItem.workspace_id == workspace_id,
        ContentItem.deleted_at.is_(None),
        ContentItem.kind.in_(("script", "text")),
        ContentItem.text.is_not(None),
    )
    q = query.strip()
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(ContentItem.title.like(like) | ContentItem.text.like(like))
    return [
        {"id": c.id, "kind": c.kind, "title": c.title, "text": c.text, "folder": c.folder}
        for c in session.scalars(stmt.order_by(ContentItem.folder, ContentItem.id).limit(limit))
    ]


def change_tags(
    session: Session, *, workspace_id: int, staff_id: int, customer_id: int, add: list[str], remove: list[int]
) -> list[dict[str, Any]]:
    """Add tags by name and remove tags by id on one of the staff member's customers."""
    my_customer(session, workspace_id, staff_id, customer_id)
    if add:
        ids = [
            ensure_tag(session, workspace_id=workspace_id, name=n, group_name=SIDEBAR_TAG_GROUP).id
            for n in add
        ]
        # WeCom push (mark_tag) seam: the tagging domain mirrors manual tags to WeCom.
        add_tags(
            session,
            workspace_id=workspace_id,
            customer_ids=[customer_id],
            tag_ids=ids,
            source="manual",
            source_ref="sidebar",
            staff_id=staff_id,
        )
    if remove:
        remove_tags(session, workspace_id=workspace_id, customer_ids=[customer_id], tag_ids=remove)
    return [
        {"id": t.id, "name": t.name, "group": g.name}
        for t, g, _ in customer_tags(session, workspace_id=workspace_id, customer_id=customer_id)
    ]


def set_fields(
    session: Session,
    *,
    workspace_id: int,
    staff_id: int,
    customer_id: int,
    values: dict[str, str],
    actor: str,
) -> dict[str, str]:
    my_customer(session, workspace_id, staff_id, customer_id)
    clean = profile_fields.set_values(
        session, workspace_id=workspace_id, customer_id=customer_id, values=values, staff_id=staff_id
    )
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="customer.fields",
        target_type="customer",
        target_id=customer_id,
        detail={"fields": sorted(clean)},
    )
    return clean


def add_note(
    session: Session, *, workspace_id: int, staff_id: int, customer_id: int, text: str
) -> CustomerNote:
    my_customer(session, workspace_id, staff_id, customer_id)
    text = text.strip()
    if not text:
        raise Invalid("a note is empty", field="text")
    if len(text) > NOTE_MAX:
        raise Invalid(f"a note is at most {NOTE_MAX} characters", field="text")
    note = CustomerNote(workspace_id=workspace_id, customer_id=customer_id, staff_id=staff_id, text=text)
    session.add(note)
    session.flush()
    return note


def bind_order(
    session: Session, *, workspace_id: int, staff_id: int, customer_id: int, order_no: str, actor: str
) -> dict[str, Any]:
    """Bind an imported order to this friend of the staff member (the sidebar's form).

    The binding itself is acquisition's (``siyu.acquisition.binding.bind_order``, the
    same as the parcel-card page, from the sidebar: no tries limit, no last four digits
    asked of staff): the order joins the friend's profile through OneID.
    """
    follow = _follow(session, workspace_id, staff_id, customer_id=customer_id)
    if not order_no.strip() or len(order_no) > ORDER_NO_MAX:
        raise Invalid(f"an order number is 1 to {ORDER_NO_MAX} characters", field="order_no")
    binding = importlib.import_module("siyu.acquisition.binding")
    bound = binding.bind_order(
        session,
        workspace_id=workspace_id,
        follow_id=follow.id,
        order_no=order_no,
        source="sidebar",
        actor=actor,
    )
    return dict(bound.as_dict())


def finish_task(session: Session, *, workspace_id: int, staff_id: int, task_id: int) -> StaffTask:
    """The done button: only the task's owner, marked ``operator`` (a person said so)."""
    owner = session.scalar(
        select(StaffTask.staff_id).where(StaffTask.workspace_id == workspace_id, StaffTask.id == task_id)
    )
    if owner is None or owner != staff_id:
        raise NotFound(f"no open task {task_id} of yours", field="task_id")
    return complete_task(session, workspace_id=workspace_id, task_id=task_id, how="operator")
