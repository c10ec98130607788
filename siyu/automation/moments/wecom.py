"""The moments calendar's side of WeCom: create tasks, follow jobs, publishing and results.

- ``create_task``: at the planned time, upload the attachments (``upload_attachment``)
  and call ``add_moment_task``, at most 10 a minute per corp (the rest wait their turn);
  the intent (``creating``, ``called_at``) is committed before the call.
- ``poll_result``: ``get_moment_task_result`` until the job is done; keeps the moment id.
- ``track_publishing``: ``get_moment_task`` per recent moment; staff who have not
  published a while after the task was created get a ``moment_publish`` task; it is
  closed (``detected``) when they publish.
- ``fetch_results``: ``get_moment_list`` (window ≤ 30 days) and ``get_moment_comments``
  per publishing staff member: likes and comments into ``moment_interactions``, the
  events ``moment.like`` / ``moment.comment`` and ``last_interaction_at``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.automation.moments.service import setting
from siyu.kit.events import record_event
from siyu.kit.jobs import enqueue
from siyu.kit.timeutil import utcnow
from siyu.models import Follow, Moment, MomentInteraction, MomentSender, Staff, StaffTask, Tag, Workspace
from siyu.wecom.client.moments import MomentsGateway
from siyu.wecom.errors import RateLimited, WeComAPIError, WeComError

RESULT_KIND = "moments.result"
TASKS_PER_MINUTE = 10
# How long past its planned time a moment waits for its visibility tags' WeCom ids.
TAG_WAIT = timedelta(minutes=30)
MAX_WINDOW_DAYS = 30
TRACK_DAYS = 7


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _claim(factory: sessionmaker[Session], workspace_id: int, moment_id: int) -> dict[str, Any]:
    """Take the moment for the call (or say why not / when to try again); committed."""
    with factory() as s:
        # One creator at a time per workspace (the 10-a-minute count must hold).
        s.scalar(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())
        m = s.scalar(
            select(Moment)
            .where(Moment.workspace_id == workspace_id, Moment.id == moment_id)
            .with_for_update()
        )
        if m is not None and m.status == "creating" and not m.wecom_jobid and m.called_at is not None:
            # A worker died between the call and storing its answer: look, never call twice.
            return {"recover": {"text": m.text, "called_at": m.called_at}}
        if m is None or m.status != "planned":
            return {"skipped": f"moment {moment_id} is {m.status if m else 'gone'}"}
        now = utcnow()
        recent = list(
            s.scalars(
                select(Moment.called_at)
                .where(Moment.workspace_id == workspace_id, Moment.called_at > now - timedelta(seconds=60))
                .order_by(Moment.called_at)
            )
        )
        if len(recent) >= TASKS_PER_MINUTE:
            oldest = recent[-TASKS_PER_MINUTE]
            assert oldest is not None
            at = oldest + timedelta(seconds=61)
            enqueue(
                s, kind="moments.create", workspace_id=workspace_id, payload={"moment_id": moment_id},
                run_after=at, dedup_key=f"moments.create:{moment_id}:{_ts(at)}",
            )  # fmt: skip
            s.commit()
            return {"deferred_until": at.isoformat()}
        m.status = "creating"
        m.called_at = now
        tag_ids = list(m.visible_tag_ids)
        rows = (
            list(s.execute(select(Tag.name, Tag.wecom_tag_id).where(Tag.id.in_(tag_ids)))) if tag_ids else []
        )
        tags = [w for _, w in rows]
        waiting = [str(n) for n, w in rows if not w]
        userids = list(
            s.scalars(
                select(Staff.userid)
                .join(MomentSender, MomentSender.staff_id == Staff.id)
                .where(MomentSender.moment_id == m.id)
                .order_by(Staff.userid)
            )
        )
        claim = {"text": m.text, "attachments": list(m.attachments), "tags": [t for t in tags if t],
                 "missing_tags": len(tags) != len(tag_ids) or not all(tags), "userids": userids,
                 "waiting_tags": waiting, "planned_at": m.planned_at.isoformat()}  # fmt: skip
        s.commit()
        return {"claim": claim}


def _finish(factory: sessionmaker[Session], workspace_id: int, moment_id: int, **values: Any) -> None:
    with factory() as s:
        m = s.get(Moment, moment_id)
        assert m is not None
        for k, v in values.items():
            setattr(m, k, v)
        if values.get("status") == "created":
            enqueue(s, kind=RESULT_KIND, workspace_id=workspace_id, payload={"moment_id": moment_id, "n": 1},
                    run_after=utcnow() + timedelta(seconds=3),
                    dedup_key=f"{RESULT_KIND}:{moment_id}:1")  # fmt: skip
        if values.get("status") == "planned":  # WeCom's own limit: try again in a minute
            at = utcnow() + timedelta(seconds=61)
            enqueue(s, kind="moments.create", workspace_id=workspace_id, payload={"moment_id": moment_id},
                    run_after=at, dedup_key=f"moments.create:{moment_id}:{_ts(at)}")  # fmt: skip
        s.commit()


def _body(gateway: MomentsGateway, claim: dict[str, Any]) -> dict[str, Any]:
    attachments: list[dict[str, Any]] = []
    for a in claim["attachments"]:
        if a["kind"] == "link":
            attachments.append({"msgtype": "link", "link": {"title": a["title"], "url": a["url"]}})
            continue
        path = Path(a["path"])
        media_id = gateway.upload_attachment(a["kind"], path.name, path.read_bytes())
        attachments.append({"msgtype": a["kind"], a["kind"]: {"media_id": media_id}})
    body: dict[str, Any] = {"visible_range": {"sender_list": {"user_list": claim["userids"]}}}
    if claim["text"]:
        body["text"] = {"content": claim["text"]}
    if attachments:
        body["attachments"] = attachments
    if claim["tags"]:
        body["visible_range"]["external_contact_list"] = {"tag_list": claim["tags"]}
    return body


def _recover(
    factory: sessionmaker[Session],
    workspace_id: int,
    moment_id: int,
    gateway: MomentsGateway,
    *,
    text: str,
    called_at: datetime,
) -> dict[str, Any]:
    """After a crash mid-call: adopt the corp moment WeCom made from it, or say we cannot tell.

    WeCom lists corp moments (create_type 0) from their creation; one with this text,
    made since the call and unknown to siyu, is this plan's.
    """
    start = called_at - timedelta(seconds=60)
    with factory() as s:
        known = set(
            s.scalars(
                select(Moment.wecom_moment_id).where(
                    Moment.workspace_id == workspace_id, Moment.wecom_moment_id.is_not(None)
                )
            )
        )
    found = None
    for lo, hi in _windows(start, utcnow()):
        for item in gateway.iter_moment_list(lo, hi):
            body = item.text.content if item.text else ""
            if item.create_type == 0 and body == text and item.moment_id not in known:
                found = item.moment_id
                break
        if found:
            break
    if found is None:
        why = "the call to WeCom was cut off and WeCom shows no such moment; plan it again"
        _finish(factory, workspace_id, moment_id, status="failed", error=why)
        return {"failed": "not found after a crash"}
    with factory() as s:
        m = s.get(Moment, moment_id)
        assert m is not None
        m.wecom_moment_id, m.status, m.error = found, "ready", None
        staff_ids = _staff_ids(s, workspace_id)
        _sync_senders(s, m, gateway, staff_ids, utcnow())
        s.commit()
    return {"recovered": found}


def create_task(
    factory: sessionmaker[Session], *, workspace_id: int, moment_id: int, gateway: MomentsGateway
) -> dict[str, Any]:
    """Hand a due moment to WeCom (the ``moments.create`` job)."""
    got = _claim(factory, workspace_id, moment_id)
    if "recover" in got:
        return _recover(factory, workspace_id, moment_id, gateway, **got["recover"])
    if "claim" not in got:
        return got
    claim = got["claim"]
    if claim["missing_tags"]:
        waiting = claim.get("waiting_tags") or []
        planned = datetime.fromisoformat(claim["planned_at"])
        if waiting and utcnow() < planned + TAG_WAIT:
            # The tag push (acquisition.tag_push / corp_tag_push) has not given the tag its
            # WeCom id yet: wait and try again in a minute, saying why on the moment.
            why = f"waiting for visibility tag(s) {', '.join(waiting)} to reach WeCom (tag push jobs)"
            _finish(factory, workspace_id, moment_id, status="planned", called_at=None, error=why[:500])
            return {"waiting_for_tags": waiting}
        names = ", ".join(waiting) or "a deleted tag"
        _finish(factory, workspace_id, moment_id, status="failed",
                error=f"visibility tag(s) {names} never reached WeCom; see the failed tag push jobs "
                      "(siyu jobs list --status failed), fix, and plan again")  # fmt: skip
        return {"failed": "visibility tag not in WeCom"}
    try:
        body = _body(gateway, claim)
        jobid = gateway.add_moment_task(body)
    except RateLimited:
        _finish(factory, workspace_id, moment_id, status="planned", called_at=None)
        return {"deferred": "WeCom rate limit"}
    except OSError as exc:
        _finish(
            factory, workspace_id, moment_id, status="failed", error=f"attachment unreadable: {exc}"[:500]
        )
        return {"failed": str(exc)}
    except WeComAPIError as exc:
        _finish(factory, workspace_id, moment_id, status="failed", error=f"WeCom refused: {exc}"[:500])
        return {"failed": str(exc)}
    except WeComError as exc:
        # No answer: siyu cannot tell whether WeCom made the task; never call twice.
        why = f"WeCom did not answer ({exc}); check WeCom's moments list before planning it again"
        _finish(factory, workspace_id, moment_id, status="failed", error=why[:500])
        return {"failed": str(exc)}
    _finish(factory, workspace_id, moment_id, status="created", wecom_jobid=jobid, error=None)
    return {"jobid": jobid}


def poll_result(
    session: Session, *, workspace_id: int, moment_id: int, n: int, gateway: MomentsGateway
) -> dict[str, Any]:
    """One look at the task's job (the ``moments.result`` job); the next look is queued."""
    m = session.scalar(select(Moment).where(Moment.workspace_id == workspace_id, Moment.id == moment_id))
    if m is None or m.status != "created" or not m.wecom_jobid:
        return {"skipped": True}
    res = gateway.get_moment_task_result(m.wecom_jobid)
    if res.status != 3 or res.result is None:
        if n >= 60:
            m.status, m.error = "failed", "WeCom never finished the moment task"
            return {"failed": "timeout"}
        enqueue(session, kind=RESULT_KIND, workspace_id=workspace_id, payload={"moment_id": m.id, "n": n + 1},
                run_after=utcnow() + timedelta(seconds=min(5 * n, 60)),
                dedup_key=f"{RESULT_KIND}:{m.id}:{n + 1}")  # fmt: skip
        return {"waiting": res.status}
    if res.result.errcode != 0 or not res.result.moment_id:
        m.status, m.error = "failed", f"WeCom: {res.result.errcode} {res.result.errmsg}"[:500]
        return {"failed": m.error}
    m.wecom_moment_id = res.result.moment_id
    m.status = "ready"
    invalid = set(((res.result.invalid_sender_list or {}).get("user_list")) or [])
    for ms, userid in session.execute(
        select(MomentSender, Staff.userid).join(Staff, Staff.id == MomentSender.staff_id)
        .where(MomentSender.moment_id == m.id)
    ):  # fmt: skip
        ms.status = "invalid" if userid in invalid else "unpublished"
    bad_tags = ((res.result.invalid_external_contact_list or {}).get("tag_list")) or []
    if bad_tags:
        m.error = f"WeCom ignored unknown tags {', '.join(bad_tags)}"[:500]
    return {"moment_id": m.wecom_moment_id, "invalid_senders": sorted(invalid)}


