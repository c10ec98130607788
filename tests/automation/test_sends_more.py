"""Group sends, staff-made sends counted against the quota, and library files as WeCom media."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.automation.sends import tasks as send_tasks
from siyu.config import Settings
from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import utcnow
from siyu.models import ContentItem, MassReceipt, SendRecipient, Workspace
from siyu.wecom.client import RateLimiter, TokenCache, WeComClient
from siyu.wecom.schemas import GroupMsgListRequest
from siyu.wecom.simulator import ServerThread, SimClock, SimConfig, Simulator
from siyu.wecom.simulator.outbound import staff_mass_send
from siyu.wecom.sync.run import full_sync
from tests.conftest import CliRun

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


def _js(result: Any) -> Any:
    return json.loads(result.stdout)


@pytest.fixture
def live(env: Settings, workspace_id: int) -> Iterator[Simulator]:
    """A simulator on the real clock (its send times and siyu's quota windows agree)."""
    sim = Simulator(SimConfig(corp_id="wwmore0000000001", secret="more-secret"), SimClock())
    server = ServerThread(sim.app).start()
    client = WeComClient(
        corp_id=sim.config.corp_id,
        secret=sim.config.secret,
        api_base=server.url,
        token_cache=TokenCache(),
        limiter=RateLimiter(),
        sleep=lambda _s: None,
    )
    sc = sim.scenario
    for u in ("amy", "bob"):
        sc.add_staff(u)
    for i in range(12):
        ext = sc.new_customer(f"c{i}", external_userid=f"wmm{i:02d}")
        sc.add_friend(ext, userid="amy" if i < 8 else "bob")
    for n in range(3):
        chat = sc.create_group("amy", f"amy 的群 {n}", chat_id=f"wrchat{n}")
        sc.join_group(chat, "wmm00")
    sc.create_group("bob", "bob 的群", chat_id="wrbob")
    full_sync(session_factory(), workspace_id=workspace_id, gateway=client)
    with session_scope() as s:
        ws = s.get(Workspace, workspace_id)
        assert ws is not None
        ws.settings = {**ws.settings, "outbound": {"quiet_hours": ""}}
    send_tasks.GATEWAY.append(lambda _s, _w: client)
    sim.client = client  # type: ignore[attr-defined]
    yield sim
    send_tasks.GATEWAY.pop()
    client.close()
    server.stop()


def test_group_send_to_an_owners_groups(cli: CliRun, live: Simulator) -> None:
    made = _js(
        cli("sends", "create", "--title", "群公告", "--text", "今晚 8 点直播", "--owner", "amy", "--json")
    )
    assert made["kind"] == "group"
    planned = _js(cli("sends", "plan", made["id"], "--json"))
    assert (planned["targeted"], planned["calls"], planned["holdout"]) == (3, 1, 0)
    cli("sends", "deliver", made["id"])
    (msg,) = [m for m in live.state.mass_sends.values() if m.chat_type == "group"]
    assert sorted(msg.targets["amy"]) == ["wrchat0", "wrchat1", "wrchat2"]
    live.scenario.confirm_mass_send(msg.msgid, "amy")
    cli("sends", "follow")
    shown = _js(cli("sends", "show", made["id"], "--json"))
    assert shown["status"] == "settled"
    assert shown["results"] == {"sent": 3}


def test_staff_made_sends_count_against_the_quota(cli: CliRun, session: Session, live: Simulator) -> None:
    live.config.quota_mode = "day1"
    msgid = staff_mass_send(live.state, "amy", [f"wmm{i:02d}" for i in range(5)], "我自己发的")
    live.scenario.confirm_mass_send(msgid, "amy")
    pulled = _js(cli("sends", "receipts", "--json"))
    assert pulled["receipts"] == 5
    assert _js(cli("sends", "receipts", "--json"))["receipts"] == 0  # no double counting
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(MassReceipt)) == 5
    with session_scope() as s:
        ws = s.scalar(select(Workspace))
        assert ws is not None
        ws.settings = {
            **ws.settings,
            "outbound": {"quiet_hours": "", "wecom_quota": "day1", "freq_cap_per_7d": 5},
        }
    made = _js(
        cli(
            "sends",
            "create",
            "--title",
            "x",
            "--text",
            "hi",
            "--audience",
            "staff:amy or staff:bob",
            "--holdout",
            "0",
            "--json",
        )
    )
    planned = _js(cli("sends", "plan", made["id"], "--json"))
    assert planned["removed"]["wecom_quota"] == 5
    assert planned["targeted"] == 7
    cli("sends", "deliver", made["id"])
    now = int(utcnow().timestamp())
    client: WeComClient = live.client  # type: ignore[attr-defined]
    for filter_type, want in ((1, {msgid}), (2, set(live.state.mass_sends))):
        req = GroupMsgListRequest(start_time=now - 3600, end_time=now + 60, filter_type=filter_type)
        assert {m.msgid for m in client.get_groupmsg_list_v2(req).group_msg_list} == want
    # A second send the same day: everyone already has their one message (pending counts).
    again = _js(
        cli(
            "sends",
            "create",
            "--title",
            "y",
            "--text",
            "hi",
            "--audience",
            "staff:amy or staff:bob",
            "--holdout",
            "0",
            "--json",
        )
    )
    assert _js(cli("sends", "plan", again["id"], "--json"))["removed"]["wecom_quota"] == 12


