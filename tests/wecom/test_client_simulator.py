# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters by name)
"""The client against the simulator over real HTTP: every API, its errcodes and cursors."""

from __future__ import annotations

import pytest

from siyu.wecom.client import WeComClient
from siyu.wecom.errors import (
    InvalidCredential,
    InvalidExternalUser,
    NoRelation,
    NotFound,
    QuotaExceeded,
    RateLimited,
    UserNotFound,
    WelcomeCodeInvalid,
)
from siyu.wecom.schemas import (
    AddCorpTagRequest,
    ContactWayRequest,
    DelCorpTagRequest,
    EditCorpTagRequest,
    GroupMsgListRequest,
    JoinWayRequest,
    MarkTagRequest,
    MomentTaskRequest,
    MsgTemplateRequest,
    NewTag,
    Text,
    TransferRequest,
    UpdateContactWayRequest,
    WelcomeMsgRequest,
)
from siyu.wecom.simulator import Simulator
from tests.wecom.sim_fixtures import client_for, simulator, wecom  # noqa: F401

pytestmark = pytest.mark.usefixtures("simulator")


def test_wrong_secret_is_refused(simulator: Simulator) -> None:
    client = client_for(simulator)
    simulator.config.secret = "rotated"  # the admin reset the secret; ours is stale
    with pytest.raises(InvalidCredential):
        client.get_follow_user_list()


def test_token_expiry_in_simulator_is_refetched_transparently(
    simulator: Simulator, wecom: WeComClient
) -> None:
    simulator.scenario.add_staff("zhangsan", "张三")
    assert wecom.get_follow_user_list() == ["zhangsan"]
    simulator.scenario.advance(7200)  # WeCom's token has expired; the client's cache has not
    assert wecom.get_follow_user_list() == ["zhangsan"]
    assert len(simulator.state.tokens) == 2


def test_contacts_batch_cursor_and_detail(simulator: Simulator, wecom: WeComClient) -> None:
    sc = simulator.scenario
    sc.add_staff("zhangsan")
    sc.add_staff("lisi")
    code = sc.live_code("douyin", ["zhangsan"])
    exts = [sc.new_customer(f"客户{i}", unionid=f"u{i}") for i in range(7)]
    for ext in exts:
        sc.add_friend(ext, config_id=code)
    sc.add_friend(exts[0], userid="lisi")

    items = list(wecom.iter_contacts_by_user(["zhangsan", "lisi"], limit=3))
    assert len(items) == 8
    assert {i.external_contact.external_userid for i in items} == set(exts)
    first = next(i for i in items if i.follow_info.userid == "zhangsan")
    assert first.follow_info.state == "douyin"
    assert first.follow_info.add_way == 1

    page = wecom.batch_get_by_user(["zhangsan"], limit=3)
    assert len(page.external_contact_list) == 3
    assert page.next_cursor

    detail = wecom.get_external_contact_all(exts[0])
    assert detail.external_contact.unionid == "u0"
    assert sorted(f.userid for f in detail.follow_user) == ["lisi", "zhangsan"]
    assert sorted(wecom.list_external_contacts("zhangsan")) == sorted(exts)

    with pytest.raises(InvalidExternalUser):
        wecom.get_external_contact("wmnobody")
    with pytest.raises(UserNotFound):
        wecom.batch_get_by_user(["ghost"])


def test_get_walks_the_follow_user_cursor_past_500(simulator: Simulator, wecom: WeComClient) -> None:
    sc = simulator.scenario
    ext = sc.new_customer("人气客户")
    for i in range(502):
        sc.add_staff(f"s{i:03d}")
        sc.add_friend(ext, userid=f"s{i:03d}")
    first = wecom.get_external_contact(ext)
    assert len(first.follow_user) == 500
    assert first.next_cursor
    assert len(wecom.get_external_contact_all(ext).follow_user) == 502


