"""Typed request and response bodies of the WeCom customer-contact API.

Field names are WeCom's own (snake_case JSON) so that ``model_dump`` is the wire body.
Responses allow unknown fields: WeCom adds fields without notice and an upgrade on
their side must not break a sync on ours.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class WeComModel(BaseModel):
    """Base for WeCom bodies: unknown response fields are kept, not refused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Request(BaseModel):
    """Base for request bodies: a typo in a field name is a bug, so refuse extras."""

    model_config = ConfigDict(extra="forbid")

    def wire(self) -> dict[str, Any]:
        """The JSON body (unset optional fields left out, as WeCom expects)."""
        return self.model_dump(exclude_none=True, by_alias=True)


class Response(WeComModel):
    errcode: int = 0
    errmsg: str = "ok"


class CursorPage(Response):
    next_cursor: str = ""


# --- token -------------------------------------------------------------------------


class TokenResponse(Response):
    access_token: str
    expires_in: int = 7200


# --- contacts ----------------------------------------------------------------------


class FollowUserListResponse(Response):
    follow_user: list[str] = Field(default_factory=list)


class UserResponse(Response):
    """``user/get``: a member of the corp's address book (name, departments)."""

    userid: str = ""
    name: str = ""
    department: list[int] = Field(default_factory=list)


class ExternalUserListResponse(Response):
    external_userid: list[str] = Field(default_factory=list)


class ExternalContact(WeComModel):
    external_userid: str
    name: str = ""
    avatar: str | None = None
    # 1 WeChat user, 2 WeCom user
    type: int = 1
    gender: int = 0
    unionid: str | None = None
    position: str | None = None
    corp_name: str | None = None
    corp_full_name: str | None = None


class FollowTag(WeComModel):
    group_name: str = ""
    tag_name: str = ""
    tag_id: str | None = None
    # 1 corp tag, 2 personal tag, 3 rule-group tag
    type: int = 1


class FollowUser(WeComModel):
    """One staff member's relation to the customer (``externalcontact/get``)."""

    userid: str
    remark: str = ""
    description: str = ""
    createtime: int = 0
    tags: list[FollowTag] = Field(default_factory=list)
    remark_corp_name: str | None = None
    remark_mobiles: list[str] = Field(default_factory=list)
    oper_userid: str | None = None
    add_way: int = 0
    state: str | None = None


class FollowInfo(WeComModel):
    """The same relation as returned by ``batch/get_by_user`` (tag ids only)."""

    userid: str
    remark: str = ""
    description: str = ""
    createtime: int = 0
    tag_id: list[str] = Field(default_factory=list)
    remark_corp_name: str | None = None
    remark_mobiles: list[str] = Field(default_factory=list)
    oper_userid: str | None = None
    add_way: int = 0
    state: str | None = None


class ContactDetail(CursorPage):
    external_contact: ExternalContact
    follow_user: list[FollowUser] = Field(default_factory=list)


class BatchContactItem(WeComModel):
    external_contact: ExternalContact
    follow_info: FollowInfo


class BatchGetByUserRequest(Request):
    userid_list: list[str] = Field(min_length=1, max_length=100)
    cursor: str | None = None
    limit: int = Field(100, ge=1, le=100)


class BatchGetByUserResponse(CursorPage):
    external_contact_list: list[BatchContactItem] = Field(default_factory=list)


# --- corp tags ---------------------------------------------------------------------


class CorpTag(WeComModel):
    id: str
    name: str
    create_time: int = 0
    order: int = 0
    deleted: bool = False


class CorpTagGroup(WeComModel):
    group_id: str
    group_name: str
    create_time: int = 0
    order: int = 0
    deleted: bool = False
    tag: list[CorpTag] = Field(default_factory=list)


class CorpTagListResponse(Response):
    tag_group: list[CorpTagGroup] = Field(default_factory=list)


class NewTag(Request):
    name: str = Field(min_length=1, max_length=30)
    order: int | None = None


