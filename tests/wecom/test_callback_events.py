"""What each WeCom event does to the database, delivered through the HTTP endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.models import (
    AuditLog,
    Customer,
    CustomerIdentity,
    CustomerTag,
    Event,
    Follow,
    Group,
    GroupMember,
    Job,
    Staff,
    Tag,
    TagGroup,
)
from siyu.wecom.callbacks import queued_refetches
from tests.wecom.fixtures.callbacks import DEFAULTS, WeComSender, at, wecom

__all__ = ["wecom"]

EXT = DEFAULTS["external_userid"]
T0 = DEFAULTS["create_time"]


def _follow(session: Session) -> Follow:
    session.expire_all()
    return session.scalars(select(Follow)).one()


def _events(session: Session, kind: str | None = None) -> list[Event]:
    session.expire_all()
    q = select(Event).order_by(Event.id)
    if kind:
        q = q.where(Event.kind == kind)
    return list(session.scalars(q))


def _refetches(session: Session, workspace_id: int) -> dict[str, Any]:
    """What is queued for re-fetch once the callbacks' events reached the wecom.refetch subscriber."""
    from siyu.kit.db import session_factory
    from siyu.worker.outbox import deliver

    assert not deliver(session_factory(), names=["wecom.refetch"]).errors
    session.expire_all()
    return queued_refetches(session, workspace_id=workspace_id)


def test_add_external_contact_creates_staff_customer_follow_and_event(
    wecom: WeComSender, session: Session
) -> None:
    wecom.send("add_external_contact", state="douyin_live_0611", welcome_code="WC123")
    session.expire_all()
    staff = session.scalars(select(Staff)).one()
    assert staff.userid == "zhangsan"
    ident = session.scalars(select(CustomerIdentity).where(CustomerIdentity.kind == "external_userid")).one()
    assert ident.value == EXT
    follow = _follow(session)
    assert (follow.staff_id, follow.customer_id) == (staff.id, ident.customer_id)
    assert follow.state == "active"
    assert follow.live_code_state == "douyin_live_0611"
    assert follow.added_at == at(0)
    assert follow.external_userid == EXT
    customer = session.get(Customer, ident.customer_id)
    assert customer is not None
    assert customer.first_seen_at == at(0)
    (ev,) = _events(session)
    assert (ev.kind, ev.customer_id, ev.staff_id, ev.source) == (
        "friend.add",
        ident.customer_id,
        staff.id,
        "wecom",
    )
    assert ev.occurred_at == at(0)
    assert ev.payload["state"] == "douyin_live_0611"
    assert ev.payload["welcome_code"] == "WC123"
    # The callback has ids only; the profile (remark, tags, add_way) is re-fetched.
    assert _refetches(session, staff.workspace_id)["contacts"] == [
        {"userid": "zhangsan", "external_userid": EXT}
    ]


def test_half_add_is_pending_then_full_add_activates(wecom: WeComSender, session: Session) -> None:
    wecom.send("add_half_external_contact", state="qr1")
    assert _follow(session).state == "pending"
    assert _events(session)[0].payload["half"] is True
    wecom.send("add_external_contact", create_time=T0 + 5)
    follow = _follow(session)
    assert follow.state == "active"
    assert follow.live_code_state == "qr1"  # attribution of the first add is kept


def test_an_edit_is_logged_and_queues_one_refetch(
    wecom: WeComSender, session: Session, workspace_id: int
) -> None:
    wecom.send("add_external_contact")
    wecom.send("edit_external_contact", create_time=T0 + 1)
    wecom.send("edit_external_contact", create_time=T0 + 2)
    assert [e.kind for e in _events(session)] == ["friend.add", "friend.edit", "friend.edit"]
    assert len(_refetches(session, workspace_id)["contacts"]) == 1  # same contact: queued once
    assert session.scalar(select(func.count()).select_from(Job)) == 1


@pytest.mark.parametrize(
    ("name", "extra", "state", "deleted_by", "kind"),
    [
        ("del_external_contact", {}, "deleted_by_staff", "staff", "friend.delete_by_staff"),
        (
            "del_external_contact",
            {"source": "DELETE_BY_TRANSFER"},
            "transferred",
            "transfer",
            "friend.transfer",
        ),
        ("del_follow_user", {}, "deleted_by_customer", "customer", "friend.delete_by_customer"),
    ],
)
def test_deletes_record_who_deleted_whom(
    wecom: WeComSender,
    session: Session,
    name: str,
    extra: dict[str, str],
    state: str,
    deleted_by: str,
    kind: str,
) -> None:
    wecom.send("add_external_contact")
    wecom.send(name, create_time=T0 + 60, **extra)
    follow = _follow(session)
    assert follow.state == state
    assert follow.deleted_by == deleted_by
    assert follow.deleted_at == at(60)
    assert follow.added_at == at(0)
    events = _events(session)
    assert [e.kind for e in events] == ["friend.add", kind]
    assert events[1].customer_id == follow.customer_id
    assert events[1].staff_id == follow.staff_id


