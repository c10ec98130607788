"""WeCom calls beyond customer contact: customer-service replies, JS-SDK tickets, OAuth.

Functions over a ``BaseClient`` (kept out of ``api.py``): ``kf_send_text``
(``kf/send_msg``), ``agent_jsapi_ticket`` (``ticket/get?type=agent_config``) and
``oauth_userinfo`` (``auth/getuserinfo``).
"""

from __future__ import annotations

from siyu.wecom.client.core import BaseClient
from siyu.wecom.schemas import Response


class KfSendResponse(Response):
    msgid: str = ""


class TicketResponse(Response):
    ticket: str
    expires_in: int = 7200


class OAuthUserResponse(Response):
    userid: str = ""  # empty for a non-member (openid instead)
    user_ticket: str = ""
    openid: str = ""


def kf_send_text(client: BaseClient, *, open_kfid: str, touser: str, text: str) -> str:
    """Reply through WeChat customer service (only within 48 h of the customer's message)."""
    body = {"touser": touser, "open_kfid": open_kfid, "msgtype": "text", "text": {"content": text}}
    return client.call("kf/send_msg", KfSendResponse, body=body).msgid


def agent_jsapi_ticket(client: BaseClient) -> TicketResponse:
    """The app's (agent's) jsapi ticket, valid ``expires_in`` seconds (7,200); cache it."""
    return client.call("ticket/get", TicketResponse, params={"type": "agent_config"})


def oauth_userinfo(client: BaseClient, code: str) -> OAuthUserResponse:
    """Who opened the page: the member's userid for an OAuth2 ``code`` (once, 5 minutes)."""
    return client.call("auth/getuserinfo", OAuthUserResponse, params={"code": code})
