"""Welcome messages (欢迎语): which one an add gets, and sending it within WeCom's window.

WeCom hands a ``WelcomeCode`` on ``add_external_contact``; it is valid for 20 seconds
and once. The callback endpoint calls ``greet`` right after its 200, before the
callback is processed (no sync, no tagging first); the ``acquisition.welcome``
subscriber calls it too, for callbacks stored while processing-after-accept is off or
a crash came between. ``welcome_sends`` has one row per add (the ``friend.add``
event's key), claimed and committed before ``send_welcome_msg`` is called, so a
welcome goes out once whichever path gets there first.

``choose`` decides, the one component that does: the running referral campaign of the
add's channel (by the add's ``State``) > the channel's welcome > the staff member's
default > the nearest department default up the staff member's department path
(``华东/上海`` before ``华东``) > the workspace default; each may have ``day`` /
``night`` / ``weekend`` variants (night 22:00–08:00 and the weekend in the workspace's
zone), and a level without content for the slot or a base text passes to the next.
``render`` fills ``{客户昵称}`` / ``{nickname}`` and ``{员工姓名}`` / ``{staff_name}``
(WeCom has no variables). A welcome can carry a group code's join link.

Every outcome is a row: ``sent``, ``skipped`` (``no_welcome_code``, ``expired``,
``greeted_today``, ``no_welcome``, ``code_used``) or ``error`` (WeCom's refusal).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.acquisition.channels import channel_by_state
from siyu.kit.db import local_write_lock
from siyu.kit.timeutil import utcnow, zone
from siyu.models import Channel, Customer, Follow, Staff, WelcomeDefault, WelcomeSend, Workspace
from siyu.wecom.callbacks.handlers import _event_key
from siyu.wecom.callbacks.inbox import CallbackEvent, dedup_key
from siyu.wecom.errors import WeComError, WelcomeCodeInvalid
from siyu.wecom.schemas import Attachment, Text, WelcomeMsgRequest

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 9  # send_welcome_msg
WINDOW = timedelta(seconds=20)  # WeCom's validity of a WelcomeCode
NIGHT_START, NIGHT_END = 22, 8
NICK_VARS = ("{客户昵称}", "{nickname}")
STAFF_VARS = ("{员工姓名}", "{staff_name}")
ADD_CHANGES = ("add_external_contact", "add_half_external_contact")
SessionFactory = Callable[[], Session]


@dataclass(frozen=True)
class Chosen:
    """The welcome an add gets: where it came from, the time-slot variant, the content."""

    source: str  # campaign | channel | staff | department | workspace
    variant: str  # base | day | night | weekend
    text: str
    attachments: list[dict[str, Any]]
    channel_id: int | None = None
    content_ids: tuple[int, ...] = ()  # library items, resolved when sent (after the raw attachments)


def time_slot(local: datetime) -> str:
    """``weekend`` (Saturday, Sunday), ``night`` (22:00–08:00) or ``day``."""
    if local.weekday() >= 5:
        return "weekend"
    if local.hour >= NIGHT_START or local.hour < NIGHT_END:
        return "night"
    return "day"


def _has(part: Mapping[str, Any]) -> bool:
    return bool(part.get("text") or part.get("attachments") or part.get("content_ids"))


def _content(
    welcome: Mapping[str, Any], slot: str
) -> tuple[str, str, list[dict[str, Any]], tuple[int, ...]] | None:
    variants = welcome.get("variants") or {}
    picked = variants.get(slot)
    for variant, part in ((slot, picked), ("base", welcome)):
        if part and _has(part):
            return (
                variant,
                part.get("text") or "",
                list(part.get("attachments") or []),
                tuple(int(c) for c in part.get("content_ids") or []),
            )
    return None


def _join_link(session: Session, workspace_id: int, channel_id: int) -> dict[str, Any] | None:
    join = session.get(Channel, channel_id)
    if join is None or join.workspace_id != workspace_id or join.deleted_at or not join.qr_url:
        return None
    return {"msgtype": "link", "link": {"title": f"点击加入「{join.name}」", "url": join.qr_url}}


def departments_up(department: str | None) -> list[str]:
    """A department and those above it, nearest first.

    ``华东/上海/徐汇`` → itself, ``华东/上海``, ``华东``.
    """
    parts = [p.strip() for p in (department or "").split("/") if p.strip()]
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def campaign_running(channel: Channel, today: date) -> dict[str, Any] | None:
    """The channel's referral campaign (老带新) when it runs on ``today`` (local), else None."""
    campaign = (channel.settings or {}).get("campaign") or None
    if not campaign:
        return None
    if campaign.get("starts_on") and today < date.fromisoformat(campaign["starts_on"]):
        return None
    if campaign.get("ends_on") and today > date.fromisoformat(campaign["ends_on"]):
        return None
    return dict(campaign)


