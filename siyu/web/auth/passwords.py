"""Password hashing with Argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

import contextlib
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from siyu.kit.errors import Invalid

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


def _hasher() -> PasswordHasher:
    from siyu.config import get_settings

    return _hasher_for(get_settings().env == "test")


@lru_cache(maxsize=2)
def _hasher_for(cheap: bool) -> PasswordHasher:
    # Test runs hash many passwords on small machines: same algorithm, minimal cost.
    # Everywhere else: argon2-cffi's recommended (RFC 9106 low-memory) parameters.
    if cheap:
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


def check_password_policy(password: str) -> None:
    """Refuse passwords that are too short or absurdly long, in plain words."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"password is too short: use at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(f"password is longer than {MAX_PASSWORD_LENGTH} characters", field="password")


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (salted; safe to store)."""
    check_password_policy(password)
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches ``password_hash``; False for no hash or a bad one."""
    if not password_hash:
        # Spend the same time as a real check so that missing users are not detectable.
        _dummy_verify(password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher().check_needs_rehash(password_hash)


@lru_cache(maxsize=2)
def _dummy_hash(cheap: bool) -> str:
    return _hasher_for(cheap).hash("siyu-timing-equaliser")


def _dummy_verify(password: str) -> None:
    from siyu.config import get_settings

    cheap = get_settings().env == "test"
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher_for(cheap).verify(_dummy_hash(cheap), password)
