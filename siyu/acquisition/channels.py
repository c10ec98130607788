"""Channels (渠道) and their live codes: validation, create / edit / delete, look-ups.

A channel is a row of ``channels``; its WeCom code is made and kept in step by the
``acquisition.channel_sync`` job (``siyu.acquisition.sync``), queued in the caller's
transaction, so a save never waits on WeCom and a WeCom refusal shows on the channel
(``sync_status`` / ``sync_error``) with a retry (``retry_sync``). Bad input raises
``Invalid`` naming the field before anything is written.

Kinds: ``contact_way`` (a live code), ``join_way`` (a group code), ``link`` (a 获客助手
link: WeCom's URL with ``customer_channel`` = the state, for places a QR cannot go; each
new customer uses the corp's paid quota) and ``store`` (a ``/c/{slug}`` landing that
routes to the nearest store; each store's codes carry ``<state>~<store id>``, so adds
are credited to the store, see ``stores.py``). ``settings.campaign`` flags a channel as
a referral campaign (老带新) whose welcome comes first while it runs.

``pool`` (JSON) holds the staff pool and routing: ``staff_ids``, ``strategy``
(``wecom`` | ``weighted`` | ``least_loaded`` | ``capacity_first``), ``weights``
(staff id → weight), ``threshold`` (share of the limit, default 0.9), ``daily_caps``
(staff id → adds a day through this channel), ``schedules`` (``days`` 0=Monday …,
``start`` / ``end`` "HH:MM" in the workspace zone, ``staff_ids``), ``backup_staff_ids``
and ``landing`` (a ``/c/{slug}`` page with one single-person code per account).
``welcome`` (JSON): ``text``, ``attachments`` (raw WeCom attachments), ``content_ids``
(content-library items: image, link, mini-program, video, file, resolved and uploaded
when the welcome is sent, as mass sends do), ``variants`` (``day`` / ``night`` /
``weekend``, each a text and attachments) and ``join_channel_id`` (a group-code
channel whose join link the welcome carries).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import utcnow
from siyu.models import Channel, Group, Staff, Tag

KINDS = ("contact_way", "join_way", "link", "store")
POOL_KINDS = ("contact_way", "link")  # kinds whose pool siyu routes (a code's or a link's members)
STRATEGIES = ("wecom", "weighted", "least_loaded", "capacity_first")
DEFAULT_THRESHOLD = 0.9
MAX_STATE = 30  # WeCom's limit on a code's state
STORE_SEP = "~"  # a store channel's per-store states: <state>~<store id>
MAX_CUSTOMER_CHANNEL_BYTES = 64  # 获客助手: WeCom cuts customer_channel beyond this
MAX_STORE_STATE = 20  # leaves room for ~<store id> within MAX_STATE
MAX_WELCOME_BYTES = 4000  # send_welcome_msg text, in UTF-8 bytes
MAX_ATTACHMENTS = 9
MAX_JOIN_CHATS = 5  # add_join_way
ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")
VARIANTS = ("day", "night", "weekend")
SYNC_KIND = "acquisition.channel_sync"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass
class ChannelInput:
    """What an operator sets on a channel; ``None`` leaves a field as it is (edit)."""

    name: str | None = None
    group_name: str | None = None
    kind: str | None = None
    state: str | None = None
    cost_fen: int | None = None
    clear_cost: bool = False
    skip_verify: bool | None = None
    tag_ids: list[int] | None = None
    welcome: dict[str, Any] | None = None
    pool: dict[str, Any] | None = None
    chat_ids: list[str] | None = None
    store_ids: list[int] | None = None
    campaign: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _name(value: str, field_name: str = "name", limit: int = 64) -> str:
    value = value.strip()
    if not value:
        raise Invalid(f"{field_name} is empty", field=field_name)
    if len(value) > limit:
        raise Invalid(f"{field_name} is longer than {limit} characters", field=field_name)
    return value


def check_state(session: Session, workspace_id: int, state: str, channel_id: int | None = None) -> str:
    """A code's state: 1–30 characters, unique among the workspace's channels."""
    state = state.strip()
    if not state:
        raise Invalid("state is empty", field="state")
    if len(state) > MAX_STATE:
        raise Invalid(
            f"state {state[:12]!r}… has {len(state)} characters; WeCom allows at most {MAX_STATE}",
            field="state",
        )
    if STORE_SEP in state:
        raise Invalid(f"state cannot contain {STORE_SEP!r} (it marks a store's code)", field="state")
    other = session.scalar(
        select(Channel.id).where(Channel.workspace_id == workspace_id, Channel.state == state)
    )
    if other is not None and other != channel_id:
        raise Conflict(f"state {state!r} is already used by channel {other}", field="state")
    return state


def _ids(value: Any, field_name: str) -> list[int]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise Invalid(f"{field_name} must be a list of ids", field=field_name)
    return list(dict.fromkeys(value))


def check_staff(
    session: Session, workspace_id: int, staff_ids: Iterable[int], field_name: str
) -> list[Staff]:
    """The active staff accounts for these ids; Invalid naming every unknown or ineligible one.

    Eligible: known in this workspace, active (not deleted or resigned), and in WeCom's
    follow-user list as last synced (``has_contact_permission``: the customer-contact
    permission, what ``siyu wecom doctor`` checks live).
    """
    ids = list(dict.fromkeys(staff_ids))
    rows = {
        s.id: s
        for s in session.scalars(select(Staff).where(Staff.workspace_id == workspace_id, Staff.id.in_(ids)))
    }
    unknown = [str(sid) for sid in ids if sid not in rows]
    inactive = [
        f"{rows[sid].userid} ({rows[sid].status})"
        for sid in ids
        if sid in rows and rows[sid].status != "active"
    ]
    no_permission = [
        rows[sid].userid
        for sid in ids
        if sid in rows and rows[sid].status == "active" and not rows[sid].has_contact_permission
    ]
    problems: list[str] = []
    if unknown:
        problems.append(f"unknown staff account(s) {', '.join(unknown)}")
    if inactive:
        problems.append(f"not active: {', '.join(inactive)}")
    if no_permission:
        problems.append(
            "no customer-contact permission (客户联系), not in WeCom's follow-user list: "
            f"{', '.join(no_permission)}; add them under 客户联系 → 权限配置 in the WeCom admin "
            "console, then run `siyu wecom sync`"
        )
    if problems:
        raise Invalid(f"the pool has ineligible staff: {'; '.join(problems)}", field=field_name)
    return [rows[i] for i in ids]


def _check_content(value: Any, field_name: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(f"{field_name} must be an object with text and attachments", field=field_name)
    text = value.get("text") or ""
    if not isinstance(text, str):
        raise Invalid(f"{field_name}.text must be text", field=field_name)
    size = len(text.encode("utf-8"))
    if size > MAX_WELCOME_BYTES:
        raise Invalid(
            f"{field_name}.text is {size} bytes; WeCom allows at most {MAX_WELCOME_BYTES} (UTF-8)",
            field=field_name,
        )
    attachments = value.get("attachments") or []
    if not isinstance(attachments, list):
        raise Invalid(f"{field_name}.attachments must be a list", field=field_name)
    if len(attachments) > MAX_ATTACHMENTS:
        raise Invalid(
            f"{field_name} has {len(attachments)} attachments; WeCom allows at most {MAX_ATTACHMENTS}",
            field=field_name,
        )
    for a in attachments:
        if not isinstance(a, Mapping) or a.get("msgtype") not in ATTACHMENT_TYPES:
            raise Invalid(
                f"each attachment of {field_name} needs msgtype {', '.join(ATTACHMENT_TYPES)}",
                field=field_name,
            )
    content_ids = _ids(value.get("content_ids") or [], f"{field_name}.content_ids")
    total = len(attachments) + len(content_ids)
    if total > MAX_ATTACHMENTS:
        raise Invalid(
            f"{field_name} has {total} attachments (library items included); WeCom allows at most "
            f"{MAX_ATTACHMENTS}",
            field=field_name,
        )
    out: dict[str, Any] = {"text": text, "attachments": [dict(a) for a in attachments]}
    if content_ids:
        out["content_ids"] = content_ids
    return out


def _check_items(session: Session, workspace_id: int, content_ids: list[int], field_name: str) -> None:
    """Library items a welcome carries: live, of a kind WeCom attaches, mini-programs with a cover."""
    from siyu.automation.content import get_content

    for cid in content_ids:
        try:
            item = get_content(session, workspace_id=workspace_id, content_id=cid)
        except NotFound as exc:
            raise Invalid(f"{field_name}: {exc.message}", field=field_name) from exc
        if item.kind not in ATTACHMENT_TYPES:
            raise Invalid(
                f"{field_name}: content {cid} is a {item.kind}; a welcome attaches "
                f"{', '.join(ATTACHMENT_TYPES)} (put texts in the welcome's text)",
                field=field_name,
            )
        if item.kind == "miniprogram" and not (item.body or {}).get("stored_path"):
            raise Invalid(
                f"{field_name}: content {cid} (mini-program) has no cover picture; add it again with one",
                field=field_name,
            )


def check_welcome(session: Session, workspace_id: int, value: Mapping[str, Any]) -> dict[str, Any]:
    """A welcome (text ≤ 4,000 bytes, ≤ 9 attachments with its library items, variants,
    group join code)."""
    out = _check_content(value, "welcome")
    variants = value.get("variants") or {}
    if not isinstance(variants, Mapping) or any(k not in VARIANTS for k in variants):
        raise Invalid(f"welcome.variants takes {', '.join(VARIANTS)}", field="welcome")
    out["variants"] = {k: _check_content(v, f"welcome.variants.{k}") for k, v in variants.items() if v}
    for part, name in [(out, "welcome"), *((v, f"welcome.variants.{k}") for k, v in out["variants"].items())]:
        _check_items(session, workspace_id, part.get("content_ids") or [], name)
    join = value.get("join_channel_id")
    if join is not None:
        found = session.scalar(
            select(Channel).where(
                Channel.workspace_id == workspace_id, Channel.id == join, Channel.deleted_at.is_(None)
            )
        )
        if found is None or found.kind != "join_way":
            raise Invalid(f"welcome.join_channel_id {join} is not a group-code channel", field="welcome")
        out["join_channel_id"] = int(join)
    return out


def _check_hhmm(value: Any) -> str:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise Invalid(f"schedule time {value!r} is not HH:MM", field="pool")
    return value


def check_pool(session: Session, workspace_id: int, value: Mapping[str, Any]) -> dict[str, Any]:
    """The staff pool and routing settings, every account checked."""
    staff_ids = _ids(value.get("staff_ids") or [], "pool")
    check_staff(session, workspace_id, staff_ids, "pool")
    strategy = value.get("strategy") or "wecom"
    if strategy not in STRATEGIES:
        raise Invalid(f"routing strategy {strategy!r} is not one of {', '.join(STRATEGIES)}", field="pool")
    threshold = value.get("threshold", DEFAULT_THRESHOLD)
    if not isinstance(threshold, int | float) or not 0 < float(threshold) <= 1:
        raise Invalid("pool.threshold must be a share between 0 and 1 (0.9 = 90 %)", field="pool")
    weights: dict[str, int] = {}
    for k, v in (value.get("weights") or {}).items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise Invalid(f"weight of staff {k} must be a whole number ≥ 0", field="pool")
        weights[str(int(k))] = v
    caps: dict[str, int] = {}
    for k, v in (value.get("daily_caps") or {}).items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise Invalid(f"daily cap of staff {k} must be a whole number ≥ 0", field="pool")
        caps[str(int(k))] = v
    schedules = []
    for i, sch in enumerate(value.get("schedules") or []):
        if not isinstance(sch, Mapping):
            raise Invalid(f"schedule {i + 1} must be an object", field="pool")
        days = _ids(sch.get("days") if sch.get("days") is not None else list(range(7)), "pool")
        if any(d < 0 or d > 6 for d in days):
            raise Invalid(f"schedule {i + 1}: days are 0 (Monday) to 6 (Sunday)", field="pool")
        members = _ids(sch.get("staff_ids") or [], "pool")
        check_staff(session, workspace_id, members, "pool")
        schedules.append(
            {
                "days": days,
                "start": _check_hhmm(sch.get("start", "00:00")),
                "end": _check_hhmm(sch.get("end", "23:59")),
                "staff_ids": members,
            }
        )
    backup = _ids(value.get("backup_staff_ids") or [], "pool")
    check_staff(session, workspace_id, backup, "pool")
    if not staff_ids and not schedules:
        raise Invalid("the pool has no staff account", field="pool")
    return {
        "staff_ids": staff_ids,
        "strategy": strategy,
        "threshold": float(threshold),
        "weights": weights,
        "daily_caps": caps,
        "schedules": schedules,
        "backup_staff_ids": backup,
        "landing": bool(value.get("landing", False)),
    }


def _check_tags(session: Session, workspace_id: int, tag_ids: list[int]) -> list[int]:
    tag_ids = _ids(tag_ids, "tag_ids")
    found = set(
        session.scalars(
            select(Tag.id).where(
                Tag.workspace_id == workspace_id, Tag.id.in_(tag_ids), Tag.deleted_at.is_(None)
            )
        )
    )
    missing = [t for t in tag_ids if t not in found]
    if missing:
        raise Invalid(f"tag {missing[0]} does not exist", field="tag_ids")
    return tag_ids


def _check_chats(session: Session, workspace_id: int, chat_ids: list[str]) -> list[str]:
    chat_ids = list(dict.fromkeys(c.strip() for c in chat_ids if c.strip()))
    if not chat_ids:
        raise Invalid("a group code needs at least one group", field="chat_ids")
    if len(chat_ids) > MAX_JOIN_CHATS:
        raise Invalid(f"a group code takes at most {MAX_JOIN_CHATS} groups (WeCom)", field="chat_ids")
    known = set(
        session.scalars(
            select(Group.chat_id).where(Group.workspace_id == workspace_id, Group.chat_id.in_(chat_ids))
        )
    )
    missing = [c for c in chat_ids if c not in known]
    if missing:
        raise Invalid(
            f"group {missing[0]} is not known to siyu; run `siyu wecom sync` first", field="chat_ids"
        )
    return chat_ids


def _check_cost(cost: int | None) -> int | None:
    if cost is None:
        return None
    if isinstance(cost, bool) or not isinstance(cost, int):
        raise Invalid("cost must be a whole number of fen", field="cost_fen")
    if cost < 0:
        raise Invalid("cost cannot be below zero", field="cost_fen")
    return cost


def queue_sync(
    session: Session, channel: Channel, *, reason: str, dedup_key: str | None = None
) -> int | None:
    """Queue the job that brings the channel's WeCom code in step with the row."""
    return enqueue(
        session,
        kind=SYNC_KIND,
        workspace_id=channel.workspace_id,
        payload={"channel_id": channel.id, "reason": reason},
        dedup_key=dedup_key,
    )