def _staff_ids(session: Session, workspace_id: int) -> dict[str, int]:
    return dict(
        session.execute(select(Staff.userid, Staff.id).where(Staff.workspace_id == workspace_id)).all()
    )


def _sync_senders(
    session: Session, m: Moment, gateway: MomentsGateway, staff_ids: dict[str, int], now: datetime
) -> tuple[int, list[MomentSender]]:
    """Publish statuses from get_moment_task; (newly published, senders who still have not)."""
    assert m.wecom_moment_id
    rows = {
        ms.staff_id: ms for ms in session.scalars(select(MomentSender).where(MomentSender.moment_id == m.id))
    }
    newly, waiting = 0, []
    for item in gateway.get_moment_task(m.wecom_moment_id):
        sid = staff_ids.get(item.userid)
        if sid is None:
            continue
        ms = rows.get(sid)
        if ms is None:
            ms = MomentSender(workspace_id=m.workspace_id, moment_id=m.id, staff_id=sid, status="unpublished")
            session.add(ms)
            rows[sid] = ms
        if item.publish_status == 1 and ms.status != "published":
            # WeCom gives no publish time: the first look that sees it published.
            ms.status, ms.published_at = "published", now
            newly += 1
            _close_reminder(session, m, ms, now)
        elif item.publish_status != 1 and ms.status != "invalid":
            ms.status = "unpublished"
            waiting.append(ms)
    return newly, waiting


