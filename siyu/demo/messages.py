"""Demo step: months of chats in the conversation archive, with each guide's reply habit.

The demo brand's friends (as the WeCom sync stored them) chat with their guides from
the first add up to the end of the day before the demo's day; the archive export is
written next to the order exports (``wecom_archive.jsonl``) and imported through
``siyu wecom archive import``'s path, so the console shows what a brand with the
archive sees. The guides differ on purpose: 林小青 and 青禾客服 answer within minutes,
陈佳怡 takes half an hour, 王梦瑶 and 刘欣妍 forget many conversations. The archive covers
every guide but 赵思涵 (the Hangzhou store), whose figures fall back to WeCom's. In the
groups, members @-mention the owner now and then; those answers count in the reply rate.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import zone
from siyu.models import Follow, FriendAccept, Group, GroupMember, Staff, Workspace
from siyu.wecom.archive.interactions import touch_from_follows
from siyu.wecom.archive.service import import_file, set_settings
from siyu.wecom.archive.settings import archive_settings
from siyu.wecom.simulator.archive import Habit, simulate_archive

if TYPE_CHECKING:
    from siyu.demo.service import DemoContext

ARCHIVE_FILE = "wecom_archive.jsonl"
HABITS = {
    "qh_lin": Habit(answer_share=0.97, median_minutes=3, spread=0.6, outreach_per_month=0.6),
    "qh_zhou": Habit(answer_share=0.92, median_minutes=7, spread=0.8, outreach_per_month=0.4),
    "qh_chen": Habit(answer_share=0.85, median_minutes=35, spread=0.9, outreach_per_month=0.2),
    "qh_wang": Habit(answer_share=0.60, median_minutes=9, spread=1.0, outreach_per_month=0.1),
    "qh_zhao": Habit(answer_share=0.80, median_minutes=20, spread=1.1, outreach_per_month=0.3),
    "qh_liu": Habit(answer_share=0.55, median_minutes=15, spread=1.2, outreach_per_month=0.05),
    "qh_kefu": Habit(answer_share=0.99, median_minutes=2, spread=0.5, outreach_per_month=0.1),
}
CHAT_MONTHS = 4
# The brand licensed the archive for every guide but the Hangzhou store's: her figures come
# from WeCom's own behaviour data (the reports say so).
UNCOVERED = {"qh_zhao"}


def seed(ctx: DemoContext) -> None:
    """Write the demo's archive export and import it; friend adds count as interactions."""
    assert ctx.workspace_id is not None
    assert ctx.as_of is not None
    with session_scope() as session:
        ws = session.get(Workspace, ctx.workspace_id)
        assert ws is not None
        tz = ws.timezone
        follows = [
            (userid, ext, added)
            for userid, ext, added in session.execute(
                select(Staff.userid, Follow.external_userid, Follow.added_at)
                .join(Staff, Staff.id == Follow.staff_id)
                .where(
                    Follow.workspace_id == ws.id,
                    Follow.state == "active",
                    Follow.external_userid.is_not(None),
                )
                .order_by(Follow.id)
            ).all()
            if ext and added and userid not in UNCOVERED
        ]
        groups = []
        for gid, chat_id, owner in session.execute(
            select(Group.id, Group.chat_id, Staff.userid)
            .join(Staff, Staff.id == Group.owner_staff_id)
            .where(Group.workspace_id == ws.id)
            .order_by(Group.id)
        ).all():
            members = session.scalars(
                select(GroupMember.userid).where(GroupMember.group_id == gid, GroupMember.member_type == 2)
            ).all()
            if owner not in UNCOVERED:
                groups.append((chat_id, owner, list(members)))
        names = dict(
            session.execute(select(Staff.userid, Staff.name).where(Staff.workspace_id == ws.id)).all()
        )
        moved_by_adds = touch_from_follows(session, workspace_id=ws.id)
        accepts = _record_accepts(session, ws.id, ctx.seed)
        covered = sorted(
            u
            for u in session.scalars(select(Staff.userid).where(Staff.workspace_id == ws.id)).all()
            if u not in UNCOVERED
        )
        if list(archive_settings(ws.settings).covered) != covered:  # a re-run changes nothing
            set_settings(session, workspace_id=ws.id, changes={"covered": covered}, actor="demo")
    if not follows:
        ctx.notes.append("messages: no WeCom friends, no archive")
        return
    end = datetime.combine(ctx.as_of, time(0), tzinfo=zone(tz))
    start = end - timedelta(days=30 * CHAT_MONTHS)
    path = ctx.out / ARCHIVE_FILE
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for record in simulate_archive(
            follows, start=start, end=end, habits=HABITS, groups=groups, seed=ctx.seed, tz=tz, names=names
        ):
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    report = import_file(session_factory(), workspace_id=ctx.workspace_id, path=path, actor="demo")
    ctx.notes.append(
        f"messages: {count:,} archived chat messages over {CHAT_MONTHS} months ({report.stored:,} new, "
        f"{report.duplicates:,} already there, {report.mentions:,} group @-mentions of a guide); "
        f"{moved_by_adds + report.interactions_moved:,} "
        f"customers' last interaction moved; {accepts:,} friend-request accept times recorded"
    )


# Store QR codes ask for verification: the guides record when they accepted (most of the
# time, minutes to hours after the request; the rest they forget to record).
VERIFIED_CODES = ("store_qr_hz", "store_qr_sh")
ACCEPT_MEDIAN_MINUTES = {"qh_zhao": 25.0, "qh_liu": 90.0}


def _record_accepts(session: Session, workspace_id: int, seed: int) -> int:
    rng = random.Random(f"accepts-{seed}")
    have = set(
        session.execute(
            select(FriendAccept.staff_id, FriendAccept.customer_id).where(
                FriendAccept.workspace_id == workspace_id
            )
        ).all()
    )
    rows = session.execute(
        select(Follow.staff_id, Follow.customer_id, Follow.added_at, Staff.userid)
        .join(Staff, Staff.id == Follow.staff_id)
        .where(Follow.workspace_id == workspace_id, Follow.live_code_state.in_(VERIFIED_CODES))
        .order_by(Follow.id)
    ).all()
    n = 0
    for staff_id, customer_id, added_at, userid in rows:
        if added_at is None or (staff_id, customer_id) in have or rng.random() < 0.3:
            continue
        minutes = math.exp(rng.gauss(math.log(ACCEPT_MEDIAN_MINUTES.get(userid, 30.0)), 1.0))
        session.add(
            FriendAccept(
                workspace_id=workspace_id,
                staff_id=staff_id,
                customer_id=customer_id,
                requested_at=added_at - timedelta(minutes=minutes),
                accepted_at=added_at,
                recorded_by="demo",
            )
        )
        n += 1
    return n
