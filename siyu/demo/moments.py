"""Demo step: the brand's moments — two past weeks with likes and comments, a planned week.

The guides posted moments of their own over the 14 days before the demo day (some days
fewer than the 3–5 target, one day in a burst), and their friends liked and commented
on them; all of it happens in the demo's simulator (through its control API, as a
person would) and comes into siyu through WeCom's moments API (``get_moment_list``,
``get_moment_comments``), so the interactions table, the ``moment.*`` events and
``last_interaction_at`` fill exactly as in production. Then a week of moments is planned
from tomorrow (one of them for repeat buyers only, through a corp tag). Deterministic for
the seed; a re-run adds nothing twice.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select

from siyu.kit.db import session_scope
from siyu.kit.timeutil import local_day, utcnow, zone
from siyu.models import Follow, Moment, Staff, Tag, WeComApp, Workspace

if TYPE_CHECKING:
    from siyu.demo.service import DemoContext

PAST_DAYS = 14
GUIDES = ["qh_lin", "qh_zhou", "qh_chen", "qh_wang", "qh_zhao", "qh_liu"]
POSTS = [
    "新品玻尿酸面霜到店，干皮姐妹冲！",
    "今天直播间福利：满 199 送小样三件套",
    "门店下午茶时间，欢迎来试用防晒新品",
    "换季护肤小贴士：先保湿，再修护",
    "客户返图：用了一个月精华，皮肤透亮了",
    "周末会员日，积分翻倍",
    "身体乳买一送一，最后一天",
    "早安，今天也要好好护肤",
]
PLANS = [
    (time(9, 30), "早安打卡：今天分享一个保湿小技巧", None),
    (time(12, 30), "午间福利：面霜小样限量领取，回复“领”即可", None),
    (time(20, 0), "晚上 8 点直播间见，新品首发价", None),
    (time(21, 0), "老客专享：复购满 299 减 50，仅限本周", "复购"),
]


def _mid(seed: int, *parts: object) -> str:
    raw = "|".join(str(p) for p in (seed, *parts))
    return "mom" + hashlib.sha256(raw.encode()).hexdigest()[:20]


def _act(http: httpx.Client, base: str, steps: list[dict[str, Any]]) -> list[Any]:
    """Scenario actions in the simulator, in order, in one request (``/_sim/actions``)."""
    resp = http.post(f"{base}/_sim/actions", json=steps)
    resp.raise_for_status()
    results: list[Any] = resp.json()["results"]
    return results


def seed(ctx: DemoContext) -> None:
    """The demo step (after the WeCom step): past moments, their reactions, a planned week."""
    from siyu.automation.moments.service import MomentInput, plan_moment
    from siyu.automation.moments.wecom import fetch_results
    from siyu.wecom.client import WeComClient
    from siyu.wecom.client.moments import MomentsClient
    from siyu.wecom.settings import resolve_app

    assert ctx.workspace_id is not None
    assert ctx.as_of is not None
    with session_scope() as s:
        ws = s.get(Workspace, ctx.workspace_id)
        assert ws is not None
        if s.scalar(select(WeComApp.id).where(WeComApp.workspace_id == ws.id)) is None:
            ctx.notes.append("moments: skipped (no WeCom simulator for the demo)")
            return
        app = resolve_app(s, ws)
        tz = ws.timezone
        friends: dict[str, list[str]] = {}
        for userid, ext in s.execute(
            select(Staff.userid, Follow.external_userid)
            .join(Follow, Follow.staff_id == Staff.id)
            .where(Staff.workspace_id == ws.id, Follow.state == "active", Staff.userid.in_(GUIDES))
            .order_by(Staff.userid, Follow.id)
        ):
            if ext:
                friends.setdefault(userid, []).append(ext)
    rng = random.Random(f"moments-{ctx.seed}")
    posted = reactions = 0
    with httpx.Client(timeout=30) as http:
        for userid in GUIDES:
            mine = friends.get(userid, [])
            for back in range(PAST_DAYS, 0, -1):
                day = ctx.as_of - timedelta(days=back)
                # Most days 2–5; some none (a gap); one day a burst of posts an hour apart.
                n = rng.choice([0, 2, 3, 3, 4, 4, 5, 6])
                hours = sorted(rng.sample(range(8, 23), n))
                if back == 3 and userid == "qh_zhou":
                    hours = [19, 19, 20]
                for i, hour in enumerate(hours):
                    at = datetime.combine(day, time(hour, rng.randrange(0, 50)), tzinfo=zone(tz))
                    mid = _mid(ctx.seed, userid, day, i)
                    # The post and its likes and comments, in that order, in one request.
                    text, stamp = rng.choice(POSTS), int(at.timestamp())
                    post = {"userid": userid, "text": text, "at": stamp, "moment_id": mid}
                    steps: list[dict[str, Any]] = [{"name": "post_moment", "args": post}]
                    posted += 1
                    for ext in rng.sample(mine, min(len(mine), rng.randrange(2, 12))) if mine else []:
                        kind = "like_moment" if rng.random() < 0.75 else "comment_moment"
                        when = at + timedelta(minutes=rng.randrange(1, 600))
                        steps.append({"name": kind, "args": {
                            "moment_id": mid, "userid": userid, "who": ext, "at": int(when.timestamp()),
                        }})  # fmt: skip
                        reactions += 1
                    _act(http, app.api_base, steps)
    with WeComClient(corp_id=app.corp_id, secret=app.secret, api_base=app.api_base) as client:
        gw = MomentsClient(client)
        with session_scope() as s:
            since = datetime.combine(ctx.as_of - timedelta(days=PAST_DAYS + 1), time(0), tzinfo=zone(tz))
            got = fetch_results(s, workspace_id=ctx.workspace_id, gateway=gw, since=since)
    today_task = _todays_corp_moment(ctx, app, tz)
    planned = 0
    with session_scope() as s:
        already = s.scalar(
            select(Moment.id).where(
                Moment.workspace_id == ctx.workspace_id,
                Moment.status == "planned",
                Moment.created_by == "demo",
            )
        )
        repeat = s.scalar(
            select(Tag.name).where(
                Tag.workspace_id == ctx.workspace_id, Tag.name == "复购", Tag.wecom_tag_id.is_not(None)
            )
        )
        if already is None:
            today = local_day(utcnow(), tz)
            for d in range(1, 8):
                day = today + timedelta(days=d)
                # A light day mid-week shows the "below target" flag.
                slots = PLANS[:2] if d == 3 else PLANS
                for i, (slot, text, tag) in enumerate(slots):
                    if tag and not repeat:
                        continue
                    senders = GUIDES if tag is None else GUIDES[:2]
                    if d % 2 == 0 and i == 1:
                        senders = GUIDES[:3]
                    when = datetime.combine(day, slot, tzinfo=zone(tz))
                    plan_moment(
                        s, workspace_id=ctx.workspace_id, actor="demo",
                        data=MomentInput(planned_at=when, staff_userids=senders, text=text,
                                         visible_tags=[tag] if tag else []),
                    )  # fmt: skip
                    planned += 1
    if today_task:
        ctx.notes.append(f"Moments: today's corp moment is published by {today_task} of {len(GUIDES)} guides")
    ctx.notes.append(
        f"Moments: {posted} past moments with {got['likes']:,} likes and {got['comments']:,} comments "
        f"({got['customers_touched']:,} customers touched); {planned} moments planned for the coming week"
    )


def _todays_corp_moment(ctx: DemoContext, app: Any, tz: str) -> int:
    """A moment handed to WeCom now, published by most guides (the rest get reminded)."""
    from siyu.automation.moments.service import MomentInput, plan_moment
    from siyu.automation.moments.wecom import create_task, poll_result, track_publishing
    from siyu.kit.db import session_factory
    from siyu.wecom.client import WeComClient
    from siyu.wecom.client.moments import MomentsClient

    assert ctx.workspace_id is not None
    with session_scope() as s:
        done = s.scalar(
            select(Moment.id).where(
                Moment.workspace_id == ctx.workspace_id,
                Moment.created_by == "demo",
                Moment.status != "planned",
            )
        )
        if done is not None:
            return 0
        m = plan_moment(
            s, workspace_id=ctx.workspace_id, actor="demo",
            data=MomentInput(planned_at=utcnow(), staff_userids=GUIDES, text="本周新品：玻尿酸面霜"),
        )  # fmt: skip
        moment_id = m.id
    with WeComClient(corp_id=app.corp_id, secret=app.secret, api_base=app.api_base) as client:
        gw = MomentsClient(client)
        create_task(session_factory(), workspace_id=ctx.workspace_id, moment_id=moment_id, gateway=gw)
        for n in (1, 2):
            with session_scope() as s:
                poll_result(s, workspace_id=ctx.workspace_id, moment_id=moment_id, n=n, gateway=gw)
        with session_scope() as s:
            wecom_id = s.scalar(select(Moment.wecom_moment_id).where(Moment.id == moment_id))
        if not wecom_id:
            return 0
        published = GUIDES[:4]
        with httpx.Client(timeout=30) as http:
            publish = [{"moment_id": wecom_id, "userid": userid} for userid in published]
            _act(http, app.api_base, [{"name": "publish_moment", "args": args} for args in publish])
        with session_scope() as s:
            track_publishing(s, workspace_id=ctx.workspace_id, gateway=gw)
    return len(published)