def test_transfer_fail_is_logged_and_keeps_the_follow(wecom: WeComSender, session: Session) -> None:
    wecom.send("add_external_contact")
    wecom.send("transfer_fail", create_time=T0 + 9, fail_reason="customer_limit_exceed")
    assert _follow(session).state == "active"
    ev = _events(session, "friend.transfer_fail")[0]
    assert ev.payload["fail_reason"] == "customer_limit_exceed"


def test_delete_arriving_before_its_add_is_not_undone(wecom: WeComSender, session: Session) -> None:
    # WeCom delivered the delete (t+30) before the add (t): the friendship is over.
    wecom.send("del_follow_user", create_time=T0 + 30)
    wecom.send("add_external_contact", create_time=T0, state="qr_late")
    follow = _follow(session)
    assert follow.state == "deleted_by_customer"
    assert follow.added_at == at(0)
    assert follow.deleted_at == at(30)
    assert follow.live_code_state == "qr_late"  # attribution still recorded
    # A real re-add later does revive it.
    wecom.send("add_external_contact", create_time=T0 + 90)
    follow = _follow(session)
    assert follow.state == "active"
    assert follow.added_at == at(90)
    assert [e.kind for e in _events(session)] == ["friend.delete_by_customer", "friend.add", "friend.add"]


def test_old_delete_after_a_newer_add_changes_nothing(wecom: WeComSender, session: Session) -> None:
    wecom.send("add_external_contact", create_time=T0 + 100)
    wecom.send("del_external_contact", create_time=T0 + 50)
    follow = _follow(session)
    assert follow.state == "active"
    assert follow.added_at == at(100)


def test_group_lifecycle(wecom: WeComSender, session: Session, workspace_id: int) -> None:
    wecom.send("add_external_contact")  # makes zhangsan a known staff member
    chat = DEFAULTS["chat_id"]
    wecom.send("chat_create", create_time=T0 + 1)
    wecom.send(
        "chat_update_members",
        create_time=T0 + 2,
        update_detail="add_member",
        join_scene=3,
        members=["zhangsan", EXT, "wmNEWCUSTOMER001", "lisi"],
    )
    session.expire_all()
    group = session.scalars(select(Group)).one()
    assert (group.chat_id, group.status, group.member_count) == (chat, "active", 4)
    assert group.wecom_created_at == at(1)
    members = {m.userid: m for m in session.scalars(select(GroupMember))}
    assert members["zhangsan"].member_type == 1
    assert members["zhangsan"].staff_id is not None
    # lisi is not known yet, but is no external id (wm…/wo…): a staff member, not a customer.
    assert members["lisi"].member_type == 1
    assert members["lisi"].customer_id is None
    assert session.scalars(select(Staff).where(Staff.userid == "lisi")).one().id == members["lisi"].staff_id
    assert members[EXT].member_type == 2
    assert members[EXT].customer_id == _follow(session).customer_id  # same OneID customer
    assert members["wmNEWCUSTOMER001"].customer_id is not None
    assert {m.join_scene for m in members.values()} == {3}
    assert len(_events(session, "group.join")) == 4

    wecom.send(
        "chat_update_members", create_time=T0 + 3, update_detail="del_member", quit_scene=1, members=[EXT]
    )
    session.expire_all()
    quitter = session.scalars(select(GroupMember).where(GroupMember.userid == EXT)).one()
    assert (quitter.state, quitter.quit_scene, quitter.quit_time) == ("left", 1, at(3))
    assert session.scalars(select(Group)).one().member_count == 3
    (quit_ev,) = _events(session, "group.quit")
    assert quit_ev.customer_id == quitter.customer_id
    assert quit_ev.payload["scene"] == 1

    wecom.send("chat_update_detail", create_time=T0 + 4, update_detail="change_name")
    assert _refetches(session, workspace_id)["chat_ids"] == [chat]

    wecom.send("chat_dismiss", create_time=T0 + 5)
    session.expire_all()
    group = session.scalars(select(Group)).one()
    assert (group.status, group.dismissed_at) == ("dismissed", at(5))
    assert [e.kind for e in _events(session) if e.kind.startswith("group.")][-1] == "group.dismiss"


