"""WeCom callback crypto (the WXBizMsgCrypt scheme), written from the protocol notes.

AES-256-CBC with IV = key[:16], PKCS#7 padding to a 32-byte block (validated here,
unlike the official sample), plaintext = 16 random bytes + 4-byte big-endian length +
message + receive id, and a SHA-1 signature over the sorted
[token, timestamp, nonce, encrypt] strings, compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import string
import struct
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

# Only the Element type comes from the stdlib; parsing goes through defusedxml, or
# through parse_flat, which sets defusedxml's refusals on expat itself.
from xml.etree.ElementTree import Element
from xml.parsers import expat

import defusedxml.ElementTree as SafeET
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from siyu.kit.errors import SiyuError

# WeCom pads to 32 bytes, not AES's 16 (so PKCS7(128) from `cryptography` would refuse).
BLOCK_SIZE = 32
_NONCE_ALPHABET = string.ascii_letters + string.digits


class CallbackError(SiyuError):
    """A callback that cannot be accepted (base class)."""

    code = "bad_callback"
    status_code = 400


class SignatureError(CallbackError):
    """msg_signature does not match: not from WeCom, or the token is wrong."""

    code = "bad_signature"
    status_code = 403


class TimestampError(CallbackError):
    """The timestamp is missing, not a number, or outside the allowed window (replay)."""

    code = "bad_timestamp"
    status_code = 403


class DecryptError(CallbackError):
    """The ciphertext, padding or inner framing is malformed."""

    code = "bad_ciphertext"
    status_code = 400


class ReceiveIdError(CallbackError):
    """The message decrypts but names another corp/app as its receiver."""

    code = "bad_receive_id"
    status_code = 400


class MalformedXML(CallbackError):
    """The body is not the expected XML (or uses DTDs/entities, which are refused)."""

    code = "bad_xml"
    status_code = 400


class ConfigError(SiyuError):
    """Token / EncodingAESKey / receive id settings are unusable."""

    code = "bad_wecom_config"
    status_code = 500


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey."""
    if len(encoding_aes_key) != 43:
        raise ConfigError(
            f"EncodingAESKey must be 43 characters long, got {len(encoding_aes_key)}",
            field="aes_key",
        )
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("EncodingAESKey is not valid base64", field="aes_key") from exc
    if len(key) != 32:  # pragma: no cover - 43 valid base64 chars always give 32 bytes
        raise ConfigError("EncodingAESKey does not decode to 32 bytes", field="aes_key")
    return key


def sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Hex SHA-1 of the four strings sorted and concatenated (WeCom's msg_signature)."""
    parts = sorted([token, timestamp, nonce, encrypt])
    return hashlib.sha1("".join(parts).encode(), usedforsecurity=False).hexdigest()


def pkcs7_pad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Pad to a multiple of block_size with 1..block_size bytes of the pad length."""
    n = block_size - len(data) % block_size
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Strip and validate PKCS#7 padding; DecryptError if any pad byte is wrong."""
    if not data or len(data) % block_size:
        # WeCom always pads to whole 32-byte blocks; anything else was not made by it.
        raise DecryptError("decrypted data is not padded to whole 32-byte blocks (invalid padding)")
    n = data[-1]
    if n < 1 or n > block_size or n > len(data):
        raise DecryptError("invalid padding in the decrypted message")
    # Check every pad byte, without an early exit on the first mismatch.
    if not hmac.compare_digest(data[-n:], bytes([n]) * n):
        raise DecryptError("invalid padding in the decrypted message")
    return data[:-n]


def parse_xml(text: str | bytes) -> Element:
    """Parse untrusted XML with DTDs and entities refused (XXE, billion laughs)."""
    try:
        root = SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True)
    except SafeET.ParseError as exc:
        raise MalformedXML(f"the body is not well-formed XML ({exc})") from exc
    except ValueError as exc:  # defusedxml's DTDForbidden / EntitiesForbidden / External*
        raise MalformedXML(f"the XML uses a forbidden construct ({type(exc).__name__})") from exc
    if not isinstance(root, Element):  # pragma: no cover - defusedxml returns Elements
        raise MalformedXML("the body is not XML")
    return root


