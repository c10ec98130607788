"""The customer search box: plain text, a phone's last four digits, or an audience.

What a person types is read as:

- an **audience expression** when it has a field (``:`` / ``：``) or a comparison
  (``>=``, ``<``, ``=``, ``≥`` …): every term of the language has one, so a name never
  reads as an expression (a bad expression is an error naming its column);
- **four digits**: the last four digits of a phone (``customer_identities.phone_last4``,
  kept for this alone; the whole number is stored only encrypted and hashed);
- a **whole phone number** (11 digits, separators allowed): its keyed hash, exactly;
- anything else is **plain text**: name, a staff member's remark on the WeCom friend, or
  the nickname in a customer group contains it. Plain text never errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, or_, select

from siyu.customers.repository import escape_like
from siyu.kit.pii import PIIError, get_vault, normalise_phone
from siyu.models import Customer, CustomerIdentity, Follow, GroupMember

# Every audience term has a field or a comparison; plain text has neither.
_EXPRESSION_MARK = re.compile(r"[:：<>=≥≤]")
_LAST4 = re.compile(r"^\d{4}$")
_PHONEISH = re.compile(r"^\+?[\d\s\-()]{7,}$")
MAX_TEXT = 100

Kind = Literal["audience", "last4", "phone", "text"]


@dataclass(frozen=True)
class Search:
    """What the box holds, read: ``kind`` and the value to look for."""

    kind: Kind
    value: str
    note: str | None = None  # said to the user beside the result (never an error)


def read(text: str) -> Search:
    """Classify what was typed (see the module docstring)."""
    text = text.strip()
    if _EXPRESSION_MARK.search(text):
        return Search("audience", text)
    if _LAST4.match(text):
        return Search("last4", text)
    if _PHONEISH.match(text):
        try:
            e164 = normalise_phone(text)
        except PIIError:
            e164 = None
        if e164 is not None:
            return Search("phone", e164)
        return Search(
            "text",
            text,
            note=(
                "phone search needs the whole number or its last four digits "
                "(numbers are stored encrypted and hashed, so other parts cannot be searched)"
            ),
        )
    return Search("text", text[:MAX_TEXT])


def clause(workspace_id: int, search: Search) -> ColumnElement[bool]:
    """A WHERE clause on ``Customer`` for a non-audience search."""
    if search.kind == "last4":
        return Customer.id.in_(
            select(CustomerIdentity.customer_id).where(
                CustomerIdentity.workspace_id == workspace_id,
                CustomerIdentity.phone_last4 == search.value,
            )
        )
    if search.kind == "phone":
        digest = get_vault().identity_hash("phone", search.value)
        return Customer.id.in_(
            select(CustomerIdentity.customer_id).where(
                CustomerIdentity.workspace_id == workspace_id,
                CustomerIdentity.kind == "phone",
                CustomerIdentity.value_hash == digest,
            )
        )
    if search.kind == "audience":
        raise ValueError("an audience expression is not a text search")
    pattern = f"%{escape_like(search.value)}%"
    return or_(
        Customer.name.like(pattern, escape="\\"),
        Customer.id.in_(
            select(Follow.customer_id).where(
                Follow.workspace_id == workspace_id, Follow.remark.like(pattern, escape="\\")
            )
        ),
        Customer.id.in_(
            select(GroupMember.customer_id).where(
                GroupMember.workspace_id == workspace_id,
                GroupMember.customer_id.is_not(None),
                GroupMember.name.like(pattern, escape="\\"),
            )
        ),
    )
