"""Login, logout, who am I, API tokens, sessions and users (``/api/v1/auth``, ``/api/v1/users``,
``/api/v1/sessions``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from siyu.config import get_settings
from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import ApiToken, Staff, User, UserSession, Workspace
from siyu.web.api.common import ERRORS, Id
from siyu.web.auth import (
    ROLES,
    AdminUser,
    CurrentUser,
    DbSession,
    OptionalUser,
    Principal,
    client_ip,
    create_token,
    create_user,
    csrf_token,
    end_user_sessions,
    logout_session,
    open_sessions,
    password_login,
    revoke_token,
    rotate_token,
    set_password,
)
from siyu.web.auth.errors import PermissionDenied
from siyu.web.auth.users import MAX_TOKEN_DAYS

router = APIRouter(prefix="/api/v1", tags=["auth"], responses=ERRORS)


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=256)
    workspace: str | None = Field(
        None, max_length=64, description="Workspace slug; the default workspace if empty."
    )


class UserOut(BaseModel):
    id: int
    name: str
    display_name: str | None
    role: str
    staff_id: int | None
    staff_userid: str | None = None
    disabled: bool
    last_login_at: datetime | None
    created_at: datetime


class MeOut(BaseModel):
    user: UserOut
    workspace: str
    via: str
    csrf_token: str | None = Field(None, description="Send as X-CSRF-Token on cookie-authenticated writes.")


class TokenOut(BaseModel):
    id: int
    prefix: str
    name: str | None
    user_id: int
    created_at: datetime
    last_used_at: datetime | None = Field(description="Last request made with it (to the minute).")
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from_id: int | None = Field(None, description="The token this one replaced.")


class NewTokenIn(BaseModel):
    name: str | None = Field(None, max_length=100)
    expires_in_days: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKEN_DAYS,
        description="Lifetime in days (default 90, SIYU_API_TOKEN_DEFAULT_DAYS).",
    )


class RotateTokenIn(BaseModel):
    expires_in_days: int | None = Field(
        None, ge=1, le=MAX_TOKEN_DAYS, description="Lifetime of the new token; default: the old one's."
    )


class SessionOut(BaseModel):
    id: int
    user_id: int
    user_name: str
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    current: bool = Field(description="The session making this request.")


class EndedOut(BaseModel):
    ended: int = Field(description="How many sessions were ended.")


class NewTokenOut(BaseModel):
    token: str = Field(description="Shown once; only a hash is stored.")
    info: TokenOut


class NewUserIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(description=f"One of {', '.join(ROLES)}.")
    password: str | None = Field(None, max_length=256)
    staff_userid: str | None = Field(None, max_length=64, description="WeCom userid; required for staff.")
    display_name: str | None = Field(None, max_length=100)


class UserPatch(BaseModel):
    role: str | None = None
    staff_userid: str | None = Field(
        None, max_length=64, description="Link to this staff account (WeCom userid); '' unlinks."
    )
    disabled: bool | None = None
    password: str | None = Field(None, max_length=256)
    display_name: str | None = Field(None, max_length=100)


def _user_out(db: DbSession, user: User) -> UserOut:
    staff_userid = db.scalar(select(Staff.userid).where(Staff.id == user.staff_id)) if user.staff_id else None
    return UserOut(
        id=user.id,
        name=user.name,
        display_name=user.display_name,
        role=user.role,
        staff_id=user.staff_id,
        staff_userid=staff_userid,
        disabled=user.disabled,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
    )


def _token_out(row: ApiToken) -> TokenOut:
    return TokenOut(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        user_id=row.user_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        rotated_from_id=row.rotated_from_id,
    )


@router.post("/auth/login", response_model=MeOut, summary="Log in (sets the console session cookie)")
def login(body: LoginIn, request: Request, response: Response) -> MeOut:
    """Check name and password; 401 when wrong, 429 once the account (5) or the address (30)
    has used up its failed tries in 15 minutes. No database connection is held while the
    password is hashed."""
    result = password_login(
        response,
        request=request,
        workspace=body.workspace or get_settings().default_workspace,
        name=body.name,
        password=body.password,
        ip=client_ip(request),
    )
    from siyu.kit.db import session_scope

    with session_scope() as db:
        user = db.get(User, result.user.id)
        assert user is not None
        out = _user_out(db, user)
    # The new session's CSRF token (its cookie only comes back with the next request).
    return MeOut(user=out, workspace=result.workspace, via="session", csrf_token=result.csrf_token)


@router.post("/auth/logout", status_code=204, summary="Log out (ends the session on the server)")
def logout(request: Request, response: Response, user: OptionalUser, db: DbSession) -> None:
    """End the console session on the server and clear its cookie. With a live session
    the CSRF token is required, as for every cookie-authenticated write; without one
    this only clears the cookie."""
    if user is not None and user.session_id is not None:
        db.execute(
            update(UserSession)
            .where(UserSession.id == user.session_id, UserSession.ended_at.is_(None))
            .values(ended_at=utcnow(), ended_reason="logout")
        )
    logout_session(response, request)


@router.get("/auth/me", response_model=MeOut, summary="Who am I")
def me(user: CurrentUser, request: Request, db: DbSession) -> MeOut:
    """The caller's user, workspace and (for console sessions) CSRF token."""
    row = db.get(User, user.id)
    assert row is not None
    ws = db.get(Workspace, user.workspace_id)
    assert ws is not None
    token = csrf_token(request) if user.via == "session" else None
    return MeOut(user=_user_out(db, row), workspace=ws.slug, via=user.via, csrf_token=token)


