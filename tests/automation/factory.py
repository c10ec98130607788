"""Small builders for SOP and task tests: staff, friends, messages."""

from __future__ import annotations

from datetime import datetime
from itertools import count

from sqlalchemy.orm import Session

from siyu.customers.follows import follow_added
from siyu.customers.service import IdentityInput, resolve_customer
from siyu.kit.events import record_event
from siyu.models import Message
from siyu.staff.service import ensure_staff

_seq = count(1)


def staff(session: Session, workspace_id: int, userid: str, department: str = "一组") -> int:
    return ensure_staff(
        session, workspace_id=workspace_id, userid=userid, name=userid, department=department
    ).id


def friend(
    session: Session,
    workspace_id: int,
    staff_id: int,
    at: datetime,
    *,
    state: str | None = None,
    remark: str | None = None,
    event: bool = True,
) -> int:
    """A customer who became the staff account's friend at ``at`` (with the friend.add event)."""
    ext = f"wm_t{next(_seq)}"
    customer = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput("external_userid", ext)], source="test"
    )
    change = follow_added(
        session,
        workspace_id=workspace_id,
        staff_id=staff_id,
        customer_id=customer.id,
        at=at,
        external_userid=ext,
        live_code_state=state,
    )
    if remark is not None:
        from sqlalchemy import select

        from siyu.models import Follow

        f = session.scalar(
            select(Follow).where(Follow.staff_id == staff_id, Follow.customer_id == customer.id)
        )
        assert f is not None
        f.remark = remark
    if event:
        record_event(
            session,
            workspace_id=workspace_id,
            kind="friend.add",
            occurred_at=at,
            source="test",
            customer_id=customer.id,
            staff_id=staff_id,
            dedup_key=f"test-add:{ext}",
            payload={"state": state, "applied": change.applied, "half": False},
        )
    session.flush()
    return customer.id


def message(
    session: Session,
    workspace_id: int,
    *,
    staff_id: int,
    customer_id: int,
    at: datetime,
    direction: str = "out",
) -> int:
    m = Message(
        workspace_id=workspace_id,
        source="archive",
        msgid=f"m{next(_seq)}",
        direction=direction,
        staff_id=staff_id,
        customer_id=customer_id,
        sender="x",
        msgtype="text",
        sent_at=at,
    )
    session.add(m)
    session.flush()
    return m.id
