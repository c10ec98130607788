"""Simulated group live codes beyond ``add_join_way``: get, update and delete.

``get_join_way`` answers the code's ``qr_code`` (WeCom gives it only there, not on
``add_join_way``). Contact ways, the shared 500,000 quota, the 20-second once-only
welcome code and the customer limit live in ``handlers`` and ``scenario``.
"""

from __future__ import annotations

from typing import Any

from siyu.wecom.simulator.handlers import api, check_state_field, need
from siyu.wecom.simulator.state import SimError, SimState


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