@router.get("/auth/tokens", response_model=list[TokenOut], summary="My API tokens")
def list_tokens(user: CurrentUser, db: DbSession) -> list[TokenOut]:
    """The caller's tokens (hashes are never shown)."""
    rows = db.scalars(
        select(ApiToken)
        .where(ApiToken.workspace_id == user.workspace_id, ApiToken.user_id == user.id)
        .order_by(ApiToken.id)
    )
    return [_token_out(r) for r in rows]


@router.post("/auth/tokens", response_model=NewTokenOut, status_code=201, summary="Create an API token")
def new_token(body: NewTokenIn, user: CurrentUser, db: DbSession) -> NewTokenOut:
    """A new bearer token for the caller; the token is in this answer only."""
    row_user = db.get(User, user.id)
    assert row_user is not None
    row, token = create_token(db, user=row_user, name=body.name, days=body.expires_in_days)
    audit.record(
        db,
        workspace_id=user.workspace_id,
        actor=user.actor,
        action="token.create",
        target_type="token",
        target_id=row.id,
        detail={"prefix": row.prefix, "expires_at": row.expires_at.isoformat() if row.expires_at else None},
    )
    return NewTokenOut(token=token, info=_token_out(row))


def _own_or_admin_token(db: DbSession, user: Principal, token_id: int) -> ApiToken:
    row = db.get(ApiToken, token_id)
    if row is None or row.workspace_id != user.workspace_id:
        raise NotFound(f"token {token_id} does not exist", field="token_id")
    if row.user_id != user.id and user.role not in ("owner", "admin"):
        raise NotFound(f"token {token_id} does not exist", field="token_id")
    return row


@router.post(
    "/auth/tokens/{token_id}/rotate",
    response_model=NewTokenOut,
    status_code=201,
    summary="Rotate an API token",
)
def rotate(token_id: Id, user: CurrentUser, db: DbSession, body: RotateTokenIn | None = None) -> NewTokenOut:
    """A new token (same user and name) replaces this one, which is revoked at once.

    Works on an expired token too; owners and admins may rotate anyone's."""
    _own_or_admin_token(db, user, token_id)
    days = body.expires_in_days if body is not None else None
    row, token = rotate_token(
        db, workspace_id=user.workspace_id, token_id=token_id, days=days, actor=user.actor
    )
    return NewTokenOut(token=token, info=_token_out(row))


@router.delete("/auth/tokens/{token_id}", response_model=TokenOut, summary="Revoke an API token")
def delete_token(token_id: Id, user: CurrentUser, db: DbSession) -> TokenOut:
    """Revoke one of the caller's tokens (owners and admins may revoke anyone's)."""
    _own_or_admin_token(db, user, token_id)
    return _token_out(revoke_token(db, workspace_id=user.workspace_id, token_id=token_id, actor=user.actor))


@router.get("/users", response_model=list[UserOut], tags=["users"], summary="Users of the workspace")
def list_users(user: AdminUser, db: DbSession) -> list[UserOut]:
    """Every console / API user of the workspace (owner, admin)."""
    rows = db.scalars(select(User).where(User.workspace_id == user.workspace_id).order_by(User.id))
    return [_user_out(db, r) for r in rows]


def _check_grant(actor: Principal, role: str) -> None:
    # Only an owner can make (or unmake) another owner.
    if role == "owner" and actor.role != "owner":
        raise PermissionDenied("only an owner can grant the owner role", field="role")


@router.post("/users", response_model=NewTokenOut, status_code=201, tags=["users"], summary="Create a user")
def new_user(body: NewUserIn, user: AdminUser, db: DbSession) -> NewTokenOut:
    """Create a user with a first API token (shown once)."""
    if body.role not in ROLES:
        raise Invalid(f"unknown role {body.role!r}; use one of {', '.join(ROLES)}", field="role")
    _check_grant(user, body.role)
    created, token = create_user(
        db,
        workspace_id=user.workspace_id,
        name=body.name,
        role=body.role,
        password=body.password,
        staff_userid=body.staff_userid,
        display_name=body.display_name,
        actor=user.actor,
    )
    row = db.scalars(select(ApiToken).where(ApiToken.user_id == created.id)).one()
    return NewTokenOut(token=token, info=_token_out(row))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"], summary="Change a user")
