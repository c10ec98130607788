"""PII helpers: phone normalisation, keyed hashes, encryption at rest, masking.

A phone number is kept three ways: an HMAC (to match across sources without storing
the number), an AES-GCM ciphertext (for authorised display) and a masked form
(138****5678) for everyone else. Masked inputs from platform exports are never
identity keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from functools import lru_cache

import phonenumbers
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Any run of mask characters inside a phone-like value: 138****1234, 186******05, 138xxxx1234.
_MASK_RE = re.compile(r"[*＊xX×•#$]")
_PHONE_JUNK_RE = re.compile(r"[\s\-()（）.]")


class PIIError(ValueError):
    """A value that cannot be used as PII of the expected kind."""


def is_masked(value: str) -> bool:
    """True if a phone-like value is masked or encrypted by the platform."""
    v = value.strip()
    return bool(_MASK_RE.search(v)) or v.startswith(("##", "$$"))


def normalise_phone(value: str | None) -> str | None:
    """E.164 for a usable Chinese mobile/landline, None for empty or masked values.

    Raises PIIError for a value that is neither empty, masked nor a valid number.
    """
    if value is None:
        return None
    v = value.strip().lstrip("'\t").strip()
    if not v:
        return None
    if is_masked(v):
        return None
    compact = _PHONE_JUNK_RE.sub("", v)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif compact.startswith("86") and len(compact) == 13:
        compact = "+" + compact
    try:
        num = phonenumbers.parse(compact, "CN")
    except phonenumbers.NumberParseException as exc:
        raise PIIError(f"not a phone number: {value!r}") from exc
    if not phonenumbers.is_valid_number(num):
        raise PIIError(f"not a valid phone number: {value!r}")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164_or_raw: str) -> str:
    """138****5678 for a Chinese mobile; keeps only first 3 and last 4 digits."""
    digits = re.sub(r"\D", "", e164_or_raw)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def phone_last4(e164_or_raw: str) -> str | None:
    """The last four digits (what the masked form shows too), for search; None if short."""
    digits = re.sub(r"\D", "", e164_or_raw)
    return digits[-4:] if len(digits) > 7 else None


class PIIVault:
    """Keyed hashing and encryption derived from the application secret."""

    def __init__(self, secret_key: str) -> None:
        secret = secret_key.encode()
        self._hash_key = _derive(secret, b"siyu/pii/hmac")
        # Keyed once: copying the keyed state is much cheaper than re-keying per value
        # (imports hash millions of identities). The template itself is never updated.
        self._hmac = hmac.new(self._hash_key, digestmod=hashlib.sha256)
        self._aead = AESGCM(_derive(secret, b"siyu/pii/aes-gcm"))

    def identity_hash(self, kind: str, value: str, platform: str = "") -> str:
        """Stable keyed hash of an identity value; the key to match on."""
        h = self._hmac.copy()
        h.update(f"{kind}\x1f{platform}\x1f{value}".encode())
        return h.hexdigest()

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, plaintext.encode(), b"siyu-pii-v1")
        return "v1:" + base64.urlsafe_b64encode(nonce + ct).decode()

    def decrypt(self, token: str) -> str:
        if not token.startswith("v1:"):
            raise PIIError("unknown ciphertext version")
        raw = base64.urlsafe_b64decode(token[3:].encode())
        return self._aead.decrypt(raw[:12], raw[12:], b"siyu-pii-v1").decode()


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"siyu", info=info).derive(secret)


@lru_cache(maxsize=8)
def vault_for(secret_key: str) -> PIIVault:
    return PIIVault(secret_key)


def get_vault() -> PIIVault:
    """The vault for the configured secret key."""
    from siyu.config import get_settings

    return vault_for(get_settings().secret_key)