def test_member_quit_before_join_keeps_them_out(wecom: WeComSender, session: Session) -> None:
    wecom.send(
        "chat_update_members", create_time=T0 + 20, update_detail="del_member", quit_scene=0, members=[EXT]
    )
    wecom.send(
        "chat_update_members", create_time=T0 + 10, update_detail="add_member", join_scene=1, members=[EXT]
    )
    session.expire_all()
    member = session.scalars(select(GroupMember)).one()
    assert member.state == "left"
    assert (member.join_time, member.quit_time) == (at(10), at(20))
    assert session.scalars(select(Group)).one().member_count == 0


def test_late_create_does_not_revive_a_dismissed_group(wecom: WeComSender, session: Session) -> None:
    wecom.send("chat_dismiss", create_time=T0 + 50)
    wecom.send("chat_create", create_time=T0)
    session.expire_all()
    group = session.scalars(select(Group)).one()
    assert group.status == "dismissed"
    assert group.wecom_created_at == at(0)


@pytest.mark.parametrize(
    ("tag_type", "change"), [("tag", "create"), ("tag_group", "delete"), ("tag", "shuffle")]
)
def test_tag_changes_queue_one_tag_library_refetch(
    wecom: WeComSender, session: Session, workspace_id: int, tag_type: str, change: str
) -> None:
    wecom.send("tag_change", tag_type=tag_type, change_type=change, tag_id="et1")
    wecom.send("tag_change", tag_type=tag_type, change_type=change, tag_id="et2", create_time=T0 + 1)
    queued = _refetches(session, workspace_id)
    assert queued["tags"] is True
    assert [c["tag_id"] for c in queued["tag_changes"]] == ["et1", "et2"]
    assert (queued["contacts"], queued["chat_ids"]) == ([], [])


def test_refetch_requests_are_batched(session: Session, workspace_id: int) -> None:
    from siyu.wecom.callbacks.refetch import BATCH_TARGETS, request_refetch

    with session_scope() as s:
        for i in range(BATCH_TARGETS + 5):
            request_refetch(
                s, workspace_id=workspace_id, what="contact", userid="u", external_userid=f"wm{i}"
            )
            request_refetch(
                s, workspace_id=workspace_id, what="contact", userid="u", external_userid=f"wm{i}"
            )
    session.expire_all()
    jobs = session.scalars(select(Job).order_by(Job.id)).all()
    assert [len(j.payload["contacts"]) for j in jobs] == [BATCH_TARGETS, 5]
    assert {j.kind for j in jobs} == {"wecom.refetch"}


def test_event_missing_required_ids_is_marked_failed(wecom: WeComSender, session: Session) -> None:
    xml = (
        "<xml><ToUserName>x</ToUserName><FromUserName>sys</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>event</MsgType><Event>change_external_contact</Event>"
        "<ChangeType>add_external_contact</ChangeType><UserID>zhangsan</UserID></xml>"
    )
    assert wecom.post(xml).status_code == 200  # WeCom must not retry a broken event forever
    from siyu.models import WeComCallback

    session.expire_all()
    row = session.scalars(select(WeComCallback)).one()
    assert row.status == "failed"
    assert row.error is not None
    assert "ExternalUserID" in row.error
    assert session.scalars(select(Follow)).first() is None
    assert session.scalars(select(Job)).first() is None  # rolled back with the failure


def test_processing_twice_is_idempotent(wecom: WeComSender, session: Session) -> None:
    from siyu.kit.db import session_factory
    from siyu.models import WeComCallback
    from siyu.wecom.callbacks.processing import process_callback

    wecom.send("chat_update_members", update_detail="add_member", join_scene=2, members=[EXT, "wmB"])
    with session_scope() as s:
        for row in s.scalars(select(WeComCallback)):
            row.status = "pending"  # pretend the first run's commit was never seen
    with session_scope() as s:
        ids = list(s.scalars(select(WeComCallback.id)))
    for cid in ids:
        assert process_callback(session_factory(), cid) == "processed"
    session.expire_all()
    assert len(session.scalars(select(GroupMember)).all()) == 2
    assert len(_events(session, "group.join")) == 2