def test_files_go_up_as_media_and_are_uploaded_again_when_expired(
    cli: CliRun, session: Session, live: Simulator, tmp_path: Path
) -> None:
    with session_scope() as s:  # three sends to the same people in a row
        ws = s.scalar(select(Workspace))
        assert ws is not None
        ws.settings = {**ws.settings, "outbound": {"quiet_hours": "", "freq_cap_per_7d": 10}}
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (10 * 1024 * 1024 + 1))
    r = cli("content", "add", "image", "--title", "太大", "--file", big, expect=2)
    assert "10 MB" in r.stderr
    assert "(path)" in r.stderr
    bmp = tmp_path / "a.bmp"
    bmp.write_bytes(PNG)
    assert "(path)" in cli("content", "add", "image", "--title", "bmp", "--file", bmp, expect=2).stderr
    png = tmp_path / "poster.png"
    png.write_bytes(PNG)
    item = _js(cli("content", "add", "image", "--title", "海报", "--file", png, "--json"))
    assert item["media_id"] is None

    def send() -> str:
        made = _js(
            cli(
                "sends",
                "create",
                "--title",
                "海报",
                "--content",
                item["id"],
                "--audience",
                "staff:bob",
                "--holdout",
                "0",
                "--json",
            )
        )
        cli("sends", "plan", made["id"])
        cli("sends", "deliver", made["id"])
        msg = list(live.state.mass_sends.values())[-1]
        return str(msg.attachments[0]["image"]["media_id"])

    first = send()
    session.expire_all()
    assert session.scalar(select(ContentItem.media_id)) == first
    assert send() == first  # still valid: no new upload
    with session_scope() as s:
        s.execute(update(ContentItem).values(media_expires_at=utcnow()))
    third = send()
    assert third != first
    assert session.scalar(select(func.count()).select_from(SendRecipient)) == 12


