"""Small typed interfaces to WeCom, one per capability.

Domain code (automation, community, execution) depends on these protocols, never on
the HTTP client, so tests and the demo can hand in the same client pointed at the
simulator, or a fake. ``WeComClient`` satisfies all of them; ``client_for`` builds one
for a workspace from its configured app.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from siyu.models import Workspace
from siyu.wecom.client import WeComClient
from siyu.wecom.schemas import (
    AddContactWayResponse,
    AddCorpTagRequest,
    BatchContactItem,
    BehaviorData,
    ContactDetail,
    ContactWay,
    ContactWayRequest,
    CorpTagGroup,
    DelCorpTagRequest,
    EditCorpTagRequest,
    GroupChat,
    GroupChatRef,
    GroupMsgListRequest,
    GroupMsgListResponse,
    GroupMsgSendResultResponse,
    GroupMsgTaskResponse,
    JoinWayRequest,
    MarkTagRequest,
    MomentTaskRequest,
    MomentTaskResultResponse,
    MsgTemplateRequest,
    MsgTemplateResponse,
    TransferRequest,
    TransferResponse,
    TransferResultResponse,
    UpdateContactWayRequest,
    WelcomeMsgRequest,
)


class DirectoryGateway(Protocol):
    """Read who is connected to whom: staff, customers, follows, groups, stats."""

    def get_follow_user_list(self) -> list[str]: ...

    def iter_contacts_by_user(
        self, userids: Sequence[str], limit: int = 100
    ) -> Iterator[BatchContactItem]: ...

    def get_external_contact_all(self, external_userid: str) -> ContactDetail: ...

    def iter_groupchats(
        self, status_filter: int = 0, owners: Sequence[str] = ()
    ) -> Iterator[GroupChatRef]: ...

    def groupchat_get(self, chat_id: str, need_name: bool = True) -> GroupChat: ...

    def get_corp_tag_list(
        self, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()
    ) -> list[CorpTagGroup]: ...

    def get_user_behavior_data(
        self, userids: Sequence[str], start_time: int, end_time: int
    ) -> list[BehaviorData]: ...


class TaggingGateway(Protocol):
    """Corp tags and tags on customers."""

    def get_corp_tag_list(
        self, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()
    ) -> list[CorpTagGroup]: ...

    def add_corp_tag(self, req: AddCorpTagRequest) -> CorpTagGroup: ...

    def edit_corp_tag(self, req: EditCorpTagRequest) -> None: ...

    def del_corp_tag(self, req: DelCorpTagRequest) -> None: ...

    def mark_tag(self, req: MarkTagRequest) -> None: ...


class LiveCodeGateway(Protocol):
    """Live codes (联系我) and group join codes."""

    def add_contact_way(self, req: ContactWayRequest) -> AddContactWayResponse: ...

    def get_contact_way(self, config_id: str) -> ContactWay: ...

    def update_contact_way(self, req: UpdateContactWayRequest) -> None: ...

    def del_contact_way(self, config_id: str) -> None: ...

    def add_join_way(self, req: JoinWayRequest) -> str: ...


class MessagingGateway(Protocol):
    """Welcome messages, mass sends and moments."""

    def send_welcome_msg(self, req: WelcomeMsgRequest) -> None: ...

    def add_msg_template(self, req: MsgTemplateRequest) -> MsgTemplateResponse: ...

    def get_groupmsg_list_v2(self, req: GroupMsgListRequest) -> GroupMsgListResponse: ...

    def get_groupmsg_task(
        self, msgid: str, cursor: str | None = None, limit: int = 1000
    ) -> GroupMsgTaskResponse: ...

    def get_groupmsg_send_result(
        self, msgid: str, userid: str, cursor: str | None = None, limit: int = 1000
    ) -> GroupMsgSendResultResponse: ...

    def remind_groupmsg_send(self, msgid: str) -> None: ...

    def cancel_groupmsg_send(self, msgid: str) -> None: ...

    def add_moment_task(self, req: MomentTaskRequest) -> str: ...

    def get_moment_task_result(self, jobid: str) -> MomentTaskResultResponse: ...


class HandoverGateway(Protocol):
    """Handing customers from one staff member to another."""

    def transfer_customer(self, req: TransferRequest) -> TransferResponse: ...

    def transfer_resigned_customer(self, req: TransferRequest) -> TransferResponse: ...

    def transfer_result(
        self, handover_userid: str, takeover_userid: str, cursor: str | None = None
    ) -> TransferResultResponse: ...


def client_for(session: Session, workspace: Workspace) -> WeComClient:
    """A WeCom client for the workspace's app (its WeComApp row, else SIYU_WECOM_* settings)."""
    from siyu.wecom.settings import resolve_app

    app = resolve_app(session, workspace)
    return WeComClient(corp_id=app.corp_id, secret=app.secret, api_base=app.api_base)