def xml_fields(root: Element) -> dict[str, str]:
    """Direct children of the root as a tag -> text mapping (first occurrence wins)."""
    out: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str) and child.tag not in out:
            out[child.tag] = (child.text or "").strip() if len(child) == 0 else ""
    return out


@dataclass(frozen=True, slots=True)
class FlatXML:
    """A WeCom message's shape: the root tag, its children's texts, and list items.

    ``fields`` maps each direct child's tag to its text (stripped; the first occurrence
    wins; text before a grandchild only, as ElementTree's ``.text``); ``nested`` names
    the fields whose first occurrence has child elements; the children of every
    ``<MemChangeList>`` are collected, in order and non-empty, as ``members`` (and
    ``MemChangeList`` itself is not a field).
    """

    root: str
    fields: dict[str, str]
    nested: frozenset[str]
    members: tuple[str, ...]


def _forbid_dtd(name: str, sysid: str | None, pubid: str | None, _has_internal_subset: bool) -> None:
    raise DTDForbidden(name, sysid, pubid)


def _forbid_entity(
    name: str,
    _is_parameter: bool,
    value: str | None,
    base: str | None,
    sysid: str | None,
    pubid: str | None,
    notation_name: str | None,
) -> None:
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation_name)


def _forbid_unparsed_entity(
    name: str, base: str | None, sysid: str | None, pubid: str | None, notation_name: str | None
) -> None:
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation_name)


def _forbid_external(context: str, base: str | None, sysid: str | None, pubid: str | None) -> int:
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


# One child of <xml> in the plain form WeCom writes: <Tag><![CDATA[text]]></Tag> or
# <Tag>text</Tag>, after optional white space. No attributes, comments, entities, nesting.
_PLAIN_FIELD = re.compile(r"[ \t\n]*<([A-Za-z_][A-Za-z0-9_]*)>(?:<!\[CDATA\[([^\]]*)\]\]>|([^<>&\]]*))</\1>")


def _parse_plain(text: str | bytes) -> FlatXML | None:
    """``parse_flat``'s answer for a message in WeCom's plain form; None for anything else.

    Every callback WeCom sends (the envelope and the decrypted message) is a root
    ``<xml>`` whose children each hold one text or one CDATA section. This reads that
    form with one regular expression per child instead of expat's callbacks (half the
    cost of a callback's two parses), and gives up (None: expat decides) on anything
    else: a character that is neither printable nor a tab or newline (control
    characters, which XML refuses, carriage returns, which it rewrites, unassigned code
    points, lone surrogates), a non-ASCII byte string (expat decodes those), a declaration,
    DTD, comment, processing instruction, entity or character reference (``&``),
    attribute, namespace, nested element, ``]`` in a text (``]]>`` is refused there) or
    in a CDATA section, or a ``MemChangeList``. What it accepts is well-formed XML that
    contains nothing to refuse, and it reads it as expat does (tests compare the two).
    """
    if isinstance(text, bytes):
        if not text.isascii():
            return None
        text = text.decode("ascii")
    if not (
        text.startswith("<xml>")
        and text.rstrip(" \t\n").endswith("</xml>")  # white space may follow the root
        and text.replace("\n", "").replace("\t", "").isprintable()
    ):
        return None
    pos, end = 5, len(text.rstrip(" \t\n")) - 6
    fields: dict[str, str] = {}
    match = _PLAIN_FIELD.match
    while pos < end:
        m = match(text, pos, end)
        if m is None:
            break
        tag, cdata, plain = m.groups()
        if tag not in fields:  # the first occurrence wins, as in parse_flat
            fields[tag] = (plain if cdata is None else cdata).strip()
        pos = m.end()
    while pos < end and text[pos] in " \t\n":
        pos += 1
    if pos != end or "MemChangeList" in fields:
        return None
    return FlatXML("xml", fields, frozenset(), ())


