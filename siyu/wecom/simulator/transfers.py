"""Simulated staff changes beyond ``handover.py``: resignations, the unassigned list, group
handovers, a customer refusing a handover, and the checks of the in-service call's message.

- ``resign(sim, userid)``: the member leaves (gone from the address book and from
  ``get_follow_user_list``); their customers wait in ``get_unassigned_list`` until a
  ``resigned/transfer_customer`` hands them on;
- ``refuse_transfer(sim, external_userid)``: the customer refuses a waiting handover
  (``transfer_result`` status 3, a ``transfer_fail`` callback with ``customer_refused``);
- ``groupchat/transfer`` (owner resigned) and ``groupchat/onjob_transfer`` (owner still
  employed): ≤ 100 chats a call, a new owner with the customer-contact permission;
  errcodes 90500 (owner not resigned) and 90502 (owner resigned) as WeCom's error list
  names them (the exact codes are not confirmed against a live corp);
- ``transfer_customer``: ``transfer_success_msg`` ≤ 200 characters (40058 otherwise),
  then ``handover.py``'s checks (≤ 100 a call, twice per 90 days, 24 hours to take over).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from siyu.wecom.simulator import handover
from siyu.wecom.simulator.handlers import HANDLERS, api, int_field, need, page
from siyu.wecom.simulator.scenario import CONTACT
from siyu.wecom.simulator.state import SimError, SimState, Staff

if TYPE_CHECKING:
    from siyu.wecom.simulator.app import Simulator

MAX_CHATS = 100
MAX_MESSAGE = 200


def resigned(state: SimState) -> dict[str, tuple[Staff, int]]:
    """Members who left: userid -> (their record, dimission_time)."""
    found: dict[str, tuple[Staff, int]] | None = getattr(state, "sim_resigned", None)
    if found is None:
        found = {}
        state.sim_resigned = found  # type: ignore[attr-defined]
    return found


def resign(sim: Simulator, userid: str) -> None:
    """The member leaves the corp; their customers and groups wait for a new owner."""
    with sim.state.lock:
        staff = sim.state.get_staff(userid)
        del sim.state.staff[userid]
        resigned(sim.state)[userid] = (staff, sim.state.now())


def refuse_transfer(sim: Simulator, external_userid: str) -> None:
    """The customer refuses the handover waiting for them (within its 24 hours)."""
    with sim.state.lock:
        waiting = [t for t in sim.state.transfers if t.external_userid == external_userid and t.status == 2]
        if not waiting:
            raise SimError(40058, f"no handover of {external_userid} is waiting")
        t = waiting[-1]
        t.status = 3
    sim.scenario._emit(
        CONTACT,
        "transfer_fail",
        UserID=t.takeover,
        ExternalUserID=external_userid,
        FailReason="customer_refused",
    )


@api("transfer_customer")
def transfer_customer(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    msg = b.get("transfer_success_msg")
    if msg is not None and (not isinstance(msg, str) or len(msg) > MAX_MESSAGE):
        raise SimError(40058, f"transfer_success_msg is longer than {MAX_MESSAGE} characters")
    return handover._transfer(state, b, resigned=False)


@api("resigned/transfer_result")
def resigned_transfer_result(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    return handover.transfer_result(state, q, b)


@api("get_unassigned_list")
def get_unassigned_list(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    size = int_field(b, "page_size", 1000, 1, 1000)
    gone = resigned(state)
    moving = {(t.handover, t.external_userid) for t in state.transfers if t.status in (1, 2)}
    rows = [
        {
            "handover_userid": f.userid,
            "external_userid": f.external_userid,
            "dimission_time": gone[f.userid][1],
        }
        for (userid, ext), f in sorted(state.follows.items())
        if userid in gone and (userid, ext) not in moving and not f.half
    ]
    chunk, nxt = page(rows, b.get("cursor"), size)
    return {"info": chunk, "is_last": not nxt, "next_cursor": nxt}


def _group_transfer(state: SimState, b: dict[str, Any], onjob: bool) -> dict[str, Any]:
    chats = need(b, "chat_id_list")
    new_owner = need(b, "new_owner")
    if not isinstance(chats, list) or len(chats) > MAX_CHATS:
        raise SimError(40058, f"chat_id_list holds at most {MAX_CHATS} chats")
    owner = state.get_staff(new_owner)
    if not owner.has_permission:
        raise SimError(84074, "new_owner has no customer-contact permission")
    gone = resigned(state)
    failed: list[dict[str, Any]] = []
    for chat_id in chats:
        group = state.groups.get(chat_id)
        if group is None or group.dismissed:
            failed.append({"chat_id": chat_id, "errcode": 40050, "errmsg": "invalid chatid"})
        elif onjob and group.owner in gone:
            failed.append({"chat_id": chat_id, "errcode": 90502, "errmsg": "group owner has resigned"})
        elif not onjob and group.owner not in gone:
            failed.append({"chat_id": chat_id, "errcode": 90500, "errmsg": "group owner has not resigned"})
        elif group.owner == new_owner:
            failed.append(
                {"chat_id": chat_id, "errcode": 40058, "errmsg": "new_owner already owns the group"}
            )
        else:
            # Changes made through the API raise no callback (as everywhere in WeCom).
            group.owner = new_owner
    return {"failed_chat_list": failed}


@api("groupchat/transfer")
def groupchat_transfer(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    return _group_transfer(state, b, onjob=False)


@api("groupchat/onjob_transfer")
def groupchat_onjob_transfer(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    return _group_transfer(state, b, onjob=True)


# --- set-up faults the doctor finds (a corp's admin settings, not API calls) -------------

_follow_user_list = HANDLERS["externalcontact/get_follow_user_list"]
_user_get = HANDLERS["user/get"]


def misconfigure(sim: Simulator, *, untrusted_ip: bool = False, contact_api_denied: bool = False) -> None:
    """Make the corp refuse this server's IP (60020) or this app on the contact API (48002)."""
    with sim.state.lock:
        sim.state.sim_untrusted_ip = untrusted_ip  # type: ignore[attr-defined]
        sim.state.sim_contact_denied = contact_api_denied  # type: ignore[attr-defined]


def _faults(state: SimState, contact: bool) -> None:
    if getattr(state, "sim_untrusted_ip", False):
        raise SimError(60020, "not allow to access from your ip")
    if contact and getattr(state, "sim_contact_denied", False):
        raise SimError(48002, "api forbidden: the app is not in the customer contact app list")


@api("get_follow_user_list")
def get_follow_user_list(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    _faults(state, contact=True)
    return _follow_user_list(state, q, b)


def get_user(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    _faults(state, contact=False)
    return _user_get(state, q, b)


HANDLERS["user/get"] = get_user