def create_channel(session: Session, *, workspace_id: int, data: ChannelInput, actor: str) -> Channel:
    """Validate and store a channel, then queue its WeCom code (``add_contact_way`` / ``add_join_way``)."""
    kind = data.kind or "contact_way"
    if kind not in KINDS:
        raise Invalid(f"channel kind {kind!r} is not one of {', '.join(KINDS)}", field="kind")
    name = _name(data.name or "")
    group_name = _name(data.group_name or "默认", "group_name")
    state = check_state(session, workspace_id, data.state or "ch" + secrets.token_hex(5))
    cost = _check_cost(data.cost_fen)
    tag_ids = _check_tags(session, workspace_id, data.tag_ids or [])
    welcome = check_welcome(session, workspace_id, data.welcome or {})
    settings: dict[str, Any] = {}
    pool: dict[str, Any] = {}
    if kind == "link":
        check_link_state(state)
    if kind in POOL_KINDS:
        pool = check_pool(session, workspace_id, data.pool or {})
        if kind == "link" and pool.get("landing"):
            raise Invalid("a 获客助手 link has no landing page; it is the link itself", field="pool")
    elif kind == "join_way":
        settings["chat_ids"] = _check_chats(session, workspace_id, data.chat_ids or [])
    else:  # store: the stores it routes among
        from siyu.acquisition.stores import check_store_ids

        settings["store_ids"] = check_store_ids(session, workspace_id, data.store_ids or [])
        check_store_state(state)
    if data.campaign:
        settings["campaign"] = check_campaign(session, workspace_id, data.campaign)
    channel = Channel(
        workspace_id=workspace_id,
        name=name,
        group_name=group_name,
        kind=kind,
        state=state,
        slug=secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")[:8],
        cost_fen=cost,
        skip_verify=True if data.skip_verify is None else data.skip_verify,
        tag_ids=tag_ids,
        welcome=welcome,
        pool=pool,
        settings=settings,
        sync_status="pending",
    )
    session.add(channel)
    session.flush()
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="channel.create",
        target_type="channel",
        target_id=str(channel.id),
        detail={"name": name, "kind": kind, "state": state},
    )
    queue_sync(session, channel, reason="create")
    return channel