def _dedup(m: Moment, ms: MomentSender) -> str:
    return f"moment_publish:{m.id}:{ms.staff_id}"


def _close_reminder(session: Session, m: Moment, ms: MomentSender, now: datetime) -> None:
    from siyu.execution.service import complete_task

    task_id = session.scalar(
        select(StaffTask.id).where(
            StaffTask.workspace_id == m.workspace_id,
            StaffTask.dedup_key == _dedup(m, ms),
            StaffTask.status == "open",
        )
    )
    if task_id is not None:
        complete_task(session, workspace_id=m.workspace_id, task_id=task_id, how="detected", at=now)


def track_publishing(session: Session, *, workspace_id: int, gateway: MomentsGateway) -> dict[str, int]:
    """Who published the recent moments; remind those who have not (one task per moment and staff)."""
    from siyu.execution.service import NewTask, create_task

    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    now = utcnow()
    remind_after = timedelta(minutes=setting(ws, "moments_remind_after_minutes"))
    staff_ids = _staff_ids(session, workspace_id)
    counts = {"moments": 0, "published": 0, "reminded": 0}
    moments = session.scalars(
        select(Moment).where(
            Moment.workspace_id == workspace_id,
            Moment.status == "ready",
            Moment.origin != "personal",
            Moment.wecom_moment_id.is_not(None),
            Moment.planned_at > now - timedelta(days=TRACK_DAYS),
        )
    ).all()
    for m in moments:
        counts["moments"] += 1
        newly, waiting = _sync_senders(session, m, gateway, staff_ids, now)
        counts["published"] += newly
        since = m.called_at or m.planned_at
        if now - since < remind_after:
            continue
        for ms in waiting:
            if ms.reminded_at is not None:
                continue
            made = create_task(
                session,
                workspace_id=workspace_id,
                task=NewTask(
                    staff_id=ms.staff_id,
                    kind="moment_publish",
                    title=f"发表朋友圈：{(m.text or '（图片/视频/链接）')[:40]}",
                    body="企业微信 → 客户朋友圈 → 企业发表：请在手机上点开并发表这条朋友圈。",
                    due_at=now + timedelta(hours=2),
                    priority=2,
                    source="moment",
                    source_ref=str(m.id),
                    dedup_key=_dedup(m, ms),
                    extra={"moment_id": m.id, "wecom_moment_id": m.wecom_moment_id},
                ),
            )
            ms.reminded_at = now
            if made is not None:
                counts["reminded"] += 1
    return counts


