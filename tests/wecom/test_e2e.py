"""End to end: the simulator and `siyu serve` over real HTTP, callbacks and sync agree.

Simulated customers add staff through a live code, chat, join and leave a group and
delete staff; the simulator sends encrypted callbacks to a real `siyu serve` process.
siyu's customers, follows (with live-code attribution), tags, groups and events must
then match the simulator; duplicate and out-of-order callbacks change nothing; and a
full sync afterwards changes nothing more.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings, get_settings
from siyu.models import (
    Customer,
    CustomerIdentity,
    CustomerTag,
    Event,
    Follow,
    Group,
    GroupMember,
    Staff,
    Tag,
    WeComCallback,
)
from siyu.wecom.client import RateLimiter, TokenCache, WeComClient
from siyu.wecom.crypto import new_encoding_aes_key
from siyu.wecom.schemas import ContactWayRequest
from siyu.wecom.simulator import ServerThread, SimClock, SimConfig, Simulator
from tests.conftest import CliRun

pytestmark = pytest.mark.slow

CORP_ID = "wwe2ecorp0000001"
TOKEN = "e2eCallbackToken"
SECRET = "e2e-contact-secret"
CHANGES = (
    "staff_created", "tags_created", "tags_renamed", "tags_deleted", "customers_created",
    "customers_merged", "follows_created", "follows_updated", "follows_ended", "tags_added",
    "tags_removed", "groups_created", "groups_updated", "groups_dismissed", "members_joined", "members_left",
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stack(env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulator and a `siyu serve` process configured with the same corp, token and key.

    The server runs without its embedded worker (``--no-worker``), so that the test
    decides when the queued re-fetches run (``siyu wecom reconcile``).
    """
    aes_key = new_encoding_aes_key()
    siyu_port = _free_port()
    # The simulator's clock runs an hour behind: CreateTimes stay in siyu's past while
    # the test moves it forward to order events.
    sim = Simulator(
        SimConfig(
            corp_id=CORP_ID,
            secret=SECRET,
            callback_url=f"http://127.0.0.1:{siyu_port}/wecom/callback",
            callback_token=TOKEN,
            callback_aes_key=aes_key,
        ),
        SimClock(start=time.time() - 3600),
    )
    sim_server = ServerThread(sim.app).start()
    sim.url = sim_server.url  # type: ignore[attr-defined]
    wecom_env = {
        "SIYU_WECOM_CORP_ID": CORP_ID,
        "SIYU_WECOM_TOKEN": TOKEN,
        "SIYU_WECOM_AES_KEY": aes_key,
        "SIYU_WECOM_SECRET": SECRET,
        "SIYU_WECOM_API_BASE": sim_server.url,
    }
    for key, value in wecom_env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    log = (tmp_path / "serve.log").open("w")
    siyu_bin = str(Path(sys.executable).with_name("siyu"))
    proc = subprocess.Popen(
        [siyu_bin, "serve", "--port", str(siyu_port), "--no-migrate", "--no-worker"],
        env={**os.environ, "SIYU_LOG_LEVEL": "WARNING"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{siyu_port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise RuntimeError("siyu serve did not start:\n" + (tmp_path / "serve.log").read_text())
            time.sleep(0.2)
        yield sim
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        sim_server.stop()


def wait_processed(session: Session, expected: int, timeout: float = 30) -> None:
    """Wait until siyu has stored ``expected`` callbacks and processed all of them."""
    deadline = time.monotonic() + timeout
    while True:
        session.expire_all()
        total = session.scalar(select(func.count()).select_from(WeComCallback))
        pending = session.scalar(
            select(func.count()).select_from(WeComCallback).where(WeComCallback.status == "pending")
        )
        if total == expected and pending == 0:
            failed = session.scalars(
                select(WeComCallback.error).where(WeComCallback.status == "failed")
            ).all()
            assert not failed, failed
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{total} callbacks stored (want {expected}), {pending} pending")
        time.sleep(0.1)


def state_of(session: Session) -> dict[str, Any]:
    """What siyu knows, in WeCom's ids (so it compares with the simulator)."""
    session.expire_all()
    userid = dict(session.execute(select(Staff.id, Staff.userid)).all())
    follows = {
        (userid[f.staff_id], f.external_userid): (f.state, f.live_code_state, f.add_way, f.remark)
        for f in session.scalars(select(Follow))
    }
    ext_of = dict(
        session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.value).where(
                CustomerIdentity.kind == "external_userid"
            )
        ).all()
    )
    tags = sorted(
        (ext_of[cid], name)
        for cid, name in session.execute(
            select(CustomerTag.customer_id, Tag.name).join(Tag, Tag.id == CustomerTag.tag_id)
        ).all()
    )
    groups = {g.chat_id: (g.name, g.status, g.member_count) for g in session.scalars(select(Group))}
    members = sorted(
        (chat, m.userid, m.state, m.join_time)
        for m, chat in session.execute(select(GroupMember, Group.chat_id).join(Group)).all()
    )
    events = sorted(
        (e.kind, e.payload.get("external_userid") or e.payload.get("userid") or "")
        for e in session.scalars(select(Event))
    )
    return {
        "customers": session.scalar(
            select(func.count()).select_from(Customer).where(Customer.merged_into_id.is_(None))
        ),
        "names": sorted(n or "" for n in session.scalars(select(Customer.name))),
        "follows": follows,
        "tags": tags,
        "groups": groups,
        "members": members,
        "events": events,
    }


def test_callbacks_and_sync_agree_with_the_simulator(
    stack: Simulator, cli: CliRun, session: Session, workspace_id: int
) -> None:
    sim, sc = stack, stack.scenario
    sc.add_staff("zhangsan", "张三")
    sc.add_staff("lisi", "李四")
    first = json.loads(cli("wecom", "sync", "--json").stdout)
    assert first["staff_created"] == 2

    # siyu's side creates the live code through the API, as automation would.
    api = WeComClient(corp_id=CORP_ID, secret=SECRET, api_base=sim.url,  # type: ignore[attr-defined]
                      token_cache=TokenCache(), limiter=RateLimiter())  # fmt: skip
    code = api.add_contact_way(
        ContactWayRequest(type=1, scene=2, state="xhs_202611", user=["zhangsan"])
    ).config_id
    api.close()

    gold = sc.admin_add_tag("会员等级", "金卡")
    customers = [sc.new_customer(f"顾客{i}", unionid=f"union-e2e-{i}") for i in range(5)]
    c1, c2, c3, c4, c5 = customers
    for ext in customers:
        sc.add_friend(ext, config_id=code)
        sc.advance(1)
    sc.add_friend(c4, userid="lisi")  # found by phone search, no live code
    sc.advance(1)
    sc.edit_follow("zhangsan", c1, remark="VIP 顾客", add_tags=[gold])
    sc.chat(c1, "zhangsan", customer_messages=2, staff_messages=2)
    chat = sc.create_group("zhangsan", "青禾福利群")
    sc.advance(1)
    sc.join_group(chat, c1)
    sc.join_group(chat, c2)
    sc.advance(1)
    sc.quit_group(chat, c2)
    sc.customer_deletes_staff(c3, "zhangsan")
    sc.staff_deletes_customer("lisi", c4)
    sent = len(sim.sender.deliveries)
    assert all(d.status == 200 for d in sim.sender.deliveries)
    wait_processed(session, sent)
    # Callbacks carry ids only: the queued re-fetches fill remark, add_way, tags, names.
    done = json.loads(cli("wecom", "reconcile", "--json").stdout)
    assert done["jobs_done"] >= 1

    got = state_of(session)
    assert got["customers"] == 5
    # c3 left before the re-fetch ran: WeCom no longer shows them, so no name is known.
    assert got["names"] == ["", "顾客0", "顾客1", "顾客3", "顾客4"]
    expected_follows = {("zhangsan", e): ("active", "xhs_202611", 1, "") for e in (c2, c4, c5)}
    expected_follows[("zhangsan", c1)] = ("active", "xhs_202611", 1, "VIP 顾客")
    expected_follows[("zhangsan", c3)] = ("deleted_by_customer", "xhs_202611", None, None)
    expected_follows[("lisi", c4)] = ("deleted_by_staff", None, None, None)
    assert got["follows"] == expected_follows
    live = {k for k, v in got["follows"].items() if v[0] == "active"}
    assert live == {(u, e) for u, e, _ in sc.snapshot()["follows"]}
    assert got["tags"] == [(c1, "金卡")]
    assert got["groups"] == {chat: ("青禾福利群", "active", 2)}
    assert [(m[1], m[2]) for m in got["members"]] == sorted(
        [(c1, "active"), (c2, "left"), ("zhangsan", "active")]
    )
    sim_members = set(sc.snapshot()["groups"][chat])
    assert {m[1] for m in got["members"] if m[2] == "active"} == sim_members
    kinds = [k for k, _ in got["events"]]
    assert kinds.count("friend.add") == 6
    assert kinds.count("friend.delete_by_customer") == 1
    assert kinds.count("friend.delete_by_staff") == 1
    assert (kinds.count("group.create"), kinds.count("group.join"), kinds.count("group.quit")) == (1, 2, 1)

    # WeCom retries and repeats: every callback again, twice. Nothing changes.
    for delivery in list(sim.sender.deliveries):
        assert sim.sender.deliver(delivery) == 200
        assert sim.sender.deliver(delivery) == 200
    time.sleep(0.5)
    wait_processed(session, sent)
    assert state_of(session) == got

    # Out of order: c5 joins then leaves the group; a new customer adds then deletes.
    sim.sender.holding = True
    sc.join_group(chat, c5)
    sc.advance(2)
    sc.quit_group(chat, c5)
    c6 = sc.new_customer("顾客5", unionid="union-e2e-5")
    sc.add_friend(c6, config_id=code)
    sc.advance(2)
    sc.customer_deletes_staff(c6, "zhangsan")
    sim.sender.release(order=[3, 1, 2, 0])  # deletes and quits arrive before their adds
    wait_processed(session, sent + 4)
    cli("wecom", "reconcile", "--json")
    after = state_of(session)
    assert after["follows"][("zhangsan", c6)][0] == "deleted_by_customer"
    assert after["follows"][("zhangsan", c6)][1] == "xhs_202611"  # attribution kept from the late add
    c5_member = [m for m in after["members"] if m[1] == c5]
    assert [m[2] for m in c5_member] == ["left"]
    assert {m[1] for m in after["members"] if m[2] == "active"} == set(sc.snapshot()["groups"][chat])

    # A full sync finds nothing the callbacks missed.
    counts = json.loads(cli("wecom", "sync", "--json").stdout)
    assert {k: counts[k] for k in CHANGES} == dict.fromkeys(CHANGES, 0)
    assert state_of(session) == after
