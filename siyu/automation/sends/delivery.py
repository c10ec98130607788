"""Deliver a planned send: one ``add_msg_template`` call per batch, each made once.

Before a call the batch is marked ``calling`` in its own committed transaction (the
intent). The call is made once, without the client's transport retries (a retried
POST could create a second mass send). When the answer is stored the batch is
``created``. A batch found ``calling`` later (the worker died, the answer was lost) is
first looked up in WeCom: ``get_groupmsg_list_v2`` by its sender since the intent,
then ``get_groupmsg_send_result`` to check the recipients; only when WeCom has no such
send is the call made again. Batches are taken with a compare-and-set on their state,
so two workers never call for the same batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.automation.sends.render import attachments_for, text_for
from siyu.kit.errors import RetryAt
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, Send, SendBatch, SendRecipient, Staff
from siyu.wecom.errors import WeComAPIError, WeComError, WeComNetworkError
from siyu.wecom.schemas import (
    GroupMsgListRequest,
    GroupMsgListResponse,
    GroupMsgSendResultResponse,
    GroupMsgTaskResponse,
    MsgTemplateRequest,
    MsgTemplateResponse,
)

log = logging.getLogger(__name__)

# A batch whose intent is younger than this may still have its call in flight.
CALL_LEASE = timedelta(seconds=20)


class SendGateway(Protocol):
    """What sends need from WeCom (``WeComClient`` has it all)."""

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


class CallInFlight(RetryAt, WeComError):
    """A batch's call may still be running in another worker: try again when its lease
    ends (``at``); the job runner queues the job for then without using up a try."""

    def __init__(self, message: str, *, at: datetime) -> None:
        super().__init__(message, at=at)


def create_once(gateway: SendGateway, req: MsgTemplateRequest) -> MsgTemplateResponse:
    """``add_msg_template`` exactly once: no transport retry (a lost answer is looked up)."""
    from siyu.wecom.client import WeComClient

    if not isinstance(gateway, WeComClient):
        return gateway.add_msg_template(req)
    api = "externalcontact/add_msg_template"
    gateway._limiter.acquire(f"{gateway.corp_id}|{api}")
    token = gateway.access_token()
    try:
        resp = gateway._http.post(
            f"{gateway.api_base}/cgi-bin/{api}",
            params={"access_token": token},
            json=req.model_dump(exclude_none=True, by_alias=True),
        )
    except httpx.TransportError as exc:
        raise WeComNetworkError(f"add_msg_template: {type(exc).__name__}: {exc}", api=api) from exc
    gateway.calls += 1
    if resp.status_code >= 400:
        raise WeComNetworkError(f"HTTP {resp.status_code} from WeCom", api=api)
    return gateway._parse(api, resp.json(), MsgTemplateResponse)


def _targets(session: Session, batch: SendBatch) -> list[tuple[int, str]]:
    """(recipient id, external_userid or chat_id) still to send in the batch."""
    rows = session.execute(
        select(SendRecipient.id, SendRecipient.target).where(
            SendRecipient.send_id == batch.send_id,
            SendRecipient.batch_seq == batch.seq,
            SendRecipient.arm == "target",
        )
    ).all()
    return [(int(r), str(t)) for r, t in rows if t]


def _drop_late_opt_outs(session: Session, send: Send, batch: SendBatch) -> int:
    """Who opted out after the freeze leaves the batch (removed, reason opt_out)."""
    if send.kind != "customer":
        return 0
    late = select(Customer.id).where(
        Customer.workspace_id == send.workspace_id,
        (Customer.opt_out.is_(True)) | (Customer.anonymised_at.is_not(None)),
    )
    result = session.execute(
        update(SendRecipient)
        .where(
            SendRecipient.send_id == send.id,
            SendRecipient.batch_seq == batch.seq,
            SendRecipient.arm == "target",
            SendRecipient.customer_id.in_(late),
        )
        .values(arm="removed", reason="opt_out", status=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _claimed_msgids(session: Session, workspace_id: int) -> set[str]:
    return {
        str(m)
        for m in session.scalars(
            select(SendBatch.msgid).where(
                SendBatch.workspace_id == workspace_id, SendBatch.msgid.is_not(None)
            )
        )
    }


def lookup(
    gateway: SendGateway,
    *,
    chat_type: str,
    userid: str,
    since: datetime,
    targets: Sequence[str],
    claimed: set[str],
) -> str | None:
    """The msgid of a mass send this batch already created in WeCom, if there is one."""
    wanted = set(targets)
    start = int((since - timedelta(minutes=1)).timestamp())
    end = int((utcnow() + timedelta(minutes=1)).timestamp())
    cursor: str | None = None
    while True:
        page = gateway.get_groupmsg_list_v2(
            GroupMsgListRequest(
                chat_type="group" if chat_type == "group" else "single",
                start_time=start,
                end_time=end,
                creator=userid,
                cursor=cursor,
                limit=100,
            )
        )
        for msg in page.group_msg_list:
            if msg.msgid in claimed or msg.create_type != 0:
                continue
            sample = gateway.get_groupmsg_send_result(msg.msgid, userid, limit=50).send_list
            got = {r.external_userid or r.chat_id for r in sample}
            if got and got <= wanted:
                return msg.msgid
        if not page.next_cursor:
            return None
        cursor = page.next_cursor


def _take(factory: sessionmaker[Session], batch_id: int) -> tuple[str, datetime | None] | None:
    """Claim a batch for a call: ('call', None), ('recover', intent time), or None (done/busy)."""
    now = utcnow()
    with factory() as s, s.begin():
        b = s.get(SendBatch, batch_id)
        assert b is not None
        if b.state == "planned":
            won = s.execute(
                update(SendBatch)
                .where(SendBatch.id == batch_id, SendBatch.state == "planned")
                .values(state="calling", calling_since=now, attempts=SendBatch.attempts + 1)
            )
            return ("call", None) if getattr(won, "rowcount", 0) == 1 else None
        if b.state == "calling":
            since = b.calling_since or now
            if since > now - CALL_LEASE:
                raise CallInFlight(
                    f"batch {b.seq} of send {b.send_id} is being called; retry when its lease ends",
                    at=since + CALL_LEASE,
                )
            won = s.execute(
                update(SendBatch)
                .where(
                    SendBatch.id == batch_id, SendBatch.state == "calling", SendBatch.calling_since == since
                )
                .values(calling_since=now, attempts=SendBatch.attempts + 1)
            )
            return ("recover", since) if getattr(won, "rowcount", 0) == 1 else None
        return None


def _created(factory: sessionmaker[Session], batch_id: int, msgid: str, fail: Sequence[str]) -> None:
    with factory() as s, s.begin():
        b = s.get(SendBatch, batch_id)
        assert b is not None
        if b.state != "calling":
            return
        b.state, b.msgid, b.fail_count, b.error = "created", msgid, len(fail), None
        if fail:
            s.execute(
                update(SendRecipient)
                .where(
                    SendRecipient.send_id == b.send_id,
                    SendRecipient.batch_seq == b.seq,
                    SendRecipient.arm == "target",
                    SendRecipient.target.in_(list(fail)),
                )
                .values(status="not_friend")
            )


def _nothing_left(factory: sessionmaker[Session], batch_id: int) -> None:
    """Everyone of the batch opted out after the freeze: no call, the batch is done."""
    with factory() as s, s.begin():
        s.execute(
            update(SendBatch)
            .where(SendBatch.id == batch_id, SendBatch.state == "calling")
            .values(state="sent", confirmed_at=utcnow(), size=0)
        )


def _failed(factory: sessionmaker[Session], batch_id: int, error: str) -> None:
    with factory() as s, s.begin():
        b = s.get(SendBatch, batch_id)
        assert b is not None
        if b.state == "calling":
            b.state, b.error = "failed", error[:500]
            s.execute(
                update(SendRecipient)
                .where(
                    SendRecipient.send_id == b.send_id,
                    SendRecipient.batch_seq == b.seq,
                    SendRecipient.arm == "target",
                )
                .values(status="failed")
            )


def deliver(factory: sessionmaker[Session], send_id: int, gateway: SendGateway) -> dict[str, Any]:
    """Make the WeCom calls of a planned send; idempotent (safe to run again after any crash)."""
    with factory() as s, s.begin():
        send = s.get(Send, send_id)
        if send is None or send.status not in ("planned", "delivering"):
            return {"send_id": send_id, "skipped": send.status if send else "missing"}
        send.status = "delivering"
        batch_ids = list(
            s.scalars(select(SendBatch.id).where(SendBatch.send_id == send_id).order_by(SendBatch.seq))
        )
    calls = recovered = 0
    for batch_id in batch_ids:
        with factory() as s:
            if s.scalar(select(Send.status).where(Send.id == send_id)) == "cancelled":
                break
        how = _take(factory, batch_id)
        if how is None:
            continue
        with factory() as s, s.begin():
            send = s.get(Send, send_id)
            batch = s.get(SendBatch, batch_id)
            assert send is not None
            assert batch is not None
            staff = s.get(Staff, batch.staff_id)
            assert staff is not None
            _drop_late_opt_outs(s, send, batch)
            targets = [t for _, t in _targets(s, batch)]
            text = text_for(send, staff, s)
            attachments = attachments_for(s, send, staff, gateway)
            claimed = _claimed_msgids(s, send.workspace_id)
            chat_type = send.kind
        if how[0] == "recover":
            assert how[1] is not None
            found = lookup(
                gateway,
                chat_type=chat_type,
                userid=staff.userid,
                since=how[1],
                targets=targets,
                claimed=claimed,
            )
            if found:
                _created(factory, batch_id, found, [])
                recovered += 1
                continue
        if not targets:
            _nothing_left(factory, batch_id)
            continue
        req = MsgTemplateRequest(
            chat_type="group" if chat_type == "group" else "single",
            sender=staff.userid,
            external_userid=targets if chat_type != "group" else None,
            chat_id_list=targets if chat_type == "group" else None,
            text={"content": text} if text else None,
            attachments=attachments,
        )
        try:
            answer = create_once(gateway, req)
        except WeComNetworkError:
            raise  # left ``calling``: the next run looks it up first
        except WeComAPIError as exc:
            _failed(factory, batch_id, f"{exc.errcode}: {exc}")
            continue
        calls += 1
        _created(factory, batch_id, answer.msgid, answer.fail_list)
    return _finish(factory, send_id) | {"calls": calls, "recovered": recovered}


def _finish(factory: sessionmaker[Session], send_id: int) -> dict[str, Any]:
    """When every batch is past ``calling``: the send waits for the staff (tasks made)."""
    from siyu.execution.service import NewTask, create_tasks

    with factory() as s, s.begin():
        send = s.get(Send, send_id)
        assert send is not None
        states = list(
            s.execute(select(SendBatch.state, SendBatch.staff_id).where(SendBatch.send_id == send_id))
        )
        if any(st in ("planned", "calling") for st, _ in states) or send.status != "delivering":
            return {"send_id": send_id, "status": send.status}
        now = utcnow()
        send.status, send.delivered_at = "waiting", now
        staff_ids = sorted({sid for st, sid in states if st == "created"})
        due = now + timedelta(hours=4)
        create_tasks(
            s,
            workspace_id=send.workspace_id,
            tasks=[
                NewTask(
                    staff_id=sid,
                    kind="send_confirm",
                    title=f"确认群发：{send.title}"[:200],
                    due_at=due,
                    body="在企业微信客户端「群发助手」中确认发送",
                    source="send",
                    source_ref=str(send.id),
                    dedup_key=f"send_confirm:{send.id}:{sid}",
                )
                for sid in staff_ids
            ],
        )
        if not staff_ids:
            send.status, send.settled_at = "settled", now
        return {"send_id": send_id, "status": send.status}
