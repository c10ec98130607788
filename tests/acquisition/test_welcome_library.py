"""Welcomes that carry content-library items (image, link, mini-program, video, file):
checked at save, resolved and uploaded when sent the way mass sends are, re-uploaded
after WeCom's 3 days; the simulator checks a welcome's attachments as WeCom does."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition import welcome
from siyu.acquisition.channels import ChannelInput, create_channel, update_channel
from siyu.automation.library import add_item, content_store, delete_item
from siyu.kit.db import session_factory, session_scope
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import moved_clock
from siyu.models import Channel, ContentItem, WelcomeSend
from siyu.staff.service import ensure_staff
from siyu.wecom.errors import WeComError
from siyu.wecom.schemas import WelcomeMsgRequest
from tests.acquisition.conftest import Stack
from tests.conftest import CliRun

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
TUESDAY_10 = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
APPID = "wx8bd80126147dfa01"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIYU_CONTENT_DIR", str(tmp_path / "content"))
    cover = tmp_path / "cover.png"
    cover.write_bytes(PNG)
    return cover


class UploadingGateway:
    """Records uploads and welcomes (the unit tests' WeCom)."""

    def __init__(self) -> None:
        self.uploads: list[tuple[str, str]] = []
        self.sent: list[WelcomeMsgRequest] = []

    def upload_media(self, kind: str, filename: str, data: bytes) -> str:
        self.uploads.append((kind, filename))
        return f"media{len(self.uploads)}"

    def send_welcome_msg(self, req: WelcomeMsgRequest) -> None:
        self.sent.append(req)


def _items(workspace_id: int, cover: Path) -> dict[str, int]:
    with session_scope() as s:
        mini = add_item(s, workspace_id=workspace_id, kind="miniprogram", title="会员商城", path=cover,
                        store_dir=content_store(),
                        body={"appid": APPID, "page": "pages/shop/index.html"})  # fmt: skip
        image = add_item(
            s, workspace_id=workspace_id, kind="image", title="福利券", path=cover, store_dir=content_store()
        )
        link = add_item(s, workspace_id=workspace_id, kind="link", title="新人礼",
                        body={"url": "https://shop.example.com/gift"})  # fmt: skip
        text = add_item(s, workspace_id=workspace_id, kind="text", title="话术", text="你好")
        return {"mini": mini.id, "image": image.id, "link": link.id, "text": text.id}


_n = iter(range(1_000_000))


def _add(state: str, at: datetime) -> welcome.AddInfo:
    return welcome.AddInfo(f"k{next(_n)}", "zs", f"wmext{next(_n)}", state, "wc", at)


def test_library_items_are_uploaded_when_sent_and_again_after_three_days(
    session: Session, workspace_id: int, store: Path
) -> None:
    items = _items(workspace_id, store)
    with session_scope() as s:
        zs = ensure_staff(s, workspace_id=workspace_id, userid="zs", name="张三")
        ch = create_channel(
            s,
            workspace_id=workspace_id,
            data=ChannelInput(
                name="包裹卡",
                state="parcel",
                pool={"staff_ids": [zs.id]},
                welcome={"text": "欢迎", "content_ids": [items["mini"], items["image"], items["link"]]},
            ),
            actor="test",
        )
        state = ch.state
    gw = UploadingGateway()
    f = session_factory()
    with moved_clock(TUESDAY_10):
        assert welcome.greet(f, workspace_id, _add(state, TUESDAY_10), gateway=gw) == "sent"
    with moved_clock(TUESDAY_10 + timedelta(days=1)):
        assert (
            welcome.greet(f, workspace_id, _add(state, TUESDAY_10 + timedelta(days=1)), gateway=gw) == "sent"
        )
    # One upload per file while its media lives (the cover as an image, the image).
    assert gw.uploads == [("image", "cover.png"), ("image", "cover.png")]
    first = [a.model_dump() for a in gw.sent[0].attachments]
    assert [a["msgtype"] for a in first] == ["miniprogram", "image", "link"]
    assert first[0]["miniprogram"] == {
        "title": "会员商城", "pic_media_id": "media1", "appid": APPID, "page": "pages/shop/index.html",
    }  # fmt: skip
    assert first[1]["image"] == {"media_id": "media2"}
    assert "/r/" in first[2]["link"]["url"]  # the radar's tracked link, as in a mass send
    assert [a.model_dump() for a in gw.sent[1].attachments] == first  # same media, same link
    session.expire_all()
    mini = session.get(ContentItem, items["mini"])
    assert mini is not None
    assert mini.media_id == "media1"
    # Past WeCom's 3 days (within the hour's margin), the files go up again.
    later = TUESDAY_10 + timedelta(days=3)
    with moved_clock(later):
        assert welcome.greet(f, workspace_id, _add(state, later), gateway=gw) == "sent"
    assert len(gw.uploads) == 4
    third = [a.model_dump() for a in gw.sent[2].attachments]
    assert third[0]["miniprogram"]["pic_media_id"] == "media3"
    # An item deleted since: the welcome goes without it, and the row says so.
    with session_scope() as s:
        delete_item(s, workspace_id=workspace_id, content_id=items["image"])
    with moved_clock(later):
        assert welcome.greet(f, workspace_id, _add(state, later), gateway=gw) == "sent"
    assert [a.msgtype for a in gw.sent[3].attachments] == ["miniprogram", "link"]
    row = session.scalars(select(WelcomeSend).order_by(WelcomeSend.id.desc())).first()
    assert row is not None
    assert row.status == "sent"
    assert f"content {items['image']}" in (row.reason or "")


def test_bad_library_items_are_refused_at_save(session: Session, workspace_id: int, store: Path) -> None:
    items = _items(workspace_id, store)
    with session_scope() as s:
        zs = ensure_staff(s, workspace_id=workspace_id, userid="zs", name="张三")
        ch = create_channel(
            s, workspace_id=workspace_id,
            data=ChannelInput(name="门店", state="shop", pool={"staff_ids": [zs.id]}, welcome={"text": "hi"}),
            actor="test",
        )  # fmt: skip
        ch_id = ch.id
    raw = [{"msgtype": "link", "link": {"title": "t", "url": "https://x.example"}}] * 7
    bad: list[tuple[dict[str, Any], str]] = [
        (
            {"text": "hi", "attachments": raw, "content_ids": [items["mini"], items["image"], items["link"]]},
            "10",
        ),
        ({"text": "hi", "content_ids": [items["text"]]}, "is a text"),
        ({"text": "hi", "content_ids": [999_999]}, "content 999999 is unknown"),
        ({"text": "hi", "content_ids": ["x"]}, "list of ids"),
        ({"text": "hi", "variants": {"night": {"content_ids": [999_998]}}}, "welcome.variants.night"),
    ]
    for value, message in bad:
        with session_scope() as s, pytest.raises(Invalid) as err:
            update_channel(s, workspace_id=workspace_id, channel_id=ch_id,
                           data=ChannelInput(welcome=value), actor="test")  # fmt: skip
        assert message in err.value.message
    with session_scope() as s, pytest.raises(Invalid):
        welcome.set_default(s, workspace_id=workspace_id, staff_id=None,
                            welcome={"text": "x", "content_ids": [items["text"]]})  # fmt: skip
    session.expire_all()
    row = session.get(Channel, ch_id)
    assert row is not None
    assert row.welcome == {"text": "hi", "attachments": [], "variants": {}}  # nothing half-written


def _welcomes(session: Session, n: int) -> list[WelcomeSend]:
    deadline = time.monotonic() + 10
    while True:
        session.expire_all()
        rows = list(
            session.scalars(
                select(WelcomeSend).where(WelcomeSend.status != "sending").order_by(WelcomeSend.id)
            )
        )
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.mark.slow
def test_a_scanned_code_is_greeted_with_a_mini_program_through_the_simulator(
    stack: Stack, cli: CliRun, session: Session, store: Path
) -> None:
    sc = stack.sim.scenario
    sc.add_staff("zhangsan", "张三")
    cli("wecom", "sync", "--json")
    mini = json.loads(
        cli("content", "add", "miniprogram", "--title", "会员商城", "--appid", APPID,
            "--page", "pages/shop/index.html", "--file", store, "--json").stdout
    )  # fmt: skip
    made = json.loads(
        cli("channels", "create", "--name", "包裹卡", "--staff", "zhangsan", "--welcome", "欢迎{客户昵称}",
            "--attach-content", mini["id"], "--json").stdout
    )  # fmt: skip
    assert made["welcome"]["content_ids"] == [mini["id"]]
    assert "is unknown" in cli("channels", "edit", made["id"], "--attach-content", "424242", expect=2).stderr
    stack.drain()
    session.expire_all()
    ch = session.get(Channel, made["id"])
    assert ch is not None
    assert ch.sync_status == "ok", ch.sync_error
    ext = sc.new_customer("王小花")
    sc.add_friend(ext, config_id=ch.config_id)
    sent = _welcomes(session, 1)
    assert [(w.status, w.reason) for w in sent] == [("sent", None)]
    (body,) = stack.sim.state.welcome_msgs
    (att,) = body["attachments"]
    assert att["msgtype"] == "miniprogram"
    assert att["miniprogram"]["appid"] == APPID
    assert att["miniprogram"]["pic_media_id"] in stack.sim.state.media  # type: ignore[attr-defined]
    # The simulator refuses a welcome whose cover WeCom does not know, and a page without .html.
    client = welcome.cached_gateway(session, ch.workspace_id)
    for i, (wrong, why) in enumerate((
        ({**att["miniprogram"], "pic_media_id": "3nosuchmedia"}, "invalid media_id"),
        ({**att["miniprogram"], "page": "pages/shop/index"}, ".html"),
    )):  # fmt: skip
        code = f"fresh-code-{i}"
        stack.sim.state.welcome_codes[code] = (stack.sim.state.clock.now() + 20, False)
        req = WelcomeMsgRequest.model_validate(
            {"welcome_code": code, "attachments": [{"msgtype": "miniprogram", "miniprogram": wrong}]}
        )
        with pytest.raises(WeComError) as err:
            client.send_welcome_msg(req)
        assert why in str(err.value)


def test_library_files_go_to_the_content_dir_from_every_door(
    cli: CliRun, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``siyu content add --file`` keeps the file where the console and the API do
    (SIYU_CONTENT_DIR), by an absolute path; the tests' shared env points that outside the
    repository tree, so no test writes files into it."""
    repo = Path(__file__).resolve().parents[2]
    shared = Path(os.environ["SIYU_CONTENT_DIR"])
    assert shared.is_absolute()
    assert repo not in shared.parents
    assert content_store() == shared
    elsewhere = tmp_path / "library"
    monkeypatch.setenv("SIYU_CONTENT_DIR", str(elsewhere))
    cover = tmp_path / "cover.png"
    cover.write_bytes(PNG)
    item = json.loads(cli("content", "add", "image", "--title", "海报", "--file", cover, "--json").stdout)
    row = session.get(ContentItem, item["id"])
    assert row is not None
    stored = Path(row.body["stored_path"])
    assert stored.is_absolute()
    assert stored.parent == elsewhere
    assert stored.read_bytes() == PNG
    assert not (Path.cwd() / "content_files").exists()
    monkeypatch.setenv("SIYU_CONTENT_DIR", "rel")
    assert content_store() == Path.cwd() / "rel"