def choose(
    session: Session,
    *,
    workspace_id: int,
    channel: Channel | None,
    staff_id: int | None,
    at: datetime,
    department: str | None = None,
) -> Chosen | None:
    """The welcome for an add through ``channel`` to ``staff_id`` at ``at`` (None: none set).

    In order, the first that has content for the time slot (or a base text) wins: the
    channel's running referral campaign, the channel, the staff member's default, the
    nearest department default up ``department``'s path, the workspace default.
    """
    local = at.astimezone(zone(_timezone(session, workspace_id)))
    slot = time_slot(local)
    candidates: list[tuple[str, Mapping[str, Any] | None]] = []
    if channel is not None:
        campaign = campaign_running(channel, local.date())
        if campaign is not None:
            candidates.append(("campaign", campaign.get("welcome")))
        candidates.append(("channel", channel.welcome))
    depts = departments_up(department)
    cond: Any = WelcomeDefault.staff_id.is_(None)
    if staff_id is not None:
        cond = cond | (WelcomeDefault.staff_id == staff_id)
    rows = session.execute(
        select(WelcomeDefault.staff_id, WelcomeDefault.department, WelcomeDefault.welcome).where(
            WelcomeDefault.workspace_id == workspace_id, cond
        )
    ).all()
    by_staff = {r.staff_id: r.welcome for r in rows if r.staff_id is not None}
    by_dept = {r.department: r.welcome for r in rows if r.staff_id is None and r.department}
    workspace_default = next((r.welcome for r in rows if r.staff_id is None and not r.department), None)
    if staff_id is not None:
        candidates.append(("staff", by_staff.get(staff_id)))
    for d in depts:
        candidates.append(("department", by_dept.get(d)))
    candidates.append(("workspace", workspace_default))
    for source, welcome in candidates:
        if not welcome:
            continue
        found = _content(welcome, slot)
        if found is None:
            continue
        variant, text, attachments, content_ids = found
        join_id = welcome.get("join_channel_id")
        if join_id:
            link = _join_link(session, workspace_id, int(join_id))
            if link is not None and len(attachments) + len(content_ids) < MAX_ATTACHMENTS:
                attachments = [*attachments, link]
        return Chosen(
            source, variant, text, attachments, channel.id if channel is not None else None, content_ids
        )
    return None


_zones: dict[tuple[str, int], tuple[float, str]] = {}


def _timezone(session: Session, workspace_id: int) -> str:
    """The workspace's time zone, kept a minute (read on every add)."""
    now = time.monotonic()
    key = (str(session.get_bind().engine.url), workspace_id)
    hit = _zones.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    ws = session.get(Workspace, workspace_id)
    tz = ws.timezone if ws is not None else "Asia/Shanghai"
    _zones[key] = (now + 60, tz)
    return tz


def render(text: str, *, nickname: str, staff_name: str) -> str:
    """The text with the customer's nickname and the staff member's name filled in."""
    for var in NICK_VARS:
        text = text.replace(var, nickname)
    for var in STAFF_VARS:
        text = text.replace(var, staff_name)
    return text


def needs_nickname(text: str) -> bool:
    return any(v in text for v in NICK_VARS)


MAX_DEPARTMENT = 200


