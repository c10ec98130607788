"""渠道活码 pages: list with capacity alerts, the form, a channel with QR preview and routing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.models import Channel, Staff
from tests.web.test_console import client, csrf_of, login, seeded  # noqa: F401  (fixtures)


def test_operator_creates_a_channel_from_the_form_and_sees_it(client, seeded: int, session: Session) -> None:  # noqa: F811
    login(client)
    xiaomei = session.scalar(select(Staff.id).where(Staff.userid == "xiaomei"))
    form = client.get("/channels/new")
    assert form.status_code == 200
    assert "员工池" in form.text
    res = client.post(
        "/channels",
        data={
            "name": "门店收银台",
            "group_name": "门店",
            "cost": "88.50",
            "staff_ids": [str(xiaomei)],
            "strategy": "capacity_first",
            "threshold": "80",
            "tags": "来源/门店",
            "welcome_text": "欢迎光临，我是{员工姓名}",
            "night": "夜深了，明早回复",
            "skip_verify": "true",
            "csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    ch = session.scalar(select(Channel))
    assert ch is not None
    assert (ch.name, ch.cost_fen, ch.pool["strategy"], ch.pool["threshold"]) == (
        "门店收银台",
        8850,
        "capacity_first",
        0.8,
    )
    assert ch.welcome["variants"]["night"]["text"] == "夜深了，明早回复"
    with session_scope() as s:
        row = s.get(Channel, ch.id)
        assert row is not None
        row.qr_url, row.sync_status = "https://wework.qpic.cn/wwpic/sim/x/0", "ok"
        row.settings = {"members": ["xiaomei"]}
    listing = client.get("/channels")
    assert "门店收银台" in listing.text
    assert "已生效" in listing.text
    assert "¥88.50" in listing.text
    page = client.get(f"/channels/{ch.id}")
    assert page.status_code == 200
    assert f"/api/v1/channels/{ch.id}/qr.svg" in page.text
    assert "容量优先" in page.text
    assert "接待中" in page.text
    assert client.get(f"/api/v1/channels/{ch.id}/qr.svg").status_code == 200  # the preview, by cookie
    assert client.get(f"/channels/{ch.id}/edit").status_code == 200


def test_bad_form_input_is_refused_with_a_message(client, seeded: int, session: Session) -> None:  # noqa: F811
    login(client)
    form = client.get("/channels/new")
    res = client.post(
        "/channels",
        data={"name": "x", "state": "s" * 31, "csrf_token": csrf_of(form.text)},
        follow_redirects=True,
    )
    assert "无法创建渠道" in res.text
    assert session.scalar(select(Channel)) is None


def test_staff_see_only_their_pools_and_cannot_edit(client, seeded: int, session: Session) -> None:  # noqa: F811
    login(client, "mei")
    assert "还没有渠道" in client.get("/channels").text
    assert client.get("/channels/new", follow_redirects=False).status_code in (303, 403)


def test_the_form_attaches_library_items_to_the_welcome_and_keeps_the_rest(
    client, seeded: int, session: Session, tmp_path  # noqa: F811
) -> None:
    from siyu.automation.library import add_item
    from siyu.models import Workspace

    cover = tmp_path / "c.png"
    cover.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with session_scope() as s:
        ws = s.scalars(select(Workspace.id)).first()
        assert ws is not None
        mini = add_item(s, workspace_id=ws, kind="miniprogram", title="会员商城", path=cover,
                        store_dir=tmp_path,
                        body={"appid": "wx8bd80126147dfa01", "page": "pages/i.html"}).id  # fmt: skip
    login(client)
    xiaomei = session.scalar(select(Staff.id).where(Staff.userid == "xiaomei"))
    form = client.get("/channels/new")
    assert "小程序 · 会员商城" in form.text
    data = {"name": "包裹卡", "staff_ids": [str(xiaomei)], "welcome_text": "欢迎",
            "welcome_content_ids": [str(mini)], "csrf_token": csrf_of(form.text)}  # fmt: skip
    assert client.post("/channels", data=data, follow_redirects=False).status_code == 303
    ch = session.scalar(select(Channel))
    assert ch is not None
    assert ch.welcome["content_ids"] == [mini]
    # A raw attachment set through the API stays when the form is saved again.
    link = {"msgtype": "link", "link": {"title": "t", "url": "https://x.example"}}
    with session_scope() as s:
        row = s.get(Channel, ch.id)
        assert row is not None
        row.welcome = {**row.welcome, "attachments": [link]}
    edit = client.get(f"/channels/{ch.id}/edit")
    assert "checked" in edit.text.split("会员商城")[0].rsplit("<label", 1)[1]
    data = {**data, "welcome_text": "欢迎光临", "csrf_token": csrf_of(edit.text)}
    assert client.post(f"/channels/{ch.id}", data=data, follow_redirects=False).status_code == 303
    session.expire_all()
    ch = session.get(Channel, ch.id)
    assert ch is not None
    w = ch.welcome
    assert (w["text"], w["content_ids"], w["attachments"]) == ("欢迎光临", [mini], [link])
    data = {k: v for k, v in data.items() if k != "welcome_content_ids"}
    data["csrf_token"] = csrf_of(client.get(f"/channels/{ch.id}/edit").text)
    assert client.post(f"/channels/{ch.id}", data=data, follow_redirects=False).status_code == 303
    session.expire_all()
    ch = session.get(Channel, ch.id)
    assert ch is not None
    assert "content_ids" not in ch.welcome


def test_an_edit_that_changes_only_the_name_keeps_the_entry_tags(
    client, seeded: int, session: Session  # noqa: F811
) -> None:
    """The edit form shows the channel's entry tags and saving it as shown keeps them; a
    post without the field keeps them too; clearing the field takes them off."""
    from siyu.models import Tag

    login(client)
    xiaomei = session.scalar(select(Staff.id).where(Staff.userid == "xiaomei"))
    data = {"name": "门店收银台", "staff_ids": [str(xiaomei)], "tags": "来源/门店，复购"}
    res = client.post("/channels", data={**data, "csrf_token": csrf_of(client.get("/channels/new").text)},
                      follow_redirects=False)  # fmt: skip
    assert res.status_code == 303, res.text
    ch = session.scalar(select(Channel))
    assert ch is not None
    tags = list(ch.tag_ids)
    names = {t.id: t.name for t in session.scalars(select(Tag).where(Tag.id.in_(tags)))}
    assert sorted(names.values()) == ["复购", "门店"]
    edit = client.get(f"/channels/{ch.id}/edit")
    shown = edit.text.split('name="tags"')[1].split(">")[0]
    assert 'value="来源/门店，默认/复购"' in shown
    # The operator changes only the name: the browser sends the field as shown.
    form = {"name": "门店收银台（新）", "staff_ids": [str(xiaomei)], "tags": "来源/门店，默认/复购",
            "tags_shown": "true", "csrf_token": csrf_of(edit.text)}  # fmt: skip
    assert client.post(f"/channels/{ch.id}", data=form, follow_redirects=False).status_code == 303
    session.expire_all()
    ch = session.get(Channel, ch.id)
    assert ch is not None
    assert (ch.name, list(ch.tag_ids)) == ("门店收银台（新）", tags)
    # A post without the tags field at all (an older page) keeps them as well.
    bare = {k: v for k, v in form.items() if k not in ("tags", "tags_shown")}
    bare["name"] = "门店收银台"
    assert client.post(f"/channels/{ch.id}", data=bare, follow_redirects=False).status_code == 303
    session.expire_all()
    ch = session.get(Channel, ch.id)
    assert ch is not None
    assert (ch.name, list(ch.tag_ids)) == ("门店收银台", tags)
    page = client.get(f"/channels/{ch.id}").text
    assert "来源/门店、默认/复购" in page.split('id="channel-tags"')[1].split("</p>")[0]
    # Clearing the field is the operator's change: the tags come off.
    cleared = {**form, "tags": ""}
    assert client.post(f"/channels/{ch.id}", data=cleared, follow_redirects=False).status_code == 303
    session.expire_all()
    ch = session.get(Channel, ch.id)
    assert ch is not None
    assert list(ch.tag_ids or []) == []


def test_the_channel_page_lists_the_welcomes_library_items(
    client, seeded: int, session: Session, tmp_path  # noqa: F811
) -> None:
    from siyu.automation.library import add_item
    from siyu.models import Workspace

    cover = tmp_path / "c.png"
    cover.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with session_scope() as s:
        ws = s.scalars(select(Workspace.id)).first()
        assert ws is not None
        mini = add_item(s, workspace_id=ws, kind="miniprogram", title="会员商城", path=cover,
                        store_dir=tmp_path,
                        body={"appid": "wx8bd80126147dfa01", "page": "pages/i.html"}).id  # fmt: skip
        link = add_item(s, workspace_id=ws, kind="link", title="新客礼包",
                        body={"url": "https://shop.example/gift"}).id  # fmt: skip
        add_item(s, workspace_id=ws, kind="link", title="未选的链接", body={"url": "https://shop.example/x"})
    login(client)
    xiaomei = session.scalar(select(Staff.id).where(Staff.userid == "xiaomei"))
    form = client.get("/channels/new")
    data = {"name": "包裹卡", "staff_ids": [str(xiaomei)], "welcome_text": "欢迎",
            "welcome_content_ids": [str(mini), str(link)], "csrf_token": csrf_of(form.text)}  # fmt: skip
    assert client.post("/channels", data=data, follow_redirects=False).status_code == 303
    ch = session.scalar(select(Channel))
    assert ch is not None
    page = client.get(f"/channels/{ch.id}")
    assert page.status_code == 200
    listed = page.text.split('id="welcome-items"')[1].split("</ul>")[0]
    assert "小程序 · 会员商城" in listed
    assert "链接 · 新客礼包" in listed
    assert "未选的链接" not in listed