def get_channel(session: Session, *, workspace_id: int, channel_id: int, deleted: bool = False) -> Channel:
    """One channel; NotFound when it does not exist (or was deleted, unless ``deleted``)."""
    channel = session.get(Channel, channel_id)
    if channel is None or channel.workspace_id != workspace_id or (channel.deleted_at and not deleted):
        raise NotFound(f"channel {channel_id} does not exist", field="channel_id")
    return channel


def find_by_slug(session: Session, slug: str) -> Channel | None:
    """A live channel by its landing slug (any workspace: the slug is the public key)."""
    return session.scalar(select(Channel).where(Channel.slug == slug, Channel.deleted_at.is_(None)))


def channel_by_state(session: Session, *, workspace_id: int, state: str) -> Channel | None:
    """The channel a follow's ``state`` maps back to (deleted ones included: history).

    A store channel's adds carry ``<channel state>~<store id>`` (see ``store_state``):
    they map to the store channel.
    """
    found = session.scalar(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.state == state)
    )
    if found is None and STORE_SEP in state:
        base, _, _ = state.rpartition(STORE_SEP)
        found = session.scalar(
            select(Channel).where(
                Channel.workspace_id == workspace_id, Channel.state == base, Channel.kind == "store"
            )
        )
    return found


def split_state(state: str) -> tuple[str, int | None]:
    """``(channel state, store id)`` of an add's state (store id None unless a store's)."""
    base, sep, tail = state.rpartition(STORE_SEP)
    if sep and tail.isdigit():
        return base, int(tail)
    return state, None


