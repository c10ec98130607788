"""The simulated WeCom server API: one handler per ``/cgi-bin/externalcontact/...`` path.

A handler takes the state, the query parameters and the JSON body and returns the
answer (without errcode; the app adds ``errcode: 0``) or raises ``SimError``.
Callers hold ``state.lock``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from typing import Any

from siyu.wecom.simulator.state import MassSend, SimError, SimState, Tag, TagGroup, new_id

Handler = Callable[[SimState, dict[str, str], dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}
EC = "externalcontact/"


def api(path: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[EC + path] = fn
        return fn

    return register


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("sim:"):
            return int(raw[4:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise SimError(40058, "invalid cursor")


def page(items: list[Any], cursor: str | None, limit: int) -> tuple[list[Any], str]:
    start = decode_cursor(cursor)
    chunk = items[start : start + limit]
    nxt = encode_cursor(start + limit) if start + limit < len(items) else ""
    return chunk, nxt


def need(body: dict[str, Any], key: str) -> Any:
    value = body.get(key)
    if value in (None, "", []):
        raise SimError(41001 if key == "access_token" else 40058, f"missing {key}")
    return value


def int_field(body: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or not lo <= value <= hi:
        raise SimError(40058, f"invalid {key}, must be {lo}..{hi}")
    return value


# --- contacts ------------------------------------------------------------------------


def contact_json(state: SimState, external_userid: str) -> dict[str, Any]:
    c = state.get_customer(external_userid)
    out: dict[str, Any] = {
        "external_userid": c.external_userid,
        "name": c.name,
        "avatar": c.avatar or "",
        "type": c.type,
        "gender": c.gender,
    }
    if c.unionid:
        out["unionid"] = c.unionid
    return out


def follow_common(state: SimState, f: Any) -> dict[str, Any]:
    return {
        "userid": f.userid,
        "remark": f.remark,
        "description": f.description,
        "createtime": f.createtime,
        "remark_mobiles": list(f.remark_mobiles),
        "oper_userid": f.oper_userid or f.userid,
        "add_way": f.add_way,
        **({"state": f.state} if f.state else {}),
    }


def get_user(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    staff = state.get_staff(need(q, "userid"))
    return {"userid": staff.userid, "name": staff.name, "department": [1]}


HANDLERS["user/get"] = get_user


@api("get_follow_user_list")
def get_follow_user_list(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    return {"follow_user": [s.userid for s in state.staff.values() if s.has_permission]}


@api("list")
def list_contacts(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    userid = need(q, "userid")
    state.get_staff(userid)
    return {"external_userid": [f.external_userid for f in state.follows_of_staff(userid) if not f.half]}


@api("get")
def get_contact(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    ext = need(q, "external_userid")
    contact = contact_json(state, ext)
    follows = [f for f in state.follows_of_customer(ext) if not f.half]
    if not follows:
        raise SimError(84061, "not external contact")
    chunk, nxt = page(follows, q.get("cursor"), 500)
    users = []
    for f in chunk:
        item = follow_common(state, f)
        item["tags"] = []
        for tag_id in sorted(f.tags):
            found = state.tag(tag_id)
            if found:
                group, tag = found
                item["tags"].append(
                    {"group_name": group.name, "tag_name": tag.name, "tag_id": tag.id, "type": 1}
                )
        users.append(item)
    return {"external_contact": contact, "follow_user": users, "next_cursor": nxt}


@api("batch/get_by_user")
def batch_get_by_user(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    userids = need(b, "userid_list")
    if not isinstance(userids, list) or len(userids) > 100:
        raise SimError(40058, "userid_list must be a list of at most 100 userids")
    limit = int_field(b, "limit", 50, 1, 100)
    for u in userids:
        state.get_staff(u)
    pairs = [f for u in userids for f in state.follows_of_staff(u) if not f.half]
    chunk, nxt = page(pairs, b.get("cursor"), limit)
    items = []
    for f in chunk:
        info = follow_common(state, f)
        info["tag_id"] = sorted(t for t in f.tags if state.tag(t))
        items.append({"external_contact": contact_json(state, f.external_userid), "follow_info": info})
    return {"external_contact_list": items, "next_cursor": nxt}


# --- corp tags -----------------------------------------------------------------------


def group_json(group: TagGroup, only: set[str] | None = None) -> dict[str, Any]:
    tags = [t for t in group.tags.values() if only is None or t.id in only]
    return {
        "group_id": group.group_id,
        "group_name": group.name,
        "create_time": group.create_time,
        "order": group.order,
        "tag": [{"id": t.id, "name": t.name, "create_time": t.create_time, "order": t.order} for t in tags],
    }


def check_tag_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 30:
        raise SimError(40071, "tag name must be 1 to 30 characters")
    return name


@api("get_corp_tag_list")
def get_corp_tag_list(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    tag_ids = set(b.get("tag_id") or [])
    group_ids = set(b.get("group_id") or [])
    out = []
    for group in sorted(state.tag_groups.values(), key=lambda g: (-g.order, g.create_time)):
        if group_ids and group.group_id not in group_ids:
            continue
        if tag_ids and not group_ids:
            wanted = tag_ids & set(group.tags)
            if wanted:
                out.append(group_json(group, wanted))
            continue
        out.append(group_json(group))
    return {"tag_group": out}


@api("add_corp_tag")
def add_corp_tag(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    tags = need(b, "tag")
    now = state.now()
    group: TagGroup | None = None
    if b.get("group_id"):
        group = state.tag_groups.get(b["group_id"])
        if group is None:
            raise SimError(40068, "invalid tag group id")
    else:
        name = check_tag_name(need(b, "group_name"))
        group = next((g for g in state.tag_groups.values() if g.name == name), None)
        if group is None:
            group = TagGroup(new_id("et", 20), name, int(b.get("order") or 0), now)
            state.tag_groups[group.group_id] = group
    added: set[str] = set()
    for item in tags:
        name = check_tag_name(item.get("name"))
        if any(t.name == name for t in group.tags.values()):
            raise SimError(40071, f"tag name {name} already exists in the group")
        tag = Tag(new_id("et", 20), name, int(item.get("order") or 0), now)
        group.tags[tag.id] = tag
        added.add(tag.id)
    return {"tag_group": group_json(group, added)}


@api("edit_corp_tag")
def edit_corp_tag(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    ident = need(b, "id")
    target: TagGroup | Tag | None = state.tag_groups.get(ident)
    if target is None:
        found = state.tag(ident)
        target = found[1] if found else None
    if target is None:
        raise SimError(40068, "invalid tag id")
    if "name" in b:
        target.name = check_tag_name(b["name"])
    if "order" in b:
        target.order = int(b["order"])
    return {}


@api("del_corp_tag")
def del_corp_tag(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    tag_ids = list(b.get("tag_id") or [])
    group_ids = list(b.get("group_id") or [])
    if not tag_ids and not group_ids:
        raise SimError(40058, "tag_id or group_id is required")
    for gid in group_ids:
        if state.tag_groups.pop(gid, None) is None:
            raise SimError(40068, "invalid tag group id")
    for tid in tag_ids:
        found = state.tag(tid)
        if found is None:
            raise SimError(40068, "invalid tag id")
        del found[0].tags[tid]
    for f in state.follows.values():
        f.tags = {t for t in f.tags if state.tag(t)}
    # WeCom drops a group whose last tag was deleted.
    for gid in [g.group_id for g in state.tag_groups.values() if not g.tags]:
        del state.tag_groups[gid]
    return {}


@api("mark_tag")
def mark_tag(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    state.get_staff(need(b, "userid"))
    state.get_customer(need(b, "external_userid"))
    f = state.follow(b["userid"], b["external_userid"])
    add, remove = list(b.get("add_tag") or []), list(b.get("remove_tag") or [])
    if not add and not remove:
        raise SimError(40058, "add_tag or remove_tag is required")
    for tid in add + remove:
        if state.tag(tid) is None:
            raise SimError(40068, f"invalid tag id {tid}")
    f.tags |= set(add)
    f.tags -= set(remove)
    return {}


# --- live codes ----------------------------------------------------------------------


def check_state_field(value: Any) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > 30):
        raise SimError(40058, "state must be at most 30 characters")


@api("add_contact_way")
def add_contact_way(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    kind = b.get("type")
    if kind not in (1, 2):
        raise SimError(40058, "type must be 1 (single) or 2 (multi)")
    if b.get("scene") not in (1, 2):
        raise SimError(40058, "scene must be 1 (mini program) or 2 (QR code)")
    users = list(b.get("user") or [])
    if not users:
        raise SimError(40058, "user is required")
    if kind == 1 and len(users) != 1:
        raise SimError(40058, "a single live code takes exactly one user")
    for u in users:
        state.get_staff(u)
    check_state_field(b.get("state"))
    if len(state.contact_ways) + len(state.join_ways) >= 500_000:
        raise SimError(41062, "contact way quota exceeded")
    config_id = secrets.token_hex(16)
    way = {
        "config_id": config_id,
        "type": kind,
        "scene": b["scene"],
        "style": b.get("style"),
        "remark": b.get("remark"),
        "skip_verify": bool(b.get("skip_verify", True)),
        "state": b.get("state"),
        "user": users,
        "party": list(b.get("party") or []),
        "is_exclusive": bool(b.get("is_exclusive", False)),
        "is_temp": bool(b.get("is_temp", False)),
        "qr_code": f"https://wework.qpic.cn/wwpic/sim/{config_id}/0" if b["scene"] == 2 else None,
    }
    state.contact_ways[config_id] = way
    return {"config_id": config_id, **({"qr_code": way["qr_code"]} if way["qr_code"] else {})}


def contact_way(state: SimState, config_id: str) -> dict[str, Any]:
    way = state.contact_ways.get(config_id)
    if way is None:
        raise SimError(41044, "invalid config_id")
    return way


@api("get_contact_way")
def get_contact_way(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    way = contact_way(state, need(b, "config_id"))
    return {"contact_way": {k: v for k, v in way.items() if v is not None}}


@api("update_contact_way")
def update_contact_way(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    way = contact_way(state, need(b, "config_id"))
    check_state_field(b.get("state"))
    for u in b.get("user") or []:
        state.get_staff(u)
    for key in ("remark", "skip_verify", "style", "state", "user", "party", "is_exclusive"):
        if key in b:
            way[key] = b[key]
    return {}


@api("del_contact_way")
def del_contact_way(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    contact_way(state, need(b, "config_id"))
    del state.contact_ways[b["config_id"]]
    return {}


@api("groupchat/add_join_way")
def add_join_way(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    chats = need(b, "chat_id_list")
    if len(chats) > 5:
        raise SimError(40058, "chat_id_list takes at most 5 chats")
    for c in chats:
        if c not in state.groups:
            raise SimError(90207, f"invalid chat_id {c}")
    check_state_field(b.get("state"))
    if len(state.contact_ways) + len(state.join_ways) >= 500_000:  # shared with contact ways
        raise SimError(41062, "contact way quota exceeded")
    config_id = secrets.token_hex(16)
    state.join_ways[config_id] = {"config_id": config_id, **b}
    return {"config_id": config_id}


# --- welcome and mass sends ----------------------------------------------------------


@api("send_welcome_msg")
def send_welcome_msg(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    code = need(b, "welcome_code")
    if not b.get("text") and not b.get("attachments"):
        raise SimError(40058, "text or attachments is required")
    if len(b.get("attachments") or []) > 9:
        raise SimError(40058, "at most 9 attachments")
    entry = state.welcome_codes.get(code)
    if entry is None or entry[1] or entry[0] <= state.clock.now():
        raise SimError(41051, "welcome code is used or expired")
    state.welcome_codes[code] = (entry[0], True)
    state.welcome_msgs.append(dict(b))
    return {}


@api("add_msg_template")
def add_msg_template(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    chat_type = b.get("chat_type", "single")
    text = b.get("text")
    if not text and not b.get("attachments"):
        raise SimError(40058, "text or attachments is required")
    if text and len(str(text.get("content", "")).encode()) > 4000:
        raise SimError(40058, "text.content is longer than 4000 bytes")
    sender = b.get("sender")
    if sender:
        state.get_staff(sender)
    targets: dict[str, list[str]] = {}
    fail: list[str] = []
    if chat_type == "single":
        exts = list(b.get("external_userid") or [])
        if len(exts) > 10000:
            raise SimError(40058, "at most 10000 external_userid")
        if not exts and not sender:
            raise SimError(40058, "external_userid or sender is required")
        if not exts and sender:
            exts = [f.external_userid for f in state.follows_of_staff(sender)]
        for ext in exts:
            follows = [f for f in state.follows_of_customer(ext) if not sender or f.userid == sender]
            if not follows:
                fail.append(ext)
                continue
            # One sender per customer: the staff member who has served them longest.
            owner = min(follows, key=lambda f: f.createtime).userid
            targets.setdefault(owner, []).append(ext)
    else:
        if not sender:
            raise SimError(40058, "sender is required for group mass sends")
        chats = list(b.get("chat_id_list") or []) or [
            g.chat_id for g in state.groups.values() if g.owner == sender and not g.dismissed
        ]
        if len(chats) > 2000:
            raise SimError(40058, "at most 2000 chat_id_list")
        for chat_id in chats:
            group = state.groups.get(chat_id)
            if group is None or group.owner != sender:
                fail.append(chat_id)
            else:
                targets.setdefault(sender, []).append(chat_id)
    msgid = "msg" + new_id("", 24)
    state.mass_sends[msgid] = MassSend(
        msgid=msgid,
        chat_type=chat_type,
        create_time=state.now(),
        create_type=0,
        creator=sender,
        text=text,
        attachments=list(b.get("attachments") or []),
        targets=targets,
    )
    return {"fail_list": fail, "msgid": msgid}


def mass_send(state: SimState, msgid: str) -> MassSend:
    msg = state.mass_sends.get(msgid)
    if msg is None:
        raise SimError(41063, "invalid msgid")
    return msg


@api("get_groupmsg_list_v2")
def get_groupmsg_list_v2(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    start, end = int(need(b, "start_time")), int(need(b, "end_time"))
    if end < start or end - start > 31 * 86400:
        raise SimError(40058, "the time range must be at most one month")
    chat_type = b.get("chat_type", "single")
    msgs = [
        m
        for m in state.mass_sends.values()
        if m.chat_type == chat_type
        and start <= m.create_time <= end
        and (not b.get("creator") or m.creator == b["creator"])
    ]
    chunk, nxt = page(msgs, b.get("cursor"), int_field(b, "limit", 50, 1, 100))
    items = [
        {
            "msgid": m.msgid,
            "creator": m.creator or "",
            "create_time": m.create_time,
            "create_type": m.create_type,
            **({"text": m.text} if m.text else {}),
            "attachments": m.attachments,
        }
        for m in chunk
    ]
    return {"group_msg_list": items, "next_cursor": nxt}


@api("get_groupmsg_task")
def get_groupmsg_task(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    msg = mass_send(state, need(b, "msgid"))
    rows = [
        {
            "userid": u,
            "status": 2 if u in msg.sent else 0,
            **({"send_time": msg.sent[u]} if u in msg.sent else {}),
        }
        for u in msg.targets
    ]
    chunk, nxt = page(rows, b.get("cursor"), int_field(b, "limit", 500, 1, 1000))
    return {"task_list": chunk, "next_cursor": nxt}


@api("get_groupmsg_send_result")
def get_groupmsg_send_result(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    msg = mass_send(state, need(b, "msgid"))
    userid = need(b, "userid")
    key = "external_userid" if msg.chat_type == "single" else "chat_id"
    rows = []
    for target in msg.targets.get(userid, []):
        status, sent_at = msg.results.get((userid, target), (0, None))
        row: dict[str, Any] = {key: target, "userid": userid, "status": status}
        if sent_at:
            row["send_time"] = sent_at
        rows.append(row)
    chunk, nxt = page(rows, b.get("cursor"), int_field(b, "limit", 500, 1, 1000))
    return {"send_list": chunk, "next_cursor": nxt}


@api("remind_groupmsg_send")
def remind_groupmsg_send(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    msg = mass_send(state, need(b, "msgid"))
    now = state.clock.now()
    msg.reminds = [t for t in msg.reminds if t > now - 86400]
    if len(msg.reminds) >= 3:
        raise SimError(45024, "remind limit reached: 3 times per 24 hours")
    msg.reminds.append(now)
    return {}


@api("cancel_groupmsg_send")
def cancel_groupmsg_send(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    mass_send(state, need(b, "msgid")).cancelled = True
    return {}
