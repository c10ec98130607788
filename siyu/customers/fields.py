"""Custom profile fields per workspace (生日, 肤质 ...) and customers' values.

Staff fill them in from the chat sidebar, keyword rules set them, SOP date triggers read
them (``values_for_field``: every customer's value of one field).
"""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.errors import Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, CustomerFieldValue, ProfileField

FIELD_KINDS = ("text", "date", "number", "choice")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VALUE_MAX = 500


def define_field(
    session: Session,
    *,
    workspace_id: int,
    key: str,
    label: str,
    kind: str = "text",
    options: list[str] | None = None,
) -> ProfileField:
    """Create (or revive and update) a field; refused when key, kind or options are bad."""
    if not KEY_RE.match(key):
        raise Invalid("a field key is lowercase letters, digits and _ (starting with a letter)", field="key")
    label = label.strip()
    if not label or len(label) > 40:
        raise Invalid("a field label is 1 to 40 characters", field="label")
    if kind not in FIELD_KINDS:
        raise Invalid(f"kind is one of {', '.join(FIELD_KINDS)}", field="kind")
    opts = [o.strip() for o in (options or []) if o.strip()]
    if kind == "choice" and not opts:
        raise Invalid("a choice field needs options", field="options")
    row = session.scalar(
        select(ProfileField).where(ProfileField.workspace_id == workspace_id, ProfileField.key == key)
    )
    if row is None:
        row = ProfileField(workspace_id=workspace_id, key=key, label=label, kind=kind, options=opts)
        session.add(row)
        session.flush()
    else:
        row.label, row.kind, row.options, row.deleted_at = label, kind, opts, None
    return row


def list_fields(session: Session, *, workspace_id: int) -> list[ProfileField]:
    return list(
        session.scalars(
            select(ProfileField)
            .where(ProfileField.workspace_id == workspace_id, ProfileField.deleted_at.is_(None))
            .order_by(ProfileField.sort_order, ProfileField.id)
        )
    )


def check_value(pf: ProfileField, value: str) -> str:
    """The stored form of ``value`` for field ``pf`` (``Invalid`` naming the field)."""
    value = value.strip()
    if len(value) > VALUE_MAX:
        raise Invalid(f"{pf.label} is at most {VALUE_MAX} characters", field=pf.key)
    if not value:
        return value
    if pf.kind == "date":
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise Invalid(f"{pf.label} is a date like 1990-05-20", field=pf.key) from exc
    if pf.kind == "number":
        try:
            float(value)
        except ValueError as exc:
            raise Invalid(f"{pf.label} is a number", field=pf.key) from exc
    if pf.kind == "choice" and value not in pf.options:
        raise Invalid(f"{pf.label} is one of {', '.join(pf.options)}", field=pf.key)
    return value


def set_values(
    session: Session,
    *,
    workspace_id: int,
    customer_id: int,
    values: dict[str, str],
    source: str = "sidebar",
    staff_id: int | None = None,
) -> dict[str, str]:
    """Set several fields of one customer (an empty value clears); all checked first."""
    if (
        session.scalar(
            select(Customer.id).where(Customer.workspace_id == workspace_id, Customer.id == customer_id)
        )
        is None
    ):
        raise NotFound(f"no customer {customer_id}", field="customer_id")
    fields = {f.key: f for f in list_fields(session, workspace_id=workspace_id)}
    clean: dict[str, str] = {}
    for key, value in values.items():
        pf = fields.get(key)
        if pf is None:
            raise Invalid(f"no profile field {key!r}", field=key)
        clean[key] = check_value(pf, value)
    now = utcnow()
    for key, value in clean.items():
        pf = fields[key]
        row = session.scalar(
            select(CustomerFieldValue).where(
                CustomerFieldValue.customer_id == customer_id, CustomerFieldValue.field_id == pf.id
            )
        )
        if not value:
            if row is not None:
                session.delete(row)
            continue
        if row is None:
            session.add(
                CustomerFieldValue(
                    workspace_id=workspace_id,
                    customer_id=customer_id,
                    field_id=pf.id,
                    value=value,
                    source=source,
                    staff_id=staff_id,
                    updated_at=now,
                )
            )
        else:
            row.value, row.source, row.staff_id, row.updated_at = value, source, staff_id, now
    session.flush()
    return clean


def customer_values(session: Session, *, workspace_id: int, customer_id: int) -> dict[str, str]:
    rows = session.execute(
        select(ProfileField.key, CustomerFieldValue.value)
        .join(CustomerFieldValue, CustomerFieldValue.field_id == ProfileField.id)
        .where(
            ProfileField.workspace_id == workspace_id,
            ProfileField.deleted_at.is_(None),
            CustomerFieldValue.customer_id == customer_id,
        )
    )
    return {row[0]: row[1] for row in rows}


def values_for_field(session: Session, *, workspace_id: int, key: str) -> dict[int, str]:
    """Every customer's value of field ``key`` (SOP date triggers read birthdays here)."""
    rows = session.execute(
        select(CustomerFieldValue.customer_id, CustomerFieldValue.value)
        .join(ProfileField, ProfileField.id == CustomerFieldValue.field_id)
        .where(ProfileField.workspace_id == workspace_id, ProfileField.key == key)
    )
    return {row[0]: row[1] for row in rows}
