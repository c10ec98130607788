"""Tag changes made in siyu pushed to WeCom: onto every relation, corp tags created,
renamed and deleted, and a tag WeCom already has by name linked."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition import tagsync
from siyu.customers.tags import add_tags, ensure_tag, remove_tags, rename_tag
from siyu.kit.db import session_scope
from siyu.models import Follow, Tag
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

    # A refused push left failed on its job: test_tag_push_paths.py.


def test_a_tag_wecom_already_has_by_name_is_linked_not_refused(
    stack: Stack, cli: CliRun, session: Session
) -> None:
    """Two workers pushing the same new tag: the second finds the name taken (40071) and
    links WeCom's tag instead of failing."""
    from siyu.wecom.gateway import client_for
    from siyu.wecom.schemas import AddCorpTagRequest, NewTag

    sc = stack.sim.scenario
    sc.add_staff("zs", "张三")
    ext = sc.new_customer("客户")
    sc.add_friend(ext, userid="zs")
    cli("wecom", "sync", "--json")
    stack.drain()
    follow = session.scalar(select(Follow).where(Follow.external_userid == ext))
    assert follow is not None
    ws = follow.workspace_id
    with session_scope() as s:
        tag = ensure_tag(s, workspace_id=ws, name="并发标", group_name="运营")
        tag_id = tag.id
        from siyu.models import Workspace

        gw = client_for(s, s.get(Workspace, ws))  # type: ignore[arg-type]
    # The "other worker": made in WeCom straight through the API (no callback for API calls).
    other = gw.add_corp_tag(AddCorpTagRequest(group_name="运营", tag=[NewTag(name="并发标")])).tag[0].id
    with session_scope() as s:
        t = s.get(Tag, tag_id)
        assert t is not None
        out = tagsync.ensure_wecom_tags(s, ws, [t], gw)
        assert out == 1
        assert t.wecom_tag_id == other
    gw.close()


def test_one_tag_change_per_customer_is_pushed_in_one_job(
    stack: Stack, cli: CliRun, session: Session
) -> None:
    """A SOP tag step or a rule tags customers one event each; the pushes of one batch of
    events are joined (one job, one mark_tag per relation), not one job per customer."""
    from sqlalchemy import func

    from siyu.models import Job

    sc = stack.sim.scenario
    sc.add_staff("zs", "张三")
    exts = [sc.new_customer(f"客户{n}") for n in range(30)]
    for ext in exts:
        sc.add_friend(ext, userid="zs")
    cli("wecom", "sync", "--json")
    stack.drain()
    follows = list(session.scalars(select(Follow).where(Follow.external_userid.in_(exts))))
    assert len(follows) == 30
    ws = follows[0].workspace_id
    with session_scope() as s:
        tag_id = ensure_tag(s, workspace_id=ws, name="已问候", group_name="运营").id
        for f in follows:  # one tag.changed event each
            add_tags(s, workspace_id=ws, customer_ids=[f.customer_id], tag_ids=[tag_id], source="rule")
        # and one that takes the tag off again before the push runs: not pushed stale
        remove_tags(s, workspace_id=ws, customer_ids=[follows[0].customer_id], tag_ids=[tag_id])
    stack.drain()
    session.expire_all()
    pushes = session.scalar(select(func.count()).select_from(Job).where(Job.kind == tagsync.TAG_PUSH))
    assert pushes == 2  # the adds together, the removal on its own
    wecom_id = session.get(Tag, tag_id).wecom_tag_id  # type: ignore[union-attr]
    tagged = {ext for ext in exts if wecom_id in stack.sim.state.follows[("zs", ext)].tags}
    assert tagged == set(exts) - {follows[0].external_userid}