def set_default(
    session: Session,
    *,
    workspace_id: int,
    staff_id: int | None,
    welcome: Mapping[str, Any],
    department: str | None = None,
) -> WelcomeDefault:
    """Store the workspace default, one staff member's default (``staff_id``) or one
    department's (``department``, a path such as ``华东/上海``; used for its staff who have
    no own default, and for the departments below it that have none)."""
    from siyu.acquisition.channels import check_staff, check_welcome
    from siyu.kit.errors import Invalid

    if staff_id is not None and department is not None:
        raise Invalid("a default welcome is for a staff member or a department, not both", field="department")
    if department is not None:
        department = "/".join(p.strip() for p in department.split("/") if p.strip())
        if not department:
            raise Invalid("department is empty", field="department")
        if len(department) > MAX_DEPARTMENT:
            raise Invalid(f"department is longer than {MAX_DEPARTMENT} characters", field="department")
    if staff_id is not None:
        check_staff(session, workspace_id, [staff_id], "staff_id")
    checked = check_welcome(session, workspace_id, welcome)
    if staff_id is not None:
        cond = WelcomeDefault.staff_id == staff_id
    elif department is not None:
        cond = WelcomeDefault.staff_id.is_(None) & (WelcomeDefault.department == department)
    else:
        cond = WelcomeDefault.staff_id.is_(None) & WelcomeDefault.department.is_(None)
    row = session.scalar(select(WelcomeDefault).where(WelcomeDefault.workspace_id == workspace_id, cond))
    if row is None:
        row = WelcomeDefault(
            workspace_id=workspace_id, staff_id=staff_id, department=department, welcome=checked
        )
        session.add(row)
    else:
        row.welcome = checked
    session.flush()
    return row


def list_defaults(session: Session, *, workspace_id: int) -> list[dict[str, Any]]:
    """Every default welcome: the workspace's, each department's, each staff member's."""
    rows = session.scalars(
        select(WelcomeDefault).where(WelcomeDefault.workspace_id == workspace_id).order_by(WelcomeDefault.id)
    )
    return [
        {
            "level": "staff" if r.staff_id is not None else "department" if r.department else "workspace",
            "staff_id": r.staff_id,
            "department": r.department,
            "welcome": r.welcome,
        }
        for r in rows
    ]


# --- sending ------------------------------------------------------------------------

_TABLE: Table = WelcomeSend.__table__  # type: ignore[assignment]


def _claim(session: Session, values: dict[str, Any]) -> int | None:
    """Insert the add's row unless it is there; its id, or None (another path has it)."""
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(_TABLE).values(**values)
    stmt = ins.on_conflict_do_nothing(index_elements=["workspace_id", "dedup_key"]).returning(_TABLE.c.id)
    found = session.execute(stmt).scalar()
    return int(found) if found is not None else None


def event_key(ev: CallbackEvent) -> str:
    """The ``friend.add`` event's dedup key for this callback (the welcome's key too)."""
    return _event_key(dedup_key(ev))


def wants(ev: CallbackEvent) -> bool:
    """True for a friend add (the only callback a welcome answers)."""
    return ev.event == "change_external_contact" and ev.change_type in ADD_CHANGES


_clients: dict[int, tuple[float, Any]] = {}
_clients_lock = threading.Lock()


def cached_gateway(session: Session, workspace_id: int) -> Any:
    """The workspace's WeCom client, kept a few minutes (the welcome path is hot)."""
    from siyu.wecom.gateway import client_for

    now = time.monotonic()
    with _clients_lock:
        hit = _clients.get(workspace_id)
        if hit is not None and hit[0] > now:
            return hit[1]
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    client = client_for(session, ws)
    with _clients_lock:
        _clients[workspace_id] = (now + 300, client)
    return client


def clear_clients() -> None:
    """Forget cached clients (config change; tests)."""
    with _clients_lock:
        _clients.clear()


def _nickname(session: Session, workspace_id: int, external_userid: str, gateway: Any) -> str:
    name = session.scalar(
        select(Customer.name)
        .join(Follow, Follow.customer_id == Customer.id)
        .where(Follow.workspace_id == workspace_id, Follow.external_userid == external_userid)
        .limit(1)
    )
    if name:
        return str(name)
    try:
        return str(gateway.get_external_contact(external_userid).external_contact.name or "")
    except WeComError:
        return ""


def _greeted_today(
    session: Session, workspace_id: int, external_userid: str, local_midnight: datetime
) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    WelcomeSend.workspace_id == workspace_id,
                    WelcomeSend.external_userid == external_userid,
                    WelcomeSend.status == "sent",
                    WelcomeSend.sent_at >= local_midnight,
                )
            )
        )
    )