class AddCorpTagRequest(Request):
    group_id: str | None = None
    group_name: str | None = Field(None, max_length=30)
    order: int | None = None
    tag: list[NewTag] = Field(min_length=1)
    agentid: int | None = None


class AddCorpTagResponse(Response):
    tag_group: CorpTagGroup


class EditCorpTagRequest(Request):
    id: str
    name: str | None = Field(None, min_length=1, max_length=30)
    order: int | None = None


class DelCorpTagRequest(Request):
    tag_id: list[str] = Field(default_factory=list)
    group_id: list[str] = Field(default_factory=list)


class MarkTagRequest(Request):
    userid: str
    external_userid: str
    add_tag: list[str] = Field(default_factory=list)
    remove_tag: list[str] = Field(default_factory=list)


# --- live codes (contact ways) -----------------------------------------------------


class ContactWayRequest(Request):
    type: Literal[1, 2]
    scene: Literal[1, 2] = 2
    style: int | None = None
    remark: str | None = Field(None, max_length=30)
    skip_verify: bool = True
    state: str | None = Field(None, max_length=30)
    user: list[str] = Field(default_factory=list)
    party: list[int] = Field(default_factory=list)
    # 同一外部企业客户只能添加同一个员工: a customer already served by one of the corp's
    # accounts is routed to that account (WeCom's is_exclusive, default off)
    is_exclusive: bool | None = None
    is_temp: bool | None = None
    expires_in: int | None = None


class AddContactWayResponse(Response):
    config_id: str
    qr_code: str | None = None


class ContactWay(WeComModel):
    config_id: str
    type: int
    scene: int
    style: int | None = None
    remark: str | None = None
    skip_verify: bool = True
    state: str | None = None
    qr_code: str | None = None
    user: list[str] = Field(default_factory=list)
    party: list[int] = Field(default_factory=list)
    is_exclusive: bool = False
    is_temp: bool = False


class GetContactWayResponse(Response):
    contact_way: ContactWay


class UpdateContactWayRequest(Request):
    config_id: str
    remark: str | None = Field(None, max_length=30)
    skip_verify: bool | None = None
    style: int | None = None
    state: str | None = Field(None, max_length=30)
    user: list[str] | None = None
    party: list[int] | None = None
    is_exclusive: bool | None = None


class JoinWayRequest(Request):
    scene: Literal[1, 2] = 2
    remark: str | None = Field(None, max_length=30)
    auto_create_room: int | None = None
    room_base_name: str | None = None
    room_base_id: int | None = None
    chat_id_list: list[str] = Field(min_length=1, max_length=5)
    state: str | None = Field(None, max_length=30)


class AddJoinWayResponse(Response):
    config_id: str


# --- messages ----------------------------------------------------------------------


class Text(Request):
    content: str


class Attachment(Request):
    """One attachment: ``msgtype`` plus the matching body (image, link, miniprogram...)."""

    model_config = ConfigDict(extra="allow")
    msgtype: Literal["image", "link", "miniprogram", "video", "file"]


class WelcomeMsgRequest(Request):
    welcome_code: str
    text: Text | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=9)


class MsgTemplateRequest(Request):
    chat_type: Literal["single", "group"] = "single"
    external_userid: list[str] | None = Field(None, max_length=10000)
    chat_id_list: list[str] | None = Field(None, max_length=2000)
    sender: str | None = None
    allow_select: bool | None = None
    text: Text | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=9)


class MsgTemplateResponse(Response):
    fail_list: list[str] = Field(default_factory=list)
    msgid: str


class GroupMsgListRequest(Request):
    chat_type: Literal["single", "group"] = "single"
    start_time: int
    end_time: int
    creator: str | None = None
    filter_type: int | None = None
    limit: int = Field(50, ge=1, le=100)
    cursor: str | None = None


class GroupMsg(WeComModel):
    msgid: str
    creator: str | None = None
    create_time: int = 0
    # 0 created by the corp (API/admin), 1 by a staff member
    create_type: int = 0
    text: dict[str, Any] | None = None
    attachments: list[dict[str, Any]] = Field(default_factory=list)


