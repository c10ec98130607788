# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters by name)
"""`siyu wecom sync / reconcile / behavior` against the simulator, checked in the database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings, get_settings
from siyu.customers.service import IdentityInput, resolve_customer
from siyu.kit.db import session_scope
from siyu.models import (
    Customer,
    CustomerIdentity,
    CustomerTag,
    Event,
    Follow,
    Group,
    GroupMember,
    Job,
    Staff,
    StaffDailyStats,
    SyncRun,
    Tag,
)
from siyu.wecom.schemas import AddCorpTagRequest, MarkTagRequest, NewTag
from siyu.wecom.simulator import Simulator
from tests.conftest import CliRun
from tests.wecom.sim_fixtures import client_for, simulator  # noqa: F401

CHANGE_KEYS = (
    "staff_created", "staff_named", "tags_created", "tags_renamed", "tags_deleted", "customers_created",
    "customers_merged", "follows_created", "follows_updated", "follows_ended", "tags_added",
    "tags_removed", "groups_created", "groups_updated", "groups_dismissed", "members_joined", "members_left",
)  # fmt: skip


@pytest.fixture
def wecom_env(env: Settings, simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """siyu's settings pointed at the simulator's API."""
    monkeypatch.setenv("SIYU_WECOM_CORP_ID", simulator.config.corp_id)
    monkeypatch.setenv("SIYU_WECOM_SECRET", simulator.config.secret)
    monkeypatch.setenv("SIYU_WECOM_API_BASE", simulator.url)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    return simulator


def seed(sim: Simulator) -> dict[str, object]:
    """Two staff, a live code, 130 customers (more than one page), tags and a group."""
    sc = sim.scenario
    sc.add_staff("zhangsan", "张三")
    sc.add_staff("lisi", "李四")
    code = sc.live_code("douyin_live", ["zhangsan"])
    api = client_for(sim)
    group = api.add_corp_tag(
        AddCorpTagRequest(group_name="会员", tag=[NewTag(name="金卡"), NewTag(name="新客")])
    )
    gold, new = (t.id for t in group.tag)
    exts = [sc.new_customer(f"客户{i:03d}", unionid=f"union-{i}" if i % 2 else None) for i in range(130)]
    for ext in exts:
        sc.add_friend(ext, config_id=code)
    sc.add_friend(exts[0], userid="lisi", remark_mobiles=["138 0013 8000"])
    sc.add_friend(exts[1], userid="lisi", remark_mobiles=["not a phone"])
    api.mark_tag(MarkTagRequest(userid="zhangsan", external_userid=exts[0], add_tag=[gold, new]))
    api.mark_tag(MarkTagRequest(userid="lisi", external_userid=exts[0], add_tag=[gold]))
    chat = sc.create_group("zhangsan", "青禾老客群", staff=["lisi"])
    for ext in exts[:5]:
        sc.join_group(chat, ext)
    api.close()
    return {"exts": exts, "gold": gold, "new": new, "chat": chat, "code": code}


def run_sync(cli: CliRun) -> dict[str, int]:
    return json.loads(cli("wecom", "sync", "--json").stdout)  # type: ignore[no-any-return]


def test_full_sync_mirrors_wecom_and_repeats_as_no_op(
    cli: CliRun, session: Session, workspace_id: int, wecom_env: Simulator
) -> None:
    with session_scope() as s:
        # A shopper known from an order import, by phone: the staff typed it as a remark mobile.
        buyer = resolve_customer(
            s,
            workspace_id=workspace_id,
            identities=[IdentityInput("phone", "13800138000")],
            source="import:1",
        ).id
    data = seed(wecom_env)
    exts: list[str] = data["exts"]  # type: ignore[assignment]

    counts = run_sync(cli)
    assert counts["staff_created"] == 2
    assert counts["follows_created"] == 132
    assert counts["customers_created"] == 129  # exts[0] is the known buyer
    assert counts["tags_created"] == 2
    assert counts["groups_created"] == 1
    assert counts["members_joined"] == 7  # 2 staff + 5 customers

    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Staff)) == 2
    follows = session.scalars(select(Follow).where(Follow.workspace_id == workspace_id)).all()
    assert len(follows) == 132
    by_ext = {(f.external_userid, f.staff_id): f for f in follows}
    zhang = session.scalar(select(Staff).where(Staff.userid == "zhangsan"))
    assert zhang is not None
    first = by_ext[(exts[0], zhang.id)]
    assert first.state == "active"
    assert first.live_code_state == "douyin_live"
    assert first.add_way == 1
    assert first.customer_id == buyer  # OneID: remark mobile matched the imported phone
    # unionid became an identity of the odd customers
    union_owner = session.scalar(
        select(CustomerIdentity.customer_id).where(
            CustomerIdentity.kind == "unionid", CustomerIdentity.value == "union-1"
        )
    )
    assert union_owner == by_ext[(exts[1], zhang.id)].customer_id
    tags = {
        t.name: t
        for t in session.scalars(
            select(Tag).where(Tag.workspace_id == workspace_id, Tag.wecom_tag_id.is_not(None))
        )
    }
    assert set(tags) == {"金卡", "新客"}
    on_buyer = set(session.scalars(select(CustomerTag.tag_id).where(CustomerTag.customer_id == buyer)))
    assert on_buyer == {tags["金卡"].id, tags["新客"].id}
    group = session.scalar(select(Group).where(Group.chat_id == data["chat"]))
    assert group is not None
    assert group.name == "青禾老客群"
    assert group.owner_staff_id == zhang.id
    assert group.member_count == 7
    run = session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
    assert run is not None
    assert run.status == "completed"
    assert run.counts["follows_created"] == 132

    again = run_sync(cli)
    assert {k: again[k] for k in CHANGE_KEYS} == dict.fromkeys(CHANGE_KEYS, 0)
    assert session.scalar(select(func.count()).select_from(Customer)) == 130
    assert session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.status == "completed")) == 2


def test_sync_names_staff_from_the_address_book(
    cli: CliRun, session: Session, workspace_id: int, wecom_env: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(wecom_env)
    counts = run_sync(cli)
    assert counts["staff_named"] == 2
    # The console shows people by name, not by WeCom userid.
    assert set(session.scalars(select(Staff.name))) == {"张三", "李四"}
    assert run_sync(cli)["staff_named"] == 0

    # An app the corp keeps out of its address book: the sync goes on, userids stay.
    from siyu.wecom.simulator import handlers
    from siyu.wecom.simulator.state import SimError

    def refuse(*_: object) -> dict[str, object]:
        raise SimError(60011, "no privilege to access/modify contact/party/agent")

    monkeypatch.setitem(handlers.HANDLERS, "user/get", refuse)
    wecom_env.scenario.add_staff("wangwu", "王五")
    code = wecom_env.scenario.live_code("store", ["wangwu"])
    wecom_env.scenario.add_friend(wecom_env.scenario.new_customer("新朋友"), config_id=code)
    counts = run_sync(cli)
    assert (counts["staff_created"], counts["staff_named"]) == (1, 0)
    session.expire_all()
    assert session.scalar(select(Staff.name).where(Staff.userid == "wangwu")) == "wangwu"


def test_sync_catches_what_lost_callbacks_missed(
    cli: CliRun, session: Session, workspace_id: int, wecom_env: Simulator
) -> None:
    data = seed(wecom_env)
    exts: list[str] = data["exts"]  # type: ignore[assignment]
    run_sync(cli)
    sc = wecom_env.scenario
    # All of this happens in WeCom with no callback reaching siyu.
    sc.customer_deletes_staff(exts[2], "zhangsan")
    sc.edit_follow("zhangsan", exts[0], remark="老客户", remove_tags=[str(data["new"])])
    sc.quit_group(str(data["chat"]), exts[3])
    other = sc.create_group("lisi", "新群")
    sc.dismiss_group(other)
    sc.rename_group(str(data["chat"]), "青禾VIP群")

    counts = run_sync(cli)
    assert counts["follows_ended"] == 1
    assert counts["follows_updated"] == 1
    assert counts["tags_removed"] == 1
    assert counts["members_left"] == 1
    assert counts["groups_updated"] == 1
    assert counts["groups_created"] == 0  # created and dismissed between two syncs: never seen

    session.expire_all()
    ended = session.scalar(select(Follow).where(Follow.external_userid == exts[2]))
    assert ended is not None
    assert (ended.state, ended.deleted_by) == ("deleted_by_customer", "customer")
    churn = session.scalar(select(Event).where(Event.kind == "friend.delete_by_customer"))
    assert churn is not None
    assert churn.payload["inferred_by"] == "sync"
    remark = session.scalar(
        select(Follow.remark).where(Follow.external_userid == exts[0], Follow.remark != "")
    )
    assert remark == "老客户"
    member = session.scalar(select(GroupMember).where(GroupMember.userid == exts[3]))
    assert member is not None
    assert member.state == "left"
    assert session.scalar(select(Group.name).where(Group.chat_id == data["chat"])) == "青禾VIP群"
    assert {k: v for k, v in run_sync(cli).items() if k in CHANGE_KEYS and v} == {}


def test_reconcile_specific_ids_and_queued_refetch_jobs(
    cli: CliRun, session: Session, workspace_id: int, wecom_env: Simulator
) -> None:
    data = seed(wecom_env)
    exts: list[str] = data["exts"]  # type: ignore[assignment]
    run_sync(cli)
    sc = wecom_env.scenario
    sc.staff_deletes_customer("lisi", exts[0])
    sc.edit_follow("zhangsan", exts[5], description="喜欢面霜")
    sc.dismiss_group(str(data["chat"]))

    out = json.loads(cli("wecom", "reconcile", "-e", exts[0], "-c", data["chat"], "--json").stdout)
    assert out["follows_ended"] == 1
    assert out["groups_dismissed"] == 1
    session.expire_all()
    lisi = session.scalar(select(Staff.id).where(Staff.userid == "lisi"))
    state = session.scalar(
        select(Follow.state).where(Follow.external_userid == exts[0], Follow.staff_id == lisi)
    )
    assert state == "deleted_by_customer"
    assert session.scalar(select(Group.status).where(Group.chat_id == data["chat"])) == "dismissed"

    # What the callback processor queues: a re-fetch job for an edited contact.
    from siyu.wecom.callbacks.refetch import request_refetch

    with session_scope() as s:
        request_refetch(
            s, workspace_id=workspace_id, what="contact", userid="zhangsan", external_userid=exts[5]
        )
    out = json.loads(cli("wecom", "reconcile", "--json").stdout)
    assert out["jobs_done"] == 1
    assert out["follows_updated"] == 1
    session.expire_all()
    assert session.scalar(select(Job.status).where(Job.kind == "wecom.refetch")) == "done"
    assert session.scalar(select(Follow.description).where(Follow.external_userid == exts[5])) == "喜欢面霜"
    assert json.loads(cli("wecom", "reconcile", "--json").stdout)["jobs_done"] == 0


def test_behavior_mirrors_daily_stats(
    cli: CliRun, session: Session, workspace_id: int, wecom_env: Simulator
) -> None:
    sc = wecom_env.scenario
    sc.add_staff("zhangsan")
    wecom_env.state.clock.offset = 0  # behaviour days are real days here
    a, b = sc.new_customer("a"), sc.new_customer("b")
    sc.add_friend(a, userid="zhangsan")
    sc.add_friend(b, userid="zhangsan")
    sc.chat(a, "zhangsan", customer_messages=3, staff_messages=2, reply_minutes=6)
    sc.chat(b, "zhangsan", customer_messages=1, staff_messages=0)
    out = json.loads(cli("wecom", "behavior", "--days", "3", "--json").stdout)
    assert out["days_created"] == 3
    session.expire_all()
    rows = session.scalars(select(StaffDailyStats).order_by(StaffDailyStats.day)).all()
    assert len(rows) == 3
    assert rows[-1].day - rows[0].day == timedelta(days=2)
    today = rows[-1]
    assert (today.chat_cnt, today.message_cnt, today.new_contact_cnt) == (2, 2, 2)
    assert today.reply_percentage == 50.0
    runs = session.scalars(select(SyncRun).where(SyncRun.kind == "behavior")).all()
    assert [(r.status, r.counts["days_created"]) for r in runs] == [("completed", 3)]
    again = json.loads(cli("wecom", "behavior", "--days", "3", "--json").stdout)
    assert (again["days_created"], again["days_updated"]) == (0, 0)
    sc.chat(b, "zhangsan", customer_messages=1, staff_messages=1, reply_minutes=2)
    assert json.loads(cli("wecom", "behavior", "--days", "3", "--json").stdout)["days_updated"] == 1

    bad = cli("wecom", "behavior", "--days", "400", expect=2)
    assert "1 to 180" in bad.stderr


def test_sync_without_wecom_config_says_what_to_set(cli: CliRun) -> None:
    result = cli("wecom", "sync", expect=2)
    assert "SIYU_WECOM_CORP_ID" in result.stderr


def test_sync_with_a_wrong_secret_fails_cleanly_and_records_nothing_half_done(
    cli: CliRun, session: Session, wecom_env: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    wecom_env.scenario.add_staff("zhangsan")
    monkeypatch.setenv("SIYU_WECOM_SECRET", "wrong")
    get_settings.cache_clear()
    result = cli("wecom", "sync", expect=1)
    message = " ".join(result.stderr.split())
    assert "[errcode 40001]" in message
    assert "SIYU_WECOM_SECRET" in message
    session.expire_all()
    run = session.scalar(select(SyncRun))
    assert run is not None
    assert run.status == "failed"
    assert "InvalidCredential" in (run.error or "")
    assert session.scalar(select(func.count()).select_from(Staff)) == 0
    # The same for behaviour and reconcile: a failed run is recorded, nothing else.
    cli("wecom", "behavior", expect=1)
    cli("wecom", "reconcile", "--tags", expect=1)
    session.expire_all()
    failed = session.execute(select(SyncRun.kind, SyncRun.status).order_by(SyncRun.id)).all()
    assert [tuple(r) for r in failed] == [("full", "failed"), ("behavior", "failed"), ("reconcile", "failed")]
    assert session.scalar(select(func.count()).select_from(StaffDailyStats)) == 0


def test_tag_library_renames_deletes_and_recreations(
    cli: CliRun, session: Session, workspace_id: int, wecom_env: Simulator
) -> None:
    api = client_for(wecom_env)
    made = api.add_corp_tag(
        AddCorpTagRequest(group_name="兴趣", tag=[NewTag(name="面霜"), NewTag(name="精华")])
    )
    cream, serum = (t.id for t in made.tag)
    run_sync(cli)
    session.expire_all()
    serum_row = session.scalar(select(Tag).where(Tag.wecom_tag_id == serum))
    assert serum_row is not None
    serum_local_id = serum_row.id

    from siyu.wecom.schemas import DelCorpTagRequest, EditCorpTagRequest

    api.edit_corp_tag(EditCorpTagRequest(id=cream, name="保湿面霜"))
    api.del_corp_tag(DelCorpTagRequest(tag_id=[serum]))
    out = run_sync(cli)
    assert (out["tags_renamed"], out["tags_deleted"]) == (1, 1)
    session.expire_all()
    assert session.scalar(select(Tag.name).where(Tag.wecom_tag_id == cream)) == "保湿面霜"
    assert session.scalar(select(Tag.deleted_at).where(Tag.id == serum_local_id)) is not None

    # Re-created upstream under the same name: the same siyu tag comes back, relinked.
    again = api.add_corp_tag(AddCorpTagRequest(group_name="兴趣", tag=[NewTag(name="精华")]))
    out = run_sync(cli)
    assert out["tags_deleted"] == 0
    session.expire_all()
    revived = session.get(Tag, serum_local_id)
    assert revived is not None
    assert revived.deleted_at is None
    assert revived.wecom_tag_id == again.tag[0].id
    assert session.scalar(select(func.count()).select_from(Tag).where(Tag.name == "精华")) == 1
    api.close()
    table = cli("wecom", "sync").stdout  # the human form: a table of what changed
    assert "WeCom sync of default" in table
    assert "tags renamed" in table


def test_sync_keeps_gender_and_avatar_and_a_name_siyu_already_had(
    cli: CliRun, session: Session, workspace_id: int, wecom_env: Simulator
) -> None:
    sc = wecom_env.scenario
    sc.add_staff("zhangsan", "张三")
    code = sc.live_code("store_qr", ["zhangsan"])
    her = sc.new_customer("王芳", gender=2)
    him = sc.new_customer("Lei", gender=1)
    unknown = sc.new_customer("小七")
    for ext in (her, him, unknown):
        sc.add_friend(ext, config_id=code)
    with session_scope() as s:
        # Known before the sync under a better name (an order, a staff remark).
        resolve_customer(
            s, workspace_id=workspace_id, identities=[IdentityInput(kind="external_userid", value=him)],
            source="import", name="李雷",
        )  # fmt: skip
    run_sync(cli)

    def profile(ext: str) -> tuple[str | None, int, str | None]:
        session.expire_all()
        row = session.execute(
            select(Customer.name, Customer.gender, Customer.avatar)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
            .where(CustomerIdentity.kind == "external_userid", CustomerIdentity.value == ext)
        ).one()
        return row[0], row[1], row[2]

    assert profile(her) == ("王芳", 2, f"https://wx.qlogo.cn/sim/{her}/0")
    assert profile(him) == ("李雷", 1, f"https://wx.qlogo.cn/sim/{him}/0")
    assert profile(unknown) == ("小七", 0, f"https://wx.qlogo.cn/sim/{unknown}/0")


def test_tag_deleted_upstream_comes_off_customers(
    cli: CliRun, session: Session, workspace_id: int, wecom_env: Simulator
) -> None:
    data = seed(wecom_env)
    run_sync(cli)
    session.expire_all()
    gold = session.scalars(select(Tag).where(Tag.wecom_tag_id == data["gold"])).one()
    new = session.scalars(select(Tag).where(Tag.wecom_tag_id == data["new"])).one()
    assert set(session.scalars(select(CustomerTag.tag_id))) == {gold.id, new.id}

    from siyu.wecom.schemas import DelCorpTagRequest

    api = client_for(wecom_env)
    api.del_corp_tag(DelCorpTagRequest(tag_id=[str(data["gold"])]))
    api.close()
    out = run_sync(cli)
    assert out["tags_deleted"] == 1
    session.expire_all()
    assert set(session.scalars(select(CustomerTag.tag_id))) == {new.id}
    assert session.scalar(select(Tag.deleted_at).where(Tag.id == gold.id)) is not None
    # A second sync finds nothing more to do.
    assert run_sync(cli)["tags_deleted"] == 0


def test_sync_does_not_rebuild_a_customer_erased_on_request(
    cli: CliRun, session: Session, workspace_id: int, wecom_env: Simulator
) -> None:
    from siyu.privacy.service import anonymise_customer

    sc = wecom_env.scenario
    sc.add_staff("zhangsan", "张三")
    code = sc.live_code("store_qr", ["zhangsan"])
    her = sc.new_customer("王芳", unionid="union-wang", gender=2)
    other = sc.new_customer("李雷")
    for ext in (her, other):
        sc.add_friend(ext, config_id=code, remark_mobiles=["138 0013 8001"] if ext == her else None)
    chat = sc.create_group("zhangsan", "老客群")
    sc.join_group(chat, her)
    run_sync(cli)
    session.expire_all()
    wang = session.scalar(select(Follow.customer_id).where(Follow.external_userid == her))
    assert wang is not None
    with session_scope() as s:
        anonymise_customer(s, workspace_id=workspace_id, customer_id=wang, actor="test")
    customers = session.scalar(select(func.count()).select_from(Customer))

    # She is still the staff member's friend and in the group: the next syncs find her
    # erased profile through the kept hashes, and write nothing about her.
    for _ in range(2):
        out = run_sync(cli)
        assert out["customers_created"] == 0
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Customer)) == customers
    profile = session.get(Customer, wang)
    assert profile is not None
    assert (profile.name, profile.gender, profile.avatar, profile.anonymised_at is not None) == (
        None,
        0,
        None,
        True,
    )
    assert (
        session.scalar(
            select(func.count()).select_from(CustomerIdentity).where(CustomerIdentity.customer_id == wang)
        )
        == 0
    )
    follow = session.scalars(select(Follow).where(Follow.customer_id == wang)).one()
    assert (follow.state, follow.external_userid, follow.remark, follow.description) == (
        "active",
        None,
        None,
        None,
    )
    members = session.scalars(select(GroupMember).where(GroupMember.customer_id == wang)).all()
    assert members
    assert all(m.name is None and m.invitor_userid is None for m in members)
    # The other friend is untouched.
    assert session.scalar(select(Customer.name).join(Follow).where(Follow.external_userid == other)) == "李雷"
