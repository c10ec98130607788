"""The simulated corp: staff, customers, follows, tags, live codes, groups, sends.

Plain in-memory dataclasses behind one lock. The API handlers and the scenario
driver both mutate a ``SimState``; nothing here talks HTTP.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

QuotaMode = Literal["month_days", "week7", "day1", "month4"]


class SimError(Exception):
    """An API error the simulator answers with (``errcode``/``errmsg``)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class SimClock:
    """Epoch seconds; real time shifted by ``offset`` so tests can jump ahead.

    A ``frozen`` clock moves only when advanced: a scenario replayed from a seed then
    gets the same times however fast the machine runs it (the demo needs that).
    """

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self.frozen = frozen
        base = time.time() if start is None else start
        self.offset = base if frozen else base - time.time()

    def now(self) -> float:
        return self.offset if self.frozen else time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += seconds


@dataclass
class SimConfig:
    """Knobs of the simulated corp (WeCom's defaults unless a test changes them)."""

    corp_id: str = "wwsimcorp0000001"
    secret: str = "sim-contact-secret"  # noqa: S105 (the simulator's own test secret)
    token_ttl: int = 7200
    rate_per_minute: int = 10_000
    rate_per_hour: int = 150_000
    rate_block_seconds: int = 60
    quota_mode: QuotaMode = "month_days"
    welcome_code_ttl: int = 20
    seed: int | None = 0  # multi-person live codes pick among members at random (seeded)
    transfer_takeover_seconds: int = 24 * 3600
    # 获客助手: the paid quota of customers added through acquisition links (WeCom sells
    # it in packs; each new customer added through a link uses one).
    acquisition_quota: int = 1000
    # Callback target (siyu's /wecom/callback) and its crypto settings.
    callback_url: str | None = None
    callback_token: str | None = None
    callback_aes_key: str | None = None


@dataclass
class Staff:
    userid: str
    name: str
    department: str = ""
    customer_limit: int = 5000
    has_permission: bool = True


@dataclass
class Customer:
    external_userid: str
    name: str
    gender: int = 0
    unionid: str | None = None
    avatar: str | None = None
    type: int = 1


@dataclass
class Follow:
    userid: str
    external_userid: str
    createtime: int
    add_way: int = 1
    state: str | None = None
    remark: str = ""
    description: str = ""
    oper_userid: str | None = None
    remark_mobiles: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    # True while an add_half_external_contact has not been confirmed by the staff.
    half: bool = False


@dataclass
class Tag:
    id: str
    name: str
    order: int = 0
    create_time: int = 0


@dataclass
class TagGroup:
    group_id: str
    name: str
    order: int = 0
    create_time: int = 0
    tags: dict[str, Tag] = field(default_factory=dict)


@dataclass
class Member:
    userid: str
    type: int
    join_time: int
    join_scene: int = 1
    invitor: str | None = None
    name: str | None = None
    unionid: str | None = None


@dataclass
class GroupChat:
    chat_id: str
    name: str
    owner: str
    create_time: int
    notice: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    admins: list[str] = field(default_factory=list)
    dismissed: bool = False


@dataclass
class MassSend:
    msgid: str
    chat_type: str
    create_time: int
    create_type: int
    creator: str | None
    text: dict[str, Any] | None
    attachments: list[dict[str, Any]]
    # sender userid -> targets (external_userids or chat ids)
    targets: dict[str, list[str]]
    # sender -> send_time once the staff confirmed it in their client
    sent: dict[str, int] = field(default_factory=dict)
    # (sender, target) -> (status, send_time)
    results: dict[tuple[str, str], tuple[int, int | None]] = field(default_factory=dict)
    reminds: list[float] = field(default_factory=list)
    cancelled: bool = False


@dataclass
class Transfer:
    handover: str
    takeover: str
    external_userid: str
    started: float
    status: int = 2
    takeover_time: int | None = None


@dataclass
class DayStats:
    """Per staff per day contact statistics (what get_user_behavior_data sums)."""

    chats: set[str] = field(default_factory=set)
    message_cnt: int = 0
    # customer-started chats, and how many of them the staff answered (with minutes)
    started_by_customer: int = 0
    replied: int = 0
    reply_minutes: list[float] = field(default_factory=list)
    negative_feedback_cnt: int = 0
    new_apply_cnt: int = 0
    new_contact_cnt: int = 0


def new_id(prefix: str, n: int = 22) -> str:
    """A WeCom-looking opaque id (wm… customers, wr… chats, et… tags)."""
    return prefix + secrets.token_urlsafe(n)[:n].replace("-", "A").replace("_", "B")


CN_TZ = timedelta(hours=8)


def cn_day(ts: float) -> int:
    """Epoch of 00:00 China time of the day containing ``ts`` (WeCom's stat_time)."""
    local = datetime.fromtimestamp(ts, UTC) + CN_TZ
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) - CN_TZ
    return int(midnight.timestamp())


