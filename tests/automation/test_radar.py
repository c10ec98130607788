"""内容雷达: a tracked link records the open, tells the staff member, tags the reader, redirects."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.service import IdentityInput, resolve_customer
from siyu.kit.db import session_scope
from siyu.models import CustomerTag, Event, StaffTask, Tag, TrackedLink
from siyu.staff.service import ensure_staff
from siyu.web.app import create_app
from tests.conftest import CliRun


def test_a_tracked_link_records_the_open(cli: CliRun, session: Session, workspace_id: int) -> None:
    with session_scope() as s:
        ensure_staff(s, workspace_id=workspace_id, userid="amy", name="Amy")
        cid = resolve_customer(
            s, workspace_id=workspace_id, identities=[IdentityInput("external_userid", "wmr1")], source="test"
        ).id
    item = json.loads(
        cli(
            "content", "add", "link", "--title", "新品图文", "--url", "https://brand.example/new", "--json"
        ).stdout
    )
    with session_scope() as s:  # the item tags whoever opens it
        from siyu.models import ContentItem

        row = s.get(ContentItem, item["id"])
        assert row is not None
        row.body = {**row.body, "tag_on_open": "看过新品"}
    url = json.loads(
        cli("content", "link", item["id"], "--customer", cid, "--staff", "amy", "--json").stdout
    )["url"]
    assert "/r/" in url
    token = url.rsplit("/", 1)[1]
    # The same reader gets the same link.
    assert (
        json.loads(cli("content", "link", item["id"], "--customer", cid, "--staff", "amy", "--json").stdout)[
            "url"
        ]
        == url
    )
    web = TestClient(create_app())
    res = web.get(f"/r/{token}", follow_redirects=False)
    assert res.status_code == 302
    assert res.headers["location"] == "https://brand.example/new"
    assert web.post(f"/r/{token}/ping?s=30").status_code == 204
    assert web.post(f"/r/{token}/ping?s=999").status_code == 204  # capped at a minute
    assert web.get("/r/nope", follow_redirects=False).status_code == 404
    session.expire_all()
    link = session.scalar(select(TrackedLink))
    assert link is not None
    assert (link.opens, link.seconds_read, link.customer_id) == (1, 90, cid)
    assert session.scalar(select(Event.kind).where(Event.kind == "content.opened")) == "content.opened"
    task = session.scalar(select(StaffTask).where(StaffTask.kind == "content_opened"))
    assert task is not None
    assert task.customer_id == cid
    tag_id = session.scalar(select(Tag.id).where(Tag.name == "看过新品"))
    assert session.scalar(select(CustomerTag.customer_id).where(CustomerTag.tag_id == tag_id)) == cid