def _tagged_library(session: Session, workspace_id: int) -> tuple[int, int, int]:
    """Group 会员 (eg1) with tags 金卡 (et1) and 新客 (et2), both on one customer; and 兴趣/面霜 (et3)."""
    from siyu.customers.service import IdentityInput, resolve_customer
    from siyu.customers.tags import add_tags, ensure_tag

    gold = ensure_tag(session, workspace_id=workspace_id, name="金卡", group_name="会员",
                      wecom_tag_id="et1", wecom_group_id="eg1")  # fmt: skip
    new = ensure_tag(session, workspace_id=workspace_id, name="新客", group_name="会员",
                     wecom_tag_id="et2", wecom_group_id="eg1")  # fmt: skip
    cream = ensure_tag(session, workspace_id=workspace_id, name="面霜", group_name="兴趣",
                       wecom_tag_id="et3", wecom_group_id="eg2")  # fmt: skip
    customer = resolve_customer(
        session, workspace_id=workspace_id, identities=[IdentityInput(kind="external_userid", value=EXT)],
        source="wecom",
    )  # fmt: skip
    add_tags(session, workspace_id=workspace_id, customer_ids=[customer.id],
             tag_ids=[gold.id, new.id, cream.id], source="sync")  # fmt: skip
    session.commit()
    return gold.id, new.id, cream.id


def _live_tags_on_customers(session: Session) -> set[int]:
    session.expire_all()
    return set(session.scalars(select(CustomerTag.tag_id)))


def test_tag_delete_takes_the_tag_off_customers_at_once(
    wecom: WeComSender, session: Session, workspace_id: int
) -> None:
    gold, new, cream = _tagged_library(session, workspace_id)
    wecom.send("tag_change", tag_type="tag", change_type="delete", tag_id="et1")
    assert _live_tags_on_customers(session) == {new, cream}
    deleted = session.get(Tag, gold)
    assert deleted is not None
    assert deleted.deleted_at is not None
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "tag.delete")).one()
    assert (entry.actor, entry.target_id, entry.detail) == ("wecom", "et1", {"tags": 1})
    # The library is still re-read, to settle anything a lost callback left behind.
    assert _refetches(session, workspace_id)["tag_changes"][0]["change_type"] == "delete"
    # A repeat (WeCom retries) and a delete of a tag siyu never saw change nothing more.
    wecom.send("tag_change", tag_type="tag", change_type="delete", tag_id="et1", create_time=T0 + 1)
    wecom.send("tag_change", tag_type="tag", change_type="delete", tag_id="etUNKNOWN", create_time=T0 + 2)
    assert _live_tags_on_customers(session) == {new, cream}
    deletes = select(func.count()).select_from(AuditLog).where(AuditLog.action == "tag.delete")
    assert session.scalar(deletes) == 1


def test_tag_group_delete_deletes_its_tags_only(
    wecom: WeComSender, session: Session, workspace_id: int
) -> None:
    _gold, _new, cream = _tagged_library(session, workspace_id)
    wecom.send("tag_change", tag_type="tag_group", change_type="delete", tag_id="eg1")
    assert _live_tags_on_customers(session) == {cream}
    session.expire_all()
    live = set(session.scalars(select(Tag.id).where(Tag.deleted_at.is_(None))))
    assert live == {cream}
    group = session.scalars(select(TagGroup).where(TagGroup.wecom_group_id == "eg1")).one()
    assert group.deleted_at is not None
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "tag_group.delete")).one()
    assert entry.detail == {"tags": 2}


def test_tag_create_and_edit_callbacks_only_queue_the_refetch(
    wecom: WeComSender, session: Session, workspace_id: int
) -> None:
    gold, new, cream = _tagged_library(session, workspace_id)
    wecom.send("tag_change", tag_type="tag", change_type="update", tag_id="et1")
    wecom.send("tag_change", tag_type="tag", change_type="create", tag_id="et9", create_time=T0 + 1)
    assert _live_tags_on_customers(session) == {gold, new, cream}
    changes = _refetches(session, workspace_id)["tag_changes"]
    assert [c["change_type"] for c in changes] == ["update", "create"]


def test_an_erased_customer_who_adds_again_is_not_rebuilt(
    wecom: WeComSender, session: Session, workspace_id: int
) -> None:
    from siyu.privacy.service import anonymise_customer

    wecom.send("add_external_contact")
    erased = _follow(session).customer_id
    with session_scope() as s:
        anonymise_customer(s, workspace_id=workspace_id, customer_id=erased, actor="test")
    # She deletes the staff member, then adds them again: the events land on the
    # anonymised profile, and her external_userid is not written back.
    wecom.send("del_follow_user", create_time=T0 + 60)
    wecom.send("add_external_contact", create_time=T0 + 120, state="store_qr")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Customer)) == 1
    assert session.scalar(select(func.count()).select_from(CustomerIdentity)) == 0
    follow = _follow(session)
    assert (follow.customer_id, follow.state, follow.external_userid) == (erased, "active", None)
    assert follow.added_at == at(120)
    assert [e.customer_id for e in _events(session)] == [erased] * 3
