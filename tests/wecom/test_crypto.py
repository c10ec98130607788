"""Callback crypto: interop with wechatpy both ways, tamper resistance, strict padding."""

from __future__ import annotations

import base64
import re
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wechatpy.crypto import _get_signature
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from siyu.wecom.crypto import (
    CallbackCrypto,
    ConfigError,
    DecryptError,
    MalformedXML,
    ReceiveIdError,
    SignatureError,
    TimestampError,
    pkcs7_pad,
    pkcs7_unpad,
    sign,
)
from tests.wecom.fixtures.callbacks import AES_KEY, CORP_ID, TOKEN

XML = "<xml><ToUserName><![CDATA[{c}]]></ToUserName><Content><![CDATA[{m}]]></Content></xml>"


def ours() -> CallbackCrypto:
    return CallbackCrypto(TOKEN, AES_KEY, CORP_ID)


def theirs() -> WeChatCrypto:
    return WeChatCrypto(TOKEN, AES_KEY, CORP_ID)


def _field(xml: str, name: str) -> str:
    m = re.search(rf"<{name}>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</{name}>", xml, re.S)
    assert m, f"{name} not in {xml}"
    return m.group(1)


@given(st.text(max_size=50), st.text(max_size=20), st.text(max_size=20), st.text(max_size=300))
def test_signature_matches_wechatpy(token: str, timestamp: str, nonce: str, encrypt: str) -> None:
    assert sign(token, timestamp, nonce, encrypt) == _get_signature(token, timestamp, nonce, encrypt)


def test_wechatpy_encrypted_messages_are_accepted() -> None:
    xml = XML.format(c=CORP_ID, m="你好, siyu")
    reply = theirs().encrypt_message(xml, "nonce123", "1409659813")
    body = f"<xml><Encrypt><![CDATA[{_field(reply, 'Encrypt')}]]></Encrypt></xml>"
    plain = ours().decrypt_post(_field(reply, "MsgSignature"), "1409659813", "nonce123", body)
    assert plain == xml


def test_siyu_encrypted_messages_decrypt_in_wechatpy() -> None:
    xml = XML.format(c=CORP_ID, m="客户 add 了导购")
    body, q = ours().build_post_body(xml, nonce="abc", timestamp=1700000000)
    assert theirs().decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"]) == xml


def test_url_verification_interop() -> None:
    q = ours().build_echostr("1616140317555161061")
    assert theirs().check_signature(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"]) == (
        "1616140317555161061"
    )
    their = theirs().encrypt_message("echo-42", "n", "1700000000")
    assert (
        ours().verify_url(_field(their, "MsgSignature"), "1700000000", "n", _field(their, "Encrypt"))
        == "echo-42"
    )


def test_wechatpy_rejects_a_message_signed_with_another_token() -> None:
    body, q = CallbackCrypto("other", AES_KEY, CORP_ID).build_post_body("<xml/>", nonce="n", timestamp=1)
    with pytest.raises(InvalidSignatureException):
        theirs().decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000), st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=32))
def test_round_trip_any_message(message: str, nonce: str) -> None:
    c = ours()
    e = c.encrypt(message, nonce=nonce, timestamp=1700000000)
    assert c.verify_url(e.signature, e.timestamp, e.nonce, e.encrypt) == message
    assert theirs().check_signature(e.signature, e.timestamp, e.nonce, e.encrypt) == message


@settings(max_examples=300)
@given(st.text(min_size=1, max_size=200), st.data())
def test_any_flipped_ciphertext_byte_is_rejected(message: str, data: st.DataObject) -> None:
    c = ours()
    e = c.encrypt(message, nonce="n", timestamp=1700000000)
    raw = bytearray(base64.b64decode(e.encrypt))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    tampered = base64.b64encode(bytes(raw)).decode()
    # The signature covers the ciphertext: a changed byte is refused before decryption.
    with pytest.raises(SignatureError):
        c.verify_url(e.signature, e.timestamp, e.nonce, tampered)
    # (Re-signing needs the token: that secret is what the signature protects.)