def store_state(channel: Channel, store_id: int) -> str:
    """The state of a store channel's codes at one store: credits the store on each add."""
    return f"{channel.state}{STORE_SEP}{store_id}"


def check_store_state(state: str) -> None:
    if len(state) > MAX_STORE_STATE:
        raise Invalid(
            f"a store channel's state has at most {MAX_STORE_STATE} characters "
            f"(each store's code adds {STORE_SEP}<store id>; WeCom allows {MAX_STATE} in all)",
            field="state",
        )


def check_link_state(state: str) -> None:
    """A link's state is its ``customer_channel``: WeCom keeps at most 64 bytes of it."""
    size = len(state.encode("utf-8"))
    if size > MAX_CUSTOMER_CHANNEL_BYTES:
        raise Invalid(
            f"state is {size} bytes; a 获客助手 link's customer_channel keeps at most "
            f"{MAX_CUSTOMER_CHANNEL_BYTES} (UTF-8)",
            field="state",
        )


def link_url(channel: Channel, base_url: str) -> str:
    """The link to publish: WeCom's link with ``customer_channel`` = the channel's state."""
    sep = "&" if "?" in base_url else "?"
    return f"{base_url}{sep}customer_channel={quote(channel.state, safe='')}"


def check_campaign(session: Session, workspace_id: int, value: Mapping[str, Any]) -> dict[str, Any]:
    """A referral campaign on a channel (老带新): a name, an optional period, its own welcome.

    ``{}`` clears it. While the campaign runs (``starts_on`` ≤ today ≤ ``ends_on`` in the
    workspace's zone, either bound optional), its welcome comes before the channel's.
    """
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise Invalid("campaign must be an object with name, welcome, starts_on, ends_on", field="campaign")
    name = _name(str(value.get("name") or ""), "campaign.name")
    out: dict[str, Any] = {"name": name}
    for key in ("starts_on", "ends_on"):
        raw = value.get(key)
        if raw in (None, ""):
            continue
        try:
            out[key] = date.fromisoformat(str(raw)).isoformat()
        except ValueError:
            raise Invalid(f"campaign.{key} {raw!r} is not a date (YYYY-MM-DD)", field="campaign") from None
    if out.get("starts_on") and out.get("ends_on") and out["starts_on"] > out["ends_on"]:
        raise Invalid("campaign.starts_on is after campaign.ends_on", field="campaign")
    welcome = value.get("welcome") or {}
    checked = check_welcome(session, workspace_id, welcome)
    if not (checked["text"] or checked["attachments"] or checked.get("content_ids")):
        raise Invalid("campaign.welcome needs a text or an attachment", field="campaign")
    out["welcome"] = checked
    return out


