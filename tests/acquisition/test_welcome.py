"""Which welcome an add gets, variables, time slots, once-only, and every skip's reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition import welcome
from siyu.acquisition.channels import ChannelInput, create_channel
from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import moved_clock
from siyu.models import Channel, Group, WelcomeSend
from siyu.staff.service import ensure_staff
from siyu.wecom.errors import NoPermission, WelcomeCodeInvalid
from siyu.wecom.schemas import WelcomeMsgRequest

TUESDAY_10 = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
TUESDAY_23 = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
SATURDAY_10 = datetime(2026, 12, 12, 2, 0, tzinfo=UTC)


class FakeGateway:
    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[WelcomeMsgRequest] = []
        self.fail = fail

    def send_welcome_msg(self, req: WelcomeMsgRequest) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(req)

    def get_external_contact(self, external_userid: str) -> Any:
        class C:
            class external_contact:
                name = "小花"

        return C()


_n = iter(range(1_000_000))


def _add(userid: str = "zs", state: str = "", code: str = "wc", at: datetime = TUESDAY_10) -> welcome.AddInfo:
    return welcome.AddInfo(f"k{next(_n)}", userid, f"wmext{next(_n)}", state, code, at)


def _setup(workspace_id: int) -> tuple[int, str]:
    with session_scope() as s:
        zs = ensure_staff(s, workspace_id=workspace_id, userid="zs", name="张三")
        ch = create_channel(
            s,
            workspace_id=workspace_id,
            data=ChannelInput(
                name="直播间",
                state="live",
                pool={"staff_ids": [zs.id]},
                welcome={
                    "text": "{客户昵称}你好，我是{员工姓名}",
                    "variants": {"night": {"text": "夜深了，明早回复"}},
                },
            ),
            actor="test",
        )
        welcome.set_default(s, workspace_id=workspace_id, staff_id=zs.id, welcome={"text": "员工默认"})
        welcome.set_default(s, workspace_id=workspace_id, staff_id=None, welcome={"text": "企业默认"})
        return zs.id, ch.state


def test_channel_then_staff_then_workspace_with_time_slots(session: Session, workspace_id: int) -> None:
    _, state = _setup(workspace_id)
    f = session_factory()
    gw = FakeGateway()
    with moved_clock(TUESDAY_10):
        assert welcome.greet(f, workspace_id, _add(state=state), gateway=gw) == "sent"
        assert welcome.greet(f, workspace_id, _add(state="unknown"), gateway=gw) == "sent"
        assert welcome.greet(f, workspace_id, _add(userid="ls"), gateway=gw) == "sent"
    with moved_clock(TUESDAY_23):
        assert welcome.greet(f, workspace_id, _add(state=state, at=TUESDAY_23), gateway=gw) == "sent"
    texts = [r.text.content for r in gw.sent if r.text]
    assert texts == ["小花你好，我是张三", "员工默认", "企业默认", "夜深了，明早回复"]
    rows = session.scalars(select(WelcomeSend).order_by(WelcomeSend.id)).all()
    assert [(r.source, r.variant, r.status) for r in rows] == [
        ("channel", "base", "sent"),
        ("staff", "base", "sent"),
        ("workspace", "base", "sent"),
        ("channel", "night", "sent"),
    ]


def test_once_and_every_skip_has_its_reason(session: Session, workspace_id: int) -> None:
    _, state = _setup(workspace_id)
    f = session_factory()
    gw = FakeGateway()
    with moved_clock(TUESDAY_10):
        add = _add(state=state)
        assert welcome.greet(f, workspace_id, add, gateway=gw) == "sent"
        assert welcome.greet(f, workspace_id, add, gateway=gw) == "duplicate"  # once
        assert welcome.greet(f, workspace_id, _add(code=""), gateway=gw) == "skipped:no_welcome_code"
        late = _add(at=TUESDAY_10 - timedelta(seconds=21))
        assert welcome.greet(f, workspace_id, late, gateway=gw) == "skipped:expired"
        again = welcome.AddInfo("k-again", "zs", add.external_userid, state, "wc2", TUESDAY_10)
        assert welcome.greet(f, workspace_id, again, gateway=gw) == "skipped:greeted_today"
        used = welcome.greet(
            f, workspace_id, _add(), gateway=FakeGateway(WelcomeCodeInvalid("used", errcode=41051))
        )
        assert used.startswith("skipped:code_used")
        refused = welcome.greet(
            f, workspace_id, _add(), gateway=FakeGateway(NoPermission("no", errcode=48002))
        )
        assert refused.startswith("error:")
    assert len(gw.sent) == 1
    assert welcome.welcome_stats(session, workspace_id=workspace_id) == {
        "sent": 1,
        "skipped:no_welcome_code": 1,
        "skipped:expired": 1,
        "skipped:greeted_today": 1,
        "skipped:code_used": 1,
        "error": 1,
    }


def test_weekend_variant_and_group_join_link(session: Session, workspace_id: int) -> None:
    with session_scope() as s:
        zs = ensure_staff(s, workspace_id=workspace_id, userid="zs", name="张三")
        s.add(Group(workspace_id=workspace_id, chat_id="wrGROUP1", name="福利群"))
        s.flush()
        join = create_channel(
            s,
            workspace_id=workspace_id,
            data=ChannelInput(name="福利群码", kind="join_way", chat_ids=["wrGROUP1"]),
            actor="test",
        )
        join.qr_url = "https://wework.qpic.cn/join/1"
        ch = create_channel(
            s,
            workspace_id=workspace_id,
            data=ChannelInput(
                name="门店",
                pool={"staff_ids": [zs.id]},
                welcome={
                    "text": "欢迎",
                    "variants": {"weekend": {"text": "周末快乐"}},
                    "join_channel_id": join.id,
                },
            ),
            actor="test",
        )
        state = ch.state
    gw = FakeGateway()
    with moved_clock(SATURDAY_10):
        assert (
            welcome.greet(session_factory(), workspace_id, _add(state=state, at=SATURDAY_10), gateway=gw)
            == "sent"
        )
    (req,) = gw.sent
    assert req.text is not None
    assert req.text.content == "周末快乐"
    assert [a.model_dump()["link"]["url"] for a in req.attachments] == ["https://wework.qpic.cn/join/1"]
    assert session.scalar(select(Channel.kind).where(Channel.state == state)) == "contact_way"
