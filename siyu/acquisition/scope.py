"""What a staff user (role ``staff``, linked to one WeCom account) may read in acquisition.

Operators and admins see and edit everything; a staff user reads their own slice only:

- a channel is theirs when it may route to their account: the channel's pool (members,
  schedules, backups) or, for a store channel, the staff of a store it routes among;
- the funnel, the dedup report, the lead pool and the transfers take a ``staff_id`` that
  narrows them to that account (see each module).

A staff user not linked to an account (``staff_id`` None) sees nothing: :func:`own` gives
``NOBODY``, an id no account has.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition.channels import list_channels, pool_staff_ids
from siyu.kit.errors import NotFound
from siyu.models import Channel, Staff, Store

NOBODY = -1


def own(role: str, staff_id: int | None) -> int | None:
    """The account a caller is limited to: None (everything) for operators and admins."""
    if role != "staff":
        return None
    return staff_id if staff_id is not None else NOBODY


def _store_staff(session: Session, channel: Channel, stores: list[Store] | None = None) -> set[int]:
    if channel.kind != "store":
        return set()
    ids = (channel.settings or {}).get("store_ids") or []
    if stores is None:
        stores = list(
            session.scalars(
                select(Store).where(Store.workspace_id == channel.workspace_id, Store.deleted_at.is_(None))
            )
        )
    out: set[int] = set()
    for st in stores:
        if not ids or st.id in ids:
            out.update(int(i) for i in st.staff_ids or [])
    return out


def channel_staff_ids(session: Session, channel: Channel) -> set[int]:
    """Every account a channel may route to: its pool and, for a store channel, its stores' staff."""
    return set(pool_staff_ids(channel)) | _store_staff(session, channel)


def sees_channel(session: Session, channel: Channel, staff_id: int | None) -> bool:
    """Whether a caller limited to ``staff_id`` (None: not limited) may read the channel."""
    return staff_id is None or staff_id in channel_staff_ids(session, channel)


def channels_of(
    session: Session, *, workspace_id: int, staff_id: int, group_name: str | None = None
) -> list[Channel]:
    """The live channels that may route to the account (pool or a store's staff)."""
    rows = list_channels(session, workspace_id=workspace_id, group_name=group_name)
    stores: list[Store] | None = None
    if any(c.kind == "store" for c in rows):
        stores = list(
            session.scalars(
                select(Store).where(Store.workspace_id == workspace_id, Store.deleted_at.is_(None))
            )
        )
    return [
        c for c in rows if staff_id in pool_staff_ids(c) or staff_id in _store_staff(session, c, stores or [])
    ]


def staff_id_of(session: Session, *, workspace_id: int, userid: str | None) -> int | None:
    """An account's id from its userid (None when ``userid`` is empty); NotFound when unknown."""
    if not userid:
        return None
    sid = session.scalar(select(Staff.id).where(Staff.workspace_id == workspace_id, Staff.userid == userid))
    if sid is None:
        raise NotFound(f"no staff account with userid {userid!r}", field="staff")
    return int(sid)
