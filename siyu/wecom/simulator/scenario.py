"""The scenario driver: what people do in WeCom, and the callbacks that follow.

Simulated customers scan live codes, chat, join and leave groups and delete staff;
admins and staff edit tags. Each action changes the simulated corp and, where WeCom
would, sends the matching callback (change_external_contact, change_external_chat,
change_external_tag). Chat has no callback for external contacts in WeCom: it is
kept in the simulator and shows up in get_user_behavior_data and ``messages``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from siyu.wecom.simulator.callbacks import CallbackSender, Delivery, event_xml
from siyu.wecom.simulator.state import (
    Customer,
    Follow,
    GroupChat,
    Member,
    SimError,
    SimState,
    Staff,
    Tag,
    TagGroup,
    new_id,
)

CONTACT = "change_external_contact"
ACQUISITION = "customer_acquisition"
LOW_QUOTA = 20  # WeCom's balance_low: fewer than this many 获客助手 units left


def _quota_crossing(before: int, after: int) -> str | None:
    """The quota callback a use of the 获客助手 quota triggers, if any."""
    if after == 0 < before:
        return "balance_exhausted"
    if after < LOW_QUOTA <= before:
        return "balance_low"
    return None
CHAT = "change_external_chat"
TAG = "change_external_tag"


class Scenario:
    """Drive a ``SimState``; every method is one thing a person does."""

    def __init__(self, state: SimState, sender: CallbackSender) -> None:
        self.state = state
        self.sender = sender

    def _emit(self, event: str, change_type: str, **fields: object) -> Delivery:
        xml = event_xml(self.state.config.corp_id, self.state.now(), event, change_type, **fields)
        return self.sender.send(xml)

    # --- directory (no callbacks: these are set-up) ----------------------------------

    def add_staff(
        self, userid: str, name: str = "", *, customer_limit: int = 5000, department: str = ""
    ) -> Staff:
        """A member with the customer-contact permission."""
        with self.state.lock:
            staff = Staff(userid, name or userid, department, customer_limit)
            self.state.staff[userid] = staff
            return staff

    def new_customer(
        self, name: str, *, unionid: str | None = None, gender: int = 0, external_userid: str | None = None
    ) -> str:
        """A WeChat user who is not yet anyone's friend; returns their external_userid."""
        with self.state.lock:
            ext = external_userid or new_id("wm", 30)
            if ext in self.state.customers:
                raise SimError(40058, f"external_userid {ext} exists")
            self.state.customers[ext] = Customer(
                ext, name, gender, unionid, f"https://wx.qlogo.cn/sim/{ext}/0"
            )
            return ext

    def live_code(self, state_value: str, users: list[str], *, skip_verify: bool = True) -> str:
        """An admin-made multi-person live code (what add_contact_way would create)."""
        from siyu.wecom.simulator.handlers import add_contact_way

        with self.state.lock:
            body = {"type": 2 if len(users) > 1 else 1, "scene": 2, "state": state_value, "user": users}
            body["skip_verify"] = skip_verify
            return str(add_contact_way(self.state, {}, body)["config_id"])

    # --- friendships ------------------------------------------------------------------

    def add_friend(
        self,
        external_userid: str,
        *,
        config_id: str | None = None,
        userid: str | None = None,
        add_way: int | None = None,
        remark_mobiles: list[str] | None = None,
    ) -> tuple[str, str | None]:
        """The customer adds a staff member (through a live code, or by search).

        Returns (userid, welcome_code). Past the staff's customer limit WeCom refuses
        the add (SimError 41054 here: the customer simply cannot add). Through a code
        with ``is_exclusive`` a customer already friends with one of the corp's accounts
        is routed back to that account: (that userid, None), nothing added.
        """
        with self.state.lock:
            st = self.state
            st.get_customer(external_userid)
            live_state: str | None = None
            half = False
            if config_id is not None:
                way = st.contact_ways.get(config_id)
                if way is None:
                    raise SimError(41044, "invalid config_id")
                if way.get("is_exclusive"):
                    # 同一外部企业客户只能添加同一个员工: a customer the corp already serves
                    # goes to that account (one of the code's members first); being
                    # friends already, the scan opens the chat: no new add, no callback.
                    served = sorted(
                        u for (u, ext), f in st.follows.items() if ext == external_userid and not f.half
                    )
                    if served:
                        mine = [u for u in served if u in way["user"]]
                        return (mine or served)[0], None
                userid = st.pick_staff(config_id, list(way["user"]))
                live_state = way.get("state")
                half = not way.get("skip_verify", True)
                add_way = 1 if add_way is None else add_way
            if userid is None:
                raise SimError(40058, "config_id or userid is required")
            staff = st.get_staff(userid)
            if (userid, external_userid) in st.follows:
                raise SimError(40058, "already friends")
            if len(st.follows_of_staff(userid)) >= staff.customer_limit:
                raise SimError(41054, "the staff member has reached the customer limit")
            now = st.now()
            st.follows[(userid, external_userid)] = Follow(
                userid=userid,
                external_userid=external_userid,
                createtime=now,
                add_way=add_way if add_way is not None else 2,
                state=live_state,
                remark_mobiles=list(remark_mobiles or []),
                half=half,
            )
            stats = st.day_stats(userid, now)
            if not half:
                stats.new_contact_cnt += 1
            code = secrets.token_urlsafe(24)
            st.welcome_codes[code] = (st.clock.now() + st.config.welcome_code_ttl, False)
        change = "add_half_external_contact" if half else "add_external_contact"
        self._emit(
            CONTACT, change, UserID=userid, ExternalUserID=external_userid, State=live_state, WelcomeCode=code
        )
        return userid, code

    def add_friend_via_link(self, external_userid: str, url: str) -> tuple[str, str | None]:
        """The customer opens a 获客助手 link (``…/ca/LINK_ID?customer_channel=X``) and adds.

        A member of the link's range is picked at random; the callback's ``State`` is the
        link's ``customer_channel`` (cut to 64 bytes). A customer new to the corp uses one
        unit of the paid quota; with none left WeCom refuses (SimError 41101 here).
        """
        from urllib.parse import parse_qs, urlsplit

        from siyu.wecom.simulator.acquisition import (
            LINK_HOST,
            MAX_CUSTOMER_CHANNEL_BYTES,
            acquisition_balance,
            link_users,
        )

        parts = urlsplit(url)
        if not url.startswith(LINK_HOST):
            raise SimError(40058, f"not an acquisition link: {url}")
        link_id = parts.path.rsplit("/", 1)[-1]
        raw = (parse_qs(parts.query).get("customer_channel") or [""])[0]
        channel = raw.encode()[:MAX_CUSTOMER_CHANNEL_BYTES].decode(errors="ignore") or None
        with self.state.lock:
            st = self.state
            st.get_customer(external_userid)
            link = st.acquisition_links.get(link_id)
            if link is None:
                raise SimError(40058, f"invalid link_id {link_id}")
            users = link_users(st, link)
            if not users:
                raise SimError(40058, "the link's range has no member who can add customers")
            new = not any(ext == external_userid for (_, ext) in st.follows)
            if new and acquisition_balance(st) <= 0:
                raise SimError(41101, "customer acquisition quota exhausted")
            userid = st.pick_staff(link_id, users)
            staff = st.get_staff(userid)
            if (userid, external_userid) in st.follows:
                raise SimError(40058, "already friends")
            if len(st.follows_of_staff(userid)) >= staff.customer_limit:
                raise SimError(41054, "the staff member has reached the customer limit")
            half = not link.get("skip_verify", True)
            now = st.now()
            st.follows[(userid, external_userid)] = Follow(
                userid=userid,
                external_userid=external_userid,
                createtime=now,
                add_way=16,  # 获客助手
                state=channel,
                half=half,
            )
            before = acquisition_balance(st)
            if new:
                st.acquisition_used += 1
            quota_change = _quota_crossing(before, acquisition_balance(st))
            if not half:
                st.day_stats(userid, now).new_contact_cnt += 1
            code = secrets.token_urlsafe(24)
            st.welcome_codes[code] = (st.clock.now() + st.config.welcome_code_ttl, False)
        change = "add_half_external_contact" if half else "add_external_contact"
        self._emit(
            CONTACT, change, UserID=userid, ExternalUserID=external_userid, State=channel, WelcomeCode=code
        )
        if quota_change:
            self._emit(ACQUISITION, quota_change)
        return userid, code

    def buy_acquisition_quota(self, units: int) -> None:
        """The corp buys more 获客助手 quota; from none left, WeCom says ``balance_increased``."""
        from siyu.wecom.simulator.acquisition import acquisition_balance

        with self.state.lock:
            before = acquisition_balance(self.state)
            self.state.config.acquisition_quota += units
            after = acquisition_balance(self.state)
        if before == 0 and after > 0:
            self._emit(ACQUISITION, "balance_increased")

    def accept_friend(self, userid: str, external_userid: str) -> None:
        """The staff member accepts a half-added customer (add_external_contact follows)."""
        with self.state.lock:
            f = self.state.follow(userid, external_userid)
            if not f.half:
                raise SimError(40058, "not a pending friend")
            f.half = False
            f.createtime = self.state.now()
            self.state.day_stats(userid, f.createtime).new_contact_cnt += 1
        self._emit(
            CONTACT, "add_external_contact", UserID=userid, ExternalUserID=external_userid, State=f.state
        )

    def edit_follow(
        self,
        userid: str,
        external_userid: str,
        *,
        remark: str | None = None,
        description: str | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
    ) -> None:
        """The staff member edits remark/description/tags in the WeCom client."""
        with self.state.lock:
            f = self.state.follow(userid, external_userid)
            if remark is not None:
                f.remark = remark
            if description is not None:
                f.description = description
            for t in list(add_tags) + list(remove_tags):
                if self.state.tag(t) is None:
                    raise SimError(40068, f"invalid tag id {t}")
            f.tags |= set(add_tags)
            f.tags -= set(remove_tags)
        self._emit(CONTACT, "edit_external_contact", UserID=userid, ExternalUserID=external_userid)

    def customer_deletes_staff(self, external_userid: str, userid: str) -> None:
        """The customer deletes (or blocks) the staff member: del_follow_user."""
        with self.state.lock:
            self.state.follow(userid, external_userid)
            del self.state.follows[(userid, external_userid)]
            self.state.day_stats(userid, self.state.now()).negative_feedback_cnt += 1
        self._emit(CONTACT, "del_follow_user", UserID=userid, ExternalUserID=external_userid)

    def staff_deletes_customer(self, userid: str, external_userid: str) -> None:
        """The staff member deletes the customer: del_external_contact."""
        with self.state.lock:
            self.state.follow(userid, external_userid)
            del self.state.follows[(userid, external_userid)]
        self._emit(CONTACT, "del_external_contact", UserID=userid, ExternalUserID=external_userid)

    def chat(
        self,
        external_userid: str,
        userid: str,
        *,
        customer_messages: int = 1,
        staff_messages: int = 1,
        reply_minutes: float = 5.0,
    ) -> None:
        """A conversation: the customer writes, the staff answers after ``reply_minutes``."""
        with self.state.lock:
            st = self.state
            st.follow(userid, external_userid)
            now = st.now()
            day = st.day_stats(userid, now)
            day.chats.add(external_userid)
            day.message_cnt += staff_messages
            if customer_messages:
                day.started_by_customer += 1
                if staff_messages:
                    day.replied += 1
                    day.reply_minutes.append(reply_minutes)
            st.messages.append(
                {
                    "userid": userid,
                    "external_userid": external_userid,
                    "time": now,
                    "customer_messages": customer_messages,
                    "staff_messages": staff_messages,
                    "reply_minutes": reply_minutes,
                }
            )

    # --- tags (admin console) --------------------------------------------------------

    def admin_add_tag(
        self, group_name: str, name: str, *, tag_id: str | None = None, group_id: str | None = None
    ) -> str:
        """An admin adds a corp tag in the console: change_external_tag create."""
        with self.state.lock:
            st = self.state
            group = next((g for g in st.tag_groups.values() if g.name == group_name), None)
            now = st.now()
            if group is None:
                group = TagGroup(group_id or new_id("et", 20), group_name, 0, now)
                st.tag_groups[group.group_id] = group
            tag = Tag(tag_id or new_id("et", 20), name, 0, now)
            group.tags[tag.id] = tag
        self._emit(TAG, "create", Id=tag.id, TagType="tag")
        return tag.id

    def admin_delete_tag(self, tag_id: str) -> None:
        """An admin deletes a corp tag: change_external_tag delete."""
        with self.state.lock:
            found = self.state.tag(tag_id)
            if found is None:
                raise SimError(40068, "invalid tag id")
            del found[0].tags[tag_id]
            for f in self.state.follows.values():
                f.tags.discard(tag_id)
        self._emit(TAG, "delete", Id=tag_id, TagType="tag")

    # --- groups ----------------------------------------------------------------------

    def create_group(
        self, owner: str, name: str, *, staff: Sequence[str] = (), chat_id: str | None = None
    ) -> str:
        """The staff member creates a customer group: change_external_chat create."""
        with self.state.lock:
            st = self.state
            st.get_staff(owner)
            now = st.now()
            chat_id = chat_id or new_id("wr", 30)
            group = GroupChat(chat_id, name, owner, now)
            for u in [owner, *staff]:
                group.members[u] = Member(u, 1, now, 1, owner if u != owner else None, st.get_staff(u).name)
            st.groups[chat_id] = group
        self._emit(CHAT, "create", ChatId=chat_id)
        return chat_id

    def join_group(
        self, chat_id: str, external_userid: str, *, scene: int = 3, invitor: str | None = None
    ) -> None:
        """A customer joins (3: by QR code, 2: by link, 1: invited): update add_member."""
        with self.state.lock:
            st = self.state
            group = st.groups.get(chat_id)
            if group is None or group.dismissed:
                raise SimError(90207, "invalid chat_id")
            customer = st.get_customer(external_userid)
            if external_userid in group.members:
                raise SimError(40058, "already a member")
            if len(group.members) >= 500:
                raise SimError(40058, "the group is full (500 members)")
            group.members[external_userid] = Member(
                external_userid, 2, st.now(), scene, invitor or group.owner, customer.name, customer.unionid
            )
            count = len(group.members)
        self._emit(
            CHAT,
            "update",
            ChatId=chat_id,
            UpdateDetail="add_member",
            JoinScene=scene,
            MemChangeCnt=1,
            MemChangeList=[external_userid],
            LastMemVer=str(count - 1),
            CurMemVer=str(count),
        )

    def quit_group(self, chat_id: str, external_userid: str, *, removed: bool = False) -> None:
        """A member leaves (0) or is removed by the owner (1): update del_member."""
        with self.state.lock:
            group = self.state.groups.get(chat_id)
            if group is None or external_userid not in group.members:
                raise SimError(40058, "not a member")
            del group.members[external_userid]
            count = len(group.members)
        self._emit(
            CHAT,
            "update",
            ChatId=chat_id,
            UpdateDetail="del_member",
            QuitScene=1 if removed else 0,
            MemChangeCnt=1,
            MemChangeList=[external_userid],
            LastMemVer=str(count + 1),
            CurMemVer=str(count),
        )

    def rename_group(self, chat_id: str, name: str) -> None:
        with self.state.lock:
            group = self.state.groups[chat_id]
            group.name = name
        self._emit(CHAT, "update", ChatId=chat_id, UpdateDetail="change_name")

    def dismiss_group(self, chat_id: str) -> None:
        with self.state.lock:
            self.state.groups[chat_id].dismissed = True
        self._emit(CHAT, "dismiss", ChatId=chat_id)

    # --- mass sends and handovers ----------------------------------------------------

    def confirm_mass_send(self, msgid: str, userid: str) -> dict[str, int]:
        """The staff member taps "send" in their client; returns status counts."""
        with self.state.lock:
            st = self.state
            msg = st.mass_sends.get(msgid)
            if msg is None or userid not in msg.targets:
                raise SimError(41063, "invalid msgid for this sender")
            if msg.cancelled:
                raise SimError(40058, "the mass send was cancelled")
            now = st.now()
            msg.sent[userid] = now
            counts = {0: 0, 1: 0, 2: 0, 3: 0}
            for target in msg.targets[userid]:
                if msg.chat_type == "group":
                    status = 1
                elif (userid, target) not in st.follows:
                    status = 2
                else:
                    key, allowed = st.quota_period(now)
                    used = st.quota_used.get((target, key), 0)
                    status = 3 if used >= allowed else 1
                    if status == 1:
                        st.quota_used[(target, key)] = used + 1
                msg.results[(userid, target)] = (status, now if status == 1 else None)
                counts[status] += 1
            return {str(k): v for k, v in counts.items()}

    def settle_transfers(self) -> int:
        """Complete handovers whose 24 hours are over; returns how many moved."""
        moved: list[tuple[str, str, str, str | None]] = []
        with self.state.lock:
            st = self.state
            now = st.clock.now()
            for t in st.transfers:
                if t.status != 2 or now - t.started < st.config.transfer_takeover_seconds:
                    continue
                old = st.follows.get((t.handover, t.external_userid))
                taker = st.get_staff(t.takeover)
                if len(st.follows_of_staff(t.takeover)) >= taker.customer_limit:
                    t.status = 4
                    continue
                t.status, t.takeover_time = 1, int(now)
                st.follows.pop((t.handover, t.external_userid), None)
                st.follows[(t.takeover, t.external_userid)] = Follow(
                    userid=t.takeover,
                    external_userid=t.external_userid,
                    createtime=int(now),
                    add_way=202,
                    remark=old.remark if old else "",
                    description=old.description if old else "",
                    tags=set(old.tags) if old else set(),
                )
                moved.append((t.handover, t.takeover, t.external_userid, None))
        for handover, takeover, ext, _ in moved:
            self._emit(
                CONTACT,
                "del_external_contact",
                UserID=handover,
                ExternalUserID=ext,
                Source="DELETE_BY_TRANSFER",
            )
            self._emit(CONTACT, "add_external_contact", UserID=takeover, ExternalUserID=ext)
        return len(moved)

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward (token expiry, welcome codes, handovers)."""
        self.state.clock.advance(seconds)

    def snapshot(self) -> dict[str, Any]:
        """A plain summary of the corp (for tests and ``siyu wecom simulator`` users)."""
        with self.state.lock:
            st = self.state
            return {
                "staff": sorted(st.staff),
                "customers": len(st.customers),
                "follows": sorted(
                    (f.userid, f.external_userid, f.state or "") for f in st.follows.values() if not f.half
                ),
                "groups": {g.chat_id: sorted(g.members) for g in st.groups.values() if not g.dismissed},
                "tags": {t.id: (g.name, t.name) for g in st.tag_groups.values() for t in g.tags.values()},
            }