def test_late_opt_out_is_dropped_and_cancel_stops_the_rest(
    cli: CliRun, session: Session, live: Simulator
) -> None:
    from siyu.models import Follow, Send
    from siyu.privacy.service import set_opt_out
    from siyu.wecom.simulator.state import SimError

    made = _js(
        cli(
            "sends",
            "create",
            "--title",
            "x",
            "--text",
            "hi",
            "--audience",
            "staff:amy or staff:bob",
            "--holdout",
            "0",
            "--json",
        )
    )
    cli("sends", "plan", made["id"])
    with session_scope() as s:  # opts out after the freeze, before the WeCom call
        cid = s.scalar(select(Follow.customer_id).where(Follow.external_userid == "wmm03"))
        assert cid is not None
        set_opt_out(
            s, workspace_id=s.scalar(select(Workspace.id)) or 0, customer_id=cid, opt_out=True, actor="t"
        )
    cli("sends", "deliver", made["id"])
    sent_to = {e for m in live.state.mass_sends.values() for t in m.targets.values() for e in t}
    assert "wmm03" not in sent_to
    assert len(sent_to) == 11
    by_user = {u: m.msgid for m in live.state.mass_sends.values() for u in m.targets}
    live.scenario.confirm_mass_send(by_user["bob"], "bob")
    cli("sends", "follow")
    out = _js(cli("sends", "cancel", made["id"], "--json"))
    assert out["batches_stopped"] == 1
    assert live.state.mass_sends[by_user["amy"]].cancelled
    with pytest.raises(SimError):
        live.scenario.confirm_mass_send(by_user["amy"], "amy")
    shown = _js(cli("sends", "show", made["id"], "--json"))
    assert shown["status"] == "cancelled"
    assert shown["results"] == {"sent": 4, "cancelled": 7}
    cli("sends", "cancel", made["id"], expect=2)
    session.expire_all()
    assert session.scalar(select(Send.status)) == "cancelled"


def test_mini_program_in_a_send(cli: CliRun, tmp_path: Path, live: Simulator) -> None:
    from siyu.wecom.errors import WeComError
    from siyu.wecom.schemas import Attachment, MsgTemplateRequest, Text

    cover = tmp_path / "cover.png"
    cover.write_bytes(PNG)
    good = ("--appid", "wx8bd80126147dfa01", "--page", "pages/shop/index.html")
    no_cover = cli("content", "add", "miniprogram", "--title", "商城", *good, expect=2).stderr
    assert "cover picture" in no_cover
    bad_page = ("--appid", "wx8bd80126147dfa01", "--page", "pages/shop/index", "--file", cover)
    assert "(page)" in cli("content", "add", "miniprogram", "--title", "商城", *bad_page, expect=2).stderr
    bad_appid = ("--appid", "shop", "--page", "pages/i.html", "--file", cover)
    assert "(appid)" in cli("content", "add", "miniprogram", "--title", "商城", *bad_appid, expect=2).stderr
    long_title = "超长标题" * 6  # 72 bytes
    assert (
        "64 bytes"
        in cli(
            "content", "add", "miniprogram", "--title", long_title, *good, "--file", cover, expect=2
        ).stderr
    )
    item = _js(cli("content", "add", "miniprogram", "--title", "会员商城", *good, "--file", cover, "--json"))
    assert item["body"]["page"] == "pages/shop/index.html"
    made = _js(
        cli(
            "sends", "create", "--title", "上新", "--text", "新品上架", "--content", item["id"],
            "--audience", "staff:bob", "--holdout", "0", "--json",
        )
    )  # fmt: skip
    cli("sends", "plan", made["id"])
    cli("sends", "deliver", made["id"])
    (msg,) = live.state.mass_sends.values()
    (att,) = msg.attachments
    assert att["msgtype"] == "miniprogram"
    mini = att["miniprogram"]
    assert (mini["title"], mini["appid"], mini["page"]) == (
        "会员商城",
        "wx8bd80126147dfa01",
        "pages/shop/index.html",
    )
    assert mini["pic_media_id"] in live.state.media  # type: ignore[attr-defined]
    # The simulator refuses what WeCom refuses: a page without .html.
    client: WeComClient = live.client  # type: ignore[attr-defined]
    wrong = {**mini, "page": "pages/shop/index"}
    with pytest.raises(WeComError) as err:
        client.add_msg_template(
            MsgTemplateRequest(
                external_userid=["wmm09"], sender="bob", text=Text(content="x"),
                attachments=[Attachment.model_validate({"msgtype": "miniprogram", "miniprogram": wrong})],
            )
        )  # fmt: skip
    assert ".html" in str(err.value)


