"""Tag changes made in siyu pushed to WeCom: onto every relation, corp tags created,
renamed and deleted, and a refused push left visible on the job."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition import tagsync
from siyu.customers.tags import add_tags, ensure_tag, remove_tags, rename_tag
from siyu.kit.db import session_scope
from siyu.models import Follow, Job, Tag
from tests.acquisition.conftest import Stack
from tests.conftest import CliRun


def test_pushes_reach_every_relation_and_the_tag_library(stack: Stack, cli: CliRun, session: Session) -> None:
    sc = stack.sim.scenario
    sc.add_staff("zs", "张三")
    sc.add_staff("ls", "李四")
    ext = sc.new_customer("两位导购的客户")
    sc.add_friend(ext, userid="zs")
    sc.add_friend(ext, userid="ls")
    cli("wecom", "sync", "--json")
    stack.drain()
    follow = session.scalar(select(Follow).where(Follow.external_userid == ext))
    assert follow is not None
    with session_scope() as s:
        tag = ensure_tag(s, workspace_id=follow.workspace_id, name="高意向", group_name="运营")
        tag_id = tag.id
        add_tags(s, workspace_id=follow.workspace_id, customer_ids=[follow.customer_id], tag_ids=[tag_id],
                 source="manual")  # fmt: skip
    stack.drain()
    session.expire_all()
    wecom_id = session.get(Tag, tag_id).wecom_tag_id  # type: ignore[union-attr]
    assert wecom_id
    assert stack.sim.state.tag(wecom_id) is not None
    assert all(wecom_id in stack.sim.state.follows[(u, ext)].tags for u in ("zs", "ls"))

    with session_scope() as s:
        t = s.get(Tag, tag_id)
        assert t is not None
        rename_tag(s, tag=t, name="高意向客户")
        tagsync.push_corp_tag(s, follow.workspace_id, tag_id, "rename")
        remove_tags(s, workspace_id=follow.workspace_id, customer_ids=[follow.customer_id], tag_ids=[tag_id])
    stack.drain()
    found = stack.sim.state.tag(wecom_id)
    assert found is not None
    assert found[1].name == "高意向客户"
    assert not any(wecom_id in stack.sim.state.follows[(u, ext)].tags for u in ("zs", "ls"))

    # Deleted in WeCom's own console meanwhile: the next push is refused, and says so.
    sc.admin_delete_tag(wecom_id)
    with session_scope() as s:
        add_tags(s, workspace_id=follow.workspace_id, customer_ids=[follow.customer_id], tag_ids=[tag_id],
                 source="manual")  # fmt: skip
    stack.drain()
    session.expire_all()
    job = session.scalars(select(Job).where(Job.kind == tagsync.TAG_PUSH).order_by(Job.id.desc())).first()
    assert job is not None
    assert job.status in ("queued", "failed")
    assert "tag pushes failed" in (job.last_error or "")
