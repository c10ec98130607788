"""The archive's WeCom callbacks (listed in ``siyu.wecom.callbacks.handlers.HANDLERS``).

Both only say "new messages wait": each queues a pull job, deduplicated by the callback.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from siyu.kit.jobs import enqueue

if TYPE_CHECKING:  # (the callbacks package imports this module)
    from siyu.wecom.callbacks.inbox import CallbackEvent

KF_SYNC_JOB = "archive.kf_sync"
PULL_JOB = "archive.pull"


def handle_kf_event(
    session: Session, *, workspace_id: int, ev: CallbackEvent, key: str, at: datetime
) -> None:
    """kf_msg_or_event: queue a ``kf/sync_msg`` pull with the event's token."""
    enqueue(
        session,
        kind=KF_SYNC_JOB,
        workspace_id=workspace_id,
        dedup_key=f"kf:{key}",
        payload={"token": ev.get("Token"), "open_kfid": ev.get("OpenKfId")},
    )


def handle_msgaudit(
    session: Session, *, workspace_id: int, ev: CallbackEvent, key: str, at: datetime
) -> None:
    """msgaudit_notify: queue a Finance SDK pull."""
    enqueue(session, kind=PULL_JOB, workspace_id=workspace_id, dedup_key=f"msgaudit:{key}")
