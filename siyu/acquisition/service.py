"""Channels: the ``state`` of the live code a customer added a staff account through.

WeCom reports it on each follow (``follows.live_code_state``); a customer keeps the
channel of every follow, whatever the follow's state now.
"""

from __future__ import annotations

from sqlalchemy import exists, select, true
from sqlalchemy.orm import Session

from siyu.models import Follow

MAX_NAMES = 5000  # channel names read for a "did you mean"


def channel_exists(session: Session, *, workspace_id: int, state: str) -> bool:
    """Whether any follow of the workspace came in through channel ``state`` (a store
    channel: through one of its stores' codes too)."""
    from siyu.acquisition.channels import STORE_SEP

    match = Follow.live_code_state == state
    if STORE_SEP not in state:  # a store channel's adds carry <state>~<store id>
        match = match | Follow.live_code_state.startswith(state + STORE_SEP, autoescape=True)
    found = session.scalar(select(true()).where(exists().where(Follow.workspace_id == workspace_id, match)))
    return bool(found)


def channel_names(session: Session, *, workspace_id: int, limit: int = MAX_NAMES) -> list[str]:
    """The distinct channels (live code states) seen in the workspace, at most ``limit``."""
    rows = session.scalars(
        select(Follow.live_code_state)
        .where(Follow.workspace_id == workspace_id, Follow.live_code_state.is_not(None))
        .distinct()
        .limit(limit)
    )
    return [r for r in rows if r]
