"""Reactions of the acquisition domain to friend adds (declared here, run by ``siyu.worker``).

- ``acquisition.welcome``: the fallback for a welcome the callback path did not get to
  (processing-after-accept off, or a crash between): queues ``acquisition.welcome``.
- ``acquisition.entry``: the channel's entry tags go on the customer in siyu (and so
  reach WeCom through their ``tag.changed`` event).
- ``acquisition.tag_push``: every ``tag.changed`` event made in siyu (operators, bulk
  actions, auto-tag rules, SOP steps, keyword rules, the sidebar, the API, entry tags)
  becomes ``mark_tag`` jobs on every relation of its customers
  (``tagsync.push_customer_tags``); changes that came from WeCom (source ``sync``) are
  not pushed back.
- ``acquisition.routing``: after every add or delete, re-plans the pools of the
  account involved and of the add's channel; a changed member list queues the
  channel's sync (an account at its limit leaves every pool at once).

The channel funnel, matrix dedup and the lead pool:

- subscriber ``acquisition.funnel`` to friend adds and losses and to ``stats.refreshed``
  (an order import's customers): recompute those customers' funnel rows and the
  channel-days they touch (idempotent: a re-delivery recomputes the same figures);
- subscriber ``acquisition.dedup`` to ``friend.add``: a matrix duplicate under its channel's
  ``task`` policy gives the second account's staff a task (idempotent by the follow);
- subscriber ``acquisition.leads`` to ``friend.add`` / ``order.binding`` and periodic
  ``acquisition.leads`` (15 min, for OneID merges no event names): complete lead tasks
  whose buyer became a friend; periodic ``acquisition.lead_reminders`` (daily 10:00);
- periodic ``acquisition.funnel`` (daily 04:30): rebuild every workspace's funnel, which
  also catches what no event announces (a OneID merge, a follow written by a full sync).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.acquisition import funnel, routing, tagsync
from siyu.acquisition.channels import POOL_KINDS, channel_by_state, queue_sync
from siyu.customers.tags import FROM_WECOM, TAG_CHANGED, add_tags
from siyu.kit.jobs import enqueue
from siyu.kit.ops import Delivered, periodic, subscriber
from siyu.models import Channel, Event, Tag, WelcomeSend, Workspace

WELCOME_JOB = "acquisition.welcome"


@subscriber("acquisition.welcome", kinds=["friend.add"], batch=200)
def welcome_fallback(session: Session, events: Sequence[Delivered]) -> None:
    """Queue the welcome of adds the callback path has not greeted."""
    adds = [e for e in events if e.source == "wecom" and e.payload.get("welcome_code")]
    if not adds:
        return
    rows = session.execute(select(Event.id, Event.dedup_key).where(Event.id.in_([e.id for e in adds])))
    keys: dict[int, str | None] = {int(r[0]): r[1] for r in rows}
    done = set(
        session.scalars(
            select(WelcomeSend.dedup_key).where(WelcomeSend.dedup_key.in_([k for k in keys.values() if k]))
        )
    )
    for e in adds:
        key = keys.get(e.id)
        if not key or key in done:
            continue
        p = e.payload
        enqueue(
            session,
            kind=WELCOME_JOB,
            workspace_id=e.workspace_id,
            payload={
                "key": key,
                "userid": p.get("userid"),
                "external_userid": p.get("external_userid"),
                "state": p.get("state") or "",
                "welcome_code": p.get("welcome_code"),
                "created_at": e.occurred_at.isoformat(),
            },
            dedup_key=f"acq.welcome:{key}",
        )


@subscriber("acquisition.entry", kinds=["friend.add"], batch=500)
def entry_tags(session: Session, events: Sequence[Delivered]) -> None:
    """Put each add's channel tags on the customer and queue their push to WeCom."""
    cache: dict[tuple[int, str], Channel | None] = {}
    for e in events:
        state = e.payload.get("state")
        if not state or e.customer_id is None or e.payload.get("half"):
            continue
        key = (e.workspace_id, state)
        if key not in cache:
            cache[key] = channel_by_state(session, workspace_id=e.workspace_id, state=state)
        channel = cache[key]
        if channel is None or not channel.tag_ids:
            continue
        live = list(
            session.scalars(
                select(Tag.id).where(
                    Tag.workspace_id == e.workspace_id, Tag.id.in_(channel.tag_ids), Tag.deleted_at.is_(None)
                )
            )
        )
        if not live:
            continue
        add_tags(
            session,
            workspace_id=e.workspace_id,
            customer_ids=[e.customer_id],
            tag_ids=live,
            source="channel",
            source_ref=state[:64],
            staff_id=e.staff_id,
        )  # its tag.changed event pushes the tags to WeCom (acquisition.tag_push below)


@subscriber("acquisition.tag_push", kinds=[TAG_CHANGED], batch=200)
def push_tag_changes(session: Session, events: Sequence[Delivered]) -> None:
    """Queue the ``mark_tag`` push of every tag change made in siyu (not those from WeCom).

    Changes of one batch that add and remove the same tags are pushed together (one job
    per 200 customers, not one per event): a SOP's tag step or a rule tags customers one
    event each, and each push job pays a claim, a WeCom client and a commit. The push
    reads what siyu holds when it runs, so joining changes never pushes a stale tag."""
    groups: dict[tuple[int, tuple[int, ...], tuple[int, ...]], tuple[int, set[int]]] = {}
    for e in events:
        if e.source in FROM_WECOM or e.payload.get("source") in FROM_WECOM:
            continue  # WeCom told siyu: pushing it back would echo (and could loop)
        key = (
            e.workspace_id,
            tuple(sorted({int(t) for t in e.payload.get("added") or []})),
            tuple(sorted({int(t) for t in e.payload.get("removed") or []})),
        )
        first, cids = groups.setdefault(key, (e.id, set()))
        cids.update(int(c) for c in e.payload.get("customer_ids") or [])
    for (ws_id, added, removed), (first, cids) in groups.items():
        tagsync.push_customer_tags(session, ws_id, cids, added, removed, dedup_key=f"acq.tags:{first}")