class SimState:
    """Everything the simulated corp knows; guard mutations with ``lock``."""

    def __init__(self, config: SimConfig | None = None, clock: SimClock | None = None) -> None:
        self.config = config or SimConfig()
        self.clock = clock or SimClock()
        self.lock = threading.RLock()
        self.tokens: dict[str, float] = {}
        self.staff: dict[str, Staff] = {}
        self.customers: dict[str, Customer] = {}
        self.follows: dict[tuple[str, str], Follow] = {}
        self.tag_groups: dict[str, TagGroup] = {}
        self.contact_ways: dict[str, dict[str, Any]] = {}
        self.join_ways: dict[str, dict[str, Any]] = {}
        # 获客助手 links (customer_acquisition/*) and the quota's balance
        self.acquisition_links: dict[str, dict[str, Any]] = {}
        self.acquisition_used = 0
        self.welcome_codes: dict[str, tuple[float, bool]] = {}
        self.welcome_msgs: list[dict[str, Any]] = []  # send_welcome_msg bodies accepted, in order
        self.groups: dict[str, GroupChat] = {}
        self.mass_sends: dict[str, MassSend] = {}
        self.transfers: list[Transfer] = []
        self.stats: dict[tuple[str, int], DayStats] = {}
        # (customer, period key) -> messages received through mass sends
        self.quota_used: dict[tuple[str, str], int] = {}
        self.messages: list[dict[str, Any]] = []
        self._calls: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        # WeCom documents no order among a multi-person code's members: pick at random.
        self.rng = random.Random(self.config.seed)

    def now(self) -> int:
        return int(self.clock.now())

    # --- tokens and limits -----------------------------------------------------------

    def issue_token(self, corpid: str, secret: str) -> str:
        if corpid != self.config.corp_id:
            raise SimError(40013, "invalid corpid")
        if secret != self.config.secret:
            raise SimError(40001, "invalid credential, access_token is invalid or not latest")
        token = secrets.token_urlsafe(48)
        self.tokens[token] = self.clock.now() + self.config.token_ttl
        return token

    def check_token(self, token: str | None) -> None:
        if not token:
            raise SimError(41001, "access_token missing")
        expires = self.tokens.get(token)
        if expires is None:
            raise SimError(40014, "invalid access_token")
        if expires <= self.clock.now():
            raise SimError(42001, "access_token expired")

    def count_call(self, api: str) -> None:
        """Count a call against the per-API limits; 45009 when over (and for a while after)."""
        now = self.clock.now()
        if self._blocked_until.get(api, 0) > now:
            raise SimError(45009, "api freq out of limit")
        calls = self._calls.setdefault(api, deque())
        while calls and calls[0] <= now - 3600:
            calls.popleft()
        last_minute = sum(1 for t in calls if t > now - 60)
        if last_minute >= self.config.rate_per_minute or len(calls) >= self.config.rate_per_hour:
            self._blocked_until[api] = now + self.config.rate_block_seconds
            raise SimError(45009, "api freq out of limit")
        calls.append(now)

    # --- lookups ---------------------------------------------------------------------

    def get_staff(self, userid: str) -> Staff:
        staff = self.staff.get(userid)
        if staff is None:
            raise SimError(60111, f"invalid userid {userid}")
        return staff

    def get_customer(self, external_userid: str) -> Customer:
        customer = self.customers.get(external_userid)
        if customer is None:
            raise SimError(40096, "invalid external userid")
        return customer

    def follow(self, userid: str, external_userid: str) -> Follow:
        f = self.follows.get((userid, external_userid))
        if f is None:
            raise SimError(84061, "not external contact")
        return f

    def follows_of_staff(self, userid: str) -> list[Follow]:
        return [f for (u, _), f in self.follows.items() if u == userid]

    def follows_of_customer(self, external_userid: str) -> list[Follow]:
        return [f for (_, e), f in self.follows.items() if e == external_userid]

    def tag(self, tag_id: str) -> tuple[TagGroup, Tag] | None:
        for group in self.tag_groups.values():
            if tag_id in group.tags:
                return group, group.tags[tag_id]
        return None

    def day_stats(self, userid: str, ts: float) -> DayStats:
        return self.stats.setdefault((userid, cn_day(ts)), DayStats())

    def pick_staff(self, config_id: str, users: list[str]) -> str:
        """A multi-person live code's member for one scan: at random among those not full.

        WeCom documents no order; siyu's exact routing never depends on this choice.
        When every member is at the limit, the first one is answered (the add is refused).
        """
        if not users:
            raise SimError(40058, "live code has no staff")
        free = [
            u
            for u in users
            if u in self.staff and len(self.follows_of_staff(u)) < self.staff[u].customer_limit
        ]
        return self.rng.choice(free) if free else users[0]

    # --- mass-send quota -------------------------------------------------------------

    def quota_period(self, ts: float) -> tuple[str, int]:
        """(period key, messages allowed per customer) for the configured rule."""
        local = datetime.fromtimestamp(ts, UTC) + CN_TZ
        mode = self.config.quota_mode
        if mode == "day1":
            return local.strftime("d%Y%m%d"), 1
        if mode == "week7":
            year, week, _ = local.isocalendar()
            return f"w{year}{week:02d}", 7
        if mode == "month4":
            return local.strftime("m%Y%m"), 4
        nxt = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
        return local.strftime("m%Y%m"), (nxt - timedelta(days=1)).day
