"""Demo step: the demo brand's WeCom side, in a simulator, stored through siyu's sync.

Staff accounts (the brand's guides), live codes per channel, a few thousand friends
(most of them the brand's buyers: staff typed their phone into the remark, or WeChat
shares a unionid), corp tags, customer groups and a week of chats. Everything is
derived from the demo seed and day, so a re-run builds the same corp and the sync
changes nothing. The simulator keeps running (a daemon thread) while the demo serves
the console, and the workspace's WeCom app points at it.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from siyu.kit.db import session_factory, session_scope
from siyu.kit.timeutil import zone
from siyu.models import WeComApp, Workspace
from siyu.staff.service import ensure_staff
from siyu.wecom.client import WeComClient
from siyu.wecom.crypto import new_encoding_aes_key
from siyu.wecom.simulator.app import Simulator
from siyu.wecom.simulator.server import ServerThread
from siyu.wecom.simulator.state import SimClock, SimConfig

if TYPE_CHECKING:
    from siyu.demo.service import DemoContext

CORP_ID = "wwqinghedemo0001"
SECRET = "qinghe-demo-contact-secret"  # noqa: S105 (the demo simulator's own secret)
CALLBACK_TOKEN = "qinghedemo"  # noqa: S105
MAX_FRIENDS = 3000
# (userid, name, customer limit)
STAFF = [
    ("qh_lin", "林小青", 5000),
    ("qh_zhou", "周雨桐", 5000),
    ("qh_chen", "陈佳怡", 5000),
    ("qh_wang", "王梦瑶", 5000),
    ("qh_zhao", "赵思涵", 5000),
    ("qh_liu", "刘欣妍", 5000),
    ("qh_kefu", "青禾客服", 10000),
]
# live-code state -> (staff userids, share of friends)
CHANNELS = {
    "douyin_live": (["qh_lin", "qh_zhou"], 0.30),
    "xhs_note": (["qh_chen", "qh_wang"], 0.20),
    "package_card": (["qh_kefu"], 0.25),
    "store_qr_hz": (["qh_zhao"], 0.15),
    "store_qr_sh": (["qh_liu"], 0.10),
}
TAGS = {
    "客户等级": ["新客", "复购", "VIP"],
    "兴趣": ["面霜", "精华", "防晒", "身体乳"],
    "来源": ["抖音", "小红书", "包裹卡", "门店"],
}
GROUPS = [
    ("qh_lin", "青禾老客福利群①"),
    ("qh_chen", "青禾新品体验官"),
    ("qh_zhao", "青禾杭州门店会员群"),
    ("qh_kefu", "青禾售后答疑群"),
]
FRIEND_DAYS = 120  # friends are added over the 4 months up to yesterday
CHAT_DAYS = 7  # a week of chats, the last one yesterday
_SOURCE_TAG = {"douyin_live": "抖音", "xhs_note": "小红书", "package_card": "包裹卡"}


def _id(prefix: str, seed: int, *parts: object) -> str:
    digest = hashlib.sha256(f"{seed}|{'|'.join(map(str, parts))}".encode()).hexdigest()
    return prefix + digest[:30]


def _chats(sim: Simulator, rng: random.Random, exts: list[str]) -> None:
    """One day's conversations between some friends and their guides."""
    for _ in range(min(len(exts), 40)):
        ext = rng.choice(exts)
        follows = sim.state.follows_of_customer(ext)
        if follows:
            sim.scenario.chat(
                ext,
                follows[0].userid,
                customer_messages=rng.randrange(1, 5),
                staff_messages=rng.randrange(0, 4),
                reply_minutes=rng.uniform(1, 90),
            )


