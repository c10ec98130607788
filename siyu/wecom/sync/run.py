"""Full sync, reconciliation and behaviour mirroring, each recorded as a ``SyncRun``.

* ``full_sync``: follow users → staff; corp tags → tags; every staff member's
  customers (``batch/get_by_user``, cursors) → customers (OneID) + follows + tags;
  group chats → groups + members. Follows and groups WeCom no longer lists are ended.
  Commits per batch, so a crash keeps what was done; a re-run changes nothing.
* ``reconcile``: re-read specific customers and chats (after callbacks, which carry
  ids only and can be lost or out of order) inside the caller's transaction.
* ``mirror_behavior``: ``get_user_behavior_data`` per staff per day → StaffDailyStats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import Follow, Staff, StaffDailyStats, SyncRun, WeComApp
from siyu.staff import service as staff_service
from siyu.wecom.errors import InvalidExternalUser, NoRelation, NotFound, WeComError
from siyu.wecom.gateway import DirectoryGateway
from siyu.wecom.sync.contacts import (
    ContactCounts,
    TagUnion,
    apply_contacts,
    apply_tags,
    end_missing_follows,
    from_batch,
    from_detail,
)
from siyu.wecom.sync.groups import GroupCounts, apply_groupchat, dismiss_missing
from siyu.wecom.sync.tags import sync_corp_tags, tag_map

log = logging.getLogger(__name__)

BATCH = 500
# stage name, items done so far in the stage, total when known
Progress = Callable[[str, int, int | None], None]


def _noop(_stage: str, _done: int, _total: int | None) -> None:
    return None


def start_run(factory: sessionmaker[Session], workspace_id: int, kind: str) -> int:
    with factory() as s:
        run = SyncRun(workspace_id=workspace_id, kind=kind, status="running", counts={})
        s.add(run)
        s.commit()
        return run.id


def finish_run(
    factory: sessionmaker[Session], run_id: int, counts: dict[str, Any], error: str | None = None
) -> None:
    with factory() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        run.status = "failed" if error else "completed"
        run.counts = dict(counts)
        run.error = error
        run.finished_at = utcnow()
        s.commit()


def record_run(session: Session, *, workspace_id: int, kind: str, counts: dict[str, Any]) -> None:
    """A completed run written in the caller's transaction (it exists iff the data does)."""
    now = utcnow()
    session.add(
        SyncRun(
            workspace_id=workspace_id, kind=kind, status="completed", counts=dict(counts), finished_at=now
        )
    )


def record_failed_run(factory: sessionmaker[Session], *, workspace_id: int, kind: str, error: str) -> None:
    """A failed run, in a transaction of its own (the caller's was rolled back)."""
    finish_run(factory, start_run(factory, workspace_id, kind), {}, error=error[:2000])


def _name_staff(session: Session, workspace_id: int, gateway: object, userids: Iterable[str]) -> int:
    """Give staff accounts still known only by their userid the name in the address book.

    The follow-user list carries userids alone; ``user/get`` has the name. An app the
    corp has not let read its address book gets an error: the userid then stays.
    """
    get_user = getattr(gateway, "get_user", None)
    if get_user is None:
        return 0
    named = 0
    for userid in dict.fromkeys(userids):
        staff = staff_service.find_staff(session, workspace_id=workspace_id, userid=userid)
        if staff is None or (staff.name and staff.name != userid):
            continue
        try:
            name = (get_user(userid).name or "").strip()
        except WeComError:
            log.info("WeCom user/get refused for %s; the staff account keeps its userid", userid)
            return named  # the same refusal for every member: stop asking
        if name and name != userid:
            staff_service.ensure_staff(session, workspace_id=workspace_id, userid=userid, name=name[:100])
            named += 1
    return named


def _ensure_staff(
    session: Session, workspace_id: int, userids: Iterable[str], *, follow_user_list: bool = False
) -> tuple[dict[str, int], int]:
    """Staff rows for these userids. With ``follow_user_list`` (WeCom's whole
    ``get_follow_user_list``) it also says who has the customer-contact permission
    (客户联系), kept on ``Staff.has_contact_permission`` (channel pools check it)."""
    ids: dict[str, int] = {}
    created = 0
    for userid in userids:
        if userid in ids:
            continue
        known = staff_service.find_staff(session, workspace_id=workspace_id, userid=userid)
        staff = known or staff_service.ensure_staff(session, workspace_id=workspace_id, userid=userid)
        created += known is None
        ids[userid] = staff.id
    if follow_user_list:
        for row in session.scalars(select(Staff).where(Staff.workspace_id == workspace_id)):
            row.has_contact_permission = row.userid in ids
    return ids, created