def test_corp_tags_and_mark_tag(simulator: Simulator, wecom: WeComClient) -> None:
    sc = simulator.scenario
    sc.add_staff("zhangsan")
    ext = sc.new_customer("王五")
    sc.add_friend(ext, userid="zhangsan")
    group = wecom.add_corp_tag(
        AddCorpTagRequest(group_name="会员等级", tag=[NewTag(name="金卡"), NewTag(name="银卡")])
    )
    gold, silver = (t.id for t in group.tag)
    wecom.edit_corp_tag(EditCorpTagRequest(id=silver, name="白银卡"))
    wecom.mark_tag(MarkTagRequest(userid="zhangsan", external_userid=ext, add_tag=[gold, silver]))
    tags = wecom.get_external_contact(ext).follow_user[0].tags
    assert sorted(t.tag_name for t in tags) == ["白银卡", "金卡"]
    assert {t.group_name for t in tags} == {"会员等级"}

    wecom.del_corp_tag(DelCorpTagRequest(tag_id=[silver]))
    listed = wecom.get_corp_tag_list()
    assert [(g.group_name, [t.name for t in g.tag]) for g in listed] == [("会员等级", ["金卡"])]
    assert [t.tag_name for t in wecom.get_external_contact(ext).follow_user[0].tags] == ["金卡"]
    with pytest.raises(NotFound):
        wecom.mark_tag(MarkTagRequest(userid="zhangsan", external_userid=ext, add_tag=[silver]))
    other = sc.new_customer("陌生人")
    with pytest.raises(NoRelation):
        wecom.mark_tag(MarkTagRequest(userid="zhangsan", external_userid=other, add_tag=[gold]))


def test_contact_ways_and_join_ways(simulator: Simulator, wecom: WeComClient) -> None:
    sc = simulator.scenario
    sc.add_staff("zhangsan")
    sc.add_staff("lisi")
    made = wecom.add_contact_way(
        ContactWayRequest(type=2, scene=2, state="xhs_note", user=["zhangsan", "lisi"])
    )
    assert made.qr_code
    wecom.update_contact_way(UpdateContactWayRequest(config_id=made.config_id, remark="小红书"))
    way = wecom.get_contact_way(made.config_id)
    assert (way.state, way.remark, way.user) == ("xhs_note", "小红书", ["zhangsan", "lisi"])
    # Customers scanning a multi-person code are spread over its staff (at random).
    served = [sc.add_friend(sc.new_customer(f"c{i}"), config_id=made.config_id)[0] for i in range(40)]
    assert set(served) == {"zhangsan", "lisi"}
    wecom.del_contact_way(made.config_id)
    with pytest.raises(NotFound):
        wecom.get_contact_way(made.config_id)

    chat = sc.create_group("zhangsan", "老客福利群")
    assert wecom.add_join_way(JoinWayRequest(chat_id_list=[chat], state="group_qr"))
    with pytest.raises(NotFound):
        wecom.add_join_way(JoinWayRequest(chat_id_list=["wrnothere"]))


def test_welcome_code_is_once_and_expires_after_20_seconds(simulator: Simulator, wecom: WeComClient) -> None:
    sc = simulator.scenario
    sc.add_staff("zhangsan")
    _, code = sc.add_friend(sc.new_customer("a"), userid="zhangsan")
    assert code
    wecom.send_welcome_msg(WelcomeMsgRequest(welcome_code=code, text=Text(content="欢迎")))
    with pytest.raises(WelcomeCodeInvalid):
        wecom.send_welcome_msg(WelcomeMsgRequest(welcome_code=code, text=Text(content="欢迎")))
    _, late = sc.add_friend(sc.new_customer("b"), userid="zhangsan")
    assert late
    sc.advance(21)
    with pytest.raises(WelcomeCodeInvalid):
        wecom.send_welcome_msg(WelcomeMsgRequest(welcome_code=late, text=Text(content="欢迎")))