@dataclass(frozen=True)
class AddInfo:
    """What a welcome needs of a friend add (from the callback, or the ``friend.add`` event)."""

    key: str
    userid: str
    external_userid: str
    state: str
    welcome_code: str
    created_at: datetime | None

    @classmethod
    def from_callback(cls, ev: CallbackEvent) -> AddInfo:
        return cls(
            event_key(ev),
            ev.get("UserID"),
            ev.get("ExternalUserID"),
            ev.get("State"),
            ev.get("WelcomeCode"),
            ev.create_time,
        )


@dataclass
class Decision:
    """What to record for an add (and the request to send, when there is one)."""

    values: dict[str, Any]
    request: WelcomeMsgRequest | None = None
    content_ids: tuple[int, ...] = ()
    staff_id: int | None = None


def _decide(
    session: Session, workspace_id: int, ev: AddInfo, arrived_at: datetime, via: str, gateway: Any
) -> Decision | None:
    """Decide an add's welcome with reads only (the write lock is not held meanwhile).

    None when the add already has its row (another path greeted it).
    """
    if session.scalar(
        select(exists().where(WelcomeSend.workspace_id == workspace_id, WelcomeSend.dedup_key == ev.key))
    ):
        return None
    userid, external, state = ev.userid, ev.external_userid, ev.state
    channel = None
    if state:
        channel = channel_by_state(session, workspace_id=workspace_id, state=state)
    values: dict[str, Any] = {
        "workspace_id": workspace_id,
        "dedup_key": ev.key,
        "channel_id": channel.id if channel is not None else None,
        "userid": userid[:64],
        "external_userid": external[:128],
        "status": "sending",
        "via": via,
        "arrived_at": arrived_at,
        "created_at": utcnow(),
    }

    def skip(reason: str) -> Decision:
        return Decision({**values, "status": "skipped", "reason": reason})

    code = ev.welcome_code
    if not code:
        return skip("no_welcome_code")
    created = ev.created_at or arrived_at
    now = utcnow()
    if now - created >= WINDOW:
        return skip("expired")
    tz = zone(_timezone(session, workspace_id))
    midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if _greeted_today(session, workspace_id, external, midnight):
        return skip("greeted_today")
    staff = session.scalar(select(Staff).where(Staff.workspace_id == workspace_id, Staff.userid == userid))
    chosen = choose(
        session,
        workspace_id=workspace_id,
        channel=channel if channel is not None and channel.deleted_at is None else None,
        staff_id=staff.id if staff is not None else None,
        at=now,
        department=staff.department if staff is not None else None,
    )
    if chosen is None:
        return skip("no_welcome")
    values.update(source=chosen.source, variant=chosen.variant)
    text = chosen.text
    if text:
        nickname = _nickname(session, workspace_id, external, gateway) if needs_nickname(text) else ""
        text = render(text, nickname=nickname, staff_name=staff.name if staff is not None else userid)
    req = WelcomeMsgRequest(
        welcome_code=code,
        text=Text(content=text) if text else None,
        attachments=[Attachment.model_validate(a) for a in chosen.attachments],
    )
    return Decision(values, req, chosen.content_ids, staff.id if staff is not None else None)


def resolve_items(
    factory: SessionFactory, workspace_id: int, decision: Decision, gateway: Any
) -> list[str]:
    """Add the welcome's library items to its request, the way mass sends resolve them
    (``siyu.automation.sends.render.item_attachment``: files and mini-program covers as
    temporary media, uploaded or re-uploaded when within an hour of WeCom's 3 days; links
    as the radar's tracked URL per staff account); what could not be attached, in words.

    Uploads run before the write turn is taken (they are rare: once per item per 3 days);
    the new media ids and tracked links are committed in it. An item deleted since the
    welcome was saved, or one WeCom refuses, is left out and named.
    """
    from siyu.automation.content import get_content
    from siyu.automation.media import ensure_media
    from siyu.automation.sends.render import MEDIA, item_attachment
    from siyu.kit.errors import SiyuError

    assert decision.request is not None
    problems: list[str] = []
    with factory() as session:
        items = []
        with session.no_autoflush:
            for cid in decision.content_ids:
                try:
                    item = get_content(session, workspace_id=workspace_id, content_id=cid)
                    if item.kind in MEDIA or item.kind == "miniprogram":
                        ensure_media(item, gateway)  # the upload, outside the write turn
                    items.append(item)
                except (SiyuError, WeComError) as exc:
                    problems.append(f"content {cid}: {exc}")
        room = MAX_ATTACHMENTS - len(decision.request.attachments)
        with local_write_lock(session):
            for item in items[: max(room, 0)]:
                try:
                    found = item_attachment(
                        session, item, gateway, send_id=None, staff_id=decision.staff_id
                    )
                except (SiyuError, WeComError) as exc:
                    problems.append(f"content {item.id}: {exc}")
                    continue
                if found is not None:
                    decision.request.attachments.append(Attachment.model_validate(found))
            session.commit()
    return problems


