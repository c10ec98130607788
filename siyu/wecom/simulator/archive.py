"""A simulated conversation archive: chats as the Finance SDK yields them once decrypted.

Given who is friends with whom (and since when) and each staff account's reply habit,
:func:`simulate_archive` writes months of 1:1 chats and group talk as archive records
(``msgid``, ``action``, ``from``, ``tolist``, ``roomid``, ``msgtime`` in ms, ``msgtype``
and its body): customers start conversations mostly in the day, staff answer after a
delay drawn from their habit (held until working hours when the message came at
night) or forget to answer at all, staff reach out to friends now and then, customers
agree (or not) to archiving when they are added. Deterministic for a seed.
:func:`archive_from_state` does the same for a running simulator's corp.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from siyu.wecom.simulator.state import SimState


@dataclass(frozen=True, slots=True)
class Habit:
    """How a staff account answers: the share of conversations it answers at all, and the
    median minutes to the first answer (log-normal around it, ``spread`` its sigma)."""

    answer_share: float = 0.9
    median_minutes: float = 8.0
    spread: float = 0.9
    outreach_per_month: float = 0.3  # messages a friend gets unprompted per month


DEFAULT_HABIT = Habit()
WORK_START, WORK_END = 9, 21  # local hours the staff work
CUSTOMER_OPENERS = (
    "在吗？",
    "你好，想问一下面霜怎么用",
    "我的快递到哪里了",
    "防晒可以用在脸上吗",
    "这个精华敏感肌能用吗",
    "上次买的身体乳很好用，还有活动吗",
    "请问有小样吗",
    "会员积分怎么查",
    "可以开发票吗",
    "直播间的优惠还有吗",
)
CUSTOMER_MORE = ("我是油皮", "平时熬夜比较多", "预算两百左右", "想送妈妈", "已经下单了")
STAFF_ANSWERS = (
    "您好，在的～",
    "亲，这款早晚都可以用，取黄豆大小",
    "帮您查了，快递明天到",
    "可以的，温和不刺激",
    "有的，给您留了一份小样",
    "积分在会员中心可以看到哦",
    "发票下单时可以备注",
    "优惠到今晚12点",
)
CUSTOMER_CLOSING = ("好的谢谢", "OK", "收到", "谢谢～", "好的")
OUTREACH = ("天气转凉，记得加强保湿哦", "新品体验装到了，需要给您寄一份吗", "会员日全场8折，来看看吧")
GROUP_TALK = ("今天有福利吗", "接龙+1", "收到", "什么时候发货", "好用！回购了", "求链接")
# A member's question to the group's owner: "@" + the owner's name + U+2005, as WeCom writes it.
GROUP_ASKS = ("这个还有货吗", "链接发一下", "敏感肌能用吗", "今天下单什么时候发", "赠品还有吗", "怎么领券")
MENTION_SHARE = 0.3  # of members' group messages that @ the owner


def _msgid(seed: int, n: int) -> str:
    return hashlib.sha256(f"archive|{seed}|{n}".encode()).hexdigest()[:32] + "_" + str(n)


def _in_work(at: datetime, tz: ZoneInfo) -> datetime:
    """The first moment at or after ``at`` that is inside working hours (local)."""
    local = at.astimezone(tz)
    if local.hour < WORK_START:
        local = local.replace(hour=WORK_START, minute=0, second=0, microsecond=0)
    elif local.hour >= WORK_END:
        local = (local + timedelta(days=1)).replace(hour=WORK_START, minute=0, second=0, microsecond=0)
    return local


def _day_time(rng: random.Random, day: datetime, tz: ZoneInfo) -> datetime:
    """A time on a local day, mostly in the day and evening (customers write 8–23 h)."""
    hour = rng.choices(
        range(24), weights=[1, 1, 0, 0, 0, 0, 1, 2, 4, 6, 7, 7, 6, 6, 6, 6, 6, 6, 7, 8, 9, 8, 5, 2]
    )[0]
    return datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=tz)


class _Writer:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.n = 0

    def record(
        self, sender: str, to: Sequence[str], at: datetime, text: str, roomid: str = ""
    ) -> dict[str, Any]:
        self.n += 1
        return {
            "msgid": _msgid(self.seed, self.n),
            "action": "send",
            "from": sender,
            "tolist": list(to),
            "roomid": roomid,
            "msgtime": int(at.timestamp() * 1000),
            "msgtype": "text",
            "text": {"content": text},
        }

    def consent(self, ext: str, userid: str, at: datetime, agree: bool) -> dict[str, Any]:
        self.n += 1
        kind = "agree" if agree else "disagree"
        ms = int(at.timestamp() * 1000)
        return {
            "msgid": _msgid(self.seed, self.n),
            "action": "send",
            "from": ext,
            "tolist": [userid],
            "roomid": "",
            "msgtime": ms,
            "msgtype": kind,
            kind: {"userid": ext, f"{kind}_time": ms},
        }


def _conversation(
    w: _Writer, rng: random.Random, ext: str, userid: str, at: datetime, habit: Habit, tz: ZoneInfo
) -> list[dict[str, Any]]:
    out = [w.record(ext, [userid], at, rng.choice(CUSTOMER_OPENERS))]
    t = at
    for _ in range(rng.choice((0, 0, 1, 2))):
        t += timedelta(seconds=rng.randrange(20, 180))
        out.append(w.record(ext, [userid], t, rng.choice(CUSTOMER_MORE)))
    if rng.random() >= habit.answer_share:
        return out  # forgotten: never answered
    delay = math.exp(rng.gauss(math.log(habit.median_minutes), habit.spread))
    t = _in_work(t, tz) + timedelta(minutes=min(delay, 600))
    for _ in range(rng.choice((1, 1, 2, 3))):
        out.append(w.record(userid, [ext], t, rng.choice(STAFF_ANSWERS)))
        t += timedelta(seconds=rng.randrange(15, 120))
    if rng.random() < 0.5:
        t += timedelta(minutes=rng.uniform(0.5, 30))
        out.append(w.record(ext, [userid], t, rng.choice(CUSTOMER_CLOSING)))
    return out


def simulate_archive(
    follows: Sequence[tuple[str, str, datetime]],
    *,
    start: datetime,
    end: datetime,
    habits: Mapping[str, Habit] | None = None,
    groups: Sequence[tuple[str, str, Sequence[str]]] = (),
    seed: int = 0,
    tz: str = "Asia/Shanghai",
    chats_per_month: float = 1.2,
    names: Mapping[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Archive records, in time order, for friendships ``(userid, external_userid, added_at)``
    between ``start`` and ``end``; ``groups`` are ``(chat_id, owner userid, member ids)``.

    With ``names`` (userid → display name), members @-mention the group's owner now and
    then, and the owner answers in the group by their reply habit (or never)."""
    zone = ZoneInfo(tz)
    rng = random.Random(f"archive-{seed}")
    w = _Writer(seed)
    habits = habits or {}
    records: list[dict[str, Any]] = []
    month = 30 * 86400
    for userid, ext, added_at in follows:
        habit = habits.get(userid, DEFAULT_HABIT)
        begin = max(start, added_at)
        if begin >= end:
            continue
        if added_at >= start:
            records.append(w.consent(ext, userid, added_at + timedelta(seconds=5), rng.random() < 0.95))
        span = (end - begin).total_seconds()
        # Some friends are chatty, many quiet: a per-friend rate (mean ``chats_per_month``).
        rate = chats_per_month * rng.expovariate(1.0)
        for _ in range(_poisson(rng, rate * span / month)):
            day = begin + timedelta(seconds=rng.uniform(0, span))
            at = _day_time(rng, day.astimezone(zone), zone)
            if begin <= at < end:
                records.extend(
                    r
                    for r in _conversation(w, rng, ext, userid, at, habit, zone)
                    if r["msgtime"] < end.timestamp() * 1000
                )
        for _ in range(_poisson(rng, habit.outreach_per_month * span / month)):
            at = _in_work(begin + timedelta(seconds=rng.uniform(0, span)), zone)
            if at >= end:
                continue
            records.append(w.record(userid, [ext], at, rng.choice(OUTREACH)))
            if rng.random() < 0.3:
                reply_at = at + timedelta(minutes=rng.uniform(1, 240))
                if reply_at < end:
                    records.append(w.record(ext, [userid], reply_at, rng.choice(CUSTOMER_CLOSING)))
    days = max(0, (end - start).days)
    for chat_id, owner, members in groups:
        if not members:
            continue
        habit = habits.get(owner, DEFAULT_HABIT)
        owner_name = (names or {}).get(owner)
        for d in range(days):
            day = (start + timedelta(days=d)).astimezone(zone)
            for _ in range(rng.randrange(0, 6)):
                at = _day_time(rng, day, zone)
                speaker = rng.choice(members)
                others = [m for m in (owner, *members) if m != speaker]
                if owner_name and rng.random() < MENTION_SHARE:
                    ask = f"@{owner_name}\u2005{rng.choice(GROUP_ASKS)}"
                    records.append(w.record(speaker, others, at, ask, roomid=chat_id))
                    if rng.random() < habit.answer_share:
                        wait = math.exp(rng.gauss(math.log(habit.median_minutes), habit.spread))
                        records.append(
                            w.record(
                                owner,
                                list(members),
                                _in_work(at + timedelta(minutes=wait), zone),
                                rng.choice(STAFF_ANSWERS),
                                roomid=chat_id,
                            )
                        )
                    continue
                records.append(w.record(speaker, others, at, rng.choice(GROUP_TALK), roomid=chat_id))
                if rng.random() < 0.6:
                    records.append(
                        w.record(
                            owner,
                            list(members),
                            at + timedelta(minutes=rng.uniform(1, 60)),
                            rng.choice(STAFF_ANSWERS),
                            roomid=chat_id,
                        )
                    )
    records = [r for r in records if start.timestamp() * 1000 <= r["msgtime"] < end.timestamp() * 1000]
    records.sort(key=lambda r: (r["msgtime"], r["msgid"]))
    yield from records


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def archive_from_state(
    state: SimState,
    *,
    start: datetime,
    end: datetime,
    habits: Mapping[str, Habit] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The simulated corp's archive between ``start`` and ``end`` (its friends and groups)."""
    with state.lock:
        follows = [
            (f.userid, f.external_userid, datetime.fromtimestamp(f.createtime, start.tzinfo))
            for f in state.follows.values()
        ]
        groups = [
            (g.chat_id, g.owner, [m.userid for m in g.members.values() if m.userid != g.owner])
            for g in state.groups.values()
        ]
    return list(simulate_archive(follows, start=start, end=end, habits=habits, groups=groups, seed=seed))
