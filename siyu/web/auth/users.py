"""Console / API users and their bearer tokens (expiring, rotatable). Logins: ``login.py``."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import ApiToken, Staff, User
from siyu.web.auth.errors import Unauthenticated
from siyu.web.auth.passwords import hash_password
from siyu.web.auth.sessions import end_user_sessions

# Highest first: owner > admin > operator > staff.
ROLES = ("owner", "admin", "operator", "staff")
# Roles that may see full phone numbers (each reveal is audited).
PHONE_REVEAL_ROLES = ("owner", "admin")
TOKEN_PREFIX = "siyu_"  # noqa: S105 - a public marker, not a secret
MAX_NAME = 100

# API token lifetimes, in days (the default is the setting api_token_default_days).
MAX_TOKEN_DAYS = 3650


def check_role(role: str) -> str:
    """The role, or an Invalid naming the roles that exist."""
    if role not in ROLES:
        raise Invalid(f"unknown role {role!r}; use one of {', '.join(ROLES)}", field="role")
    return role


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise Invalid("user name is empty", field="name")
    if len(name) > MAX_NAME:
        raise Invalid(f"user name is longer than {MAX_NAME} characters", field="name")
    if any(ch.isspace() for ch in name):
        raise Invalid(f"user name {name!r} contains spaces; use letters, digits, . _ -", field="name")
    return name


def token_hash(token: str) -> str:
    """SHA-256 of a bearer token: tokens are random, so no salt or slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def find_user(session: Session, *, workspace_id: int, name: str) -> User | None:
    """The user ``name`` of a workspace, or None."""
    return session.scalar(select(User).where(User.workspace_id == workspace_id, User.name == name))


def get_user(session: Session, *, workspace_id: int, name: str) -> User:
    """The user ``name`` of a workspace, or NotFound."""
    user = find_user(session, workspace_id=workspace_id, name=name)
    if user is None:
        raise NotFound(f"no user named {name!r} in this workspace", field="name")
    return user


def create_user(
    session: Session,
    *,
    workspace_id: int,
    name: str,
    role: str,
    password: str | None = None,
    staff_userid: str | None = None,
    display_name: str | None = None,
    actor: str = "system",
    token_days: int | None = None,
) -> tuple[User, str]:
    """Create a user and its first API token; returns (user, plain token shown once)."""
    name = _check_name(name)
    check_role(role)
    if find_user(session, workspace_id=workspace_id, name=name) is not None:
        raise Conflict(f"a user named {name!r} already exists in this workspace", field="name")
    staff_id: int | None = None
    if staff_userid:
        staff = session.scalar(
            select(Staff).where(Staff.workspace_id == workspace_id, Staff.userid == staff_userid)
        )
        if staff is None:
            raise NotFound(
                f"no staff account with WeCom userid {staff_userid!r} in this workspace "
                "(sync the WeCom directory first)",
                field="staff",
            )
        staff_id = staff.id
    elif role == "staff":
        raise Invalid(
            "a user with role 'staff' must be linked to a staff account (give its WeCom userid)",
            field="staff",
        )
    user = User(
        workspace_id=workspace_id,
        name=name,
        display_name=display_name,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        staff_id=staff_id,
        disabled=False,
    )
    session.add(user)
    session.flush()
    _, token = create_token(session, user=user, name="initial", days=token_days)
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="user.create",
        target_type="user",
        target_id=user.id,
        detail={"name": name, "role": role, "staff_id": staff_id},
    )
    return user, token


def set_password(session: Session, *, user: User, password: str, actor: str = "system") -> None:
    """Replace a user's password and end every console session of theirs."""
    user.password_hash = hash_password(password)
    end_user_sessions(session, user_id=user.id, reason="password")
    audit.record(
        session,
        workspace_id=user.workspace_id,
        actor=actor,
        action="user.password",
        target_type="user",
        target_id=user.id,
    )


def token_lifetime(days: int | None) -> timedelta:
    """The lifetime of a new token: ``days``, or the configured default (90 days)."""
    from siyu.config import get_settings

    if days is None:
        days = get_settings().api_token_default_days
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise Invalid(f"a token lives 1 to {MAX_TOKEN_DAYS} days, not {days}", field="expires_in_days")
    return timedelta(days=days)