def greet(
    factory: SessionFactory,
    workspace_id: int,
    ev: AddInfo,
    *,
    arrived_at: datetime | None = None,
    via: str = "callback",
    gateway: Any = None,
) -> str:
    """Send the add's welcome once (decide, claim, call WeCom, record); the outcome.

    ``sent``, ``duplicate`` (another path has it), ``skipped:<reason>`` or ``error:<why>``.
    The claim (the add's row) is committed before WeCom is called, so two paths never
    both send. Never raises for WeCom's answers: the callback path must go on.
    """
    arrived_at = arrived_at or utcnow()
    with factory() as session:
        if gateway is None and ev.welcome_code:
            gateway = cached_gateway(session, workspace_id)
        decision = _decide(session, workspace_id, ev, arrived_at, via, gateway)
        session.rollback()  # reads only: end the transaction before taking the write turn
        if decision is None:
            return "duplicate"
        with local_write_lock(session):
            row_id = _claim(session, decision.values)
            session.commit()
        if row_id is None:
            return "duplicate"
        if decision.request is None:
            return "skipped:" + str(decision.values["reason"])
    status, reason = "sent", None
    problems = resolve_items(factory, workspace_id, decision, gateway) if decision.content_ids else []
    req = decision.request
    try:
        if req.text is None and not req.attachments:
            raise WeComError("nothing left to send: " + "; ".join(problems))
        gateway.send_welcome_msg(req)
        if problems:  # sent without what could not be attached, and said so
            reason = ("without " + "; ".join(problems))[:300]
    except WelcomeCodeInvalid as exc:
        status, reason = "skipped", f"code_used: {exc.message}"[:300]
    except WeComError as exc:
        status, reason = "error", str(exc)[:300]
    sent_at = utcnow()
    with factory() as session, local_write_lock(session):
        session.execute(
            update(WelcomeSend)
            .where(WelcomeSend.id == row_id)
            .values(
                status=status,
                reason=reason,
                sent_at=sent_at if status == "sent" else None,
                latency_ms=int((sent_at - arrived_at).total_seconds() * 1000),
            )
        )
        session.commit()
    if status != "sent":
        log.warning("welcome for %s… not sent: %s", ev.external_userid[:8], reason)
        return f"{status}:{reason}"
    return "sent"


def greet_after_accept(
    factory: SessionFactory, workspace_id: int, ev: CallbackEvent, arrived_at: datetime
) -> None:
    """The callback endpoint's hook (after its 200, before processing); never raises."""
    if not wants(ev):
        return
    try:
        greet(factory, workspace_id, AddInfo.from_callback(ev), arrived_at=arrived_at, via="callback")
    except Exception:  # the callback's processing must go on; the worker's fallback retries
        log.exception("welcome on the callback path failed")


def welcome_stats(session: Session, *, workspace_id: int, since: datetime | None = None) -> dict[str, int]:
    """Outcomes by status and skip reason (the console and ``siyu channels welcomes``)."""
    stmt = select(WelcomeSend.status, WelcomeSend.reason).where(WelcomeSend.workspace_id == workspace_id)
    if since is not None:
        stmt = stmt.where(WelcomeSend.created_at >= since)
    out: dict[str, int] = {}
    for status, reason in session.execute(stmt):
        key = status if status != "skipped" else f"skipped:{(reason or '').split(':')[0]}"
        out[key] = out.get(key, 0) + 1
    return out