def list_channels(
    session: Session, *, workspace_id: int, group_name: str | None = None, staff_id: int | None = None
) -> list[Channel]:
    """Live channels, by group then name; ``staff_id``: only those whose pool has the account."""
    stmt = select(Channel).where(Channel.workspace_id == workspace_id, Channel.deleted_at.is_(None))
    if group_name:
        stmt = stmt.where(Channel.group_name == group_name)
    rows = list(session.scalars(stmt.order_by(Channel.group_name, Channel.name, Channel.id)))
    if staff_id is not None:
        rows = [c for c in rows if staff_id in pool_staff_ids(c)]
    return rows


def pool_staff_ids(channel: Channel) -> list[int]:
    """Every account the channel may route to (pool, schedules, backups)."""
    pool = channel.pool or {}
    ids = list(pool.get("staff_ids") or [])
    for sch in pool.get("schedules") or []:
        ids.extend(sch.get("staff_ids") or [])
    ids.extend(pool.get("backup_staff_ids") or [])
    return list(dict.fromkeys(int(i) for i in ids))


def update_channel(
    session: Session, *, workspace_id: int, channel_id: int, data: ChannelInput, actor: str
) -> Channel:
    """Change a channel (every field checked first), then queue ``update_contact_way``."""
    channel = get_channel(session, workspace_id=workspace_id, channel_id=channel_id)
    if data.kind is not None and data.kind != channel.kind:
        raise Invalid("a channel's kind cannot change; make a new channel", field="kind")
    changes: dict[str, Any] = {}
    name = _name(data.name) if data.name is not None else None
    group_name = _name(data.group_name, "group_name") if data.group_name is not None else None
    state = check_state(session, workspace_id, data.state, channel.id) if data.state is not None else None
    cost = _check_cost(data.cost_fen)
    tag_ids = _check_tags(session, workspace_id, data.tag_ids) if data.tag_ids is not None else None
    welcome = check_welcome(session, workspace_id, data.welcome) if data.welcome is not None else None
    pool = None
    if data.pool is not None:
        if channel.kind not in POOL_KINDS:
            raise Invalid("only a live code (contact_way) or a 获客助手 link has a staff pool", field="pool")
        pool = check_pool(session, workspace_id, {**(channel.pool or {}), **data.pool})
        if channel.kind == "link" and pool.get("landing"):
            raise Invalid("a 获客助手 link has no landing page; it is the link itself", field="pool")
    store_ids = None
    if data.store_ids is not None:
        if channel.kind != "store":
            raise Invalid("only a store channel routes among stores", field="store_ids")
        from siyu.acquisition.stores import check_store_ids

        store_ids = check_store_ids(session, workspace_id, data.store_ids)
    if state is not None and channel.kind == "store":
        check_store_state(state)
    if state is not None and channel.kind == "link":
        check_link_state(state)
    campaign = check_campaign(session, workspace_id, data.campaign) if data.campaign is not None else None
    chats = _check_chats(session, workspace_id, data.chat_ids) if data.chat_ids is not None else None
    # Everything checked: apply.
    for attr, value in (
        ("name", name),
        ("group_name", group_name),
        ("state", state),
        ("tag_ids", tag_ids),
        ("welcome", welcome),
        ("pool", pool),
        ("skip_verify", data.skip_verify),
    ):
        if value is not None and getattr(channel, attr) != value:
            setattr(channel, attr, value)
            changes[attr] = value if attr not in ("welcome",) else "changed"
    if cost is not None and cost != channel.cost_fen:
        channel.cost_fen = cost
        changes["cost_fen"] = cost
    elif data.clear_cost and channel.cost_fen is not None:
        channel.cost_fen = None
        changes["cost_fen"] = None
    if chats is not None and chats != (channel.settings or {}).get("chat_ids"):
        channel.settings = {**(channel.settings or {}), "chat_ids": chats}
        changes["chat_ids"] = chats
    if store_ids is not None and store_ids != (channel.settings or {}).get("store_ids"):
        channel.settings = {**(channel.settings or {}), "store_ids": store_ids}
        changes["store_ids"] = store_ids
    if campaign is not None and campaign != ((channel.settings or {}).get("campaign") or {}):
        settings = {**(channel.settings or {}), "campaign": campaign}
        if not campaign:
            settings.pop("campaign")
        channel.settings = settings
        changes["campaign"] = "changed"
    if changes:
        channel.updated_at = utcnow()
        audit.record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action="channel.update",
            target_type="channel",
            target_id=str(channel.id),
            detail=changes,
        )
        if {"state", "pool", "skip_verify", "chat_ids", "name", "store_ids"} & set(changes):
            channel.sync_status = "pending"
            queue_sync(session, channel, reason="update")
    return channel


