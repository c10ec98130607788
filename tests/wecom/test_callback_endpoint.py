"""The /wecom/callback endpoint over HTTP: verification, refusals, the inbox."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.kit.scope import ensure_workspace
from siyu.models import Event, Follow, WeComCallback
from siyu.wecom.crypto import CallbackCrypto, new_encoding_aes_key
from siyu.wecom.settings import save_app
from tests.wecom.fixtures.callbacks import AES_KEY, CORP_ID, TOKEN, WeComSender, payload, wecom

__all__ = ["wecom"]  # the fixture


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_url_verification_answers_the_plain_echostr(wecom: WeComSender) -> None:
    q = wecom.crypto.build_echostr("5927782489442352469")
    resp = wecom.client.get("/wecom/callback", params=q)
    assert resp.status_code == 200
    assert resp.content == b"5927782489442352469"  # no quotes, newline or BOM
    assert resp.headers["content-type"].startswith("text/plain")


def test_url_verification_with_a_bad_signature_is_forbidden(wecom: WeComSender) -> None:
    q = wecom.crypto.build_echostr("123")
    q["msg_signature"] = "0" * 40
    resp = wecom.client.get("/wecom/callback", params=q)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "bad_signature"


def test_missing_query_parameter_is_a_plain_400(wecom: WeComSender) -> None:
    resp = wecom.client.get("/wecom/callback", params={"msg_signature": "x", "timestamp": "1"})
    assert resp.status_code == 400
    assert "nonce" in resp.json()["error"]["message"]


def test_good_callback_is_stored_and_processed(wecom: WeComSender, session: Session) -> None:
    resp = wecom.post(payload("add_external_contact", state="live_code_1"))
    assert resp.status_code == 200
    assert resp.text == "success"
    session.expire_all()
    row = session.scalars(select(WeComCallback)).one()
    assert (row.event, row.change_type, row.status) == (
        "change_external_contact",
        "add_external_contact",
        "processed",
    )
    assert _count(session, Follow) == 1


def test_bad_signature_is_403_and_stores_nothing(wecom: WeComSender, session: Session) -> None:
    resp = wecom.post(payload("add_external_contact"), tamper="signature")
    assert resp.status_code == 403
    assert _count(session, WeComCallback) == 0


def test_message_signed_with_another_token_is_refused(wecom: WeComSender, session: Session) -> None:
    sender = WeComSender(wecom.client, CallbackCrypto("wrong-token", AES_KEY, CORP_ID))
    assert sender.post(payload("add_external_contact")).status_code == 403
    assert _count(session, WeComCallback) == 0


def test_message_for_another_corp_is_refused(wecom: WeComSender, session: Session) -> None:
    sender = WeComSender(wecom.client, CallbackCrypto(TOKEN, AES_KEY, "ww_another_corp"))
    resp = sender.post(payload("add_external_contact"))
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "bad_receive_id"
    assert _count(session, WeComCallback) == 0


@pytest.mark.parametrize("skew", [-3600, 3600])
def test_replayed_or_old_timestamp_is_refused(wecom: WeComSender, session: Session, skew: int) -> None:
    resp = wecom.post(payload("add_external_contact"), timestamp=int(time.time()) + skew)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "bad_timestamp"
    assert _count(session, WeComCallback) == 0


def test_timestamp_check_can_be_disabled(
    env: Settings, monkeypatch: pytest.MonkeyPatch, session: Session
) -> None:
    from siyu.web.app import create_app
    from tests.wecom.fixtures.callbacks import configure_wecom, crypto

    monkeypatch.setenv("SIYU_WECOM_TIMESTAMP_TOLERANCE", "0")
    settings = configure_wecom(monkeypatch)
    with TestClient(create_app(settings)) as client:
        sender = WeComSender(client, crypto())
        assert sender.post(payload("add_external_contact"), timestamp=1_000_000_000).status_code == 200
    assert _count(session, WeComCallback) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b"<xml><Encrypt>abc",
        b"<xml><ToUserName>x</ToUserName></xml>",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><Encrypt>&lol3;</Encrypt></xml>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<xml><Encrypt>&xxe;</Encrypt></xml>",
    ],
    ids=["junk", "truncated", "no-encrypt", "billion-laughs", "xxe"],
)
def test_malformed_or_hostile_body_is_400(wecom: WeComSender, session: Session, body: bytes) -> None:
    params = {"msg_signature": "a" * 40, "timestamp": str(int(time.time())), "nonce": "n"}
    resp = wecom.client.post("/wecom/callback", params=params, content=body)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "bad_xml"
    assert _count(session, WeComCallback) == 0


def test_hostile_xml_inside_a_validly_encrypted_message_is_refused(
    wecom: WeComSender, session: Session
) -> None:
    inner = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        "<xml><MsgType>event</MsgType><Event>&b;</Event></xml>"
    )
    resp = wecom.post(inner)
    assert resp.status_code == 400
    assert _count(session, WeComCallback) == 0


def test_decrypted_text_that_is_not_a_wecom_message_is_400(wecom: WeComSender, session: Session) -> None:
    assert wecom.post("<xml><Foo>1</Foo></xml>").status_code == 400
    assert wecom.post("just text").status_code == 400
    assert _count(session, WeComCallback) == 0


def test_duplicate_callbacks_change_nothing(wecom: WeComSender, session: Session) -> None:
    xml = payload("add_external_contact", state="s1")
    for _ in range(3):  # WeCom's retries: same event, freshly encrypted each time
        assert wecom.post(xml).status_code == 200
    assert _count(session, WeComCallback) == 1
    assert _count(session, Follow) == 1
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "friend.add")) == 1


@pytest.mark.parametrize(("name", "kind"), [("unknown_event", "change_contact"), ("text_message", None)])
def test_unknown_types_answer_200_and_are_stored_as_ignored(
    wecom: WeComSender, session: Session, name: str, kind: str | None
) -> None:
    assert wecom.post(payload(name)).status_code == 200
    session.expire_all()
    row = session.scalars(select(WeComCallback)).one()
    assert row.status == "ignored"
    assert row.event == kind
    assert _count(session, Event) == 0


def test_other_workspaces_use_their_own_app_config(wecom: WeComSender, session: Session) -> None:
    key = new_encoding_aes_key()
    with session_scope() as s:
        ws = ensure_workspace(s, "brand-b")
        save_app(s, workspace_id=ws.id, corp_id="ww_brand_b", token="tok-b", aes_key=key, secret="sec")
        ws_id = ws.id
    brand_b = WeComSender(
        wecom.client, CallbackCrypto("tok-b", key, "ww_brand_b"), path="/wecom/callback/brand-b"
    )
    assert brand_b.post(payload("chat_create", corp_id="ww_brand_b")).status_code == 200
    # The default workspace's key does not open brand-b's endpoint.
    wrong = WeComSender(wecom.client, wecom.crypto, path="/wecom/callback/brand-b")
    assert wrong.post(payload("chat_create")).status_code == 403
    session.expire_all()
    rows = session.scalars(select(WeComCallback)).all()
    assert [r.workspace_id for r in rows] == [ws_id]
    # Secrets are stored encrypted, never in the clear.
    from siyu.models import WeComApp

    app = session.scalars(select(WeComApp)).one()
    assert "tok-b" not in (app.token_enc or "")
    assert key not in (app.aes_key_enc or "")


def test_unknown_workspace_is_404(wecom: WeComSender) -> None:
    sender = WeComSender(wecom.client, wecom.crypto, path="/wecom/callback/nope")
    resp = sender.post(payload("chat_create"))
    assert resp.status_code == 404
    assert "nope" in resp.json()["error"]["message"]


def test_configure_a_workspace_app_through_the_cli(wecom: WeComSender, cli: Any, session: Session) -> None:
    key = new_encoding_aes_key()
    cli(
        "wecom", "configure", "-w", "brand-c", "--corp-id", "ww_brand_c", "--token", "tok-c", "--aes-key", key
    )
    shown = json.loads(cli("wecom", "config", "-w", "brand-c", "--json").stdout)
    assert shown["corp_id"] == "ww_brand_c"
    assert shown["callbacks_ready"] is True
    assert key not in json.dumps(shown)
    assert "tok-c" not in json.dumps(shown)
    sender = WeComSender(
        wecom.client, CallbackCrypto("tok-c", key, "ww_brand_c"), path="/wecom/callback/brand-c"
    )
    assert sender.post(payload("chat_create")).status_code == 200
    # Changing only the secret keeps the callback settings.
    cli("wecom", "configure", "-w", "brand-c", "--secret", "s3cret")
    assert json.loads(cli("wecom", "config", "-w", "brand-c", "--json").stdout)["callbacks_ready"] is True


def test_configure_refuses_a_bad_aes_key(cli: Any) -> None:
    bad = cli("wecom", "configure", "-w", "brand-d", "--corp-id", "ww1", "--aes-key", "tooshort", expect=2)
    assert "EncodingAESKey must be 43 characters long, got 8" in bad.stderr
    missing = cli("wecom", "config", "-w", "brand-d", expect=2)
    assert "has no WeCom app configured" in missing.stderr


def test_a_stuck_inbox_answers_503_and_the_retry_is_deduplicated(
    wecom: WeComSender, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import siyu.wecom.callbacks.writer as writer
    import siyu.wecom.endpoints as endpoints

    real = writer.BatchInsert.execute

    def slow(*args: Any, **kwargs: Any) -> None:
        time.sleep(0.5)  # the database is locked for a while
        real(*args, **kwargs)

    monkeypatch.setattr(endpoints, "STORE_TIMEOUT", 0.1)
    monkeypatch.setattr(writer.BatchInsert, "execute", slow)
    xml = payload("add_external_contact")
    resp = wecom.post(xml)
    assert resp.status_code == 503  # not a 200: WeCom must retry
    assert resp.json()["error"]["code"] == "busy"
    monkeypatch.setattr(writer.BatchInsert, "execute", real)
    time.sleep(0.6)  # the late commit lands
    assert wecom.post(xml).status_code == 200  # WeCom's retry
    assert _count(session, WeComCallback) == 1
    assert session.scalars(select(WeComCallback)).one().status == "processed"
