"""内容雷达 (link tracking): siyu landing URLs that record who opened a link, when and how long.

A link from the library goes out as ``<public base>/r/<token>``. A token belongs to one
customer (a link a staff member sends one to one: ``siyu content link``) or to one
batch of a mass send (one staff account's recipients; WeCom sends one text to all of
them, so the reader is known only as far as that). An open counts, records
``content.opened`` (with the customer when known), gives the owning staff member a
follow-up task, can tag the reader (``body.tag_on_open``) and shows in the send's
results. Reading time comes from ``/r/<token>/ping`` beacons of pages that send them.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.automation.content import get_content
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.events import record_event
from siyu.kit.timeutil import utcnow
from siyu.models import ContentItem, TrackedLink, Workspace

DEFAULT_BASE = "http://localhost:8000"
MAX_PING_SECONDS = 60


def public_base(session: Session, workspace_id: int) -> str:
    ws = session.get(Workspace, workspace_id)
    raw = ((ws.settings if ws else {}) or {}).get("outbound") or {}
    return str(raw.get("public_base_url") or DEFAULT_BASE).rstrip("/")


def tracked_url(
    session: Session,
    *,
    item: ContentItem,
    send_id: int | None = None,
    staff_id: int | None = None,
    customer_id: int | None = None,
) -> str:
    """The landing URL for this item and reader (one token per send+staff, or per customer)."""
    if item.kind != "link":
        raise Invalid(f"content {item.id} is a {item.kind}, not a link", field="content_id")
    found = session.scalar(
        select(TrackedLink).where(
            TrackedLink.workspace_id == item.workspace_id,
            TrackedLink.content_id == item.id,
            TrackedLink.send_id.is_(None) if send_id is None else TrackedLink.send_id == send_id,
            TrackedLink.staff_id.is_(None) if staff_id is None else TrackedLink.staff_id == staff_id,
            TrackedLink.customer_id.is_(None)
            if customer_id is None
            else TrackedLink.customer_id == customer_id,
        )
    )
    if found is None:
        found = TrackedLink(
            workspace_id=item.workspace_id,
            token=secrets.token_urlsafe(12),
            content_id=item.id,
            send_id=send_id,
            staff_id=staff_id,
            customer_id=customer_id,
            url=str((item.body or {})["url"]),
            opens=0,
            seconds_read=0,
        )
        session.add(found)
        session.flush()
    return f"{public_base(session, item.workspace_id)}/r/{found.token}"


def _link(session: Session, token: str) -> TrackedLink:
    link = session.scalar(select(TrackedLink).where(TrackedLink.token == token))
    if link is None:
        raise NotFound("no such link", field="token")
    return link


def open_link(session: Session, token: str) -> str:
    """Record an open; the address to send the reader on to."""
    from siyu.execution.service import NewTask, create_task

    link = _link(session, token)
    now = utcnow()
    link.opens += 1
    link.first_opened_at = link.first_opened_at or now
    link.last_opened_at = now
    item = get_content(session, workspace_id=link.workspace_id, content_id=link.content_id, live=False)
    record_event(
        session,
        workspace_id=link.workspace_id,
        kind="content.opened",
        occurred_at=now,
        source="siyu",
        customer_id=link.customer_id,
        staff_id=link.staff_id,
        payload={
            "content_id": link.content_id,
            "send_id": link.send_id,
            "token": link.token,
            "opens": link.opens,
        },
    )
    if link.staff_id is not None and link.customer_id is not None:
        create_task(
            session,
            workspace_id=link.workspace_id,
            task=NewTask(
                staff_id=link.staff_id,
                kind="content_opened",
                title=f"客户打开了「{item.title}」"[:200],
                due_at=now + timedelta(hours=2),
                customer_id=link.customer_id,
                body="趁热跟进：客户刚刚打开了你发的内容",
                content_id=link.content_id,
                source="radar",
                source_ref=link.token,
                dedup_key=f"content_opened:{link.token}:{now.date().isoformat()}",
            ),
        )
    tag = (item.body or {}).get("tag_on_open")
    if tag and link.customer_id is not None:
        from siyu.customers.tags import add_tags, ensure_tag

        t = ensure_tag(session, workspace_id=link.workspace_id, name=str(tag))
        add_tags(
            session,
            workspace_id=link.workspace_id,
            customer_ids=[link.customer_id],
            tag_ids=[t.id],
            source="rule",
            source_ref=f"radar:{link.content_id}",
            staff_id=link.staff_id,
        )
    return link.url


def ping(session: Session, token: str, seconds: int) -> None:
    """A reading-time beacon: adds up to a minute per ping."""
    link = _link(session, token)
    link.seconds_read += max(0, min(int(seconds), MAX_PING_SECONDS))


def send_opens(session: Session, send_id: int) -> dict[str, Any]:
    """Opens of a send's links (what the send's results show)."""
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(TrackedLink.opens), 0),
            func.coalesce(func.sum(TrackedLink.seconds_read), 0),
        ).where(TrackedLink.send_id == send_id, TrackedLink.opens > 0)
    ).one()
    return {"links_opened": int(row[0]), "opens": int(row[1]), "seconds_read": int(row[2])}
