"""Follow a delivered send until it settles; remind, cancel; pull other senders' mass sends.

Per batch (one msgid, one sender): ``get_groupmsg_task`` says whether the staff member
confirmed (status 2); then ``get_groupmsg_send_result`` gives each recipient's status
(1 sent, 2 not a friend, 3 quota used, 0 not sent). A status 3 is WeCom's quota at
work, counted, not an error. A send settles when every batch is confirmed, cancelled
or failed, or when ``confirm_hours`` pass: who is still pending is ``unconfirmed``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.automation.sends.delivery import SendGateway
from siyu.automation.sends.knobs import OutboundKnobs
from siyu.kit.audit import record
from siyu.kit.errors import Conflict
from siyu.kit.events import record_event
from siyu.kit.timeutil import utcnow
from siyu.models import Follow, MassReceipt, Send, SendBatch, SendRecipient, Staff, StaffTask, WeComMassMsg
from siyu.wecom.errors import WeComAPIError
from siyu.wecom.schemas import GroupMsgListRequest

STATUS = {1: "sent", 2: "not_friend", 3: "quota"}
REMINDS_PER_DAY = 3
REMIND_LIMIT_ERRCODE = 45024


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _complete_tasks(session: Session, send: Send, staff_id: int, at: datetime) -> None:
    from siyu.execution.service import complete_task

    task_id = session.scalar(
        select(StaffTask.id).where(
            StaffTask.workspace_id == send.workspace_id,
            StaffTask.dedup_key == f"send_confirm:{send.id}:{staff_id}",
            StaffTask.status == "open",
        )
    )
    if task_id is not None:
        complete_task(session, workspace_id=send.workspace_id, task_id=task_id, how="detected", at=at)


def follow(session: Session, send: Send, gateway: SendGateway, knobs: OutboundKnobs) -> dict[str, Any]:
    """One look at WeCom for a waiting send; stores what changed (the caller commits)."""
    if send.status != "waiting":
        return {"send_id": send.id, "status": send.status}
    userids = dict(
        session.execute(select(Staff.id, Staff.userid).where(Staff.workspace_id == send.workspace_id)).all()
    )
    open_batches = list(
        session.scalars(
            select(SendBatch)
            .where(SendBatch.send_id == send.id, SendBatch.state == "created")
            .order_by(SendBatch.seq)
        )
    )
    confirmed = 0
    for b in open_batches:
        assert b.msgid
        userid = userids[b.staff_id]
        sent_at: datetime | None = None
        cursor: str | None = None
        while True:
            page = gateway.get_groupmsg_task(b.msgid, cursor)
            for t in page.task_list:
                if t.userid == userid and t.status == 2:
                    sent_at = _ts(t.send_time) or utcnow()
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        if sent_at is None:
            continue
        by_status: dict[int, list[str]] = defaultdict(list)
        times: dict[str, datetime | None] = {}
        cursor = None
        while True:
            res = gateway.get_groupmsg_send_result(b.msgid, userid, cursor)
            for r in res.send_list:
                target = r.external_userid or r.chat_id
                if target:
                    by_status[r.status].append(target)
                    times[target] = _ts(r.send_time)
            if not res.next_cursor:
                break
            cursor = res.next_cursor
        for status, targets in by_status.items():
            if status not in STATUS:
                continue
            for start in range(0, len(targets), 900):
                chunk = targets[start : start + 900]
                session.execute(
                    update(SendRecipient)
                    .where(
                        SendRecipient.send_id == send.id,
                        SendRecipient.batch_seq == b.seq,
                        SendRecipient.arm == "target",
                        SendRecipient.target.in_(chunk),
                    )
                    .values(status=STATUS[status], sent_at=sent_at if status == 1 else None)
                )
        b.state, b.confirmed_at = "sent", sent_at
        _complete_tasks(session, send, b.staff_id, sent_at)
        confirmed += 1
    settle_if_done(session, send, knobs)
    return {"send_id": send.id, "confirmed": confirmed, "status": send.status}


def settle_if_done(session: Session, send: Send, knobs: OutboundKnobs, *, force: bool = False) -> bool:
    now = utcnow()
    left = session.scalar(
        select(func.count())
        .select_from(SendBatch)
        .where(SendBatch.send_id == send.id, SendBatch.state == "created")
    )
    late = send.delivered_at is not None and now >= send.delivered_at + timedelta(hours=knobs.confirm_hours)
    if left and not (late or force):
        return False
    session.execute(
        update(SendRecipient)
        .where(
            SendRecipient.send_id == send.id, SendRecipient.arm == "target", SendRecipient.status == "pending"
        )
        .values(status="unconfirmed")
    )
    send.status, send.settled_at = "settled", now
    send.counts = {**send.counts, "results": result_counts(session, send.id)}
    record_event(
        session,
        workspace_id=send.workspace_id,
        kind="send.settled",
        occurred_at=now,
        source="siyu",
        dedup_key=f"send.settled:{send.id}",
        payload={"send_id": send.id, **send.counts["results"]},
    )
    return True


def result_counts(session: Session, send_id: int) -> dict[str, int]:
    rows = session.execute(
        select(SendRecipient.status, func.count())
        .where(SendRecipient.send_id == send_id, SendRecipient.arm == "target")
        .group_by(SendRecipient.status)
    )
    return {str(s): int(n) for s, n in rows}


def staff_progress(session: Session, send_id: int) -> list[dict[str, Any]]:
    """Per staff account: batches, recipients, confirmed or not, reminders."""
    rows = session.execute(
        select(
            Staff.userid,
            Staff.name,
            SendBatch.state,
            SendBatch.size,
            SendBatch.confirmed_at,
            SendBatch.reminds,
        )
        .join(Staff, Staff.id == SendBatch.staff_id)
        .where(SendBatch.send_id == send_id)
        .order_by(Staff.userid, SendBatch.seq)
    )
    out: dict[str, dict[str, Any]] = {}
    for userid, name, state, size, confirmed_at, reminds in rows:
        d = out.setdefault(
            userid,
            {"userid": userid, "name": name, "size": 0, "states": [], "confirmed_at": None, "reminds": 0},
        )
        d["size"] += size
        d["states"].append(state)
        d["reminds"] += len(reminds or [])
        if confirmed_at:
            d["confirmed_at"] = confirmed_at.isoformat()
    return list(out.values())


def remind(session: Session, send: Send, gateway: SendGateway) -> dict[str, Any]:
    """Remind the staff who have not confirmed (WeCom: 3 reminders per send per 24 h)."""
    if send.status != "waiting":
        raise Conflict(
            f"send {send.id} is {send.status}; only a send waiting for staff can be reminded", field="send_id"
        )
    now = utcnow()
    reminded = limited = 0
    for b in session.scalars(
        select(SendBatch).where(SendBatch.send_id == send.id, SendBatch.state == "created")
    ):
        recent = [t for t in (b.reminds or []) if datetime.fromisoformat(t) > now - timedelta(hours=24)]
        if len(recent) >= REMINDS_PER_DAY:
            limited += 1
            continue
        assert b.msgid
        try:
            gateway.remind_groupmsg_send(b.msgid)
        except WeComAPIError as exc:
            if exc.errcode == REMIND_LIMIT_ERRCODE:
                limited += 1
                continue
            raise
        b.reminds = [*recent, now.isoformat()]
        reminded += 1
    return {"send_id": send.id, "reminded": reminded, "at_limit": limited}


def cancel(session: Session, send: Send, gateway: SendGateway | None, actor: str) -> dict[str, Any]:
    """Stop a send: not yet planned, or for the staff who have not confirmed yet."""
    if send.status in ("settled", "cancelled", "failed"):
        raise Conflict(f"send {send.id} is {send.status} and cannot be cancelled", field="send_id")
    now = utcnow()
    stopped = 0
    for b in session.scalars(select(SendBatch).where(SendBatch.send_id == send.id)):
        if b.state == "created" and b.msgid:
            if gateway is None:
                raise Conflict("cancelling a delivered send needs WeCom", field="wecom")
            gateway.cancel_groupmsg_send(b.msgid)
        if b.state in ("planned", "created"):
            b.state = "cancelled"
            stopped += 1
            session.execute(
                update(SendRecipient)
                .where(
                    SendRecipient.send_id == send.id,
                    SendRecipient.batch_seq == b.seq,
                    SendRecipient.status == "pending",
                )
                .values(status="cancelled")
            )
    before = send.status
    send.status, send.cancelled_at = "cancelled", now
    record(
        session,
        workspace_id=send.workspace_id,
        actor=actor,
        action="send.cancel",
        target_type="send",
        target_id=str(send.id),
        detail={"status": before},
    )
    send.counts = {**send.counts, "results": result_counts(session, send.id), "cancelled_by": actor}
    return {"send_id": send.id, "batches_stopped": stopped}


def pull_receipts(
    session: Session, *, workspace_id: int, gateway: SendGateway, days: int = 31
) -> dict[str, int]:
    """Record mass messages that others (staff in their client, the admin console) sent.

    Every creator's sends come through ``get_groupmsg_list_v2``; those siyu made are
    marked ours (their results are in ``send_recipients``). Others are pulled for
    three days after creation (staff may confirm late), then left alone.
    """
    now = utcnow()
    ours = set(
        session.scalars(
            select(SendBatch.msgid).where(
                SendBatch.workspace_id == workspace_id, SendBatch.msgid.is_not(None)
            )
        )
    )
    known = {
        m.msgid: m
        for m in session.scalars(select(WeComMassMsg).where(WeComMassMsg.workspace_id == workspace_id))
    }
    start = now - timedelta(days=min(days, 31))
    cursor: str | None = None
    seen = pulled = receipts = 0
    while True:
        page = gateway.get_groupmsg_list_v2(
            GroupMsgListRequest(
                chat_type="single",
                start_time=int(start.timestamp()),
                end_time=int(now.timestamp()),
                cursor=cursor,
                limit=100,
            )
        )
        for msg in page.group_msg_list:
            seen += 1
            row = known.get(msg.msgid)
            if row is None:
                row = WeComMassMsg(
                    workspace_id=workspace_id,
                    msgid=msg.msgid,
                    chat_type="single",
                    creator=msg.creator,
                    create_type=msg.create_type,
                    created_time=_ts(msg.create_time) or now,
                    ours=msg.msgid in ours,
                )
                session.add(row)
                known[msg.msgid] = row
            if row.ours or (
                row.pulled_at is not None and row.pulled_at > row.created_time + timedelta(days=3)
            ):
                continue
            receipts += _pull_one(session, workspace_id, gateway, msg.msgid)
            row.pulled_at = now
            pulled += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    session.flush()
    return {"seen": seen, "pulled": pulled, "receipts": receipts}


def _pull_one(session: Session, workspace_id: int, gateway: SendGateway, msgid: str) -> int:
    senders: list[str] = []
    cursor: str | None = None
    while True:
        page = gateway.get_groupmsg_task(msgid, cursor)
        senders += [t.userid for t in page.task_list if t.status == 2]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    rows: list[dict[str, Any]] = []
    for userid in senders:
        cursor = None
        while True:
            res = gateway.get_groupmsg_send_result(msgid, userid, cursor)
            for r in res.send_list:
                if r.status == 1 and r.external_userid:
                    rows.append(
                        {
                            "workspace_id": workspace_id,
                            "msgid": msgid,
                            "external_userid": r.external_userid,
                            "creator": userid,
                            "sent_at": _ts(r.send_time) or utcnow(),
                            "created_at": utcnow(),
                        }
                    )
            if not res.next_cursor:
                break
            cursor = res.next_cursor
    if not rows:
        return 0
    exts = {r["external_userid"] for r in rows}
    owners = dict(
        session.execute(
            select(Follow.external_userid, Follow.customer_id).where(
                Follow.workspace_id == workspace_id, Follow.external_userid.in_(exts)
            )
        ).all()
    )
    for row in rows:
        row["customer_id"] = owners.get(row["external_userid"])

    def stored() -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(MassReceipt)
                .where(MassReceipt.workspace_id == workspace_id, MassReceipt.msgid == msgid)
            )
            or 0
        )

    before = stored()
    is_pg = session.get_bind().dialect.name == "postgresql"
    ins = (pg_insert if is_pg else sqlite_insert)(MassReceipt)
    session.execute(
        ins.on_conflict_do_nothing(index_elements=["workspace_id", "msgid", "external_userid"]), rows
    )
    return stored() - before
