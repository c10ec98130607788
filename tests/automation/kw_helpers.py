"""Rows the keyword tests need: staff, customers and messages inserted directly."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.customers.service import IdentityInput, resolve_customer
from siyu.kit.pii import get_vault
from siyu.kit.timeutil import utcnow
from siyu.models import Message, Staff

_ids = itertools.count(1)


def staff(session: Session, workspace_id: int, userid: str = "zhangsan", name: str = "张三") -> Staff:
    s = Staff(workspace_id=workspace_id, userid=userid, name=name)
    session.add(s)
    session.flush()
    return s


def customer(session: Session, workspace_id: int, ext: str, name: str = "小红") -> int:
    c = resolve_customer(
        session,
        workspace_id=workspace_id,
        identities=[IdentityInput("external_userid", ext)],
        source="test",
        name=name,
    )
    return c.id


def message(
    session: Session,
    workspace_id: int,
    text: str | None,
    *,
    source: str = "archive",
    direction: str = "in",
    customer_id: int | None = None,
    staff_id: int | None = None,
    group_id: int | None = None,
    sender: str = "wm_x",
    sent_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> Message:
    m = Message(
        workspace_id=workspace_id,
        source=source,
        msgid=f"m{next(_ids)}",
        direction=direction,
        staff_id=staff_id,
        customer_id=customer_id,
        group_id=group_id,
        sender=sender,
        msgtype="text",
        sent_at=sent_at or utcnow(),
        text_enc=get_vault().encrypt(text) if text is not None else None,
        payload=payload,
    )
    session.add(m)
    session.flush()
    return m
