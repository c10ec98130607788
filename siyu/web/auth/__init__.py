"""Authentication, roles, data scopes and CSRF for the console and the API.

The stable surface other packages use (console pages, API endpoints):

- passwords: ``hash_password``, ``verify_password``
- users: ``create_user(session, *, workspace_id, name, role, password=None,
  staff_userid=None) -> (User, token)``, ``create_token`` (expires, 90 days by default),
  ``rotate_token``, ``revoke_token``, ``check_token``, ``ROLES``
- login: ``password_login(response, *, request, workspace, name, password, ip)`` (401
  wrong credentials, 429 past the per-account / per-address limits, checked before
  hashing; no database connection held while hashing)
- console sessions (server-side rows): ``login_session``, ``logout_session``,
  ``end_session``, ``end_user_sessions``, ``open_sessions``
- dependencies: ``DbSession``, ``CurrentUser`` (cookie or ``Authorization: Bearer``;
  cookie writes need CSRF), ``OptionalUser``, ``require_role(*roles)``, ``AdminUser``,
  ``OperatorUser``; ``Principal`` is what they give
- scopes: ``customer_scope(user)`` (a WHERE clause on Customer), ``visible_customer``
- CSRF: ``csrf_token(request, response)`` for forms (field ``csrf_token``) or the
  ``X-CSRF-Token`` header; ``verify_csrf`` (checked automatically for cookie writes)
"""

from siyu.web.auth.csrf import CSRF_FORM_FIELD, CSRF_HEADER, csrf_token, valid_csrf, verify_csrf
from siyu.web.auth.deps import (
    AdminUser,
    CurrentUser,
    DbSession,
    OperatorUser,
    OptionalUser,
    Principal,
    current_user,
    db_session,
    optional_user,
    require_role,
)
from siyu.web.auth.errors import CsrfError, PermissionDenied, RateLimited, Unauthenticated
from siyu.web.auth.login import LoginResult, client_ip, password_login
from siyu.web.auth.passwords import hash_password, verify_password
from siyu.web.auth.scope import customer_scope, visible_customer, visible_customer_ids
from siyu.web.auth.sessions import (
    SESSION_COOKIE,
    end_session,
    end_user_sessions,
    login_session,
    logout_session,
    open_sessions,
    read_session,
)
from siyu.web.auth.users import (
    PHONE_REVEAL_ROLES,
    ROLES,
    check_token,
    create_token,
    create_user,
    find_user,
    get_user,
    revoke_token,
    rotate_token,
    set_password,
    user_for_token,
)

__all__ = [
    "CSRF_FORM_FIELD",
    "CSRF_HEADER",
    "PHONE_REVEAL_ROLES",
    "ROLES",
    "SESSION_COOKIE",
    "AdminUser",
    "CsrfError",
    "CurrentUser",
    "DbSession",
    "LoginResult",
    "OperatorUser",
    "OptionalUser",
    "PermissionDenied",
    "Principal",
    "RateLimited",
    "Unauthenticated",
    "check_token",
    "client_ip",
    "create_token",
    "create_user",
    "csrf_token",
    "current_user",
    "customer_scope",
    "db_session",
    "end_session",
    "end_user_sessions",
    "find_user",
    "get_user",
    "hash_password",
    "login_session",
    "logout_session",
    "open_sessions",
    "optional_user",
    "password_login",
    "read_session",
    "require_role",
    "revoke_token",
    "rotate_token",
    "set_password",
    "user_for_token",
    "valid_csrf",
    "verify_csrf",
    "verify_password",
    "visible_customer",
    "visible_customer_ids",
]
