"""Privacy requests under PIPL (个人信息保护法): export, anonymise, opt out.

- Export: every row about one customer, phones decrypted (the export is for the
  person themselves), written to the audit log.
- Anonymise: identities deleted (their keyed hashes kept as suppression keys, so
  OneID leads an old export back to the anonymised profile), name / phone / address /
  notes cleared on the customer, their orders, follows, group memberships and events.
  Every other stored copy of the identifiers (callback bodies, job payloads, event
  payloads, row errors, notes, upload files on disk) is redacted too
  (``siyu.privacy.erasure``). Orders, amounts and aggregates stay so that the books
  still add up. Irreversible and audited; the audit entry keeps only masked forms.
- Opt out: ``Customer.opt_out`` — automated marketing must skip the customer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from siyu.community.groups import ERASED_PREFIX
from siyu.customers import repository as customers_repo
from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.pii import PIIError, get_vault
from siyu.kit.timeutil import utcnow
from siyu.models import (
    ORDER_PERSONAL_FIELDS,
    AuditLog,
    Customer,
    CustomerIdentity,
    CustomerScore,
    CustomerStats,
    CustomerTag,
    Event,
    Follow,
    Group,
    GroupMember,
    Order,
    OrderItem,
    Staff,
    Tag,
    TagGroup,
)
from siyu.privacy import erasure

EXPORT_FORMAT = "siyu.privacy.export/1"
MAX_REASON = 500


def _get(session: Session, workspace_id: int, customer_id: int) -> Customer:
    customer = session.scalar(
        select(Customer).where(Customer.workspace_id == workspace_id, Customer.id == customer_id)
    )
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
    return customer


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(obj: Any, *skip: str) -> dict[str, Any]:
    return {
        col.key: _plain(getattr(obj, col.key))
        for col in obj.__table__.columns
        if col.key not in skip and col.key != "workspace_id"
    }


def _reason(reason: str | None) -> str | None:
    if reason is not None and len(reason) > MAX_REASON:
        raise Invalid(f"reason is longer than {MAX_REASON} characters", field="reason")
    return reason.strip() if reason else None


def customer_family(session: Session, *, workspace_id: int, customer_id: int) -> list[int]:
    """The customer and every tombstone merged into it (same person, older ids)."""
    ids = [customer_id]
    frontier = [customer_id]
    while frontier:
        found = list(
            session.scalars(
                select(Customer.id).where(
                    Customer.workspace_id == workspace_id, Customer.merged_into_id.in_(frontier)
                )
            )
        )
        found = [i for i in found if i not in ids]
        ids.extend(found)
        frontier = found
    return ids


def export_customer(session: Session, *, workspace_id: int, customer_id: int, actor: str) -> dict[str, Any]:
    """Everything stored about one person, as plain JSON-ready data (audited)."""
    customer = _get(session, workspace_id, customer_id)
    ids = customer_family(session, workspace_id=workspace_id, customer_id=customer.id)
    vault = get_vault()
    identities = []
    for ident in session.scalars(
        select(CustomerIdentity).where(CustomerIdentity.customer_id.in_(ids)).order_by(CustomerIdentity.id)
    ):
        row = _row(ident, "value_hash", "value_enc")
        if ident.kind == "phone" and ident.value_enc:
            try:
                row["value"] = vault.decrypt(ident.value_enc)
            except (PIIError, ValueError):
                row["value"] = None
        identities.append(row)
    orders = list(session.scalars(select(Order).where(Order.customer_id.in_(ids)).order_by(Order.id)))
    items: dict[int, list[dict[str, Any]]] = {}
    if orders:
        for item in session.scalars(
            select(OrderItem).where(OrderItem.order_id.in_([o.id for o in orders])).order_by(OrderItem.id)
        ):
            items.setdefault(item.order_id, []).append(_row(item, "order_id"))
    tags = [
        {"group": g.name, "name": t.name, "source": ct.source, "added_at": _plain(ct.created_at)}
        for t, g, ct in session.execute(
            select(Tag, TagGroup, CustomerTag)
            .join(CustomerTag, CustomerTag.tag_id == Tag.id)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(CustomerTag.customer_id.in_(ids))
            .order_by(CustomerTag.id)
        )
    ]
    follows = [
        {**_row(f, "customer_id"), "staff_userid": s.userid, "staff_name": s.name}
        for f, s in session.execute(
            select(Follow, Staff)
            .join(Staff, Staff.id == Follow.staff_id)
            .where(Follow.customer_id.in_(ids))
            .order_by(Follow.id)
        )
    ]
    groups = [
        {**_row(m, "customer_id"), "group_name": g.name}
        for m, g in session.execute(
            select(GroupMember, Group)
            .join(Group, Group.id == GroupMember.group_id)
            .where(GroupMember.customer_id.in_(ids))
            .order_by(GroupMember.id)
        )
    ]
    events = [
        _row(e)
        for e in session.scalars(
            select(Event).where(Event.customer_id.in_(ids)).order_by(Event.occurred_at, Event.id)
        )
    ]
    stats = session.get(CustomerStats, customer.id)
    scores = session.get(CustomerScore, customer.id)
    audit_rows = [
        _row(a)
        for a in session.scalars(
            select(AuditLog)
            .where(
                AuditLog.workspace_id == workspace_id,
                AuditLog.target_type == "customer",
                AuditLog.target_id.in_([str(i) for i in ids]),
            )
            .order_by(AuditLog.id)
        )
    ]
    data = {
        "format": EXPORT_FORMAT,
        "exported_at": utcnow().isoformat(),
        "customer": _row(customer),
        "merged_ids": ids[1:],
        "identities": identities,
        "tags": tags,
        "follows": follows,
        "groups": groups,
        "orders": [{**_row(o), "items": items.get(o.id, [])} for o in orders],
        "stats": _row(stats, "customer_id") if stats else None,
        "scores": _row(scores, "customer_id") if scores else None,
        "events": events,
        "audit": audit_rows,
    }
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="privacy.export",
        target_type="customer",
        target_id=customer.id,
        detail={"orders": len(orders), "events": len(events), "identities": len(identities)},
    )
    return data


def anonymise_customer(
    session: Session, *, workspace_id: int, customer_id: int, actor: str, reason: str | None = None
) -> dict[str, int]:
    """Erase a person's PII, keep the orders and aggregates; returns counts per table."""
    reason = _reason(reason)
    customer = _get(session, workspace_id, customer_id)
    if customer.merged_into_id is not None:
        raise Conflict(
            f"customer {customer_id} was merged into {customer.merged_into_id}; anonymise that one",
            field="customer_id",
        )
    if customer.anonymised_at is not None:
        raise Conflict(f"customer {customer_id} is already anonymised", field="customer_id")
    ids = customer_family(session, workspace_id=workspace_id, customer_id=customer.id)
    now = utcnow()
    counts: dict[str, int] = {}
    # The values to hunt for elsewhere, read before the fields holding them are cleared.
    identifiers = erasure.collect(session, workspace_id=workspace_id, customer_ids=ids)

    def run(name: str, stmt: Any) -> None:
        result = cast(CursorResult[Any], session.execute(stmt))
        counts[name] = int(result.rowcount or 0)

    # The identities go; their keyed hashes stay as suppression keys, so that an old
    # export or a WeCom sync finds this anonymised profile instead of rebuilding one.
    counts["identities"] = customers_repo.erase_identities(
        session, workspace_id=workspace_id, customer_ids=ids, owner_id=customer.id
    )
    run(
        "orders",
        update(Order)
        .where(Order.workspace_id == workspace_id, Order.customer_id.in_(ids))
        .values({**dict.fromkeys(ORDER_PERSONAL_FIELDS), "extra": {}}),
    )
    run(
        "follows",
        update(Follow)
        .where(Follow.workspace_id == workspace_id, Follow.customer_id.in_(ids))
        .values(remark=None, description=None, external_userid=None),
    )
    # The WeCom external_userid is the member key of a group; replace it with a token.
    members = list(
        session.scalars(
            select(GroupMember).where(
                GroupMember.workspace_id == workspace_id, GroupMember.customer_id.in_(ids)
            )
        )
    )
    for member in members:
        member.userid = f"{ERASED_PREFIX}{member.id}"
        member.name = None
        member.invitor_userid = None
    counts["group_members"] = len(members)
    # Message texts and other payloads may quote the person; the event facts stay.
    run(
        "events",
        update(Event)
        .where(Event.workspace_id == workspace_id, Event.customer_id.in_(ids))
        .values(payload={}),
    )
    run(
        "customers",
        update(Customer)
        .where(Customer.workspace_id == workspace_id, Customer.id.in_(ids))
        .values(
            name=None,
            avatar=None,
            birthday=None,
            gender=0,
            city=None,
            opt_out=True,
            opt_out_at=now,
            anonymised_at=now,
        ),
    )
    run(
        "stats",
        update(CustomerStats).where(CustomerStats.customer_id.in_(ids)).values(city=None),
    )
    # Copies elsewhere: callbacks not yet processed are set aside (processing would
    # rebuild the person), queued re-fetches of the person are dropped, then every text
    # and JSON column (callback bodies, job payloads, row errors, notes...) is redacted.
    counts["callbacks_set_aside"] = erasure.scrub_callbacks(
        session, workspace_id=workspace_id, ids=identifiers
    )
    counts["refetch_jobs"] = erasure.scrub_refetch_jobs(session, workspace_id=workspace_id, ids=identifiers)
    counts["upload_files"] = erasure.scrub_upload_files(session, workspace_id=workspace_id, ids=identifiers)
    for table, n in erasure.scrub_tables(session, workspace_id=workspace_id, ids=identifiers).items():
        counts[f"redacted.{table}"] = n
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="privacy.anonymise",
        target_type="customer",
        target_id=customer.id,
        # The audit log is append-only: it must never quote the person's identifiers.
        detail={"reason": erasure.mask(reason, identifiers), "merged_ids": ids[1:], **counts},
    )
    session.flush()
    session.expire_all()
    return counts


def set_opt_out(
    session: Session,
    *,
    workspace_id: int,
    customer_id: int,
    opt_out: bool,
    actor: str,
    reason: str | None = None,
) -> Customer:
    """Record that a person refuses (or accepts again) automated marketing; audited."""
    reason = _reason(reason)
    customer = _get(session, workspace_id, customer_id)
    if customer.anonymised_at is not None and not opt_out:
        raise Conflict("an anonymised customer stays opted out", field="opt_out")
    if customer.opt_out != opt_out:
        if reason:
            ids = customer_family(session, workspace_id=workspace_id, customer_id=customer.id)
            reason = erasure.mask(
                reason, erasure.collect(session, workspace_id=workspace_id, customer_ids=ids)
            )
        customer.opt_out = opt_out
        customer.opt_out_at = utcnow() if opt_out else None
        audit.record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action="privacy.opt_out" if opt_out else "privacy.opt_in",
            target_type="customer",
            target_id=customer.id,
            detail={"reason": reason},
        )
    return customer
