"""FastAPI dependencies: the request's database session, who is calling, role checks."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from siyu.kit.db import session_factory
from siyu.models import User
from siyu.web.auth.csrf import verify_csrf
from siyu.web.auth.errors import PermissionDenied, Unauthenticated
from siyu.web.auth.sessions import SESSION_COOKIE, live_session, password_fingerprint, read_session
from siyu.web.auth.users import PHONE_REVEAL_ROLES, ROLES, check_token


def db_session() -> Iterator[Session]:
    """One request, one transaction: commit when the endpoint returns, roll back on error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is sent, so a failed commit is an error
# the client sees rather than a write that silently vanished.
DbSession = Annotated[Session, Depends(db_session, scope="function")]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, detached from any database session."""

    id: int
    workspace_id: int
    name: str
    role: str
    staff_id: int | None
    # "session" (console cookie) or "token" (Authorization: Bearer)
    via: str
    token_id: int | None = None
    # The console session (``user_sessions.id``) when ``via`` is "session".
    session_id: int | None = None

    @property
    def actor(self) -> str:
        """How this caller appears in the audit log."""
        return f"user:{self.id}"

    @property
    def can_reveal_phone(self) -> bool:
        """Owners and admins may see full phone numbers (each reveal is audited)."""
        return self.role in PHONE_REVEAL_ROLES

    @property
    def sees_all_customers(self) -> bool:
        """Everyone but staff sees every customer of the workspace."""
        return self.role != "staff"

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


def _principal(user: User, via: str, token_id: int | None = None, session_id: int | None = None) -> Principal:
    return Principal(
        id=user.id,
        workspace_id=user.workspace_id,
        name=user.name,
        role=user.role,
        staff_id=user.staff_id,
        via=via,
        token_id=token_id,
        session_id=session_id,
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", field="authorization")
    return value.strip()


def _lookup(request: Request, db: Session) -> Principal | None:
    token = _bearer(request)
    if token is not None:
        user, api_token = check_token(db, token)
        return _principal(user, "token", api_token.id)
    data = read_session(request)
    if data is None:
        return None
    session_user = db.get(User, data.user_id)
    if (
        session_user is None
        or session_user.disabled
        or session_user.workspace_id != data.workspace_id
        or not hmac.compare_digest(password_fingerprint(session_user), data.password_fingerprint)
    ):
        return None
    row = live_session(db, data)
    if row is None:  # ended on the server (logout, disable, password or role change, admin)
        return None
    return _principal(session_user, "session", session_id=row.id)


# Declared only so that the OpenAPI spec (and /api/docs "Authorize") shows both ways
# in; the header and the cookie are read and checked in ``_lookup``.
_bearer_scheme = HTTPBearer(auto_error=False, description="An API token: `siyu users create` / `token`.")
_cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The console session.")


async def optional_user(
    request: Request,
    db: DbSession,
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)] = None,
    _cookie_doc: Annotated[str | None, Depends(_cookie_scheme)] = None,
) -> Principal | None:
    """The caller, or None when not logged in (console pages redirect to the login)."""
    principal = await run_in_threadpool(_lookup, request, db)
    if principal is not None and principal.via == "session":
        await verify_csrf(request)
    return principal


async def current_user(principal: Annotated[Principal | None, Depends(optional_user)]) -> Principal:
    """The caller (session cookie or bearer token), or 401. Cookie writes need CSRF."""
    if principal is None:
        raise Unauthenticated("log in or send 'Authorization: Bearer <token>'")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]
OptionalUser = Annotated[Principal | None, Depends(optional_user)]


def require_role(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets only the given roles through (403 for the others).

    Use as ``user: Annotated[Principal, Depends(require_role("owner", "admin"))]``.
    """
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"require_role needs roles from {ROLES}, got {roles}")

    async def dependency(user: CurrentUser) -> Principal:
        if user.role not in roles:
            raise PermissionDenied(
                f"your role '{user.role}' may not do this; it needs one of: {', '.join(roles)}"
            )
        return user

    return dependency


# Ready-made role gates.
AdminUser = Annotated[Principal, Depends(require_role("owner", "admin"))]
OperatorUser = Annotated[Principal, Depends(require_role("owner", "admin", "operator"))]