def parse_flat(text: str | bytes) -> FlatXML:
    """Parse an untrusted WeCom message into its flat shape, without building a tree.

    The hot-path twin of ``parse_xml``: the same expat parser, with defusedxml's
    refusals (DTD, entity declarations, external references) installed the way
    defusedxml installs them, and the same errors (``MalformedXML``). It gives the same
    tags and texts as ``parse_xml`` followed by reading the children, at a third of the
    cost (no Python-level tree builder). Messages in WeCom's plain form are read without
    expat (``_parse_plain``), with the same result.
    """
    plain = _parse_plain(text)
    if plain is not None:
        return plain
    return _parse_expat(text)


def _parse_expat(text: str | bytes) -> FlatXML:
    parser = expat.ParserCreate(None, "}")  # namespaces as ElementTree names them: {uri}tag
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _forbid_dtd
    parser.EntityDeclHandler = _forbid_entity
    parser.UnparsedEntityDeclHandler = _forbid_unparsed_entity
    parser.ExternalEntityRefHandler = _forbid_external
    # Each open element: [tag, text parts, text before its first child (or None), has children].
    stack: list[list[Any]] = []
    fields: dict[str, str] = {}
    nested: set[str] = set()
    members: list[str] = []
    root: list[str] = []

    def start(tag: str, _attrs: Any) -> None:
        if "}" in tag:
            tag = "{" + tag
        if stack:
            parent = stack[-1]
            if parent[2] is None:
                parent[2] = "".join(parent[1])
                parent[3] = True
        else:
            root.append(tag)
        stack.append([tag, [], None, False])

    def data(chunk: str) -> None:
        frame = stack[-1]
        if frame[2] is None:
            frame[1].append(chunk)

    def end(_tag: str) -> None:
        tag, parts, before_child, has_children = stack.pop()
        depth = len(stack)
        if depth == 1:
            if tag != "MemChangeList" and tag not in fields:
                fields[tag] = ("".join(parts) if before_child is None else before_child).strip()
                if has_children:
                    nested.add(tag)
        elif depth == 2 and stack[1][0] == "MemChangeList":
            item = ("".join(parts) if before_child is None else before_child).strip()
            if item:
                members.append(item)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise MalformedXML(f"the body is not well-formed XML ({exc})") from exc
    except ValueError as exc:  # DTDForbidden / EntitiesForbidden / ExternalReferenceForbidden
        raise MalformedXML(f"the XML uses a forbidden construct ({type(exc).__name__})") from exc
    return FlatXML(root[0], fields, frozenset(nested), tuple(members))


class Encrypted(NamedTuple):
    """An encrypted message with everything needed to deliver it (unpacks as a tuple)."""

    encrypt: str
    signature: str
    timestamp: str
    nonce: str


