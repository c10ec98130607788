"""Simulated handover (transfer_customer, resigned); moments live in ``moments.py``."""

from __future__ import annotations

from typing import Any

from siyu.wecom.simulator.handlers import api, need, page
from siyu.wecom.simulator.state import SimError, SimState, Transfer

TRANSFERS_PER_90_DAYS = 2


def _transfer(state: SimState, b: dict[str, Any], resigned: bool) -> dict[str, Any]:
    handover, takeover = need(b, "handover_userid"), need(b, "takeover_userid")
    state.get_staff(takeover)
    if not resigned:
        state.get_staff(handover)
    exts = need(b, "external_userid")
    if len(exts) > 100:
        raise SimError(40058, "at most 100 external_userid per call")
    now = state.clock.now()
    out = []
    for ext in exts:
        if ext not in state.customers:
            out.append({"external_userid": ext, "errcode": 40096})
            continue
        if (handover, ext) not in state.follows:
            out.append({"external_userid": ext, "errcode": 84061})
            continue
        recent = [
            t
            for t in state.transfers
            if t.external_userid == ext and t.started > now - 90 * 86400 and t.status in (1, 2)
        ]
        if any(t.status == 2 for t in recent):
            # 40129 当前客户正在转接中: a handover still waits for its 24 hours.
            out.append({"external_userid": ext, "errcode": 40129})
            continue
        if len(recent) >= TRANSFERS_PER_90_DAYS:
            # 40128 客户转接过于频繁: a customer can be handed over twice in 90 days.
            out.append({"external_userid": ext, "errcode": 40128})
            continue
        state.transfers.append(Transfer(handover, takeover, ext, now))
        out.append({"external_userid": ext, "errcode": 0})
    return {"customer": out}


@api("transfer_customer")
def transfer_customer(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    return _transfer(state, b, resigned=False)


@api("resigned/transfer_customer")
def resigned_transfer_customer(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    return _transfer(state, b, resigned=True)


@api("transfer_result")
def transfer_result(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    handover, takeover = need(b, "handover_userid"), need(b, "takeover_userid")
    rows = [
        {
            "external_userid": t.external_userid,
            "status": t.status,
            **({"takeover_time": t.takeover_time} if t.takeover_time else {}),
        }
        for t in state.transfers
        if t.handover == handover and t.takeover == takeover
    ]
    chunk, nxt = page(rows, b.get("cursor"), 1000)
    return {"customer": chunk, "next_cursor": nxt}