@settings(max_examples=300)
@given(st.text(max_size=200), st.data())
def test_tampered_final_block_is_caught_by_padding_or_receive_id_even_if_resigned(
    message: str, data: st.DataObject
) -> None:
    # An attacker who knows the token but not the AES key re-signs a modified ciphertext:
    # garbling the last block (padding + receive id) must never decrypt to anything.
    c = ours()
    e = c.encrypt(message, nonce="n", timestamp=1700000000)
    raw = bytearray(base64.b64decode(e.encrypt))
    i = data.draw(st.integers(len(raw) - 16, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    tampered = base64.b64encode(bytes(raw)).decode()
    with pytest.raises((DecryptError, ReceiveIdError)):
        c.verify_url(sign(TOKEN, e.timestamp, e.nonce, tampered), e.timestamp, e.nonce, tampered)


@settings(max_examples=200)
@given(st.text(max_size=100), st.data())
def test_any_flipped_signature_character_is_rejected(message: str, data: st.DataObject) -> None:
    c = ours()
    e = c.encrypt(message, nonce="n", timestamp=1700000000)
    i = data.draw(st.integers(0, len(e.signature) - 1))
    other = data.draw(st.sampled_from([ch for ch in "0123456789abcdef" if ch != e.signature[i]]))
    bad = e.signature[:i] + other + e.signature[i + 1 :]
    with pytest.raises(SignatureError):
        c.verify_url(bad, e.timestamp, e.nonce, e.encrypt)


@given(st.binary(max_size=200))
def test_pkcs7_32_byte_round_trip(data: bytes) -> None:
    padded = pkcs7_pad(data)
    assert len(padded) % 32 == 0
    assert 1 <= len(padded) - len(data) <= 32
    assert pkcs7_unpad(padded) == data


def _encrypt_raw(plain: bytes) -> str:
    key = base64.b64decode(AES_KEY + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def _frame(msg: bytes, receive_id: bytes = CORP_ID.encode()) -> bytes:
    return b"R" * 16 + struct.pack(">I", len(msg)) + msg + receive_id


@pytest.mark.parametrize(
    "pad",
    [
        pytest.param(lambda n: bytes([n]) * (n - 1) + bytes([n + 1 if n < 32 else 1]), id="wrong-last-byte"),
        pytest.param(lambda n: bytes([0]) * n, id="zero-pad"),
        pytest.param(lambda n: bytes([n ^ 1]) + bytes([n]) * (n - 1), id="one-bad-pad-byte"),
    ],
)
def test_bad_padding_is_refused_even_with_a_valid_signature(pad: object) -> None:
    framed = _frame(b"<xml>hello</xml>")
    n = 32 - len(framed) % 32
    encrypt = _encrypt_raw(framed + pad(n))  # type: ignore[operator]
    with pytest.raises(DecryptError, match="padding"):
        ours().verify_url(sign(TOKEN, "1", "n", encrypt), "1", "n", encrypt)


def test_padding_of_the_16_byte_aes_kind_is_refused() -> None:
    # What cryptography's PKCS7(128) would produce: pad values up to 16 only, and a
    # message whose 32-byte pad should be 17..32 ends with the wrong value.
    framed = _frame(b"x" * 7)  # 16+4+7+18 = 45 bytes: a 32-byte pad is 19
    n16 = 16 - len(framed) % 16  # 3
    encrypt = _encrypt_raw(framed + bytes([n16]) * n16)
    with pytest.raises(DecryptError, match="32-byte"):
        ours().verify_url(sign(TOKEN, "1", "n", encrypt), "1", "n", encrypt)


def test_another_receive_id_is_refused() -> None:
    e = CallbackCrypto(TOKEN, AES_KEY, "ww_someone_else").encrypt("<xml/>", nonce="n", timestamp=1)
    with pytest.raises(ReceiveIdError, match="receive id"):
        ours().verify_url(e.signature, e.timestamp, e.nonce, e.encrypt)


def test_length_field_beyond_the_message_is_refused() -> None:
    framed = b"R" * 16 + struct.pack(">I", 10_000) + b"<xml/>" + CORP_ID.encode()
    encrypt = _encrypt_raw(pkcs7_pad(framed))
    with pytest.raises(DecryptError, match="length"):
        ours().verify_url(sign(TOKEN, "1", "n", encrypt), "1", "n", encrypt)


@pytest.mark.parametrize("encrypt", ["not base64!!", "", "AAAA", base64.b64encode(b"x" * 17).decode()])
def test_garbage_ciphertext_is_refused(encrypt: str) -> None:
    with pytest.raises(DecryptError):
        ours().decrypt_message(encrypt)


def test_timestamp_window() -> None:
    c = CallbackCrypto(TOKEN, AES_KEY, CORP_ID, timestamp_tolerance=300)
    c.check_timestamp("1000", now=1200)
    with pytest.raises(TimestampError, match="replayed or stale"):
        c.check_timestamp("1000", now=1301)
    with pytest.raises(TimestampError, match="whole number"):
        c.check_timestamp("12a", now=1000)
    CallbackCrypto(TOKEN, AES_KEY, CORP_ID, timestamp_tolerance=0).check_timestamp("1", now=10**10)


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<xml><Encrypt>&b;</Encrypt></xml>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<xml><Encrypt>&e;</Encrypt></xml>",
        "<xml><Encrypt>abc</Encrypt>",
        "<xml><ToUserName>x</ToUserName></xml>",
    ],
    ids=["billion-laughs", "xxe", "truncated", "no-encrypt"],
)
def test_hostile_or_malformed_post_bodies(body: str) -> None:
    with pytest.raises(MalformedXML):
        ours().decrypt_post("sig", "1", "n", body)


@pytest.mark.parametrize("key", ["short", "!" * 43, AES_KEY + "A"])
def test_bad_encoding_aes_key_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError, match="EncodingAESKey"):
        CallbackCrypto(TOKEN, key, CORP_ID)