class CallbackCrypto:
    """Verify, decrypt and encrypt WeCom callbacks for one app.

    ``receive_id`` is the corp id for a self-built app (the suite id for a third-party
    app). ``timestamp_tolerance`` (seconds) bounds replays; 0 disables the check.
    """

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        receive_id: str,
        *,
        timestamp_tolerance: int = 0,
    ) -> None:
        if not token:
            raise ConfigError("the callback Token is empty", field="token")
        if not receive_id:
            raise ConfigError("the receive id (corp id) is empty", field="corp_id")
        self.token = token
        self.receive_id = receive_id
        self.timestamp_tolerance = timestamp_tolerance
        self._key = decode_aes_key(encoding_aes_key)
        self._receive_id_bytes = receive_id.encode()
        # Built once: each message still gets its own encryptor / decryptor context.
        self._cipher_obj = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    # -- low level ----------------------------------------------------------------
    def _cipher(self) -> Cipher[modes.CBC]:
        return self._cipher_obj

    def encrypt_message(self, plaintext: str | bytes, *, random_prefix: bytes | None = None) -> str:
        """Base64 ciphertext of one message (no signature)."""
        msg = plaintext.encode() if isinstance(plaintext, str) else plaintext
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("random_prefix must be 16 bytes")
        framed = prefix + struct.pack(">I", len(msg)) + msg + self._receive_id_bytes
        enc = self._cipher().encryptor()
        ct = enc.update(pkcs7_pad(framed)) + enc.finalize()
        return base64.b64encode(ct).decode()

    def decrypt_message(self, encrypt: str) -> str:
        """Plaintext of a base64 ciphertext, with padding, framing and receive id checked."""
        try:
            ct = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptError("the Encrypt value is not valid base64") from exc
        if not ct or len(ct) % 16:
            raise DecryptError("the Encrypt value is not a whole number of AES blocks")
        dec = self._cipher().decryptor()
        framed = pkcs7_unpad(dec.update(ct) + dec.finalize())
        if len(framed) < 20:
            raise DecryptError("the decrypted message is too short")
        (length,) = struct.unpack(">I", framed[16:20])
        if 20 + length > len(framed):
            raise DecryptError("the decrypted message length field is out of range")
        msg = framed[20 : 20 + length]
        receive_id = framed[20 + length :]
        if not hmac.compare_digest(receive_id, self._receive_id_bytes):
            raise ReceiveIdError("the message is addressed to another corp or app (receive id)")
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecryptError("the decrypted message is not UTF-8") from exc

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """SignatureError unless msg_signature matches (constant-time compare)."""
        expected = sign(self.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").lower().encode()):
            raise SignatureError("msg_signature does not match")

    def check_timestamp(self, timestamp: str, *, now: float | None = None) -> None:
        """TimestampError if the timestamp is not an integer or outside the window."""
        try:
            ts = int(timestamp)
        except (TypeError, ValueError) as exc:
            raise TimestampError(f"timestamp {timestamp!r} is not a whole number") from exc
        if self.timestamp_tolerance > 0:
            current = time.time() if now is None else now
            if abs(current - ts) > self.timestamp_tolerance:
                raise TimestampError(
                    f"timestamp is {int(current - ts)} s off the server clock "
                    f"(allowed ±{self.timestamp_tolerance} s): replayed or stale"
                )

    # -- the WeCom operations ----------------------------------------------------
    def encrypt(
        self,
        plaintext_xml: str | bytes,
        nonce: str | None = None,
        timestamp: str | int | None = None,
    ) -> Encrypted:
        """Encrypt and sign a message; returns (encrypt_b64, signature, timestamp, nonce)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nc = nonce if nonce is not None else new_nonce()
        enc = self.encrypt_message(plaintext_xml)
        return Encrypted(enc, sign(self.token, ts, nc, enc), ts, nc)

    def build_post_body(
        self,
        plaintext_xml: str | bytes,
        *,
        agent_id: str = "",
        nonce: str | None = None,
        timestamp: str | int | None = None,
    ) -> tuple[str, dict[str, str]]:
        """The POST body WeCom sends and its query parameters (msg_signature, timestamp, nonce)."""
        e = self.encrypt(plaintext_xml, nonce=nonce, timestamp=timestamp)
        body = (
            f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{e.encrypt}]]></Encrypt>"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID></xml>"
        )
        return body, {"msg_signature": e.signature, "timestamp": e.timestamp, "nonce": e.nonce}

    def build_echostr(
        self, plaintext: str, *, nonce: str | None = None, timestamp: str | int | None = None
    ) -> dict[str, str]:
        """Query parameters of a URL-verification GET (what WeCom sends on setup)."""
        e = self.encrypt(plaintext, nonce=nonce, timestamp=timestamp)
        return {
            "msg_signature": e.signature,
            "timestamp": e.timestamp,
            "nonce": e.nonce,
            "echostr": e.encrypt,
        }

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """Check a URL-verification request and return the decrypted echostr."""
        self.check_timestamp(timestamp)
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt_message(echostr)

    def decrypt_post(self, msg_signature: str, timestamp: str, nonce: str, body: str | bytes) -> str:
        """Check a callback POST and return the decrypted inner XML (as text)."""
        self.check_timestamp(timestamp)
        envelope = parse_flat(body)
        encrypt = envelope.fields.get("Encrypt") if "Encrypt" not in envelope.nested else ""
        if not encrypt:
            raise MalformedXML("the callback body has no <Encrypt> element")
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt_message(encrypt)


def new_nonce(length: int = 16) -> str:
    """A random alphanumeric nonce."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def new_encoding_aes_key() -> str:
    """A fresh 43-character EncodingAESKey (for tests, the simulator and setup)."""
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")
