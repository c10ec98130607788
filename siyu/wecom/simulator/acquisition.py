"""Simulated group live codes beyond ``add_join_way``, and 获客助手 links.

``get_join_way`` answers the code's ``qr_code`` (WeCom gives it only there, not on
``add_join_way``). Contact ways, the shared 500,000 quota, the 20-second once-only
welcome code and the customer limit live in ``handlers`` and ``scenario``.

获客助手 (customer acquisition) links: ``customer_acquisition/create_link`` /
``update_link`` / ``delete_link`` / ``list_link`` / ``get`` and the paid quota
``customer_acquisition_quota`` (``total``, ``balance``). A link's range is users
and/or departments (at least one); every user must exist and have customer-contact
permission. A customer opening ``url?customer_channel=X`` adds a member of the range
(``Scenario.add_friend_via_link``); the add's callback carries ``State`` = X (cut to
64 bytes, as WeCom does). Each customer new to the corp uses one unit of the quota;
with none left the link no longer adds anyone.
"""

from __future__ import annotations

import secrets
from typing import Any

from siyu.wecom.simulator.handlers import api, check_state_field, decode_cursor, int_field, need, page
from siyu.wecom.simulator.state import SimError, SimState

LINK_HOST = "https://work.weixin.qq.com/ca/"
MAX_CUSTOMER_CHANNEL_BYTES = 64


def _join_way(state: SimState, config_id: str) -> dict[str, Any]:
    way = state.join_ways.get(config_id)
    if way is None:
        raise SimError(41044, "invalid config_id")
    return way


@api("groupchat/get_join_way")
def get_join_way(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    way = _join_way(state, need(b, "config_id"))
    out = {k: v for k, v in way.items() if v is not None}
    out.setdefault("qr_code", f"https://wework.qpic.cn/wwpic/simjoin/{way['config_id']}/0")
    return {"join_way": out}


@api("groupchat/update_join_way")
def update_join_way(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    way = _join_way(state, need(b, "config_id"))
    chats = b.get("chat_id_list")
    if chats is not None:
        if not chats or len(chats) > 5:
            raise SimError(40058, "chat_id_list takes 1 to 5 chats")
        for c in chats:
            if c not in state.groups:
                raise SimError(90207, f"invalid chat_id {c}")
    check_state_field(b.get("state"))
    for key in (
        "scene",
        "remark",
        "chat_id_list",
        "state",
        "auto_create_room",
        "room_base_name",
        "room_base_id",
    ):
        if key in b:
            way[key] = b[key]
    return {}


@api("groupchat/del_join_way")
def del_join_way(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    _join_way(state, need(b, "config_id"))
    del state.join_ways[b["config_id"]]
    return {}


# --- 获客助手 links --------------------------------------------------------------------


def _range(state: SimState, b: dict[str, Any]) -> dict[str, list[Any]]:
    rng = b.get("range")
    if not isinstance(rng, dict):
        raise SimError(40058, "range is required")
    users = list(rng.get("user_list") or [])
    depts = list(rng.get("department_list") or [])
    if not users and not depts:
        raise SimError(40058, "range needs user_list or department_list")
    for u in users:
        staff = state.get_staff(u)
        if not staff.has_permission:
            raise SimError(60011, f"no privilege to access/modify contact/party/agent: {u}")
    return {"user_list": users, "department_list": depts}


def _link(state: SimState, link_id: str) -> dict[str, Any]:
    link = state.acquisition_links.get(link_id)
    if link is None:
        raise SimError(40058, f"invalid link_id {link_id}")
    return link


def link_users(state: SimState, link: dict[str, Any]) -> list[str]:
    """The members a link can add (its users, and the members of its departments)."""
    users = list(link["range"]["user_list"])
    depts = {str(d) for d in link["range"]["department_list"]}
    if depts:
        users += [u for u, s in state.staff.items() if s.department and s.department in depts]
    return [u for u in dict.fromkeys(users) if state.staff[u].has_permission]


def acquisition_balance(state: SimState) -> int:
    return max(state.config.acquisition_quota - state.acquisition_used, 0)


@api("customer_acquisition/create_link")
def create_link(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    name = need(b, "link_name")
    if not isinstance(name, str):
        raise SimError(40058, "link_name must be a string")
    rng = _range(state, b)
    link_id = "cawcde" + secrets.token_hex(8)
    link = {
        "link_id": link_id,
        "link_name": name,
        "url": LINK_HOST + link_id,
        "create_time": state.now(),
        "skip_verify": bool(b.get("skip_verify", True)),
        "range": rng,
    }
    state.acquisition_links[link_id] = link
    return {"link": {k: link[k] for k in ("link_id", "link_name", "url", "create_time")}}


@api("customer_acquisition/update_link")
def update_link(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    link = _link(state, need(b, "link_id"))
    if "range" in b:
        link["range"] = _range(state, b)
    if b.get("link_name"):
        link["link_name"] = b["link_name"]
    if "skip_verify" in b:
        link["skip_verify"] = bool(b["skip_verify"])
    return {}


@api("customer_acquisition/delete_link")
def delete_link(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    _link(state, need(b, "link_id"))
    del state.acquisition_links[b["link_id"]]
    return {}


@api("customer_acquisition/list_link")
def list_link(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    limit = int_field(b, "limit", 100, 1, 100)
    decode_cursor(b.get("cursor"))
    ids, nxt = page(sorted(state.acquisition_links), b.get("cursor"), limit)
    return {"link_id_list": ids, "next_cursor": nxt}


@api("customer_acquisition/get")
def get_link(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    link = _link(state, need(b, "link_id"))
    return {
        "link": {k: link[k] for k in ("link_name", "url", "create_time", "skip_verify")},
        "range": link["range"],
    }


@api("customer_acquisition_quota")
def quota(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    balance = acquisition_balance(state)
    return {
        "total": state.config.acquisition_quota,
        "balance": balance,
        "quota_list": [{"expire_date": state.now() + 365 * 86400, "balance": balance}],
    }