def test_mass_send_quota_and_results(simulator: Simulator, wecom: WeComClient) -> None:
    simulator.config.quota_mode = "day1"
    sc = simulator.scenario
    sc.add_staff("zhangsan")
    a, b = sc.new_customer("a"), sc.new_customer("b")
    sc.add_friend(a, userid="zhangsan")
    sc.add_friend(b, userid="zhangsan")
    stranger = sc.new_customer("c")
    first = wecom.add_msg_template(
        MsgTemplateRequest(external_userid=[a, b, stranger], text=Text(content="上新"))
    )
    assert first.fail_list == [stranger]
    task = wecom.get_groupmsg_task(first.msgid).task_list
    assert [(t.userid, t.status) for t in task] == [("zhangsan", 0)]
    sc.customer_deletes_staff(b, "zhangsan")
    sc.confirm_mass_send(first.msgid, "zhangsan")
    results = {
        r.external_userid: r.status for r in wecom.get_groupmsg_send_result(first.msgid, "zhangsan").send_list
    }
    assert results == {a: 1, b: 2}  # b is no longer a friend
    assert wecom.get_groupmsg_task(first.msgid).task_list[0].status == 2

    second = wecom.add_msg_template(MsgTemplateRequest(external_userid=[a], text=Text(content="再发")))
    sc.confirm_mass_send(second.msgid, "zhangsan")
    assert wecom.get_groupmsg_send_result(second.msgid, "zhangsan").send_list[0].status == 3  # 1/day used
    sc.advance(86400)
    third = wecom.add_msg_template(MsgTemplateRequest(external_userid=[a], text=Text(content="明天")))
    sc.confirm_mass_send(third.msgid, "zhangsan")
    assert wecom.get_groupmsg_send_result(third.msgid, "zhangsan").send_list[0].status == 1

    now = simulator.state.now()
    listed = wecom.get_groupmsg_list_v2(
        GroupMsgListRequest(start_time=now - 2 * 86400, end_time=now, limit=2)
    )
    assert len(listed.group_msg_list) == 2
    assert listed.next_cursor
    for _ in range(3):
        wecom.remind_groupmsg_send(first.msgid)
    with pytest.raises(QuotaExceeded):
        wecom.remind_groupmsg_send(first.msgid)
    wecom.cancel_groupmsg_send(second.msgid)


def test_groupchats_list_and_get(simulator: Simulator, wecom: WeComClient) -> None:
    sc = simulator.scenario
    sc.add_staff("zhangsan", "张三")
    ext = sc.new_customer("小美", unionid="union-1")
    chats = [sc.create_group("zhangsan", f"群{i}") for i in range(3)]
    sc.join_group(chats[0], ext)
    refs = list(wecom.iter_groupchats(owners=["zhangsan"]))
    assert sorted(r.chat_id for r in refs) == sorted(chats)
    chat = wecom.groupchat_get(chats[0])
    assert chat.owner == "zhangsan"
    assert chat.name == "群0"
    members = {m.userid: m for m in chat.member_list}
    assert members[ext].type == 2
    assert members[ext].join_scene == 3
    assert members[ext].unionid == "union-1"
    assert members["zhangsan"].type == 1
    sc.dismiss_group(chats[1])
    with pytest.raises(NotFound):
        wecom.groupchat_get(chats[1])


def test_behavior_data_follows_simulated_chats(simulator: Simulator, wecom: WeComClient) -> None:
    sc = simulator.scenario
    sc.add_staff("zhangsan")
    a, b = sc.new_customer("a"), sc.new_customer("b")
    sc.add_friend(a, userid="zhangsan")
    sc.add_friend(b, userid="zhangsan")
    sc.chat(a, "zhangsan", customer_messages=2, staff_messages=3, reply_minutes=4)
    sc.chat(b, "zhangsan", customer_messages=1, staff_messages=0)
    now = simulator.state.now()
    days = wecom.get_user_behavior_data(["zhangsan"], now - 86400, now)
    today = days[-1]
    assert (today.chat_cnt, today.message_cnt, today.new_contact_cnt) == (2, 3, 2)
    assert today.reply_percentage == 50.0
    assert today.avg_reply_time == 4


