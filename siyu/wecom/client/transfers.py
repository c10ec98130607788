"""WeCom calls for staff changes not in ``api.py``: the unassigned list, the resigned
handover's results and group handovers (functions over a ``WeComClient``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pydantic import Field

from siyu.wecom.client.api import EC, WeComClient
from siyu.wecom.schemas import Response, TransferResultResponse, WeComModel

MAX_CHATS = 100


class UnassignedItem(WeComModel):
    handover_userid: str
    external_userid: str
    dimission_time: int = 0


class UnassignedResponse(Response):
    info: list[UnassignedItem] = Field(default_factory=list)
    is_last: bool = True
    next_cursor: str = ""


class FailedChat(WeComModel):
    chat_id: str
    errcode: int = 0
    errmsg: str = ""


class GroupTransferResponse(Response):
    failed_chat_list: list[FailedChat] = Field(default_factory=list)


def iter_unassigned(client: WeComClient, page_size: int = 1000) -> Iterator[UnassignedItem]:
    """Every customer of a resigned member still waiting for a new owner (待分配)."""
    cursor = ""
    while True:
        body: dict[str, object] = {"page_size": page_size}
        if cursor:
            body["cursor"] = cursor
        page = client.call(f"{EC}/get_unassigned_list", UnassignedResponse, body=body)
        yield from page.info
        if page.is_last or not page.next_cursor:
            return
        cursor = page.next_cursor


def resigned_transfer_result(
    client: WeComClient, handover_userid: str, takeover_userid: str, cursor: str | None = None
) -> TransferResultResponse:
    body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
    if cursor:
        body["cursor"] = cursor
    return client.call(f"{EC}/resigned/transfer_result", TransferResultResponse, body=body)


def transfer_groups(
    client: WeComClient, chat_ids: Sequence[str], new_owner: str, *, onjob: bool
) -> list[FailedChat]:
    """Hand ≤ 100 groups to ``new_owner``; the ones WeCom refused (with its errcode)."""
    if not 1 <= len(chat_ids) <= MAX_CHATS:
        raise ValueError(f"between 1 and {MAX_CHATS} chats a call, not {len(chat_ids)}")
    api = f"{EC}/groupchat/onjob_transfer" if onjob else f"{EC}/groupchat/transfer"
    body = {"chat_id_list": list(chat_ids), "new_owner": new_owner}
    return client.call(api, GroupTransferResponse, body=body).failed_chat_list