def test_split_per_account_and_reproducible_holdout(
    cli: CliRun, session: Session, live: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accounts over the per-call limit get one batch per run of it; the holdout is the hash draw."""
    from siyu.automation.sends import planner
    from siyu.models import Send, SendBatch

    monkeypatch.setattr(planner, "MAX_PER_CALL", 3)
    made = _js(
        cli("sends", "create", "--title", "x", "--text", "hi", "--audience", "staff:amy or staff:bob",
            "--holdout", "0", "--json")
    )  # fmt: skip
    planned = _js(cli("sends", "plan", made["id"], "--json"))
    assert (planned["targeted"], planned["calls"], planned["min_calls"]) == (12, 5, 5)
    session.expire_all()
    batches = session.scalars(select(SendBatch).order_by(SendBatch.seq)).all()
    assert [b.seq for b in batches] == [1, 2, 3, 4, 5]
    assert sorted(b.size for b in batches) == [1, 2, 3, 3, 3]
    for b in batches:
        rows = session.scalars(select(SendRecipient).where(SendRecipient.batch_seq == b.seq)).all()
        assert len(rows) == b.size
        assert {r.staff_id for r in rows} == {b.staff_id}
    cli("sends", "deliver", made["id"])
    calls = list(live.state.mass_sends.values())
    assert sorted(len(t) for m in calls for t in m.targets.values()) == [1, 2, 3, 3, 3]
    assert len({e for m in calls for t in m.targets.values() for e in t}) == 12

    # A 40 % holdout: exactly the customers whose hash draw falls under 4,000.
    monkeypatch.setattr(planner, "MAX_PER_CALL", 10_000)
    with session_scope() as s:
        ws = s.scalar(select(Workspace))
        assert ws is not None
        ws.settings = {**ws.settings, "outbound": {"quiet_hours": "", "freq_cap_per_7d": 10}}
    again = _js(
        cli("sends", "create", "--title", "y", "--text", "hi", "--audience", "staff:amy or staff:bob",
            "--holdout", "40", "--json")
    )  # fmt: skip
    cli("sends", "plan", again["id"])
    session.expire_all()
    seed = session.scalar(select(Send.holdout_seed).where(Send.id == again["id"]))
    assert seed is not None
    arms = dict(
        session.execute(
            select(SendRecipient.customer_id, SendRecipient.arm).where(SendRecipient.send_id == again["id"])
        ).all()
    )
    assert len(arms) == 12
    expected = {c: "holdout" if planner.holdout_hash(c, seed) < 4000 else "target" for c in arms}
    assert arms == expected


def test_deleting_a_send_or_its_workspace_deletes_its_recipients(
    cli: CliRun, session: Session, live: Simulator, workspace_id: int
) -> None:
    """send_recipients has no foreign keys (ADR 0008): the trigger on sends keeps the cascade."""
    from sqlalchemy import delete

    from siyu.models import Send, SendBatch

    ids = []
    for title in ("一", "二"):
        made = _js(
            cli("sends", "create", "--title", title, "--text", "hi", "--audience", "staff:amy", "--json")
        )
        assert _js(cli("sends", "plan", made["id"], "--json"))["audience"] == 8
        ids.append(made["id"])

    def recipients(send_id: int) -> int:
        session.expire_all()
        return int(session.scalar(select(func.count()).where(SendRecipient.send_id == send_id)) or 0)

    assert [recipients(i) for i in ids] == [8, 8]
    with session_scope() as s:
        s.execute(delete(Send).where(Send.id == ids[0]))
    assert [recipients(i) for i in ids] == [0, 8]
    with session_scope() as s:
        s.execute(delete(Workspace).where(Workspace.id == workspace_id))
    assert recipients(ids[1]) == 0
    assert session.scalar(select(func.count()).select_from(SendBatch)) == 0