def _customer_for(session: Session, workspace_id: int, staff_id: int, external_userid: str) -> int | None:
    cid = session.scalar(
        select(Follow.customer_id).where(
            Follow.workspace_id == workspace_id,
            Follow.staff_id == staff_id,
            Follow.external_userid == external_userid,
        )
    )
    if cid is None:
        cid = session.scalar(
            select(Follow.customer_id).where(
                Follow.workspace_id == workspace_id, Follow.external_userid == external_userid
            )
        )
    if cid is not None:
        return cid
    from siyu.customers.service import IdentityInput, resolve_customer

    return resolve_customer(
        session, workspace_id=workspace_id, source="wecom",
        identities=[IdentityInput(kind="external_userid", value=external_userid)],
    ).id  # fmt: skip


def _windows(start: datetime, end: datetime) -> list[tuple[int, int]]:
    """[start, end] cut into spans WeCom accepts (get_moment_list: at most 30 days)."""
    out, lo = [], start
    while lo < end:
        hi = min(end, lo + timedelta(days=MAX_WINDOW_DAYS) - timedelta(seconds=1))
        out.append((_ts(lo), _ts(hi)))
        lo = hi + timedelta(seconds=1)
    return out


def fetch_results(
    session: Session,
    *,
    workspace_id: int,
    gateway: MomentsGateway,
    days: int = TRACK_DAYS,
    since: datetime | None = None,
) -> dict[str, int]:
    """Moments since ``since`` (default: the last ``days``) and their likes and comments.

    A span longer than WeCom's 30-day window is read window by window.
    """
    from siyu.customers.stats import touch_interactions

    now = utcnow()
    start = since or now - timedelta(days=max(1, days))
    staff_ids = _staff_ids(session, workspace_id)
    counts = {"moments_seen": 0, "moments_new": 0, "likes": 0, "comments": 0, "customers_touched": 0}
    known = {
        m.wecom_moment_id: m
        for m in session.scalars(
            select(Moment).where(Moment.workspace_id == workspace_id, Moment.wecom_moment_id.is_not(None))
        )
    }
    items = (item for lo, hi in _windows(start, now) for item in gateway.iter_moment_list(lo, hi))
    for item in items:
        counts["moments_seen"] += 1
        if item.moment_id in known:
            continue
        created = _dt(item.create_time)
        personal = item.create_type == 1
        m = Moment(
            workspace_id=workspace_id, origin="personal" if personal else "corp", status="ready",
            planned_at=created, text=(item.text.content if item.text else "")[:5000],
            wecom_moment_id=item.moment_id, created_by="wecom",
        )  # fmt: skip
        session.add(m)
        session.flush()
        if personal and item.creator in staff_ids:
            sid = staff_ids[item.creator]
            session.add(MomentSender(workspace_id=workspace_id, moment_id=m.id, staff_id=sid,
                                     status="published", published_at=created))  # fmt: skip
        elif not personal:
            _sync_senders(session, m, gateway, staff_ids, now)
        known[item.moment_id] = m
        counts["moments_new"] += 1
    session.flush()
    recent = session.execute(
        select(Moment, MomentSender, Staff.userid)
        .join(MomentSender, MomentSender.moment_id == Moment.id)
        .join(Staff, Staff.id == MomentSender.staff_id)
        .where(
            Moment.workspace_id == workspace_id,
            Moment.wecom_moment_id.is_not(None),
            MomentSender.status == "published",
            MomentSender.published_at >= start,
        )
    ).all()
    touched: dict[int, datetime] = {}
    # (staff, external_userid) -> customer: the same friends react moment after moment.
    customer_of: dict[tuple[int, str], int | None] = {}
    for m, ms, userid in recent:
        assert m.wecom_moment_id
        answer = gateway.get_moment_comments(m.wecom_moment_id, userid)
        with session.no_autoflush:  # one flush per moment, not one per reaction
            _store_reactions(session, workspace_id, m, ms, userid, answer, customer_of, touched, counts)
        session.flush()
    counts["customers_touched"] = touch_interactions(session, workspace_id=workspace_id, last_at=touched)
    return counts


