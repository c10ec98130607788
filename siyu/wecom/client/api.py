"""The WeCom customer-contact API, one typed method per endpoint."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from siyu.wecom.client.core import BaseClient
from siyu.wecom.schemas import (
    AddContactWayResponse,
    AddCorpTagRequest,
    AddCorpTagResponse,
    AddJoinWayResponse,
    BatchContactItem,
    BatchGetByUserRequest,
    BatchGetByUserResponse,
    BehaviorData,
    BehaviorDataResponse,
    ContactDetail,
    ContactWay,
    ContactWayRequest,
    CorpTagGroup,
    CorpTagListResponse,
    DelCorpTagRequest,
    EditCorpTagRequest,
    ExternalUserListResponse,
    FollowUserListResponse,
    GetContactWayResponse,
    GroupChat,
    GroupChatListRequest,
    GroupChatListResponse,
    GroupChatRef,
    GroupChatResponse,
    GroupMsgListRequest,
    GroupMsgListResponse,
    GroupMsgSendResultResponse,
    GroupMsgTaskResponse,
    JoinWayRequest,
    MarkTagRequest,
    MomentJobResponse,
    MomentTaskRequest,
    MomentTaskResultResponse,
    MsgTemplateRequest,
    MsgTemplateResponse,
    Response,
    TransferRequest,
    TransferResponse,
    TransferResultResponse,
    UpdateContactWayRequest,
    UserResponse,
    WelcomeMsgRequest,
)

EC = "externalcontact"


class WeComClient(BaseClient):
    """Typed access to WeCom's external-contact (客户联系) API for one app."""

    # --- directory -------------------------------------------------------------------

    def get_follow_user_list(self) -> list[str]:
        """Staff userids that have the customer-contact permission."""
        return self.call(f"{EC}/get_follow_user_list", FollowUserListResponse).follow_user

    def get_user(self, userid: str) -> UserResponse:
        """A member of the address book: the name people know a staff account by."""
        return self.call("user/get", UserResponse, params={"userid": userid})

    def list_external_contacts(self, userid: str) -> list[str]:
        """external_userids of one staff member's customers."""
        return self.call(f"{EC}/list", ExternalUserListResponse, params={"userid": userid}).external_userid

    def get_external_contact(self, external_userid: str, cursor: str | None = None) -> ContactDetail:
        """One customer and (a page of, for > 500 followers) its follow users."""
        params = {"external_userid": external_userid}
        if cursor:
            params["cursor"] = cursor
        return self.call(f"{EC}/get", ContactDetail, params=params)

    def get_external_contact_all(self, external_userid: str) -> ContactDetail:
        """One customer with every follow user (walks the cursor)."""
        detail = self.get_external_contact(external_userid)
        cursor = detail.next_cursor
        while cursor:
            page = self.get_external_contact(external_userid, cursor)
            detail.follow_user.extend(page.follow_user)
            cursor = page.next_cursor
        detail.next_cursor = ""
        return detail

    def batch_get_by_user(
        self, userids: Sequence[str], cursor: str | None = None, limit: int = 100
    ) -> BatchGetByUserResponse:
        """One page of customers (with their follow info) of up to 100 staff."""
        req = BatchGetByUserRequest(userid_list=list(userids), cursor=cursor, limit=limit)
        return self.call(f"{EC}/batch/get_by_user", BatchGetByUserResponse, body=req)

    def iter_contacts_by_user(self, userids: Sequence[str], limit: int = 100) -> Iterator[BatchContactItem]:
        """Every (customer, follow) pair of these staff, page after page."""
        for start in range(0, len(userids), 100):
            chunk = userids[start : start + 100]
            cursor: str | None = None
            while True:
                page = self.batch_get_by_user(chunk, cursor, limit)
                yield from page.external_contact_list
                if not page.next_cursor:
                    break
                cursor = page.next_cursor

    # --- corp tags -------------------------------------------------------------------

    def get_corp_tag_list(
        self, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()
    ) -> list[CorpTagGroup]:
        """Corp tag groups with their tags (all of them when no ids are given)."""
        body = {"tag_id": list(tag_ids), "group_id": list(group_ids)}
        return self.call(f"{EC}/get_corp_tag_list", CorpTagListResponse, body=body).tag_group

    def add_corp_tag(self, req: AddCorpTagRequest) -> CorpTagGroup:
        """Add tags to a group (created when ``group_name`` is new)."""
        return self.call(f"{EC}/add_corp_tag", AddCorpTagResponse, body=req).tag_group

    def edit_corp_tag(self, req: EditCorpTagRequest) -> None:
        """Rename or reorder a tag or tag group."""
        self.call(f"{EC}/edit_corp_tag", Response, body=req)

    def del_corp_tag(self, req: DelCorpTagRequest) -> None:
        """Delete tags and/or whole tag groups."""
        self.call(f"{EC}/del_corp_tag", Response, body=req)

    def mark_tag(self, req: MarkTagRequest) -> None:
        """Add and remove corp tags on one staff member's customer."""
        self.call(f"{EC}/mark_tag", Response, body=req)

    # --- live codes ------------------------------------------------------------------

    def add_contact_way(self, req: ContactWayRequest) -> AddContactWayResponse:
        """Create a live code (联系我); keep the config_id, the admin console will not show it."""
        return self.call(f"{EC}/add_contact_way", AddContactWayResponse, body=req)

    def get_contact_way(self, config_id: str) -> ContactWay:
        return self.call(
            f"{EC}/get_contact_way", GetContactWayResponse, body={"config_id": config_id}
        ).contact_way

    def update_contact_way(self, req: UpdateContactWayRequest) -> None:
        self.call(f"{EC}/update_contact_way", Response, body=req)

    def del_contact_way(self, config_id: str) -> None:
        self.call(f"{EC}/del_contact_way", Response, body={"config_id": config_id})

    def add_join_way(self, req: JoinWayRequest) -> str:
        """Create a group join code; returns its config_id."""
        return self.call(f"{EC}/groupchat/add_join_way", AddJoinWayResponse, body=req).config_id

    # --- messages --------------------------------------------------------------------

    def send_welcome_msg(self, req: WelcomeMsgRequest) -> None:
        """Send the welcome message for a new friend (code valid 20 s, once)."""
        self.call(f"{EC}/send_welcome_msg", Response, body=req)

    def add_msg_template(self, req: MsgTemplateRequest) -> MsgTemplateResponse:
        """Create a mass send; each sender confirms it in the WeCom client."""
        return self.call(f"{EC}/add_msg_template", MsgTemplateResponse, body=req)

    def get_groupmsg_list_v2(self, req: GroupMsgListRequest) -> GroupMsgListResponse:
        return self.call(f"{EC}/get_groupmsg_list_v2", GroupMsgListResponse, body=req)

    def get_groupmsg_task(
        self, msgid: str, cursor: str | None = None, limit: int = 1000
    ) -> GroupMsgTaskResponse:
        body: dict[str, object] = {"msgid": msgid, "limit": limit}
        if cursor:
            body["cursor"] = cursor
        return self.call(f"{EC}/get_groupmsg_task", GroupMsgTaskResponse, body=body)

    def get_groupmsg_send_result(
        self, msgid: str, userid: str, cursor: str | None = None, limit: int = 1000
    ) -> GroupMsgSendResultResponse:
        body: dict[str, object] = {"msgid": msgid, "userid": userid, "limit": limit}
        if cursor:
            body["cursor"] = cursor
        return self.call(f"{EC}/get_groupmsg_send_result", GroupMsgSendResultResponse, body=body)

    def remind_groupmsg_send(self, msgid: str) -> None:
        """Remind the senders of an unsent mass send (3 times per 24 h)."""
        self.call(f"{EC}/remind_groupmsg_send", Response, body={"msgid": msgid})

    def cancel_groupmsg_send(self, msgid: str) -> None:
        """Stop a mass send for the senders who have not sent it yet."""
        self.call(f"{EC}/cancel_groupmsg_send", Response, body={"msgid": msgid})

    # --- group chats -----------------------------------------------------------------

    def groupchat_list(self, req: GroupChatListRequest) -> GroupChatListResponse:
        return self.call(f"{EC}/groupchat/list", GroupChatListResponse, body=req)

    def iter_groupchats(self, status_filter: int = 0, owners: Sequence[str] = ()) -> Iterator[GroupChatRef]:
        """Every group chat (optionally of some owners), page after page."""
        cursor: str | None = None
        owner_filter = {"userid_list": list(owners)} if owners else None
        while True:
            page = self.groupchat_list(
                GroupChatListRequest(status_filter=status_filter, owner_filter=owner_filter, cursor=cursor)
            )
            yield from page.group_chat_list
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def groupchat_get(self, chat_id: str, need_name: bool = True) -> GroupChat:
        body = {"chat_id": chat_id, "need_name": 1 if need_name else 0}
        return self.call(f"{EC}/groupchat/get", GroupChatResponse, body=body).group_chat

    # --- stats -----------------------------------------------------------------------

    def get_user_behavior_data(
        self, userids: Sequence[str], start_time: int, end_time: int
    ) -> list[BehaviorData]:
        """Per-day contact statistics summed over these staff (≤ 100, span ≤ 30 days)."""
        body = {"userid": list(userids), "start_time": start_time, "end_time": end_time}
        return self.call(f"{EC}/get_user_behavior_data", BehaviorDataResponse, body=body).behavior_data

    # --- handover --------------------------------------------------------------------

    def transfer_customer(self, req: TransferRequest) -> TransferResponse:
        """Hand customers of a serving staff member to another (takes over after 24 h)."""
        return self.call(f"{EC}/transfer_customer", TransferResponse, body=req)

    def transfer_resigned_customer(self, req: TransferRequest) -> TransferResponse:
        """Hand customers of a resigned staff member to another."""
        body = req.model_dump(exclude_none=True, exclude={"transfer_success_msg"})
        return self.call(f"{EC}/resigned/transfer_customer", TransferResponse, body=body)

    def transfer_result(
        self, handover_userid: str, takeover_userid: str, cursor: str | None = None
    ) -> TransferResultResponse:
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
        if cursor:
            body["cursor"] = cursor
        return self.call(f"{EC}/transfer_result", TransferResultResponse, body=body)

    # --- moments ---------------------------------------------------------------------

    def add_moment_task(self, req: MomentTaskRequest) -> str:
        """Start an asynchronous moment post; returns the job id."""
        return self.call(f"{EC}/add_moment_task", MomentJobResponse, body=req).jobid

    def get_moment_task_result(self, jobid: str) -> MomentTaskResultResponse:
        return self.call(f"{EC}/get_moment_task_result", MomentTaskResultResponse, params={"jobid": jobid})
