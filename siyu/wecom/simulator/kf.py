"""Simulated WeChat customer service (微信客服): ``kf/sync_msg`` and its callback.

Messages wait in the corp's log; :func:`kf_message` adds one and (``notify``) sends the
``kf_msg_or_event`` callback with a token. ``kf/sync_msg`` enforces WeCom's rules: at
most 1,000 a call, a cursor to continue, and only the last 3 days can be fetched.
"""

from __future__ import annotations

import secrets
from typing import Any

from siyu.wecom.simulator.handlers import HANDLERS, decode_cursor, encode_cursor
from siyu.wecom.simulator.scenario import Scenario
from siyu.wecom.simulator.state import SimError, SimState, new_id

KEEP_SECONDS = 3 * 86400
MAX_LIMIT = 1000
ORIGIN_CUSTOMER, ORIGIN_SERVICER = 3, 5


def kf_log(state: SimState) -> list[dict[str, Any]]:
    """The corp's customer-service messages, oldest first."""
    log: list[dict[str, Any]] = state.__dict__.setdefault("kf_messages", [])
    return log


def kf_message(
    scenario: Scenario,
    *,
    open_kfid: str,
    external_userid: str,
    text: str,
    servicer_userid: str | None = None,
    notify: bool = True,
) -> dict[str, Any]:
    """A customer (or, with ``servicer_userid``, a servicer) writes in customer service."""
    st = scenario.state
    with st.lock:
        msg: dict[str, Any] = {
            "msgid": new_id("kf", 24),
            "open_kfid": open_kfid,
            "external_userid": external_userid,
            "send_time": st.now(),
            "origin": ORIGIN_SERVICER if servicer_userid else ORIGIN_CUSTOMER,
            "msgtype": "text",
            "text": {"content": text},
        }
        if servicer_userid:
            msg["servicer_userid"] = servicer_userid
        kf_log(st).append(msg)
    if notify:
        scenario._emit("kf_msg_or_event", "", Token=secrets.token_hex(8), OpenKfId=open_kfid)
    return msg


def sync_msg(state: SimState, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    limit = body.get("limit", MAX_LIMIT)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise SimError(40058, f"limit must be 1-{MAX_LIMIT}")
    kfid = body.get("open_kfid") or ""
    with state.lock:
        log = kf_log(state)
        start = decode_cursor(body.get("cursor"))
        oldest = state.now() - KEEP_SECONDS
        items: list[dict[str, Any]] = []
        i = start
        while i < len(log) and len(items) < limit:
            m = log[i]
            i += 1
            if m["send_time"] >= oldest and (not kfid or m["open_kfid"] == kfid):
                items.append(dict(m))
        return {
            "errcode": 0,
            "errmsg": "ok",
            "next_cursor": encode_cursor(i),
            "has_more": int(i < len(log)),
            "msg_list": items,
        }


HANDLERS["kf/sync_msg"] = sync_msg