def create_token(
    session: Session,
    *,
    user: User,
    name: str | None = None,
    days: int | None = None,
    rotated_from_id: int | None = None,
) -> tuple[ApiToken, str]:
    """A new bearer token for ``user`` expiring after ``days`` (default 90); only its hash
    is stored. Returns (row, token)."""
    lifetime = token_lifetime(days)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        workspace_id=user.workspace_id,
        user_id=user.id,
        token_hash=token_hash(token),
        prefix=token[:12],
        name=name,
        created_at=now,
        expires_at=now + lifetime,
        rotated_from_id=rotated_from_id,
    )
    session.add(row)
    session.flush()
    return row, token


def rotate_token(
    session: Session, *, workspace_id: int, token_id: int, days: int | None = None, actor: str = "system"
) -> tuple[ApiToken, str]:
    """Replace a token by a new one (same user and name) and revoke the old one at once.

    The new token lives ``days``, or as long as the old one was meant to. A revoked token
    cannot be rotated (it was withdrawn on purpose); an expired one can.
    """
    old = session.scalar(
        select(ApiToken).where(ApiToken.workspace_id == workspace_id, ApiToken.id == token_id)
    )
    if old is None:
        raise NotFound(f"token {token_id} does not exist", field="token_id")
    if old.revoked_at is not None:
        raise Conflict(f"token {old.prefix}… was revoked; create a new one instead", field="token_id")
    user = session.get(User, old.user_id)
    assert user is not None  # the foreign key
    if user.disabled:
        raise Conflict(f"user {user.name!r} is disabled; enable it first", field="token_id")
    if days is None and old.expires_at is not None:
        days = max(1, min(MAX_TOKEN_DAYS, round((old.expires_at - old.created_at).total_seconds() / 86400)))
    row, token = create_token(session, user=user, name=old.name, days=days, rotated_from_id=old.id)
    old.revoked_at = utcnow()
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="token.rotate",
        target_type="token",
        target_id=old.id,
        detail={"prefix": old.prefix, "new_token_id": row.id, "new_prefix": row.prefix, "user_id": user.id},
    )
    return row, token


def revoke_token(session: Session, *, workspace_id: int, token_id: int, actor: str = "system") -> ApiToken:
    """Revoke a token of this workspace (idempotent); NotFound for another workspace's."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.workspace_id == workspace_id, ApiToken.id == token_id)
    )
    if row is None:
        raise NotFound(f"token {token_id} does not exist", field="token_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action="token.revoke",
            target_type="token",
            target_id=row.id,
            detail={"prefix": row.prefix, "user_id": row.user_id},
        )
    return row


def check_token(session: Session, token: str) -> tuple[User, ApiToken]:
    """The active user behind a bearer token, or Unauthenticated saying why in plain words.

    Unknown, revoked, expired (with the date) and disabled users are told apart: only
    someone holding the token sees the answer. Use is recorded (``last_used_at``, at
    most once a minute).
    """
    found = None
    if token.startswith(TOKEN_PREFIX) and len(token) <= 200:
        found = session.execute(
            select(User, ApiToken)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == token_hash(token))
        ).first()
    if found is None:
        raise Unauthenticated("the API token is unknown; check that it was copied whole")
    user, api_token = found
    if api_token.revoked_at is not None:
        raise Unauthenticated(f"the API token {api_token.prefix}… was revoked")
    now = utcnow()
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise Unauthenticated(
            f"the API token {api_token.prefix}… expired on {api_token.expires_at:%Y-%m-%d %H:%M} UTC; "
            "create a new one, and rotate tokens before they expire"
        )
    if user.disabled:
        raise Unauthenticated(f"the user {user.name!r} of this API token is disabled")
    # Touch at most once a minute: one write per request would be wasteful.
    if api_token.last_used_at is None or now - api_token.last_used_at > timedelta(minutes=1):
        api_token.last_used_at = now
    return user, api_token


def user_for_token(session: Session, token: str) -> tuple[User, ApiToken] | None:
    """The active user behind a bearer token, or None (unknown, revoked, expired, disabled)."""
    try:
        return check_token(session, token)
    except Unauthenticated:
        return None