def _store_reactions(
    session: Session,
    workspace_id: int,
    m: Moment,
    ms: MomentSender,
    userid: str,
    answer: Any,
    customer_of: dict[tuple[int, str], int | None],
    touched: dict[int, datetime],
    counts: dict[str, int],
) -> None:
    """One moment's likes and comments for one sender: the new ones, each with its event."""
    stored = session.execute(
        select(MomentInteraction.customer_id, MomentInteraction.kind, MomentInteraction.occurred_at).where(
            MomentInteraction.moment_id == m.id, MomentInteraction.staff_id == ms.staff_id
        )
    )
    have: set[tuple[int, str, datetime]] = {(c, k, at.astimezone(UTC)) for c, k, at in stored}
    for kind, reactions in (("like", answer.like_list), ("comment", answer.comment_list)):
        for r in reactions:
            if not r.external_userid:
                continue  # a colleague's reaction is not a customer interaction
            who = (ms.staff_id, r.external_userid)
            if who in customer_of:
                cid = customer_of[who]
            else:
                cid = customer_of[who] = _customer_for(session, workspace_id, ms.staff_id, r.external_userid)
            if cid is None:
                continue
            at = _dt(r.create_time)
            if (cid, kind, at) in have:
                continue
            have.add((cid, kind, at))
            session.add(MomentInteraction(workspace_id=workspace_id, moment_id=m.id, staff_id=ms.staff_id,
                                          customer_id=cid, kind=kind, occurred_at=at))  # fmt: skip
            record_event(
                session, workspace_id=workspace_id, kind=f"moment.{kind}", occurred_at=at, source="wecom",
                customer_id=cid, staff_id=ms.staff_id,
                dedup_key=f"moment.{kind}:{m.wecom_moment_id}:{userid}:{r.external_userid}:{r.create_time}",
                payload={"moment_id": m.id, "wecom_moment_id": m.wecom_moment_id, "userid": userid},
            )  # fmt: skip
            counts["likes" if kind == "like" else "comments"] += 1
            if touched.get(cid) is None or touched[cid] < at:
                touched[cid] = at


def interaction_counts(session: Session, *, workspace_id: int, since: datetime) -> dict[str, int]:
    """Likes and comments since a time (for the CLI and the calendar header)."""
    rows = session.execute(
        select(MomentInteraction.kind, func.count())
        .where(MomentInteraction.workspace_id == workspace_id, MomentInteraction.occurred_at >= since)
        .group_by(MomentInteraction.kind)
    )
    return {str(k): int(n) for k, n in rows}
