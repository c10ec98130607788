"""Demo step: the brand's channels (渠道活码) with costs, pools, welcomes and entry tags.

A dozen channels made through ``siyu.acquisition.channels`` (the five live codes the
WeCom step's friends came through, plus seven newer ones and a group code), their
WeCom codes created in the demo's simulator through the same sync the worker runs,
and friends arriving through the new codes: each add is routed by the simulator
among the code's members, greeted through ``siyu.acquisition.welcome`` and tagged
with the channel's entry tags, then the contacts come in through the WeCom sync.
Everything is derived from the demo seed: a re-run finds the same channels and
customers and adds nothing.

A channel's cost is what it costs for its whole life (the P&L and the funnel spread it
over its adds), so the demo sets it from a realistic price per friend (a parcel card
¥1.50, a live room ¥25, a KOL ¥40 ...) × the friends the channel brings in this demo:
costs grow with ``--customers`` like the revenue does, and the P&L's channel cost stays
in proportion to it.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import func, select

from siyu.acquisition import channels as svc
from siyu.acquisition.sync import sync_channel
from siyu.acquisition.welcome import AddInfo, greet
from siyu.customers.tags import add_tags, ensure_tag
from siyu.kit.db import session_factory, session_scope
from siyu.models import Channel, Follow, Group, Staff, WeComApp, Workspace

if TYPE_CHECKING:
    from siyu.demo.service import DemoContext

ACTOR = "demo"
# (state, name, group, cost per friend in fen, pool userids, strategy, entry tag, welcome)
CHANNELS: list[tuple[str, str, str, int | None, list[str], str, str, str]] = [
    ("douyin_live", "抖音直播间", "线上", 2_500, ["qh_lin", "qh_zhou"], "capacity_first", "抖音",
     "{客户昵称}你好呀～我是青禾的{员工姓名}，直播间专属福利券已备好，回复「券」领取"),
    ("xhs_note", "小红书笔记", "线上", 1_500, ["qh_chen", "qh_wang"], "weighted", "小红书",
     "{客户昵称}你好，我是{员工姓名}，笔记里的试用装给你留着，留个地址就寄～"),
    ("package_card", "包裹卡", "电商", 150, ["qh_kefu"], "wecom", "包裹卡",
     "感谢购买青禾！我是售后{员工姓名}，有任何使用问题随时找我，回复「礼」领取复购礼"),
    ("store_qr_hz", "杭州门店收银台", "门店", None, ["qh_zhao"], "wecom", "门店",
     "欢迎光临青禾杭州店，我是店长{员工姓名}，到店出示本消息享会员价"),
    ("store_qr_sh", "上海门店收银台", "门店", None, ["qh_liu"], "wecom", "门店",
     "欢迎光临青禾上海店，我是{员工姓名}，新品到店第一时间通知你"),
    ("tmall_shop", "天猫店铺首页", "电商", 300, ["qh_kefu", "qh_wang"], "least_loaded", "天猫",
     "{客户昵称}你好，我是青禾官方顾问{员工姓名}，天猫下单后发订单号给我领赠品"),
    ("oa_menu", "公众号菜单", "自有", None, ["qh_chen", "qh_zhou"], "wecom", "公众号",
     "你好，我是{员工姓名}，护肤问题都可以问我"),
    ("moments_ad", "朋友圈广告", "投放", 3_500, ["qh_lin", "qh_chen", "qh_zhou"], "capacity_first",
     "广告",
     "{客户昵称}你好，广告里的 9.9 元体验装链接在这里，我是{员工姓名}"),
    ("sms_recall", "短信召回", "投放", 200, ["qh_kefu"], "wecom", "短信",
     "好久不见！我是青禾的{员工姓名}，老客回归礼已放进你的账户"),
    ("channels_live", "视频号直播", "线上", 1_200, ["qh_wang", "qh_zhou"], "weighted", "视频号",
     "{客户昵称}你好，视频号直播间的福利我私信发你，我是{员工姓名}"),
    ("kol_collab", "达人合作", "投放", 4_000, ["qh_lin", "qh_liu"], "least_loaded", "达人",
     "你好呀，我是{员工姓名}，达人专属折扣码：QH2026"),
]  # fmt: skip
# A 获客助手 link for the Douyin ads (where no QR code can go), and a store channel whose
# landing page routes to the nearer of two stores: (name, city, lat, lng, staff userid).
LINK = ("douyin_ads", "抖音信息流广告", "投放", 3_000, ["qh_lin", "qh_wang"], "抖音广告",
        "{客户昵称}你好，我是{员工姓名}，广告里的新人礼包已为你预留，回复「礼包」领取")  # fmt: skip
STORES = [
    ("湖滨店", "杭州", 30.2590, 120.1650, "qh_zhao", "上城区东坡路 7 号"),
    ("静安店", "上海", 31.2290, 121.4480, "qh_liu", "南京西路 1266 号"),
]
STORE_CHANNEL = ("stores", "门店导流页", "门店", "门店",
                 "欢迎来到青禾门店，我是{员工姓名}，到店报手机号享会员价")  # fmt: skip
LINK_FRIENDS, STORE_FRIENDS = 8, 5  # per link / per store
NEW_FRIENDS = {"tmall_shop": 18, "oa_menu": 10, "moments_ad": 24, "sms_recall": 8, "channels_live": 14,
               "kol_collab": 16}  # fmt: skip
NIGHT = "夜深了，{员工姓名}明早 9 点回复你，先送你一张早安券～"
WEEKEND = "周末好！{员工姓名}今天也在线，周末下单包邮"
VARIANTS = {"night": {"text": NIGHT}, "weekend": {"text": WEEKEND}}


def _id(prefix: str, seed: int, *parts: object) -> str:
    digest = hashlib.sha256(f"{seed}|channels|{'|'.join(map(str, parts))}".encode()).hexdigest()
    return prefix + digest[:30]


def _cost(s: Any, workspace_id: int, state: str, per_friend: int | None, planned: int) -> int | None:
    """The channel's whole-life cost: its price per friend × the friends it brings here (those
    the WeCom step added through it, or the ``planned`` adds of this step)."""
    if per_friend is None:
        return None
    came = s.scalar(
        select(func.count())
        .select_from(Follow)
        .where(Follow.workspace_id == workspace_id, Follow.live_code_state == state)
    )
    return per_friend * max(int(came or 0), planned, 1)


def _ensure_channels(workspace_id: int) -> list[int]:
    ids: list[int] = []
    with session_scope() as s:
        staff = {
            st.userid: st.id for st in s.scalars(select(Staff).where(Staff.workspace_id == workspace_id))
        }
        for state, name, group, cost, pool, strategy, tag, text in CHANNELS:
            found = svc.channel_by_state(s, workspace_id=workspace_id, state=state)
            if found is not None:
                ids.append(found.id)
                continue
            members = [staff[u] for u in pool if u in staff]
            if not members:
                continue
            tag_id = ensure_tag(s, workspace_id=workspace_id, name=tag, group_name="来源").id
            ch = svc.create_channel(
                s,
                workspace_id=workspace_id,
                data=svc.ChannelInput(
                    name=name, group_name=group, state=state, tag_ids=[tag_id],
                    cost_fen=_cost(s, workspace_id, state, cost, NEW_FRIENDS.get(state, 0)),
                    pool={"staff_ids": members, "strategy": strategy, "landing": state == "moments_ad"},
                    welcome={"text": text, "variants": VARIANTS},
                ),
                actor=ACTOR,
            )  # fmt: skip
            ids.append(ch.id)
        chats = list(
            s.scalars(
                select(Group.chat_id).where(Group.workspace_id == workspace_id).order_by(Group.id).limit(2)
            )
        )
        if chats and svc.channel_by_state(s, workspace_id=workspace_id, state="vip_group") is None:
            join = svc.create_channel(
                s, workspace_id=workspace_id,
                data=svc.ChannelInput(name="老客福利群码", group_name="社群", kind="join_way",
                                      state="vip_group", chat_ids=chats),
                actor=ACTOR,
            )  # fmt: skip
            ids.append(join.id)
            # The package card's welcome invites new friends into the group.
            card = svc.channel_by_state(s, workspace_id=workspace_id, state="package_card")
            if card is not None:
                card.welcome = {**card.welcome, "join_channel_id": join.id}
        ids.extend(_link_and_stores(s, workspace_id, staff))
    return ids


def _link_and_stores(s: Any, workspace_id: int, staff: dict[str, int]) -> list[int]:
    """The 获客助手 link channel and the store channel (with its two stores)."""
    from siyu.acquisition import stores

    ids: list[int] = []
    state, name, group, cost, pool, tag, text = LINK
    found = svc.channel_by_state(s, workspace_id=workspace_id, state=state)
    members = [staff[u] for u in pool if u in staff]
    if found is None and members:
        tag_id = ensure_tag(s, workspace_id=workspace_id, name=tag, group_name="来源").id
        found = svc.create_channel(
            s, workspace_id=workspace_id,
            data=svc.ChannelInput(name=name, group_name=group, kind="link", state=state,
                                  cost_fen=_cost(s, workspace_id, state, cost, LINK_FRIENDS),
                                  tag_ids=[tag_id], pool={"staff_ids": members, "strategy": "capacity_first"},
                                  welcome={"text": text, "variants": VARIANTS}),
            actor=ACTOR,
        )  # fmt: skip
    if found is not None:
        ids.append(found.id)
    existing = {st.name for st in stores.list_stores(s, workspace_id=workspace_id)}
    for sname, city, lat, lng, userid, address in STORES:
        if sname not in existing and userid in staff:
            stores.create_store(
                s, workspace_id=workspace_id,
                data=stores.StoreInput(name=sname, city=city, lat=lat, lng=lng, address=address,
                                       staff_ids=[staff[userid]]),
                actor=ACTOR,
            )  # fmt: skip
    state, name, group, tag, text = STORE_CHANNEL
    ch = svc.channel_by_state(s, workspace_id=workspace_id, state=state)
    if ch is None and stores.list_stores(s, workspace_id=workspace_id):
        tag_id = ensure_tag(s, workspace_id=workspace_id, name=tag, group_name="来源").id
        ch = svc.create_channel(
            s, workspace_id=workspace_id,
            data=svc.ChannelInput(name=name, group_name=group, kind="store", state=state, tag_ids=[tag_id],
                                  welcome={"text": text}),
            actor=ACTOR,
        )  # fmt: skip
    if ch is not None:
        ids.append(ch.id)
    return ids


def _sync(workspace_id: int, ids: list[int], gateway: Any) -> int:
    ok = 0
    for cid in ids:
        with session_scope() as s:
            ch = s.get(Channel, cid)
            assert ch is not None
            sync_channel(s, ch, gateway)
            ok += ch.sync_status == "ok"
    return ok


def _friends(ctx: DemoContext, workspace_id: int, api_base: str, gateway: Any) -> int:
    rng = random.Random(f"channels-{ctx.seed}")
    factory = session_factory()
    added = 0
    with session_scope() as s:
        codes = {
            c.state: c.config_id
            for c in s.scalars(
                select(Channel).where(Channel.workspace_id == workspace_id, Channel.config_id.is_not(None))
            )
        }
        known = set(s.scalars(select(Follow.external_userid).where(Follow.workspace_id == workspace_id)))
        # (state the add carries, simulator action, its arguments but the customer, how many)
        plan: list[tuple[str, str, dict[str, Any], int]] = [
            (state, "add_friend", {"config_id": codes[state]}, n)
            for state, n in NEW_FRIENDS.items()
            if codes.get(state)
        ]
        link = svc.channel_by_state(s, workspace_id=workspace_id, state=LINK[0])
        if link is not None and link.link_url:
            plan.append((link.state, "add_friend_via_link", {"url": link.link_url}, LINK_FRIENDS))
        store_ch = svc.channel_by_state(s, workspace_id=workspace_id, state=STORE_CHANNEL[0])
        for store_id, per in sorted(
            ((store_ch.settings or {}).get("store_codes") or {}).items() if store_ch else []
        ):
            for code in list(per.values())[:1]:
                sub = svc.store_state(store_ch, int(store_id)) if store_ch else ""
                plan.append((sub, "add_friend", {"config_id": code["config_id"]}, STORE_FRIENDS))
    with httpx.Client(base_url=api_base, timeout=10) as sim:
        for state, action, args, n in plan:
            for i in range(n):
                ext = _id("wm", ctx.seed, state, i)
                if ext in known:
                    continue
                name = (
                    rng.choice("晓雨佳欣梦思雅静")
                    + rng.choice("晨琳彤妍怡涵")
                    + ("" if rng.random() < 0.5 else "呀")
                )
                made = sim.post("/_sim/action/new_customer", json={"name": name, "external_userid": ext})
                if made.status_code != 200:
                    continue
                res = sim.post(f"/_sim/action/{action}", json={"external_userid": ext, **args})
                if res.status_code != 200:
                    continue
                userid, code = res.json()["result"]
                info = AddInfo(f"demo:{ext}", userid, ext, state, code or "", None)
                greet(factory, workspace_id, info, via="demo", gateway=gateway)
                added += 1
    return added


def _entry_tags(workspace_id: int) -> int:
    """Channel tags onto the friends who came through each channel (as the subscriber does)."""
    tagged = 0
    with session_scope() as s:
        for ch in s.scalars(
            select(Channel).where(
                Channel.workspace_id == workspace_id, Channel.kind.in_(("contact_way", "link", "store"))
            )
        ):
            if not ch.tag_ids:
                continue
            came = Follow.live_code_state == ch.state
            if ch.kind == "store":  # credited per store: <state>~<store id>
                came = Follow.live_code_state.startswith(ch.state + svc.STORE_SEP, autoescape=True)
            cids = list(
                s.scalars(
                    select(Follow.customer_id).where(Follow.workspace_id == workspace_id, came).distinct()
                )
            )
            tagged += add_tags(s, workspace_id=workspace_id, customer_ids=cids, tag_ids=ch.tag_ids,
                               source="channel", source_ref=ch.state)  # fmt: skip
    return tagged


def seed(ctx: DemoContext) -> None:
    """The demo step (after the WeCom step): channels, their codes and new friends."""
    from siyu.wecom.gateway import client_for
    from siyu.wecom.sync import full_sync

    assert ctx.workspace_id is not None
    with session_scope() as s:
        app = s.scalar(select(WeComApp).where(WeComApp.workspace_id == ctx.workspace_id))
        ws = s.get(Workspace, ctx.workspace_id)
        if app is None or ws is None or not app.api_base:
            ctx.notes.append("channels: no WeCom simulator for the demo; channels skipped")
            return
        api_base = app.api_base
        client = client_for(s, ws)
    try:
        ids = _ensure_channels(ctx.workspace_id)
        synced = _sync(ctx.workspace_id, ids, client)
        added = _friends(ctx, ctx.workspace_id, api_base, client)
        if added:
            full_sync(session_factory(), workspace_id=ctx.workspace_id, gateway=client)
            _sync(ctx.workspace_id, ids, client)  # re-route after the adds
        tagged = _entry_tags(ctx.workspace_id)
    finally:
        client.close()
    ctx.notes.append(
        f"Channels: {len(ids)} channels ({synced} live in WeCom), {added} new friends through them, "
        f"{tagged:,} entry tags; see /channels"
    )
