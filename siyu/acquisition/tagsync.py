"""Tags made or put on customers in siyu, pushed to WeCom (so staff see them while chatting).

Two entry points, both queueing jobs in the caller's transaction:

- ``push_customer_tags(session, workspace_id, customer_ids, add_tag_ids, remove_tag_ids)``:
  ``mark_tag`` on every active WeCom relation (staff–customer follow) of each customer;
  tags WeCom does not know yet are first created there (``add_corp_tag``). Every change
  of customer tags in siyu records a ``tag.changed`` event (``siyu.customers.tags``) and
  the ``acquisition.tag_push`` subscriber queues the push, once per event, skipping
  changes that came from WeCom. One caller queues directly: a OneID merge
  (``siyu.customers.service.merge_customers``) pushes the survivor's existing tags onto
  the relations that came over from the merged profile (``follow_ids``) without a
  ``tag.changed`` event, since those tags did not change in siyu (an event would enroll
  the survivor in SOP tag plans again). The job pushes what
  siyu holds when it runs (a tag removed again meanwhile is not added in WeCom).
- ``push_corp_tag(session, workspace_id, tag_id, action)``: a tag siyu created,
  renamed or deleted → ``add_corp_tag`` / ``edit_corp_tag`` / ``del_corp_tag``.

The jobs (``acquisition.tag_push``, ``acquisition.corp_tag_push``) go through the WeCom
client's rate limiter; a failure raises, so the job queue retries it and, past its
attempts, shows it as failed on 后台任务 (``siyu jobs list --status failed``) with
what failed. A relation that has ended (84061) is skipped, not failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition.sync import plain_error
from siyu.kit.errors import Invalid
from siyu.kit.jobs import enqueue
from siyu.models import CustomerTag, Follow, Staff, Tag, TagGroup
from siyu.wecom.errors import NoRelation, WeComAPIError, WeComError
from siyu.wecom.schemas import (
    AddCorpTagRequest,
    DelCorpTagRequest,
    EditCorpTagRequest,
    MarkTagRequest,
    NewTag,
)

TAG_PUSH = "acquisition.tag_push"
CORP_TAG_PUSH = "acquisition.corp_tag_push"
CHUNK = 200  # customers per job
CORP_ACTIONS = ("create", "rename", "delete")


class PushFailed(Exception):
    """Some pushes failed; the job is retried (and shown failed after its attempts)."""


def wecom_connected(session: Session, workspace_id: int) -> bool:
    """Whether the workspace talks to WeCom (a WeComApp row, or SIYU_WECOM_* for the default).

    Without a connection nothing is queued: there is nowhere to push to.
    """
    from siyu.config import get_settings
    from siyu.models import WeComApp, Workspace

    if session.scalar(select(WeComApp.id).where(WeComApp.workspace_id == workspace_id).limit(1)) is not None:
        return True
    settings = get_settings()
    ws = session.get(Workspace, workspace_id)
    return bool(
        ws is not None
        and ws.slug == settings.default_workspace
        and settings.wecom_corp_id
        and settings.wecom_secret
    )


def push_customer_tags(
    session: Session,
    workspace_id: int,
    customer_ids: Iterable[int],
    add_tag_ids: Iterable[int] = (),
    remove_tag_ids: Iterable[int] = (),
    *,
    dedup_key: str | None = None,
    follow_ids: Iterable[int] | None = None,
) -> list[int]:
    """Queue ``mark_tag`` pushes of these tag changes to WeCom; the job ids (one per 200 customers).

    ``follow_ids`` limits the push to those relations of the customers (a OneID merge
    pushes the survivor's tags onto the relations that came over from the merged profile).
    """
    cids = sorted(set(customer_ids))
    only = sorted(set(follow_ids)) if follow_ids is not None else None
    if only is not None and not only:
        return []
    add, remove = sorted(set(add_tag_ids)), sorted(set(remove_tag_ids))
    if not cids or not (add or remove) or not wecom_connected(session, workspace_id):
        return []
    jobs: list[int] = []
    for n, start in enumerate(range(0, len(cids), CHUNK)):
        job = enqueue(
            session,
            kind=TAG_PUSH,
            workspace_id=workspace_id,
            payload={
                "customer_ids": cids[start : start + CHUNK],
                "add": add,
                "remove": remove,
                **({"follow_ids": only} if only is not None else {}),
            },
            dedup_key=f"{dedup_key}:{n}" if dedup_key else None,
        )
        if job is not None:
            jobs.append(job)
    return jobs


def push_corp_tag(session: Session, workspace_id: int, tag_id: int, action: str) -> int | None:
    """Queue the push of a corp tag siyu created (``create``), renamed or deleted."""
    if action not in CORP_ACTIONS:
        raise Invalid(f"tag push action {action!r} is not one of {', '.join(CORP_ACTIONS)}", field="action")
    if not wecom_connected(session, workspace_id):
        return None
    return enqueue(
        session, kind=CORP_TAG_PUSH, workspace_id=workspace_id, payload={"tag_id": tag_id, "action": action}
    )


def push_visibility_tags(
    session: Session, workspace_id: int, tags: Sequence[Tag], sender_userids: Sequence[str]
) -> bool:
    """Queue the push of moment-visibility tags WeCom does not know yet; False if nowhere to push.

    The tags are created in WeCom and marked on the senders' relations with every
    customer holding them in siyu, so the moment reaches those customers. The moment
    waits for the WeCom ids at its planned time (``siyu.automation.moments``).
    """
    if not wecom_connected(session, workspace_id):
        return False
    for tag in tags:
        if tag.wecom_tag_id:
            continue
        holders = sorted(
            set(
                session.scalars(
                    select(CustomerTag.customer_id)
                    .join(Follow, Follow.customer_id == CustomerTag.customer_id)
                    .join(Staff, Staff.id == Follow.staff_id)
                    .where(
                        CustomerTag.workspace_id == workspace_id,
                        CustomerTag.tag_id == tag.id,
                        Follow.state == "active",
                        Staff.userid.in_(list(sender_userids)),
                    )
                )
            )
        )
        # The mark_tag job creates the tag first; with nobody to mark, create it alone.
        if not push_customer_tags(session, workspace_id, holders, [tag.id]):
            push_corp_tag(session, workspace_id, tag.id, "create")
    return True


def ensure_wecom_tags(session: Session, workspace_id: int, tags: Sequence[Tag], gateway: Any) -> int:
    """Create in WeCom the tags it does not have yet (one ``add_corp_tag`` per group); how many."""
    missing = [t for t in tags if not t.wecom_tag_id and t.deleted_at is None]
    by_group: dict[int, list[Tag]] = {}
    for t in missing:
        by_group.setdefault(t.group_id, []).append(t)
    made = 0
    for group_id, group_tags in by_group.items():
        group = session.get(TagGroup, group_id)
        assert group is not None
        try:
            made += _add_corp_tags(group, group_tags, gateway)
        except WeComAPIError as exc:
            if exc.errcode != 40071:
                raise
            # Name taken: another worker (or an admin) made it meanwhile. Link what WeCom
            # has under these names, and create only the rest.
            made += _link_by_name(group, group_tags, gateway)
            rest = [t for t in group_tags if not t.wecom_tag_id]
            if rest:
                made += _add_corp_tags(group, rest, gateway)
    session.flush()
    return made


def _add_corp_tags(group: TagGroup, tags: Sequence[Tag], gateway: Any) -> int:
    created = gateway.add_corp_tag(
        AddCorpTagRequest(
            group_id=group.wecom_group_id or None,
            group_name=None if group.wecom_group_id else group.name[:30],
            tag=[NewTag(name=t.name[:30]) for t in tags],
        )
    )
    group.wecom_group_id = created.group_id
    by_name = {ct.name: ct.id for ct in created.tag}
    made = 0
    for t in tags:
        wid = by_name.get(t.name[:30])
        if wid:
            t.wecom_tag_id = wid
            made += 1
    return made


def _link_by_name(group: TagGroup, tags: Sequence[Tag], gateway: Any) -> int:
    made = 0
    for g in gateway.get_corp_tag_list():
        if g.deleted or (g.group_id != group.wecom_group_id and g.group_name != group.name[:30]):
            continue
        group.wecom_group_id = g.group_id
        by_name = {ct.name: ct.id for ct in g.tag if not ct.deleted}
        for t in tags:
            wid = by_name.get(t.name[:30])
            if wid and not t.wecom_tag_id:
                t.wecom_tag_id = wid
                made += 1
    return made


def run_tag_push(
    session: Session, workspace_id: int, payload: dict[str, Any], gateway: Any
) -> dict[str, Any]:
    """Do one ``acquisition.tag_push`` job: ``mark_tag`` on every active relation of its customers."""
    ids = set(payload.get("add") or []) | set(payload.get("remove") or [])
    tags = {
        t.id: t
        for t in session.scalars(select(Tag).where(Tag.workspace_id == workspace_id, Tag.id.in_(sorted(ids))))
    }
    if ensure_wecom_tags(
        session, workspace_id, [tags[i] for i in payload.get("add") or [] if i in tags], gateway
    ):
        # Keep the new WeCom ids even if a mark_tag below fails: a retry must not
        # create the tags again (WeCom answers 40071, name taken).
        session.commit()
    add = [i for i in payload.get("add") or [] if i in tags and tags[i].wecom_tag_id]
    remove = [i for i in payload.get("remove") or [] if i in tags and tags[i].wecom_tag_id]
    counts = {"relations": 0, "marked": 0, "skipped_no_relation": 0, "skipped_unchanged": 0, "failed": 0}
    if not add and not remove:
        return counts
    cids = [int(c) for c in payload.get("customer_ids") or []]
    # What siyu holds now decides: a tag taken off again (or put back) since the change
    # was queued is not pushed stale, whatever order retried jobs run in.
    held = {
        (int(c), int(t))
        for c, t in session.execute(
            select(CustomerTag.customer_id, CustomerTag.tag_id).where(
                CustomerTag.workspace_id == workspace_id,
                CustomerTag.customer_id.in_(cids),
                CustomerTag.tag_id.in_(add + remove),
            )
        )
    }
    rels = session.execute(
        select(Follow.customer_id, Staff.userid, Follow.external_userid)
        .join(Staff, Staff.id == Follow.staff_id)
        .where(
            Follow.workspace_id == workspace_id,
            Follow.customer_id.in_(cids),
            Follow.state == "active",
            Follow.external_userid.is_not(None),
            *([Follow.id.in_([int(f) for f in payload["follow_ids"]])] if "follow_ids" in payload else []),
        )
        .order_by(Follow.id)
    ).all()
    errors: list[str] = []
    for cid, userid, external in rels:
        on = [str(tags[t].wecom_tag_id) for t in add if (cid, t) in held]
        off = [str(tags[t].wecom_tag_id) for t in remove if (cid, t) not in held]
        if not on and not off:
            counts["skipped_unchanged"] += 1
            continue
        counts["relations"] += 1
        try:
            gateway.mark_tag(
                MarkTagRequest(userid=userid, external_userid=external, add_tag=on, remove_tag=off)
            )
            counts["marked"] += 1
        except NoRelation:
            counts["skipped_no_relation"] += 1
        except WeComError as exc:
            counts["failed"] += 1
            errors.append(f"{userid}：{plain_error(exc)}")
    if errors:
        raise PushFailed(
            f"标签推送到企业微信失败：{counts['relations']} 个好友关系中 {len(errors)} 个；"
            f"第一个：{errors[0]}"[:1500]
        )
    return counts


def run_corp_tag_push(
    session: Session, workspace_id: int, payload: dict[str, Any], gateway: Any
) -> dict[str, Any]:
    """Do one ``acquisition.corp_tag_push`` job."""
    tag = session.get(Tag, int(payload["tag_id"]))
    if tag is None or tag.workspace_id != workspace_id:
        return {"skipped": "the tag no longer exists"}
    action = payload.get("action")
    if action == "create":
        return {"created": ensure_wecom_tags(session, workspace_id, [tag], gateway)}
    if not tag.wecom_tag_id:
        return {"skipped": "WeCom does not know this tag"}
    try:
        if action == "rename":
            gateway.edit_corp_tag(EditCorpTagRequest(id=tag.wecom_tag_id, name=tag.name[:30]))
            return {"renamed": tag.wecom_tag_id}
        gateway.del_corp_tag(DelCorpTagRequest(tag_id=[tag.wecom_tag_id]))
    except WeComAPIError as exc:
        if action == "delete" and exc.errcode == 40068:  # already gone
            return {"deleted": 0}
        raise
    return {"deleted": tag.wecom_tag_id}