def test_transfer_customer_takes_over_after_24h_and_respects_limits(
    simulator: Simulator, wecom: WeComClient
) -> None:
    sc = simulator.scenario
    sc.add_staff("old")
    sc.add_staff("new")
    sc.add_staff("full", customer_limit=1)
    a, b, c = (sc.new_customer(n) for n in "abc")
    for ext in (a, b):
        sc.add_friend(ext, userid="old")
    sc.add_friend(c, userid="full")
    answer = wecom.transfer_customer(
        TransferRequest(handover_userid="old", takeover_userid="new", external_userid=[a, "wmghost", c])
    )
    assert [(i.external_userid, i.errcode) for i in answer.customer] == [
        (a, 0),
        ("wmghost", 40096),
        (c, 84061),
    ]
    assert [i.status for i in wecom.transfer_result("old", "new").customer] == [2]
    # While the handover waits, a second one is refused: 当前客户正在转接中.
    again = TransferRequest(handover_userid="old", takeover_userid="new", external_userid=[a])
    assert [i.errcode for i in wecom.transfer_customer(again).customer] == [40129]
    sc.advance(24 * 3600)
    assert sc.settle_transfers() == 1
    assert [i.status for i in wecom.transfer_result("old", "new").customer] == [1]
    assert [f.userid for f in wecom.get_external_contact(a).follow_user] == ["new"]
    # Twice in 90 days, then 客户转接过于频繁.
    back = TransferRequest(handover_userid="new", takeover_userid="old", external_userid=[a])
    assert [i.errcode for i in wecom.transfer_customer(back).customer] == [0]
    sc.advance(24 * 3600)
    sc.settle_transfers()
    assert [i.errcode for i in wecom.transfer_customer(again).customer] == [40128]

    wecom.transfer_resigned_customer(
        TransferRequest(handover_userid="old", takeover_userid="full", external_userid=[b])
    )
    sc.advance(24 * 3600)
    sc.settle_transfers()
    assert [i.status for i in wecom.transfer_result("old", "full").customer] == [4]  # takeover at its limit


def test_customer_limit_blocks_adds(simulator: Simulator) -> None:
    sc = simulator.scenario
    sc.add_staff("tiny", customer_limit=1)
    sc.add_friend(sc.new_customer("a"), userid="tiny")
    with pytest.raises(Exception, match="customer limit"):
        sc.add_friend(sc.new_customer("b"), userid="tiny")


def test_moment_task(simulator: Simulator, wecom: WeComClient) -> None:
    simulator.scenario.add_staff("zhangsan")
    job = wecom.add_moment_task(
        MomentTaskRequest(
            text=Text(content="新品"),
            visible_range={"sender_list": {"user_list": ["zhangsan", "ghost"]}},
        )
    )
    assert wecom.get_moment_task_result(job).status == 2  # processing at the first look
    result = wecom.get_moment_task_result(job)
    assert result.status == 3
    assert result.result is not None
    assert result.result.moment_id
    assert result.result.invalid_sender_list == {"user_list": ["ghost"]}


def test_simulator_rate_limit_blocks_and_client_backs_off(simulator: Simulator, wecom: WeComClient) -> None:
    simulator.config.rate_per_minute = 3
    simulator.scenario.add_staff("zhangsan")
    for _ in range(3):
        wecom.get_follow_user_list()
    with pytest.raises(RateLimited):
        wecom.get_follow_user_list()  # blocked for rate_block_seconds, even across retries
    simulator.scenario.advance(61)
    assert wecom.get_follow_user_list() == ["zhangsan"]