def build(sim: Simulator, ctx: DemoContext) -> dict[str, int]:
    """Fill the simulator from the demo's people (deterministic for seed and day)."""
    assert ctx.data is not None
    assert ctx.as_of is not None
    rng = random.Random(f"wecom-{ctx.seed}")
    sc, seed = sim.scenario, ctx.seed
    for userid, name, limit in STAFF:
        sc.add_staff(userid, name, customer_limit=limit)
    tag_ids: dict[str, str] = {}
    for group_name, names in TAGS.items():
        for name in names:
            tag_ids[name] = sc.admin_add_tag(
                group_name,
                name,
                tag_id=_id("et", seed, "tag", name),
                group_id=_id("et", seed, "group", group_name),
            )
    codes = {state: sc.live_code(state, users) for state, (users, _) in CHANNELS.items()}
    people = ctx.data.persons
    friends = min(MAX_FRIENDS, max(1, len(people) * 6 // 10))
    chosen = rng.sample(people, min(friends, len(people)))
    strangers = max(1, friends // 10)  # WeChat users who added the brand but never bought
    span = FRIEND_DAYS * 86400
    total = len(chosen) + strangers
    # The last friend is added at the clock's end (yesterday); adds spread evenly before.
    step = span / max(1, total - 1)
    end = sim.state.clock.now() + span
    states = list(CHANNELS)
    weights = [share for _, share in CHANNELS.values()]
    exts: list[str] = []
    # Chats on each of the last CHAT_DAYS days, between the friend adds of those days.
    chat_at = [end - (CHAT_DAYS - 1 - d) * 86400 - 3600 for d in range(CHAT_DAYS)]
    for i in range(total):
        while chat_at and exts and sim.state.clock.now() >= chat_at[0]:
            chat_at.pop(0)
            _chats(sim, rng, exts)
        person = chosen[i] if i < len(chosen) else None
        name = person.name if person is not None else f"微信用户{i:04d}"
        unionid = _id("oU", seed, "union", i) if rng.random() < 0.5 else None
        ext = sc.new_customer(name, unionid=unionid, gender=person.gender if person else 0,
                              external_userid=_id("wm", seed, "ext", i))  # fmt: skip
        state = rng.choices(states, weights)[0]
        # Most guides note the buyer's phone in the remark: that is how OneID links them.
        mobiles = [person.phone] if person is not None and rng.random() < 0.7 else []
        userid, _ = sc.add_friend(ext, config_id=codes[state], remark_mobiles=mobiles)
        marks = [tag_ids["新客"]]
        if state in _SOURCE_TAG:
            marks.append(tag_ids[_SOURCE_TAG[state]])
        if rng.random() < 0.3:
            marks.append(tag_ids[rng.choice(TAGS["兴趣"])])
        sc.edit_follow(userid, ext, remark=name if rng.random() < 0.4 else None, add_tags=marks)
        exts.append(ext)
        if i < total - 1:
            sc.advance(step)
    for _ in chat_at:  # a corp too small to reach every chat day still gets its chats
        _chats(sim, rng, exts)
    for owner, name in GROUPS:
        chat = sc.create_group(owner, name, staff=["qh_kefu"] if owner != "qh_kefu" else (),
                               chat_id=_id("wr", seed, "chat", name))  # fmt: skip
        for ext in rng.sample(exts, min(len(exts), rng.randrange(60, 200))):
            sc.join_group(chat, ext, scene=rng.choice((1, 2, 3)))
    return {"staff": len(STAFF), "friends": len(exts), "groups": len(GROUPS)}


def seed(ctx: DemoContext) -> None:
    """The demo step: build the corp, point the workspace at it, sync and mirror stats."""
    from siyu.wecom.settings import save_app
    from siyu.wecom.sync import full_sync, mirror_behavior

    assert ctx.as_of is not None
    assert ctx.workspace_id is not None
    # Friends were added over the 4 months up to yesterday (the demo's data ends the day
    # before it is built, like its order exports); the clock ends at noon yesterday.
    with session_scope() as session:
        ws_row = session.get(Workspace, ctx.workspace_id)
        tz = ws_row.timezone if ws_row is not None else "Asia/Shanghai"
    yesterday_noon = datetime.combine(ctx.as_of - timedelta(days=1), time(12, 0), tzinfo=zone(tz))
    start = yesterday_noon - timedelta(days=FRIEND_DAYS)
    sim = Simulator(SimConfig(corp_id=CORP_ID, secret=SECRET), SimClock(start=start.timestamp(), frozen=True))
    built = build(sim, ctx)
    server = ServerThread(sim.app).start()  # daemon thread: lives as long as the demo process
    with session_scope() as session:
        existing = session.scalar(select(WeComApp).where(WeComApp.workspace_id == ctx.workspace_id))
        if existing is not None and existing.corp_id != CORP_ID:
            ctx.notes.append("WeCom: the workspace has a real WeCom app configured; the demo left it alone")
            server.stop()
            return
        save_app(session, workspace_id=ctx.workspace_id, corp_id=CORP_ID, secret=SECRET,
                 token=CALLBACK_TOKEN, aes_key=new_encoding_aes_key(), api_base=server.url)  # fmt: skip
    with WeComClient(corp_id=CORP_ID, secret=SECRET, api_base=server.url) as client:
        counts = full_sync(session_factory(), workspace_id=ctx.workspace_id, gateway=client)
        with session_scope() as session:
            # The sync names the guides from the address book (user/get); their friend
            # limits are the corp's settings, which the demo knows.
            for userid, name, limit in STAFF:
                ensure_staff(session, workspace_id=ctx.workspace_id, userid=userid, name=name,
                             customer_limit=limit)  # fmt: skip
        with session_scope() as session:
            ws = session.get(Workspace, ctx.workspace_id)
            assert ws is not None
            stats = mirror_behavior(session, workspace_id=ws.id, gateway=client, days=7, tz=ws.timezone,
                                    today=ctx.as_of)  # fmt: skip
    ctx.notes.append(
        f"WeCom (simulator at {server.url}): {built['staff']} staff, {built['friends']:,} friends "
        f"({counts['follows_created']:,} new follows, {counts['customers_created']:,} new customers), "
        f"{built['groups']} groups, {stats['days_created'] + stats['days_updated']} staff-days of stats"
    )
