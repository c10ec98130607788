"""What each WeCom event does to follows, groups, members, tags and the event log.

Handlers are idempotent: state changes are ordered by WeCom's CreateTime (see
``siyu.customers.follows`` and ``siyu.community.groups``) and every event appended to
the log carries a dedup key derived from the callback's, so running a handler twice
changes nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.community import groups as group_service
from siyu.customers import follows as follow_service
from siyu.kit import audit
from siyu.kit.events import record_event
from siyu.models import Customer, Group, Staff
from siyu.staff import service as staff_service
from siyu.wecom.archive import callbacks as archive_callbacks
from siyu.wecom.callbacks import batch
from siyu.wecom.callbacks.inbox import CallbackEvent

SOURCE = "wecom"


class CallbackDataError(ValueError):
    """The callback lacks a field its event type needs (it is marked failed, not retried)."""


def _event_key(callback_key: str, suffix: str = "") -> str:
    return "wecom:" + hashlib.sha256(f"{callback_key}|{suffix}".encode()).hexdigest()[:56]


def _require(ev: CallbackEvent, *names: str) -> list[str]:
    values = [ev.get(n) for n in names]
    missing = [n for n, v in zip(names, values, strict=True) if not v]
    if missing:
        raise CallbackDataError(f"{ev.event}/{ev.change_type} callback has no {', '.join(missing)}")
    return values


def _customer(session: Session, workspace_id: int, external_userid: str) -> Customer:
    # Imported here: the OneID service is another domain's and loads its own modules.
    from siyu.customers.service import IdentityInput, resolve_customer

    state = batch.current(session)
    if state is not None:
        known = state.customers.get((workspace_id, external_userid))
        if known is not None and known.merged_into_id is None:
            return known
    customer = resolve_customer(
        session,
        workspace_id=workspace_id,
        identities=[IdentityInput(kind="external_userid", value=external_userid, platform="")],
        source="wecom",
    )
    if state is not None:
        state.customers[(workspace_id, external_userid)] = customer
    return customer


# Values of people erased on request (PIPL) that this transaction's callbacks named;
# processing redacts them from those callbacks' stored bodies.
ERASED_VALUES = "siyu.wecom.erased_values"


def _erased(session: Session, customer: Customer, *values: str) -> bool:
    """True for a customer erased on request; their ids are noted for redaction."""
    if customer.anonymised_at is None:
        return False
    noted: set[str] = session.info.setdefault(ERASED_VALUES, set())
    noted.update(v for v in values if v)
    return True


def _staff(session: Session, workspace_id: int, userid: str) -> Staff:
    state = batch.current(session)
    if state is None:
        return staff_service.ensure_staff(session, workspace_id=workspace_id, userid=userid)
    key = (workspace_id, userid.strip())
    staff = state.staff.get(key)
    if staff is None:
        staff = state.staff[key] = staff_service.ensure_staff(
            session, workspace_id=workspace_id, userid=userid
        )
    return staff


def _find_staff(session: Session, workspace_id: int, userid: str) -> Staff | None:
    state = batch.current(session)
    staff = state.staff.get((workspace_id, userid.strip())) if state is not None else None
    return staff or staff_service.find_staff(session, workspace_id=workspace_id, userid=userid)


def looks_external(userid: str) -> bool:
    """True for a WeCom external_userid (wm… for WeChat users, wo… for WeCom users)."""
    return userid.startswith(("wm", "wo"))


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def handle_contact(session: Session, *, workspace_id: int, ev: CallbackEvent, key: str, at: datetime) -> None:
    """change_external_contact: follows added/ended, transfer failures, edits."""
    userid, external_userid = _require(ev, "UserID", "ExternalUserID")
    staff = _staff(session, workspace_id, userid)
    customer = _customer(session, workspace_id, external_userid)
    # Erased on request (PIPL): the friendship's facts are kept, never their WeCom id
    # (and without it, the wecom.refetch subscriber re-reads nothing about them).
    erased = _erased(session, customer, external_userid)
    ct = ev.change_type
    payload: dict[str, Any] = {"userid": userid}
    if not erased:
        payload["external_userid"] = external_userid
    kind: str | None = None
    if ct in ("add_external_contact", "add_half_external_contact"):
        half = ct == "add_half_external_contact"
        state = ev.get("State") or None
        change = follow_service.follow_added(
            session,
            workspace_id=workspace_id,
            staff_id=staff.id,
            customer_id=customer.id,
            at=at,
            external_userid=external_userid,
            live_code_state=state,
            half=half,
        )
        kind = "friend.add"
        payload.update(state=state, half=half, applied=change.applied)
        if ev.get("WelcomeCode"):
            # Valid for 20 s and once: automation reads it from the event to greet.
            payload["welcome_code"] = ev.get("WelcomeCode")
        # The callback carries ids only: remark, add_way and tags come from a re-fetch,
        # which the wecom.refetch subscriber (siyu.wecom.subscribers) queues.
    elif ct == "edit_external_contact":
        # A staff member edited the customer (remark, tags ...): the values come from
        # a re-fetch, queued by the wecom.refetch subscriber of this event.
        kind = "friend.edit"
    elif ct == "del_external_contact":
        by_transfer = ev.get("Source") == "DELETE_BY_TRANSFER"
        change = follow_service.follow_ended(
            session,
            workspace_id=workspace_id,
            staff_id=staff.id,
            customer_id=customer.id,
            at=at,
            deleted_by="transfer" if by_transfer else "staff",
            external_userid=external_userid,
        )
        kind = "friend.transfer" if by_transfer else "friend.delete_by_staff"
        payload.update(source=ev.get("Source") or None, applied=change.applied)
    elif ct == "del_follow_user":
        change = follow_service.follow_ended(
            session,
            workspace_id=workspace_id,
            staff_id=staff.id,
            customer_id=customer.id,
            at=at,
            deleted_by="customer",
            external_userid=external_userid,
        )
        kind = "friend.delete_by_customer"
        payload.update(applied=change.applied)
    elif ct == "transfer_fail":
        # The customer stays with the original staff; the takeover did not happen.
        kind = "friend.transfer_fail"
        payload.update(fail_reason=ev.get("FailReason") or None)
    if kind is not None:
        record_event(
            session,
            workspace_id=workspace_id,
            kind=kind,
            occurred_at=at,
            source=SOURCE,
            customer_id=customer.id,
            staff_id=staff.id,
            dedup_key=_event_key(key),
            payload=payload,
        )


def handle_chat(session: Session, *, workspace_id: int, ev: CallbackEvent, key: str, at: datetime) -> None:
    """change_external_chat: group create/dismiss, member joins and quits, detail changes."""
    (chat_id,) = _require(ev, "ChatId")
    ct = ev.change_type
    if ct == "create":
        group = group_service.group_created(session, workspace_id=workspace_id, chat_id=chat_id, at=at)
        # Name, owner and members come from a re-fetch (the wecom.refetch subscriber).
        _group_event(session, workspace_id, "group.create", at, group.id, key, {"chat_id": chat_id})
        return
    if ct == "dismiss":
        group = group_service.group_dismissed(session, workspace_id=workspace_id, chat_id=chat_id, at=at)
        _group_event(session, workspace_id, "group.dismiss", at, group.id, key, {"chat_id": chat_id})
        return
    # update
    group = group_service.ensure_group(session, workspace_id=workspace_id, chat_id=chat_id)
    detail = ev.get("UpdateDetail")
    if detail in ("add_member", "del_member"):
        joining = detail == "add_member"
        scene = _int(ev.get("JoinScene" if joining else "QuitScene"))
        for userid in ev.members:
            _member_change(session, workspace_id, group, userid, joining, scene, at, key)
        group_service.recount_members(session, group)
        if not ev.members:
            change = {"chat_id": chat_id, "detail": detail}
            _group_event(session, workspace_id, "group.update", at, group.id, key, change)
    else:
        # change_owner / change_name / change_notice carry no new values: the event
        # asks the wecom.refetch subscriber for a re-fetch.
        _group_event(
            session, workspace_id, "group.update", at, group.id, key, {"chat_id": chat_id, "detail": detail}
        )


def _member_change(
    session: Session,
    workspace_id: int,
    group: Group,
    userid: str,
    joining: bool,
    scene: int | None,
    at: datetime,
    key: str,
) -> None:
    staff = _find_staff(session, workspace_id, userid)
    if staff is None and not looks_external(userid):
        # MemChangeList does not say who is staff; WeCom's external ids start wm/wo.
        staff = _staff(session, workspace_id, userid)
    customer_id: int | None = None
    staff_id: int | None = None
    member_userid = userid
    if staff is not None:
        member_type = group_service.MEMBER_STAFF
        staff_id = staff.id
    else:
        member_type = group_service.MEMBER_EXTERNAL
        customer = _customer(session, workspace_id, userid)
        customer_id = customer.id
        if _erased(session, customer, userid):  # erased on request: a stand-in id
            member_userid = group_service.erased_member_userid(session, group=group, customer_id=customer_id)
    if joining:
        change = group_service.member_joined(
            session,
            group=group,
            userid=member_userid,
            at=at,
            member_type=member_type,
            join_scene=scene,
            customer_id=customer_id,
            staff_id=staff_id,
        )
    else:
        change = group_service.member_quit(
            session,
            group=group,
            userid=member_userid,
            at=at,
            quit_scene=scene,
            member_type=member_type,
            customer_id=customer_id,
            staff_id=staff_id,
        )
    payload = {"chat_id": group.chat_id, "userid": member_userid, "scene": scene, "applied": change.applied}
    record_event(
        session,
        workspace_id=workspace_id,
        kind="group.join" if joining else "group.quit",
        occurred_at=at,
        source=SOURCE,
        customer_id=customer_id,
        staff_id=staff_id,
        group_id=group.id,
        dedup_key=_event_key(key, userid),
        payload=payload,
    )


def _group_event(
    session: Session,
    workspace_id: int,
    kind: str,
    at: datetime,
    group_id: int,
    key: str,
    payload: dict[str, Any],
) -> None:
    record_event(
        session,
        workspace_id=workspace_id,
        kind=kind,
        occurred_at=at,
        source=SOURCE,
        group_id=group_id,
        dedup_key=_event_key(key),
        payload=payload,
    )


def handle_tag(session: Session, *, workspace_id: int, ev: CallbackEvent, key: str, at: datetime) -> None:
    """change_external_tag: a delete is applied at once; every change re-reads the library.

    A deleted tag (or group, with its tags) comes off every customer and is soft-deleted,
    as in WeCom. Creates, edits and reorders carry ids only, so their names and order
    come from the re-fetch; it is queued for deletes too, to settle anything missed.
    """
    from siyu.wecom.sync.tags import apply_tag_callback  # the sync owns the tag mirror

    tag_type = ev.get("TagType") or "tag"
    wecom_id = ev.get("Id")
    deleted = apply_tag_callback(
        session, workspace_id=workspace_id, wecom_id=wecom_id, tag_type=tag_type, change_type=ev.change_type
    )
    if deleted:
        audit.record(
            session,
            workspace_id=workspace_id,
            actor=SOURCE,
            action="tag_group.delete" if tag_type == "tag_group" else "tag.delete",
            target_type="wecom_tag",
            target_id=wecom_id,
            detail={"tags": deleted},
        )
    # Names and order come from a re-read of the library (the wecom.refetch subscriber).
    record_event(
        session,
        workspace_id=workspace_id,
        kind="wecom.tag_change",
        occurred_at=at,
        source=SOURCE,
        dedup_key=_event_key(key),
        payload={"tag_id": wecom_id or None, "tag_type": tag_type, "change_type": ev.change_type},
    )


def handle_acquisition(
    session: Session, *, workspace_id: int, ev: CallbackEvent, key: str, at: datetime
) -> None:
    """customer_acquisition: the 获客助手 quota ran low, out, or came back (acquisition records it)."""
    from siyu.acquisition.quota import handle_callback

    handle_callback(session, workspace_id=workspace_id, ev=ev, key=key, at=at)


HANDLERS = {
    "change_external_contact": handle_contact,
    "customer_acquisition": handle_acquisition,
    "change_external_chat": handle_chat,
    "change_external_tag": handle_tag,
    "kf_msg_or_event": archive_callbacks.handle_kf_event,
    "msgaudit_notify": archive_callbacks.handle_msgaudit,
}