def full_sync(
    factory: sessionmaker[Session],
    *,
    workspace_id: int,
    gateway: DirectoryGateway,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """Mirror everything WeCom knows about the workspace's customers; returns the counts."""
    run_id = start_run(factory, workspace_id, "full")
    counts: dict[str, Any] = {"run_id": run_id}
    try:
        observed_at = utcnow()
        userids = gateway.get_follow_user_list()
        with factory() as s:
            staff_ids, counts["staff_created"] = _ensure_staff(
                s, workspace_id, userids, follow_user_list=True
            )
            counts["staff_named"] = _name_staff(s, workspace_id, gateway, userids)
            s.commit()
        progress("staff", len(staff_ids), len(staff_ids))

        with factory() as s:
            tag_result = sync_corp_tags(s, workspace_id=workspace_id, groups=gateway.get_corp_tag_list())
            s.commit()
        counts.update(tags_created=tag_result.created, tags_renamed=tag_result.renamed,
                      tags_deleted=tag_result.deleted)  # fmt: skip
        wecom_tags = tag_result.by_wecom_id
        progress("tags", len(wecom_tags), len(wecom_tags))

        contact_counts = ContactCounts()
        union = TagUnion()
        seen: set[tuple[int, int]] = set()
        batch: list[Any] = []
        done = 0

        def flush() -> None:
            nonlocal done
            with factory() as s:
                contact_counts.add(
                    apply_contacts(
                        s, workspace_id=workspace_id, staff_ids=staff_ids, pairs=batch, tags=union, seen=seen
                    )
                )
                s.commit()
            done += len(batch)
            batch.clear()
            progress("contacts", done, None)

        for item in gateway.iter_contacts_by_user(userids):
            batch.append(from_batch(item))
            if len(batch) >= BATCH:
                flush()
        flush()

        with factory() as s:
            live = s.scalars(
                select(Follow).where(
                    Follow.workspace_id == workspace_id,
                    Follow.staff_id.in_(list(staff_ids.values())),
                    Follow.state == "active",
                )
            ).all()
            contact_counts.follows_ended += end_missing_follows(
                s, workspace_id=workspace_id, follows=live, seen=seen, observed_at=observed_at
            )
            contact_counts.tags_added, contact_counts.tags_removed = apply_tags(
                s, workspace_id=workspace_id, tags=union, tag_ids=wecom_tags
            )
            s.commit()
        counts.update(asdict(contact_counts))

        group_counts = GroupCounts()
        chat_ids: set[str] = set()
        for ref in gateway.iter_groupchats():
            chat = gateway.groupchat_get(ref.chat_id)
            chat_ids.add(chat.chat_id)
            with factory() as s:
                group_counts.add(
                    apply_groupchat(s, workspace_id=workspace_id, chat=chat, observed_at=observed_at)
                )
                s.commit()
            progress("groups", len(chat_ids), None)
        with factory() as s:
            group_counts.groups_dismissed += dismiss_missing(
                s, workspace_id=workspace_id, seen_chat_ids=chat_ids, observed_at=observed_at
            )
            app = s.scalar(select(WeComApp).where(WeComApp.workspace_id == workspace_id))
            if app is not None:
                app.last_full_sync_at = utcnow()
            s.commit()
        counts.update(asdict(group_counts))
    except Exception as exc:
        finish_run(factory, run_id, counts, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finish_run(factory, run_id, counts)
    return counts


def reconcile(
    session: Session,
    *,
    workspace_id: int,
    gateway: DirectoryGateway,
    external_userids: Sequence[str] = (),
    chat_ids: Sequence[str] = (),
    tags: bool = False,
) -> dict[str, int]:
    """Re-read these customers and chats (and the tag library) from WeCom; no commit.

    A customer WeCom no longer relates to any staff, or a follow missing from its
    follow users, is ended; a chat WeCom no longer knows is dismissed.
    """
    counts: dict[str, int] = {}
    observed_at = utcnow()
    if tags:
        result = sync_corp_tags(session, workspace_id=workspace_id, groups=gateway.get_corp_tag_list())
        counts.update(tags_created=result.created, tags_renamed=result.renamed, tags_deleted=result.deleted)
    wecom_tags = tag_map(session, workspace_id)
    contact_counts = ContactCounts()
    for ext in dict.fromkeys(external_userids):
        try:
            pairs = from_detail(gateway.get_external_contact_all(ext))
        except (NoRelation, InvalidExternalUser):
            pairs = []  # nobody in the corp is this customer's friend any more
        staff_ids, _ = _ensure_staff(session, workspace_id, (p.userid for _, p in pairs))
        union = TagUnion()
        seen: set[tuple[int, int]] = set()
        contact_counts.add(
            apply_contacts(
                session, workspace_id=workspace_id, staff_ids=staff_ids, pairs=pairs, tags=union, seen=seen
            )
        )
        local = session.scalars(
            select(Follow).where(Follow.workspace_id == workspace_id, Follow.external_userid == ext)
        ).all()
        contact_counts.follows_ended += end_missing_follows(
            session, workspace_id=workspace_id, follows=local, seen=seen, observed_at=observed_at
        )
        if pairs:
            for follow in local:
                union.by_customer.setdefault(follow.customer_id, {})
            added, removed = apply_tags(session, workspace_id=workspace_id, tags=union, tag_ids=wecom_tags)
            contact_counts.tags_added += added
            contact_counts.tags_removed += removed
    counts.update(asdict(contact_counts))
    group_counts = GroupCounts()
    from siyu.community import groups as group_service

    for chat_id in dict.fromkeys(chat_ids):
        try:
            chat = gateway.groupchat_get(chat_id)
        except NotFound:
            if group_service.find_group(session, workspace_id=workspace_id, chat_id=chat_id) is not None:
                group_service.group_dismissed(
                    session, workspace_id=workspace_id, chat_id=chat_id, at=observed_at
                )
                group_counts.groups_dismissed += 1
            continue
        group_counts.add(
            apply_groupchat(session, workspace_id=workspace_id, chat=chat, observed_at=observed_at)
        )
    counts.update(asdict(group_counts))
    return counts


def mirror_behavior(
    session: Session,
    *,
    workspace_id: int,
    gateway: DirectoryGateway,
    days: int,
    tz: str,
    today: date | None = None,
) -> dict[str, int]:
    """Copy WeCom's per-day contact stats of every follow user for the last ``days`` days."""
    if not 1 <= days <= 180:
        raise ValueError("days must be between 1 and 180 (WeCom keeps 180 days)")
    today = today or local_day(utcnow(), tz)
    first = today - timedelta(days=days - 1)
    staff_ids, _ = _ensure_staff(session, workspace_id, gateway.get_follow_user_list(), follow_user_list=True)
    existing = {
        (r.staff_id, r.day): r
        for r in session.scalars(
            select(StaffDailyStats).where(
                StaffDailyStats.workspace_id == workspace_id, StaffDailyStats.day >= first
            )
        )
    }
    counts = {"staff": len(staff_ids), "days_created": 0, "days_updated": 0}
    fields = ("chat_cnt", "message_cnt", "reply_percentage", "avg_reply_time",
              "negative_feedback_cnt", "new_apply_cnt", "new_contact_cnt")  # fmt: skip
    for userid, staff_id in staff_ids.items():
        window_start = first
        while window_start <= today:
            window_end = min(window_start + timedelta(days=29), today)
            rows = gateway.get_user_behavior_data(
                [userid],
                int(day_start_utc(window_start, tz).timestamp()),
                int(day_start_utc(window_end, tz).timestamp()),
            )
            for data in rows:
                day = local_day(datetime.fromtimestamp(data.stat_time, UTC), tz)
                if not first <= day <= today:
                    continue
                values = {f: getattr(data, f) for f in fields}
                row = existing.get((staff_id, day))
                if row is None:
                    row = StaffDailyStats(workspace_id=workspace_id, staff_id=staff_id, day=day, **values)
                    session.add(row)
                    existing[(staff_id, day)] = row
                    counts["days_created"] += 1
                elif any(getattr(row, f) != v for f, v in values.items()):
                    for f, v in values.items():
                        setattr(row, f, v)
                    row.fetched_at = utcnow()
                    counts["days_updated"] += 1
            window_start = window_end + timedelta(days=1)
    record_run(session, workspace_id=workspace_id, kind="behavior", counts=counts)
    session.flush()
    return counts
