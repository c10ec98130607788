"""What the chat sidebar needs from WeCom: the agent jsapi ticket (cached), the
``agentConfig`` signature, and OAuth2 (who opened the page).

- ``sign(ticket, noncestr, timestamp, url)``: hex SHA-1 of
  ``jsapi_ticket=…&noncestr=…&timestamp=…&url=…`` with the URL cut at ``#``;
- ``TicketCache``: one ``ticket/get?type=agent_config`` per app per 7,200 s (refreshed
  5 minutes early; one fetch at a time per app), as WeCom requires (the call is
  rate-limited and the ticket is shared by every page view);
- ``authorize_url`` / ``user_for_code``: WeCom OAuth2 on the app's trusted domain.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from siyu.config import DEFAULT_WECOM_API_BASE
from siyu.wecom.client.core import BaseClient
from siyu.wecom.client.extra import agent_jsapi_ticket, oauth_userinfo
from siyu.wecom.settings import AppConfig

EARLY_S = 300
OAUTH_BASE = "https://open.weixin.qq.com"


def page_url(url: str) -> str:
    """The URL as WeCom signs it: everything before ``#``."""
    return url.split("#", 1)[0]


def sign(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    raw = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page_url(url)}"
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()  # WeCom's scheme, not ours


class TicketCache:
    """Agent jsapi tickets per app, shared by the process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._tickets: dict[str, tuple[str, float]] = {}
        self.fetches = 0

    def _app_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: str, client: BaseClient) -> str:
        hit = self._tickets.get(key)
        if hit is not None and hit[1] > self._clock():
            return hit[0]
        with self._app_lock(key):
            hit = self._tickets.get(key)
            if hit is not None and hit[1] > self._clock():
                return hit[0]
            got = agent_jsapi_ticket(client)
            self.fetches += 1
            life = max(got.expires_in - EARLY_S, got.expires_in / 2)
            self._tickets[key] = (got.ticket, self._clock() + life)
            return got.ticket

    def clear(self) -> None:
        with self._lock:
            self._tickets.clear()


_tickets = TicketCache()


def shared_tickets() -> TicketCache:
    return _tickets


@dataclass(frozen=True)
class AgentConfig:
    """What ``wx.agentConfig`` / ``ww.register`` take."""

    corpid: str
    agentid: str
    timestamp: int
    nonceStr: str  # the JS-SDK's own field name
    signature: str


def agent_config(
    app: AppConfig, client: BaseClient, url: str, *, cache: TicketCache | None = None, now: int | None = None
) -> AgentConfig:
    ticket = (cache or _tickets).get(f"{app.api_base}|{app.corp_id}|{app.agent_id}", client)
    ts = int(now if now is not None else time.time())
    nonce = secrets.token_urlsafe(12)
    return AgentConfig(app.corp_id, app.agent_id, ts, nonce, sign(ticket, nonce, ts, url))


def oauth_base(app: AppConfig) -> str:
    """Where WeCom's OAuth2 page lives: open.weixin.qq.com, or the simulator's own base."""
    return (
        OAUTH_BASE
        if app.api_base.rstrip("/") == DEFAULT_WECOM_API_BASE.rstrip("/")
        else app.api_base.rstrip("/")
    )


def authorize_url(app: AppConfig, redirect_uri: str, state: str) -> str:
    """The silent (``snsapi_base``) OAuth2 link; WeCom sends the member back with a code."""
    query = urlencode(
        {
            "appid": app.corp_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
            "agentid": app.agent_id,
        },
        quote_via=quote,
    )
    return f"{oauth_base(app)}/connect/oauth2/authorize?{query}#wechat_redirect"


def user_for_code(client: BaseClient, code: str) -> str:
    """The member's userid for an OAuth2 code ('' for someone outside the corp)."""
    return oauth_userinfo(client, code).userid
