# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters by name)
"""Keyword rules through the CLI: saving (refusals), matching new messages, actions,
priorities, cooldowns, idempotency, sensitive-word and deleted-customer alerts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.automation.keywords.engine import process_new
from siyu.automation.keywords.tasks import kf_reply, staff_deleted
from siyu.customers.fields import customer_values, define_field
from siyu.kit.events import record_event
from siyu.kit.ops import Delivered, JobContext
from siyu.kit.timeutil import moved_clock, utcnow
from siyu.models import (
    Alert,
    CustomerTag,
    Event,
    Job,
    KeywordHit,
    KeywordPosition,
    KeywordRule,
    StaffTask,
    Tag,
)
from siyu.wecom.client.extra import kf_send_text
from siyu.wecom.errors import WeComError
from siyu.wecom.simulator import Simulator
from siyu.wecom.simulator.sidebar import kf_customer_writes, sidebar_state
from tests.automation import kw_helpers as h
from tests.wecom.sim_fixtures import CORP_ID, SECRET, client_for, simulator  # noqa: F401


def _json(result: Any) -> Any:
    return json.loads(result.stdout)


def test_invalid_regex_is_refused_naming_the_keyword_and_position(cli: Any, session: Session) -> None:
    r = cli(
        "keywords", "add", "坏规则", "--match", "regex", "-k", "退款", "-k", "订单(号", "--tag", "x", expect=2
    )
    assert "keyword 2" in r.stderr
    assert "position 2" in r.stderr
    assert "keywords[1]" in r.stderr
    r = cli("keywords", "add", "慢", "--match", "regex", "-k", "(a+)+$", "--tag", "x", expect=2)
    assert "repeats a group that itself repeats" in r.stderr
    r = cli("keywords", "add", "空", "-k", "  ", "--tag", "x", expect=2)
    assert "keyword 1 is empty" in r.stderr
    r = cli("keywords", "add", "无动作", "-k", "退款", expect=2)
    assert "at least one action" in r.stderr
    r = cli("keywords", "add", "源", "-k", "退款", "--tag", "x", "--source", "sms", expect=2)
    assert "unknown source" in r.stderr
    assert session.scalar(select(func.count()).select_from(KeywordRule)) == 0


def test_rules_tag_set_fields_and_make_tasks_once(cli: Any, session: Session, workspace_id: int) -> None:
    define_field(
        session, workspace_id=workspace_id, key="skin", label="肤质", kind="choice", options=["油皮", "干皮"]
    )
    session.commit()
    cli("keywords", "add", "油皮", "-k", "油皮", "-k", "出油", "--tag", "油皮", "--field", "skin=油皮")
    rule = _json(
        cli(
            "keywords",
            "add",
            "售后",
            "--match",
            "regex",
            "-k",
            r"退(款|货).*单号",
            "--reply",
            "亲，请发订单号，我马上处理",
            "--priority",
            "5",
            "--json",
        )
    )
    assert rule["actions"]["reply"].startswith("亲")
    st = h.staff(session, workspace_id)
    cid = h.customer(session, workspace_id, "wm_1")
    m1 = h.message(
        session, workspace_id, "我脸上很容易出油，想退货，单号123", customer_id=cid, staff_id=st.id
    )
    h.message(
        session, workspace_id, "出油", direction="out", customer_id=cid, staff_id=st.id
    )  # staff wrote it
    session.commit()

    got = _json(cli("keywords", "scan", "--json"))
    assert got == {"messages": 2, "hits": 2, "acted": 2, "alerts": 0}
    session.expire_all()
    tags = session.scalars(
        select(Tag.name).join(CustomerTag, CustomerTag.tag_id == Tag.id).where(CustomerTag.customer_id == cid)
    ).all()
    assert tags == ["油皮"]
    assert session.scalar(select(CustomerTag.source).where(CustomerTag.customer_id == cid)) == "keyword"
    assert customer_values(session, workspace_id=workspace_id, customer_id=cid) == {"skin": "油皮"}
    task = session.scalars(select(StaffTask)).one()
    assert (task.staff_id, task.customer_id, task.kind, task.body) == (
        st.id,
        cid,
        "keyword_reply",
        "亲，请发订单号，我马上处理",
    )
    assert task.due_at == m1.sent_at + timedelta(minutes=10)
    # a second scan reads nothing; replaying the same message acts nothing twice
    assert _json(cli("keywords", "scan", "--json"))["messages"] == 0
    session.execute(update(KeywordPosition).values(last_message_id=0))
    session.commit()
    assert _json(cli("keywords", "scan", "--json"))["acted"] == 0
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(StaffTask)) == 1
    assert session.scalar(select(func.count()).select_from(KeywordHit)) == 2


def test_priority_stop_cooldown_and_sources(cli: Any, session: Session, workspace_id: int) -> None:
    cli("keywords", "add", "高", "-k", "价格", "--tag", "问价", "--priority", "10", "--stop")
    cli("keywords", "add", "低", "-k", "价格", "--tag", "低优先")
    cli(
        "keywords", "add", "冷却", "-k", "优惠", "--tag", "问优惠", "--task", "跟进优惠", "--cooldown", "3600"
    )
    cli("keywords", "add", "只群", "-k", "优惠", "--tag", "群里问", "--source", "group")
    cid = h.customer(session, workspace_id, "wm_2")
    t0 = utcnow()
    h.message(session, workspace_id, "价格多少", customer_id=cid, sent_at=t0)
    h.message(session, workspace_id, "有优惠吗", customer_id=cid, sent_at=t0)
    h.message(session, workspace_id, "还有优惠吗", customer_id=cid, sent_at=t0 + timedelta(minutes=30))
    h.message(session, workspace_id, "优惠呢", customer_id=cid, sent_at=t0 + timedelta(hours=2))
    session.commit()
    cli("keywords", "scan")
    session.expire_all()
    outcomes = session.execute(
        select(KeywordRule.name, KeywordHit.outcome)
        .join(KeywordHit, KeywordHit.rule_id == KeywordRule.id)
        .order_by(KeywordHit.id)
    ).all()
    assert [tuple(o) for o in outcomes] == [
        ("高", "acted"),
        ("低", "stopped"),
        ("冷却", "acted"),
        ("冷却", "cooldown"),
        ("冷却", "acted"),
    ]
    names = set(session.scalars(select(Tag.name).join(CustomerTag, CustomerTag.tag_id == Tag.id)))
    assert names == {"问价", "问优惠"}
    assert session.scalar(select(func.count()).select_from(StaffTask)) == 2  # no staff: tasks unassigned


def test_kf_reply_is_queued_inside_48_hours_only(cli: Any, session: Session, workspace_id: int) -> None:
    cli("keywords", "add", "发货", "-k", "发货", "--reply", "一般48小时内发货")
    cid = h.customer(session, workspace_id, "wm_3")
    kf = {"open_kfid": "wkAAA"}
    h.message(session, workspace_id, "什么时候发货", source="kf", customer_id=cid, sender="wm_3", payload=kf)
    h.message(session, workspace_id, "发货了吗", source="kf", customer_id=cid, sender="wm_3", payload=kf,
              sent_at=utcnow() - timedelta(hours=49))  # fmt: skip
    session.commit()
    cli("keywords", "scan")
    session.expire_all()
    jobs = session.scalars(select(Job).where(Job.kind == "keywords.kf_reply")).all()
    assert len(jobs) == 1
    assert jobs[0].payload["text"] == "一般48小时内发货"
    dones = sorted(str(d) for d in session.scalars(select(KeywordHit.done)))
    assert dones == ["{'reply': 'queued'}", "{'reply': 'window_closed'}"]
    assert session.scalar(select(func.count()).select_from(StaffTask)) == 0


def test_sensitive_words_and_staff_deleting_a_customer_raise_alerts(
    cli: Any, session: Session, workspace_id: int
) -> None:
    cli("keywords", "words", "add", "投诉", "12315", "  投诉 ")
    assert _json(cli("keywords", "words", "list", "--json")) == ["投诉", "12315"]
    cli("keywords", "words", "add", " ", expect=2)
    st = h.staff(session, workspace_id, "lisi", "李四")
    cid = h.customer(session, workspace_id, "wm_4", name="王女士")
    h.message(session, workspace_id, "再不处理我就打12315投诉", customer_id=cid, staff_id=st.id)
    h.message(session, workspace_id, "别投诉了", direction="out", customer_id=cid, staff_id=st.id)
    h.message(session, workspace_id, "好的", customer_id=cid, staff_id=st.id)
    record_event(
        session,
        workspace_id=workspace_id,
        kind="friend.delete_by_staff",
        occurred_at=utcnow(),
        source="wecom",
        customer_id=cid,
        staff_id=st.id,
        payload={"userid": "lisi"},
    )
    session.commit()
    assert _json(cli("keywords", "scan", "--json"))["alerts"] == 2
    ev = session.scalars(select(Event).where(Event.kind == "friend.delete_by_staff")).one()
    d = Delivered(
        ev.id, workspace_id, ev.kind, ev.occurred_at, ev.source, cid, st.id, None, None, ev.payload or {}
    )
    staff_deleted(session, [d])
    staff_deleted(session, [d])  # re-delivered: one alert
    session.commit()
    alerts = _json(cli("keywords", "alerts", "list", "--json"))
    kinds = sorted(a["kind"] for a in alerts)
    assert kinds == ["sensitive_word", "sensitive_word", "staff_deleted_customer"]
    deleted = next(a for a in alerts if a["kind"] == "staff_deleted_customer")
    assert deleted["summary"] == "李四 删除了客户 王女士"
    words = next(a for a in alerts if a["kind"] == "sensitive_word" and a["detail"]["direction"] == "in")
    assert words["detail"]["words"] == ["12315", "投诉"]
    cli("keywords", "alerts", "ack", deleted["id"], "--note", "已回访")
    cli("keywords", "alerts", "ack", deleted["id"], expect=2)
    assert len(_json(cli("keywords", "alerts", "list", "--open", "--json"))) == 2
    assert session.scalar(select(func.count()).select_from(Alert)) == 3


def test_test_command(cli: Any, workspace_id: int) -> None:
    cli("keywords", "add", "问候", "--match", "exact", "-k", "你好", "--tag", "打招呼")
    assert _json(cli("keywords", "test", " 你好 ", "--json"))[0]["name"] == "问候"
    assert _json(cli("keywords", "test", "你好呀", "--json")) == []


def test_kf_reply_job_sends_through_the_simulator_within_the_window(
    cli: Any, session: Session, workspace_id: int, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import get_settings

    monkeypatch.setenv("SIYU_WECOM_CORP_ID", CORP_ID)
    monkeypatch.setenv("SIYU_WECOM_SECRET", SECRET)
    monkeypatch.setenv("SIYU_WECOM_API_BASE", simulator.url)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    cli("keywords", "add", "发货", "-k", "发货", "--reply", "今天发货")
    cid = h.customer(session, workspace_id, "wm_kf")
    kf_customer_writes(simulator.state, "wkBBB", "wm_kf")
    m = h.message(
        session,
        workspace_id,
        "发货没",
        source="kf",
        customer_id=cid,
        sender="wm_kf",
        payload={"open_kfid": "wkBBB"},
    )
    session.commit()
    process_new(session, workspace_id=workspace_id)
    job = session.scalars(select(Job).where(Job.kind == "keywords.kf_reply")).one()

    def run() -> Any:
        ctx = JobContext(job.id, job.kind, workspace_id, job.payload, 1, None, session)  # type: ignore[arg-type]
        return kf_reply(ctx)

    assert run()["msgid"].startswith("kfmsg")
    assert sidebar_state(simulator.state).kf_sent[-1]["text"] == "今天发货"
    # the window closes after 48 hours: the job skips, and the simulator would refuse too
    with moved_clock(m.sent_at + timedelta(hours=49)):
        assert run() == {"skipped": "outside the 48-hour window"}
    simulator.state.clock.advance(49 * 3600)
    with pytest.raises(WeComError), client_for(simulator) as c:
        kf_send_text(c, open_kfid="wkBBB", touser="wm_kf", text="迟到的回复")


def test_profile_fields_cli_and_a_rule_that_sets_one(cli: Any, session: Session, workspace_id: int) -> None:
    cli("fields", "define", "skin", "肤质", "--kind", "choice", "--option", "油皮", "--option", "干皮")
    cli("fields", "define", "birthday", "生日", "--kind", "date")
    cli("fields", "define", "Bad Key", "x", expect=2)
    cli("fields", "define", "mood", "心情", "--kind", "choice", expect=2)
    assert [f["key"] for f in _json(cli("fields", "list", "--json"))] == ["skin", "birthday"]
    r = cli("keywords", "add", "肤质", "-k", "干", "--field", "skin=混油", expect=2)
    assert "肤质 is one of 油皮, 干皮" in r.stderr
    r = cli("keywords", "add", "肤质", "-k", "干", "--field", "nosuch=1", expect=2)
    assert "no profile field 'nosuch'" in r.stderr


def test_the_periodic_scan_leaves_fresh_messages_for_the_next_run(
    cli: Any, session: Session, workspace_id: int
) -> None:
    from siyu.automation.keywords.tasks import scan
    from siyu.kit.db import session_factory

    cli("keywords", "add", "问价", "-k", "价格", "--tag", "问价")
    cid = h.customer(session, workspace_id, "wm_p")
    h.message(session, workspace_id, "价格？", customer_id=cid)
    session.commit()
    assert scan(session_factory()) == {}  # younger than the settle window
    with moved_clock(utcnow() + timedelta(seconds=5)):
        assert scan(session_factory()) == {
            str(workspace_id): {"messages": 1, "hits": 1, "acted": 1, "alerts": 0}
        }
        assert scan(session_factory()) == {}


def test_group_messages_reach_group_rules_and_the_task_goes_to_the_group_owner(
    cli: Any, session: Session, workspace_id: int
) -> None:
    from siyu.models import Group

    owner = h.staff(session, workspace_id, "wangwu", "王五")
    group = Group(workspace_id=workspace_id, chat_id="wrG1", name="面霜群", owner_staff_id=owner.id)
    session.add(group)
    session.commit()
    cli("keywords", "add", "群问价", "-k", "多少钱", "--reply", "群里统一价 199 元", "--source", "group")
    cli("keywords", "add", "单聊问价", "-k", "多少钱", "--tag", "单聊问价", "--source", "archive")
    cid = h.customer(session, workspace_id, "wm_g")
    h.message(session, workspace_id, "这个多少钱", customer_id=cid, group_id=group.id)
    session.commit()
    assert _json(cli("keywords", "scan", "--json"))["acted"] == 1
    session.expire_all()
    task = session.scalars(select(StaffTask)).one()
    assert (task.staff_id, task.group_id, task.body) == (owner.id, group.id, "群里统一价 199 元")
    assert session.scalar(select(func.count()).select_from(CustomerTag)) == 0
