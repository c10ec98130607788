"""WeCom's moments (客户朋友圈) API: attachments, moment tasks, publishing, results.

``MomentsClient`` wraps a ``WeComClient`` (same token cache, limiter and retries) and
satisfies ``MomentsGateway``, the interface the automation domain depends on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from pydantic import Field

from siyu.wecom.client.api import EC, WeComClient
from siyu.wecom.errors import TOKEN_ERRCODES, WeComNetworkError, error_for
from siyu.wecom.schemas import CursorPage, MomentJobResponse, MomentTaskResultResponse, Response, WeComModel


class UploadAttachmentResponse(Response):
    type: str = ""
    media_id: str
    created_at: int = 0


class MomentTaskItem(WeComModel):
    userid: str
    publish_status: int  # 0 not yet, 1 published


class MomentTaskResponse(CursorPage):
    task_list: list[MomentTaskItem] = Field(default_factory=list)


class MomentText(WeComModel):
    content: str = ""


class MomentItem(WeComModel):
    moment_id: str
    creator: str = ""
    create_time: int
    create_type: int = 0  # 0 corp task, 1 personal
    visible_type: int = 1
    text: MomentText | None = None


class MomentListResponse(CursorPage):
    moment_list: list[MomentItem] = Field(default_factory=list)


class Reaction(WeComModel):
    external_userid: str | None = None
    userid: str | None = None
    create_time: int


class MomentCommentsResponse(Response):
    comment_list: list[Reaction] = Field(default_factory=list)
    like_list: list[Reaction] = Field(default_factory=list)


class MomentsGateway(Protocol):
    """What siyu's moments calendar needs from WeCom."""

    def upload_attachment(self, media_type: str, filename: str, data: bytes) -> str: ...

    def add_moment_task(self, body: dict[str, Any]) -> str: ...

    def get_moment_task_result(self, jobid: str) -> MomentTaskResultResponse: ...

    def get_moment_task(self, moment_id: str) -> list[MomentTaskItem]: ...

    def iter_moment_list(self, start_time: int, end_time: int) -> Iterator[MomentItem]: ...

    def get_moment_comments(self, moment_id: str, userid: str) -> MomentCommentsResponse: ...


class MomentsClient:
    """``MomentsGateway`` over a ``WeComClient``."""

    def __init__(self, client: WeComClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def upload_attachment(self, media_type: str, filename: str, data: bytes) -> str:
        """Upload an image or video for moments (attachment_type 1); its media id."""
        api = "media/upload_attachment"
        c = self.client
        c._limiter.acquire(f"{c.corp_id}|{api}")
        for attempt in range(2):
            token = c.access_token()
            try:
                resp = c._http.post(
                    f"{c.api_base}/cgi-bin/{api}",
                    params={"access_token": token, "media_type": media_type, "attachment_type": 1},
                    files={"media": (filename, data)},
                )
            except Exception as exc:
                raise WeComNetworkError(f"WeCom unreachable: {exc}", api=api) from exc
            data_json = resp.json()
            errcode = int(data_json.get("errcode", 0) or 0)
            if errcode in TOKEN_ERRCODES and attempt == 0:
                c._tokens.invalidate(c._app_key, token)
                continue
            if errcode:
                raise error_for(errcode, str(data_json.get("errmsg", "")), api=api)
            return UploadAttachmentResponse.model_validate(data_json).media_id
        raise error_for(40014, "token refused twice", api=api)

    def add_moment_task(self, body: dict[str, Any]) -> str:
        return self.client.call(f"{EC}/add_moment_task", MomentJobResponse, body=body).jobid

    def get_moment_task_result(self, jobid: str) -> MomentTaskResultResponse:
        return self.client.call(
            f"{EC}/get_moment_task_result", MomentTaskResultResponse, params={"jobid": jobid}
        )

    def get_moment_task(self, moment_id: str) -> list[MomentTaskItem]:
        out: list[MomentTaskItem] = []
        cursor = ""
        while True:
            body: dict[str, Any] = {"moment_id": moment_id, "limit": 1000}
            if cursor:
                body["cursor"] = cursor
            page = self.client.call(f"{EC}/get_moment_task", MomentTaskResponse, body=body)
            out.extend(page.task_list)
            if not page.next_cursor:
                return out
            cursor = page.next_cursor

    def iter_moment_list(self, start_time: int, end_time: int) -> Iterator[MomentItem]:
        """Corp and personal moments created in the window (at most 30 days)."""
        cursor = ""
        while True:
            body: dict[str, Any] = {
                "start_time": start_time,
                "end_time": end_time,
                "filter_type": 2,
                "limit": 20,
            }
            if cursor:
                body["cursor"] = cursor
            page = self.client.call(f"{EC}/get_moment_list", MomentListResponse, body=body)
            yield from page.moment_list
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def get_moment_comments(self, moment_id: str, userid: str) -> MomentCommentsResponse:
        body = {"moment_id": moment_id, "userid": userid}
        return self.client.call(f"{EC}/get_moment_comments", MomentCommentsResponse, body=body)