class GroupMsgListResponse(CursorPage):
    group_msg_list: list[GroupMsg] = Field(default_factory=list)


class GroupMsgTask(WeComModel):
    userid: str
    # 0 not sent yet, 2 sent
    status: int = 0
    send_time: int | None = None


class GroupMsgTaskResponse(CursorPage):
    task_list: list[GroupMsgTask] = Field(default_factory=list)


class GroupMsgSendResult(WeComModel):
    external_userid: str | None = None
    chat_id: str | None = None
    userid: str
    # 0 not sent, 1 sent, 2 not a friend, 3 customer's quota exceeded
    status: int = 0
    send_time: int | None = None


class GroupMsgSendResultResponse(CursorPage):
    send_list: list[GroupMsgSendResult] = Field(default_factory=list)


# --- group chats -------------------------------------------------------------------


class GroupChatListRequest(Request):
    status_filter: int = 0
    owner_filter: dict[str, list[str]] | None = None
    cursor: str | None = None
    limit: int = Field(1000, ge=1, le=1000)


class GroupChatRef(WeComModel):
    chat_id: str
    # 0 normal, 1 owner resigned (pending transfer), 2 transferring, 3 transferred
    status: int = 0


class GroupChatListResponse(CursorPage):
    group_chat_list: list[GroupChatRef] = Field(default_factory=list)


class Invitor(WeComModel):
    userid: str


class GroupChatMember(WeComModel):
    userid: str
    # 1 staff, 2 external contact
    type: int = 2
    unionid: str | None = None
    join_time: int = 0
    # 1 invited directly, 2 via link, 3 via QR code
    join_scene: int = 1
    invitor: Invitor | None = None
    group_nickname: str | None = None
    name: str | None = None


class GroupChat(WeComModel):
    chat_id: str
    name: str = ""
    owner: str = ""
    create_time: int = 0
    notice: str | None = None
    member_list: list[GroupChatMember] = Field(default_factory=list)
    admin_list: list[Invitor] = Field(default_factory=list)
    member_version: str | None = None


class GroupChatResponse(Response):
    group_chat: GroupChat


# --- stats -------------------------------------------------------------------------


class BehaviorData(WeComModel):
    stat_time: int
    chat_cnt: int | None = None
    message_cnt: int | None = None
    reply_percentage: float | None = None
    avg_reply_time: float | None = None
    negative_feedback_cnt: int | None = None
    new_apply_cnt: int | None = None
    new_contact_cnt: int | None = None


class BehaviorDataResponse(Response):
    behavior_data: list[BehaviorData] = Field(default_factory=list)


# --- handover ----------------------------------------------------------------------


class TransferRequest(Request):
    handover_userid: str
    takeover_userid: str
    external_userid: list[str] = Field(min_length=1, max_length=100)
    transfer_success_msg: str | None = Field(None, max_length=200)


class TransferItem(WeComModel):
    external_userid: str
    errcode: int = 0


class TransferResponse(Response):
    customer: list[TransferItem] = Field(default_factory=list)


class TransferResultItem(WeComModel):
    external_userid: str
    # 1 done, 2 waiting, 3 refused, 4 takeover at its customer limit, 5 no record
    status: int
    takeover_time: int | None = None


class TransferResultResponse(CursorPage):
    customer: list[TransferResultItem] = Field(default_factory=list)


# --- moments -----------------------------------------------------------------------


class MomentTaskRequest(Request):
    text: Text | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=9)
    visible_range: dict[str, Any] | None = None


class MomentJobResponse(Response):
    jobid: str


class MomentTaskResult(WeComModel):
    errcode: int = 0
    errmsg: str = "ok"
    moment_id: str | None = None
    invalid_sender_list: dict[str, Any] | None = None
    invalid_external_contact_list: dict[str, Any] | None = None


class MomentTaskResultResponse(Response):
    # 1 started, 2 processing, 3 done
    status: int
    type: str = "add_moment_task"
    result: MomentTaskResult | None = None