def delete_channel(session: Session, *, workspace_id: int, channel_id: int, actor: str) -> Channel:
    """Mark a channel deleted and queue ``del_contact_way`` (its history stays for reports)."""
    channel = get_channel(session, workspace_id=workspace_id, channel_id=channel_id)
    channel.deleted_at = utcnow()
    channel.sync_status = "pending"
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="channel.delete",
        target_type="channel",
        target_id=str(channel.id),
        detail={"name": channel.name, "state": channel.state},
    )
    queue_sync(session, channel, reason="delete")
    return channel


def retry_sync(session: Session, *, workspace_id: int, channel_id: int, actor: str) -> Channel:
    """Queue the WeCom sync of a channel again (after a refusal is fixed)."""
    channel = get_channel(session, workspace_id=workspace_id, channel_id=channel_id, deleted=True)
    channel.sync_status = "pending"
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="channel.retry",
        target_type="channel",
        target_id=str(channel.id),
        detail={"previous_error": channel.sync_error},
    )
    queue_sync(session, channel, reason="retry")
    return channel


def channel_dict(channel: Channel) -> dict[str, Any]:
    """A channel as plain JSON (CLI ``--json`` and the API)."""
    return {
        "id": channel.id,
        "name": channel.name,
        "group_name": channel.group_name,
        "kind": channel.kind,
        "state": channel.state,
        "slug": channel.slug,
        "cost_fen": channel.cost_fen,
        "skip_verify": channel.skip_verify,
        "tag_ids": list(channel.tag_ids or []),
        "welcome": channel.welcome or {},
        "pool": channel.pool or {},
        "chat_ids": (channel.settings or {}).get("chat_ids", []),
        "members": (channel.settings or {}).get("members", []),
        "store_ids": (channel.settings or {}).get("store_ids", []),
        "campaign": (channel.settings or {}).get("campaign"),
        "config_id": channel.config_id,
        "qr_url": channel.qr_url,
        "link_url": channel.link_url,
        "sync_status": channel.sync_status,
        "sync_error": channel.sync_error,
        "created_at": _iso(channel.created_at),
        "deleted_at": _iso(channel.deleted_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
