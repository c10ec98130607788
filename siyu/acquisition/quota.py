"""The 获客助手 quota's alerts: WeCom's ``customer_acquisition`` callbacks.

WeCom tells the corp when its paid quota (one unit per customer new to the corp added
through a 获客助手 link) runs low (``balance_low``: fewer than 20 left), runs out
(``balance_exhausted``: link channels get no new customers until more is bought) and
comes back (``balance_increased``: from 0 to more). The callback handler records each as
an ``acquisition.quota`` event; the latest one is the alert the channels page, the
channel page of a link, ``siyu channels quota`` and ``/api/v1/channels/-/acquisition-quota``
show, without asking WeCom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.events import record_event
from siyu.models import Channel, Event

EVENT = "acquisition.quota"
LOW_BALANCE = 20  # WeCom calls balance_low below this many left
CHANGES = ("balance_low", "balance_exhausted", "balance_increased")
MESSAGES = {
    "balance_low": (
        f"获客助手使用量即将用完（剩余不足 {LOW_BALANCE} 个）：请尽快在企业微信管理后台购买，"
        "用完后获客链接将不能再添加新客户",
        f"the 获客助手 quota is running low (fewer than {LOW_BALANCE} left): buy more in WeCom's "
        "admin console before link channels stop getting new customers",
    ),
    "balance_exhausted": (
        "获客助手使用量已用完：获客链接渠道不再获得新客户，请在企业微信管理后台购买",
        "the 获客助手 quota is used up: link channels get no new customers until more is bought "
        "in WeCom's admin console",
    ),
}


def handle_callback(session: Session, *, workspace_id: int, ev: Any, key: str, at: datetime) -> None:
    """``customer_acquisition`` callback: record the quota change (once per callback)."""
    from siyu.wecom.callbacks.handlers import SOURCE, _event_key

    record_event(
        session,
        workspace_id=workspace_id,
        kind=EVENT,
        occurred_at=at,
        source=SOURCE,
        dedup_key=_event_key(key),
        payload={"change_type": ev.change_type},
    )


def quota_alert(session: Session, *, workspace_id: int) -> dict[str, Any] | None:
    """The quota's alert now (the latest callback), or None when there is none to show.

    ``level`` is ``low`` or ``exhausted``; ``message`` in Chinese (the console),
    ``message_en`` for the CLI's English; ``link_channels``: the live link channels
    that stop getting new customers when it is exhausted.
    """
    row = session.execute(
        select(Event.payload, Event.occurred_at)
        .where(Event.workspace_id == workspace_id, Event.kind == EVENT)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    change = str((row.payload or {}).get("change_type") or "")
    if change not in MESSAGES:
        return None
    links = session.scalars(
        select(Channel.name)
        .where(Channel.workspace_id == workspace_id, Channel.kind == "link", Channel.deleted_at.is_(None))
        .order_by(Channel.id)
    ).all()
    zh, en = MESSAGES[change]
    return {
        "level": "exhausted" if change == "balance_exhausted" else "low",
        "change_type": change,
        "at": row.occurred_at.isoformat(),
        "message": zh,
        "message_en": en,
        "link_channels": list(links),
    }
