"""Simulated group chat (groupchat/list, groupchat/get) and behaviour-stats endpoints."""

from __future__ import annotations

from typing import Any

from siyu.wecom.simulator.handlers import api, int_field, need, page
from siyu.wecom.simulator.state import GroupChat, SimError, SimState, cn_day

# --- group chats ---------------------------------------------------------------------


def group_chat(state: SimState, chat_id: str) -> GroupChat:
    group = state.groups.get(chat_id)
    if group is None or group.dismissed:
        raise SimError(90207, "invalid chat_id")
    return group


@api("groupchat/list")
def groupchat_list(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    owners = set((b.get("owner_filter") or {}).get("userid_list") or [])
    if len(owners) > 100:
        raise SimError(40058, "owner_filter takes at most 100 userids")
    chats = [g for g in state.groups.values() if not g.dismissed and (not owners or g.owner in owners)]
    chunk, nxt = page(chats, b.get("cursor"), int_field(b, "limit", 1000, 1, 1000))
    return {"group_chat_list": [{"chat_id": g.chat_id, "status": 0} for g in chunk], "next_cursor": nxt}


@api("groupchat/get")
def groupchat_get(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    group = group_chat(state, need(b, "chat_id"))
    members = []
    for m in group.members.values():
        item: dict[str, Any] = {
            "userid": m.userid,
            "type": m.type,
            "join_time": m.join_time,
            "join_scene": m.join_scene,
        }
        if m.invitor:
            item["invitor"] = {"userid": m.invitor}
        if b.get("need_name") and m.name:
            item["name"] = m.name
        if m.unionid:
            item["unionid"] = m.unionid
        members.append(item)
    return {
        "group_chat": {
            "chat_id": group.chat_id,
            "name": group.name,
            "owner": group.owner,
            "create_time": group.create_time,
            "notice": group.notice,
            "member_list": members,
            "admin_list": [{"userid": u} for u in group.admins],
            "member_version": str(len(members)),
        }
    }


# --- stats ---------------------------------------------------------------------------


@api("get_user_behavior_data")
def get_user_behavior_data(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    userids = list(b.get("userid") or [])
    if not userids and not b.get("partyid"):
        raise SimError(40058, "userid or partyid is required")
    if len(userids) > 100:
        raise SimError(40058, "at most 100 userids")
    for u in userids:
        state.get_staff(u)
    start, end = int(need(b, "start_time")), int(need(b, "end_time"))
    if end < start or end - start > 30 * 86400:
        raise SimError(40058, "the time span must be at most 30 days")
    if start < state.now() - 180 * 86400:
        raise SimError(40058, "only the last 180 days can be queried")
    out = []
    day = cn_day(start)
    while day <= end:
        days = [state.stats[(u, day)] for u in userids if (u, day) in state.stats]
        started = sum(d.started_by_customer for d in days)
        replied = sum(d.replied for d in days)
        minutes = [m for d in days for m in d.reply_minutes]
        out.append(
            {
                "stat_time": day,
                "chat_cnt": sum(len(d.chats) for d in days),
                "message_cnt": sum(d.message_cnt for d in days),
                "reply_percentage": round(100.0 * replied / started, 2) if started else 0,
                "avg_reply_time": round(sum(minutes) / len(minutes)) if minutes else 0,
                "negative_feedback_cnt": sum(d.negative_feedback_cnt for d in days),
                "new_apply_cnt": sum(d.new_apply_cnt for d in days),
                "new_contact_cnt": sum(d.new_contact_cnt for d in days),
            }
        )
        day += 86400
    return {"behavior_data": out}
