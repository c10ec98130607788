"""WeChat customer service (微信客服) messages: the ``kf_msg_or_event`` callback and
``kf/sync_msg`` with its cursor (up to 1,000 a call; WeCom keeps only the last 3 days,
so siyu pulls on every callback and on a schedule).

Messages are stored as ``messages`` with source ``kf``: a customer's (origin 3) is
``in``, a servicer's (origin 5) ``out`` with the servicer as the staff account; system
events (origin 4) are skipped. A customer-service customer need not be anyone's friend:
unknown ones are created through OneID (their ``external_userid``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.service import IdentityInput, resolve_customer
from siyu.kit.timeutil import utcnow
from siyu.models import KfCursor, Workspace
from siyu.wecom.archive.importer import ArchiveReport, Resolver, import_batch
from siyu.wecom.archive.parse import ArchiveRecord, LineProblem, parse_record
from siyu.wecom.archive.settings import archive_settings

SOURCE = "kf"
PAGE = 1000
SYNC_JOB = "archive.kf_sync"
ORIGIN_CUSTOMER, ORIGIN_SYSTEM, ORIGIN_SERVICER = 3, 4, 5


class KfSyncResponse(BaseModel):
    next_cursor: str = ""
    has_more: int = 0
    msg_list: list[dict[str, Any]] = Field(default_factory=list)


class KfClient:
    """What the sync needs from a WeCom client (``WeComClient`` has ``call``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def sync_msg(self, *, cursor: str, token: str, open_kfid: str, limit: int = PAGE) -> KfSyncResponse:
        body: dict[str, Any] = {"limit": limit}
        if cursor:
            body["cursor"] = cursor
        if token:
            body["token"] = token
        if open_kfid:
            body["open_kfid"] = open_kfid
        result: KfSyncResponse = self._client.call("kf/sync_msg", KfSyncResponse, body=body)
        return result


def to_record(msg: dict[str, Any]) -> ArchiveRecord | LineProblem | None:
    """A ``kf/sync_msg`` item as an archive record (None for system events)."""
    origin = msg.get("origin")
    if origin == ORIGIN_SYSTEM or msg.get("msgtype") == "event":
        return None
    ext = msg.get("external_userid") or ""
    servicer = msg.get("servicer_userid") or ""
    send_time = msg.get("send_time")
    if origin == ORIGIN_CUSTOMER:
        sender, to = ext, [servicer] if servicer else []
    elif origin == ORIGIN_SERVICER:
        sender, to = servicer, [ext]
    else:
        return LineProblem("broken", f"unknown origin {origin!r}", msg.get("msgid"))
    body = {k: v for k, v in msg.items() if k not in ("send_time", "origin", "servicer_userid", "open_kfid")}
    body.update(
        {
            "from": sender,
            "tolist": [t for t in to if t],
            "roomid": "",
            "action": "send",
            "msgtime": int(send_time) * 1000 if isinstance(send_time, int) else send_time,
        }
    )
    return parse_record(body)


def store_page(
    session: Session, *, workspace_id: int, msgs: list[dict[str, Any]], resolver: Resolver, store_text: bool
) -> ArchiveReport:
    """Store one page of customer-service messages (customers created as needed)."""
    items: list[tuple[int, ArchiveRecord | LineProblem]] = []
    for n, msg in enumerate(msgs, 1):
        rec = to_record(msg)
        if rec is not None:
            items.append((n, rec))
    new = {r.sender for _, r in items if isinstance(r, ArchiveRecord) and r.sender.startswith(("wm", "wo"))}
    new |= {
        t for _, r in items if isinstance(r, ArchiveRecord) for t in r.tolist if t.startswith(("wm", "wo"))
    }
    resolver.load_customers(session, new)
    for ext in sorted(e for e in new if resolver.customers.get(e) is None):
        c = resolve_customer(
            session,
            workspace_id=workspace_id,
            identities=[IdentityInput("external_userid", ext)],
            source=SOURCE,
        )
        resolver.customers[ext] = c.id
    return import_batch(
        session,
        workspace_id=workspace_id,
        items=items,
        resolver=resolver,
        store_text=store_text,
        source=SOURCE,
    )


def sync(
    factory: Callable[[], Session],
    *,
    workspace_id: int,
    client: KfClient,
    token: str = "",
    open_kfid: str = "",
) -> ArchiveReport:
    """Pull every new message from the stored cursor on; one commit per page."""
    total = ArchiveReport()
    with factory() as session:
        ws = session.get(Workspace, workspace_id)
        if ws is None:
            return total
        store_text = archive_settings(ws.settings).store_text == "encrypted"
        resolver = Resolver(session, workspace_id)
    while True:
        with factory() as session, session.begin():
            row = session.scalar(
                select(KfCursor).where(KfCursor.workspace_id == workspace_id, KfCursor.open_kfid == open_kfid)
            )
            if row is None:
                row = KfCursor(workspace_id=workspace_id, open_kfid=open_kfid, cursor="")
                session.add(row)
            page = client.sync_msg(cursor=row.cursor, token=token, open_kfid=open_kfid)
            total.add(
                store_page(
                    session,
                    workspace_id=workspace_id,
                    msgs=page.msg_list,
                    resolver=resolver,
                    store_text=store_text,
                )
            )
            if page.next_cursor:
                row.cursor = page.next_cursor
            row.synced_at = utcnow()
        if not page.has_more:
            return total
