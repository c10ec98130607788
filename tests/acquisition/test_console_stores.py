"""Console: stores (add with validation, delete), a store channel and a 获客助手 link channel."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.models import Channel, Staff, Store
from tests.web.test_console import client, csrf_of, login, seeded  # noqa: F401  (fixtures)


def test_stores_and_store_and_link_channels_in_the_console(client, seeded: int, session: Session) -> None:  # noqa: F811
    login(client)
    xiaomei = session.scalar(select(Staff.id).where(Staff.userid == "xiaomei"))
    page = client.get("/channels/stores")
    assert page.status_code == 200
    bad = {"name": "静安店", "city": "上海", "lat": "95", "lng": "121.4", "staff_ids": [str(xiaomei)],
           "csrf_token": csrf_of(page.text)}  # fmt: skip
    res = client.post("/channels/stores", data=bad)
    assert "lat 95" in res.text
    assert session.scalar(select(Store)) is None
    good = {**bad, "lat": "31.229", "address": "南京西路 1 号"}
    res = client.post("/channels/stores", data=good)
    assert "已添加门店「静安店」" in res.text
    assert "南京西路 1 号" in res.text
    store = session.scalar(select(Store))
    assert store is not None

    form = client.get("/channels/new")
    assert "门店导流" in form.text
    assert "静安店" in form.text
    res = client.post(
        "/channels",
        data={
            "name": "门店导流",
            "kind": "store",
            "store_ids": [str(store.id)],
            "csrf_token": csrf_of(form.text),
            "campaign_name": "老带新",
            "campaign_welcome": "老带新有礼",
        },
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    ch = session.scalar(select(Channel).where(Channel.kind == "store"))
    assert ch is not None
    assert ch.settings["store_ids"] == [store.id]
    assert ch.settings["campaign"]["welcome"]["text"] == "老带新有礼"
    shown = client.get(f"/channels/{ch.id}")
    assert f"/c/{ch.slug}" in shown.text
    assert "静安店" in shown.text
    assert "老带新有礼" in shown.text

    res = client.post(
        "/channels",
        data={"name": "短信", "kind": "link", "staff_ids": [str(xiaomei)], "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    link = session.scalar(select(Channel).where(Channel.kind == "link"))
    assert link is not None
    with session_scope() as s:
        row = s.get(Channel, link.id)
        assert row is not None
        row.link_url = row.qr_url = "https://work.weixin.qq.com/ca/cawcde1?customer_channel=" + row.state
        row.sync_status = "ok"
    shown = client.get(f"/channels/{link.id}")
    assert "获客助手链接" in shown.text
    assert "customer_channel=" in shown.text
    assert "获客助手使用量" in shown.text  # the paid quota (or why it cannot be read)