def patch_user(user_id: Id, body: UserPatch, user: AdminUser, db: DbSession) -> UserOut:
    """Change role, password, display name, or disable a user (audited)."""
    row = db.get(User, user_id)
    if row is None or row.workspace_id != user.workspace_id:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
    if row.role == "owner":
        _check_grant(user, "owner")
    changes: dict[str, object] = {}
    if body.staff_userid is not None:
        staff_id = None
        if body.staff_userid:
            staff_id = db.scalar(
                select(Staff.id).where(
                    Staff.workspace_id == user.workspace_id, Staff.userid == body.staff_userid
                )
            )
            if staff_id is None:
                raise NotFound(
                    f"no staff account with WeCom userid {body.staff_userid!r}", field="staff_userid"
                )
        if staff_id != row.staff_id:
            changes["staff_id"] = [row.staff_id, staff_id]
            row.staff_id = staff_id
    if body.role is not None and body.role != row.role:
        if body.role not in ROLES:
            raise Invalid(f"unknown role {body.role!r}; use one of {', '.join(ROLES)}", field="role")
        _check_grant(user, body.role)
        if body.role == "staff" and row.staff_id is None:  # linked above if staff_userid was given
            raise Invalid("a staff user must be linked to a staff account first", field="role")
        _refuse_last_owner(db, row, user_id)
        changes["role"] = [row.role, body.role]
        row.role = body.role
        changes["sessions_ended"] = end_user_sessions(db, user_id=row.id, reason="role")
    if row.role == "staff" and row.staff_id is None:
        raise Invalid("a staff user must stay linked to a staff account", field="staff_userid")
    if body.disabled is not None and body.disabled != row.disabled:
        if body.disabled:
            if row.id == user.id:
                raise Conflict("you cannot disable yourself", field="disabled")
            _refuse_last_owner(db, row, user_id)
        changes["disabled"] = body.disabled
        row.disabled = body.disabled
        if body.disabled:
            changes["sessions_ended"] = end_user_sessions(db, user_id=row.id, reason="disabled")
    if body.display_name is not None:
        row.display_name = body.display_name
    if body.password is not None:
        set_password(db, user=row, password=body.password, actor=user.actor)
    if changes:
        audit.record(
            db,
            workspace_id=user.workspace_id,
            actor=user.actor,
            action="user.update",
            target_type="user",
            target_id=row.id,
            detail=changes,
        )
    return _user_out(db, row)


def _refuse_last_owner(db: DbSession, row: User, user_id: int) -> None:
    if row.role != "owner":
        return
    owners = db.scalars(
        select(User.id).where(
            User.workspace_id == row.workspace_id, User.role == "owner", User.disabled.is_(False)
        )
    ).all()
    if set(owners) <= {user_id}:
        raise Conflict("this is the last active owner of the workspace; make someone else owner first")


def _session_out(row: UserSession, name: str, caller: Principal) -> SessionOut:
    return SessionOut(
        id=row.id,
        user_id=row.user_id,
        user_name=name,
        ip=row.ip,
        user_agent=row.user_agent,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        current=row.id == caller.session_id,
    )


def _workspace_user(db: DbSession, actor: Principal, user_id: int) -> User:
    row = db.get(User, user_id)
    if row is None or row.workspace_id != actor.workspace_id:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
    if row.role == "owner":
        _check_grant(actor, "owner")
    return row


@router.get("/sessions", response_model=list[SessionOut], tags=["users"], summary="Open console sessions")
def list_sessions(user: AdminUser, db: DbSession, user_id: int | None = None) -> list[SessionOut]:
    """Console sessions of the workspace that have not ended or expired (owner, admin)."""
    names = dict(db.execute(select(User.id, User.name).where(User.workspace_id == user.workspace_id)).all())
    rows = open_sessions(db, workspace_id=user.workspace_id, user_id=user_id)
    return [_session_out(r, names.get(r.user_id, "?"), user) for r in rows]


@router.delete("/sessions/{session_id}", response_model=EndedOut, tags=["users"], summary="End a session")
def end_one_session(session_id: Id, user: AdminUser, db: DbSession) -> EndedOut:
    """End one console session on the server: its cookie stops working at once."""
    row = db.get(UserSession, session_id)
    if row is None or row.workspace_id != user.workspace_id:
        raise NotFound(f"session {session_id} does not exist", field="session_id")
    _workspace_user(db, user, row.user_id)
    ended = end_user_sessions(db, user_id=row.user_id, reason="admin", session_ids=[row.id])
    if ended:
        audit.record(
            db,
            workspace_id=user.workspace_id,
            actor=user.actor,
            action="session.end",
            target_type="user",
            target_id=row.user_id,
            detail={"session_id": row.id},
        )
    return EndedOut(ended=ended)


@router.post(
    "/users/{user_id}/sessions/end", response_model=EndedOut, tags=["users"], summary="End a user's sessions"
)
def end_users_sessions(user_id: Id, user: AdminUser, db: DbSession) -> EndedOut:
    """End every console session of a user (owner, admin); their tokens are not touched."""
    row = _workspace_user(db, user, user_id)
    ended = end_user_sessions(db, user_id=row.id, reason="admin")
    audit.record(
        db,
        workspace_id=user.workspace_id,
        actor=user.actor,
        action="session.end",
        target_type="user",
        target_id=row.id,
        detail={"ended": ended},
    )
    return EndedOut(ended=ended)
