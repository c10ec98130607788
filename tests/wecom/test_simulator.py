# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters by name)
"""The simulator itself: callback format and crypto, cursors, the control CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.enterprise.crypto import WeChatCrypto

from siyu.wecom.callbacks.inbox import parse_event
from siyu.wecom.crypto import CallbackCrypto, new_encoding_aes_key, parse_xml, xml_fields
from siyu.wecom.simulator import ServerThread, SimConfig, SimError, Simulator
from siyu.wecom.simulator.callbacks import CallbackSender, event_xml
from siyu.wecom.simulator.handlers import decode_cursor, encode_cursor
from tests.conftest import CliRun
from tests.wecom.sim_fixtures import client_for, simulator  # noqa: F401

xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
).map(str.strip)


@given(userid=xml_text, ext=xml_text, state=xml_text, members=st.lists(xml_text.filter(bool), max_size=5))
@settings(max_examples=150, deadline=None)
def test_event_xml_round_trips_through_crypto_and_parser(
    userid: str, ext: str, state: str, members: list[str]
) -> None:
    crypto = CallbackCrypto("tok", new_encoding_aes_key(), "wwcorp")
    fields = {"UserID": userid, "ExternalUserID": ext, "State": state, "MemChangeList": members}
    xml = event_xml(
        "wwcorp", 1_700_000_000, "change_external_chat", "update", MemChangeCnt=len(members), **fields
    )
    body, params = crypto.build_post_body(xml)
    plain = crypto.decrypt_post(params["msg_signature"], params["timestamp"], params["nonce"], body)
    ev = parse_event(plain)
    assert (ev.get("UserID"), ev.get("ExternalUserID"), ev.get("State")) == (userid, ext, state)
    assert list(ev.members) == members
    assert ev.get("MemChangeCnt") == str(len(members))
    assert (ev.get("ToUserName"), ev.get("FromUserName"), ev.get("CreateTime")) == (
        "wwcorp",
        "sys",
        "1700000000",
    )


@given(st.integers(min_value=0, max_value=10**9))
def test_cursor_round_trip(offset: int) -> None:
    assert decode_cursor(encode_cursor(offset)) == offset


@pytest.mark.parametrize("bad", ["nonsense!", "c2ltOmFiYw", "eHl6"])
def test_bad_cursor_is_40058(bad: str) -> None:
    with pytest.raises(SimError) as info:
        decode_cursor(bad)
    assert info.value.errcode == 40058


def test_callbacks_are_posted_encrypted_and_a_third_party_can_decrypt_them() -> None:
    """A peer implementation (wechatpy) accepts what the simulator sends, signature and all."""
    key = new_encoding_aes_key()
    peer = WeChatCrypto("peerToken", key, "wwpeercorp000001")
    received: list[str] = []
    app = FastAPI()

    @app.post("/cb")
    async def cb(request: Request) -> PlainTextResponse:
        q = request.query_params
        received.append(
            peer.decrypt_message(
                (await request.body()).decode(), q["msg_signature"], q["timestamp"], q["nonce"]
            )
        )
        return PlainTextResponse("success")

    with ServerThread(app) as receiver:
        sim = Simulator(SimConfig(corp_id="wwpeercorp000001", callback_url=f"{receiver.url}/cb",
                                  callback_token="peerToken", callback_aes_key=key))  # fmt: skip
        sc = sim.scenario
        sc.add_staff("zhangsan")
        code = sc.live_code("douyin", ["zhangsan"])
        ext = sc.new_customer("小美")
        _, welcome = sc.add_friend(ext, config_id=code)
        sc.customer_deletes_staff(ext, "zhangsan")
    assert [d.status for d in sim.sender.deliveries] == [200, 200]
    added = xml_fields(parse_xml(received[0]))
    assert added["Event"] == "change_external_contact"
    assert added["ChangeType"] == "add_external_contact"
    assert (added["UserID"], added["ExternalUserID"], added["State"]) == ("zhangsan", ext, "douyin")
    assert added["WelcomeCode"] == welcome
    assert xml_fields(parse_xml(received[1]))["ChangeType"] == "del_follow_user"


def test_failed_delivery_is_retried_three_times() -> None:
    hits: list[int] = []
    app = FastAPI()

    @app.post("/cb")
    def cb() -> PlainTextResponse:
        hits.append(1)
        return PlainTextResponse("busy", status_code=503)

    with ServerThread(app) as receiver:
        sender = CallbackSender(f"{receiver.url}/cb", CallbackCrypto("t", new_encoding_aes_key(), "wwc"))
        delivery = sender.send("<xml><MsgType>event</MsgType></xml>")
    assert len(hits) == 4
    assert delivery.status == 503
    assert delivery.attempts == 4


def test_scenario_errors_are_wecom_like(simulator: Simulator) -> None:
    sc = simulator.scenario
    sc.add_staff("zhangsan")
    ext = sc.new_customer("a")
    with pytest.raises(SimError) as info:
        sc.customer_deletes_staff(ext, "zhangsan")
    assert info.value.errcode == 84061
    with pytest.raises(SimError) as info:
        sc.add_friend("wmnobody", userid="zhangsan")
    assert info.value.errcode == 40096


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_simulator_and_scenario_commands(cli: CliRun, tmp_path: Path) -> None:
    port = _free_port()
    siyu = str(Path(sys.executable).with_name("siyu"))
    log = (tmp_path / "sim.log").open("w")
    proc = subprocess.Popen(
        [siyu, "wecom", "simulator", "--port", str(port), "--secret", "s3"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/_sim/snapshot", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        cli("wecom", "scenario", "add_staff", "--sim", url, "-a", "userid=zhangsan", "-a", "name=张三")
        ext = json.loads(cli("wecom", "scenario", "new_customer", "--sim", url, "-a", "name=小美").stdout)
        out = cli(
            "wecom",
            "scenario",
            "add_friend",
            "--sim",
            url,
            "-a",
            f"external_userid={ext}",
            "-a",
            "userid=zhangsan",
        )
        assert json.loads(out.stdout)[0] == "zhangsan"
        cli(
            "wecom", "scenario", "chat", "--sim", url, "-a", f"external_userid={ext}", "-a", "userid=zhangsan"
        )
        chats = httpx.get(f"{url}/_sim/messages").json()["messages"]
        assert [(m["userid"], m["external_userid"]) for m in chats] == [("zhangsan", ext)]
        snap = httpx.get(f"{url}/_sim/snapshot").json()
        assert snap["follows"] == [["zhangsan", ext, ""]]
        gone = cli("wecom", "scenario", "customer_deletes_staff", "--sim", url, "-a", "external_userid=wmx",
                   "-a", "userid=zhangsan", expect=2)  # fmt: skip
        assert "not external contact" in gone.stderr
        assert (
            "is not name=value"
            in cli("wecom", "scenario", "chat", "--sim", url, "-a", "oops", expect=2).stderr
        )
        assert "unknown action" in cli("wecom", "scenario", "drop_tables", "--sim", url, expect=2).stderr
        # The API answers a client with the configured secret.
        token = httpx.get(
            f"{url}/cgi-bin/gettoken", params={"corpid": "wwsimcorp0000001", "corpsecret": "s3"}
        ).json()
        assert token["errcode"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    refused = cli("wecom", "simulator", "--callback-url", "http://127.0.0.1:9/x", expect=2)
    assert "--token and --aes-key" in refused.stderr