@subscriber(
    "acquisition.routing",
    kinds=["friend.add", "friend.delete_by_customer", "friend.delete_by_staff"],
    batch=500,
)
def reroute(session: Session, events: Sequence[Delivered]) -> None:
    """Re-plan the pools these adds and deletes touch; queue a sync where members change."""
    by_ws: dict[int, set[int]] = {}
    states: dict[int, set[str]] = {}
    last: dict[int, int] = {}
    for e in events:
        if e.staff_id is not None:
            by_ws.setdefault(e.workspace_id, set()).add(e.staff_id)
        if e.payload.get("state"):
            states.setdefault(e.workspace_id, set()).add(str(e.payload["state"]))
        last[e.workspace_id] = max(last.get(e.workspace_id, 0), e.id)
    for ws_id in set(by_ws) | set(states):
        channels = {
            c.id: c
            for c in routing.pools_with_staff(session, workspace_id=ws_id, staff_ids=by_ws.get(ws_id, set()))
        }
        for state in states.get(ws_id, set()):
            ch = channel_by_state(session, workspace_id=ws_id, state=state)
            if ch is not None and ch.kind in POOL_KINDS and ch.deleted_at is None:
                channels[ch.id] = ch
        for ch in channels.values():
            requeue_if_changed(session, ch, dedup=f"acq.route:{ch.id}:e{last[ws_id]}")


def requeue_if_changed(session: Session, channel: Channel, *, dedup: str) -> bool:
    """Queue the channel's sync when its plan's members differ from the code's; True if queued."""
    if channel.config_id is None and channel.sync_status == "pending":
        return False  # its first sync is queued already
    plan = routing.plan(session, channel)
    current = list((channel.settings or {}).get("members") or [])
    if plan.userids == current:
        return False
    return queue_sync(session, channel, reason="routing", dedup_key=dedup) is not None


FUNNEL_KINDS = (
    "friend.add",
    "friend.delete_by_customer",
    "friend.delete_by_staff",
    "friend.transfer",
    "stats.refreshed",
    "order.binding",
)


@subscriber("acquisition.funnel", kinds=list(FUNNEL_KINDS), batch=20)
def _funnel(session: Session, events: Sequence[Delivered]) -> None:
    """Keep the channel funnel current for the customers these events name."""
    by_workspace: dict[int, set[int]] = defaultdict(set)
    for ev in events:
        ids = by_workspace[ev.workspace_id]
        if ev.customer_id is not None:
            ids.add(ev.customer_id)
        ids.update(int(c) for c in ev.payload.get("customer_ids", ()) or ())
    for workspace_id, ids in by_workspace.items():
        funnel.refresh_customers(session, workspace_id=workspace_id, customer_ids=ids)


@periodic("acquisition.funnel", daily="04:30", long=True, description="nightly rebuild of the channel funnel")
def _nightly(factory: sessionmaker[Session]) -> dict[str, Any]:
    done: dict[str, int] = {}
    with factory() as session:
        ids = list(session.scalars(select(Workspace.id)))
    for workspace_id in ids:
        with factory.begin() as session:
            done[str(workspace_id)] = funnel.rebuild(session, workspace_id=workspace_id)
    return {"friends": done}


@subscriber("acquisition.dedup", kinds=["friend.add"], batch=200)
def _dedup(session: Session, events: Sequence[Delivered]) -> None:
    """A friend add that makes a matrix duplicate: apply the channel's dedup policy."""
    from siyu.acquisition import dedup

    for ev in events:
        if ev.customer_id is not None and ev.staff_id is not None and not ev.payload.get("half"):
            dedup.on_add(
                session,
                workspace_id=ev.workspace_id,
                customer_id=ev.customer_id,
                staff_id=ev.staff_id,
                at=ev.occurred_at,
            )


@subscriber("acquisition.leads", kinds=["friend.add", "order.binding"], batch=200)
def _leads(session: Session, events: Sequence[Delivered]) -> None:
    """A new friend or an order binding may be a lead added: complete its task (detected)."""
    from siyu.acquisition import leads

    by_workspace: dict[int, set[int]] = defaultdict(set)
    for ev in events:
        if ev.customer_id is not None:
            by_workspace[ev.workspace_id].add(ev.customer_id)
    for workspace_id, ids in by_workspace.items():
        leads.detect_added(session, workspace_id=workspace_id, customer_ids=ids)


@periodic(
    "acquisition.leads", every=900, description="leads whose buyer became a friend (after OneID merges)"
)
def _lead_sweep(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.acquisition import leads

    done: dict[str, int] = {}
    with factory() as session:
        ids = list(session.scalars(select(Workspace.id)))
    for workspace_id in ids:
        with factory.begin() as session:
            done[str(workspace_id)] = leads.detect_added(session, workspace_id=workspace_id)
    return {"added": done}


@periodic("acquisition.lead_reminders", daily="10:00", description="remind staff of overdue lead tasks")
def _lead_reminders(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.acquisition import leads

    done: dict[str, int] = {}
    with factory() as session:
        ids = list(session.scalars(select(Workspace.id)))
    for workspace_id in ids:
        with factory.begin() as session:
            done[str(workspace_id)] = leads.remind(session, workspace_id=workspace_id)
    return {"reminded": done}
