"""Console / API users, bearer tokens and password login (with a failure limit)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import ApiToken, AuditLog, Staff, User
from siyu.web.auth.errors import RateLimited, Unauthenticated
from siyu.web.auth.passwords import hash_password, needs_rehash, verify_password

# Highest first: owner > admin > operator > staff.
ROLES = ("owner", "admin", "operator", "staff")
# Roles that may see full phone numbers (each reveal is audited).
PHONE_REVEAL_ROLES = ("owner", "admin")
TOKEN_PREFIX = "siyu_"  # noqa: S105 - a public marker, not a secret
MAX_NAME = 100

# Login limit: this many failures for one (name, address) in the window → 429.
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW = timedelta(minutes=15)


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
    _, token = create_token(session, user=user, name="initial")
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
    """Replace a user's password (existing console sessions stop working)."""
    user.password_hash = hash_password(password)
    audit.record(
        session,
        workspace_id=user.workspace_id,
        actor=actor,
        action="user.password",
        target_type="user",
        target_id=user.id,
    )


def create_token(session: Session, *, user: User, name: str | None = None) -> tuple[ApiToken, str]:
    """A new bearer token for ``user``; only its hash is stored. Returns (row, token)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        workspace_id=user.workspace_id,
        user_id=user.id,
        token_hash=token_hash(token),
        prefix=token[:12],
        name=name,
    )
    session.add(row)
    session.flush()
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


def user_for_token(session: Session, token: str) -> tuple[User, ApiToken] | None:
    """The active user behind a bearer token, or None (unknown, revoked, disabled)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None
    user, api_token = row
    if api_token.revoked_at is not None or user.disabled:
        return None
    now = utcnow()
    # Touch at most once a minute: one write per request would be wasteful.
    if api_token.last_used_at is None or now - api_token.last_used_at > timedelta(minutes=1):
        api_token.last_used_at = now
    return user, api_token


def _limit_key(name: str, ip: str) -> str:
    return hashlib.sha256(f"{name.strip().lower()}\x1f{ip}".encode()).hexdigest()[:40]


def recent_failures(session: Session, *, workspace_id: int, name: str, ip: str) -> tuple[int, int]:
    """(failed logins for this name+address in the window, seconds until the oldest expires)."""
    now = utcnow()
    since = now - LOGIN_WINDOW
    key = _limit_key(name, ip)
    last_success = session.scalar(
        select(func.max(AuditLog.at)).where(
            AuditLog.workspace_id == workspace_id,
            AuditLog.action == "auth.login",
            AuditLog.target_type == "login",
            AuditLog.target_id == key,
        )
    )
    if last_success is not None and last_success > since:
        since = last_success
    count, oldest = session.execute(
        select(func.count(AuditLog.id), func.min(AuditLog.at)).where(
            AuditLog.workspace_id == workspace_id,
            AuditLog.action == "auth.login_failed",
            AuditLog.target_type == "login",
            AuditLog.target_id == key,
            AuditLog.at > since,
        )
    ).one()
    if not count or oldest is None:
        return 0, 0
    # SQLite returns naive text from an aggregate; the column type is bypassed there.
    if oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    retry = int((oldest + LOGIN_WINDOW - now).total_seconds()) + 1
    return int(count), max(retry, 1)


def authenticate(session: Session, *, workspace_id: int, name: str, password: str, ip: str) -> User:
    """The user for a name and password, or Unauthenticated / RateLimited.

    Failures are written in a transaction of their own so that they count even though
    the request that caused them fails.
    """
    failures, retry_after = recent_failures(session, workspace_id=workspace_id, name=name, ip=ip)
    if failures >= LOGIN_MAX_FAILURES:
        raise RateLimited(
            f"too many failed logins for {name!r} from this address; try again in "
            f"{(retry_after + 59) // 60} minute(s)",
            retry_after=retry_after,
            field="name",
        )
    user = find_user(session, workspace_id=workspace_id, name=name.strip())
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        _record_failure(session, workspace_id=workspace_id, name=name, ip=ip, user=user)
        raise Unauthenticated("wrong user name or password", field="password")
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    audit.record(
        session,
        workspace_id=workspace_id,
        actor=f"user:{user.id}",
        action="auth.login",
        target_type="login",
        target_id=_limit_key(name, ip),
        detail={"name": user.name, "ip": ip},
    )
    return user


def _record_failure(session: Session, *, workspace_id: int, name: str, ip: str, user: User | None) -> None:
    with Session(bind=session.get_bind()) as side:
        audit.record(
            side,
            workspace_id=workspace_id,
            actor="anonymous",
            action="auth.login_failed",
            target_type="login",
            target_id=_limit_key(name, ip),
            detail={"name": name[:MAX_NAME], "ip": ip, "known_user": user is not None},
        )
        side.commit()
