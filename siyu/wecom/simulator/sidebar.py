"""Simulated WeChat customer service replies, JS-SDK tickets and OAuth2 for the sidebar.

- ``kf/send_msg``: a reply is allowed within 48 hours of the customer's last message
  and at most 5 replies per customer message (``kf_customer_writes`` records one);
  outside: errcode 95018 (the simulator's code for "outside the reply window").
- ``ticket/get?type=agent_config``: the agent jsapi ticket (7,200 s); calls counted so
  tests see siyu caching it.
- ``/connect/oauth2/authorize``: redirects to ``redirect_uri`` with a one-time ``code``
  for the member the simulated client is signed in as (``sim_userid`` cookie or query);
  ``auth/getuserinfo`` turns the code into that userid (once, 5 minutes).
- ``/_sim/jssdk.js``: the stand-in for WeCom's JS-SDK (``ww`` and classic ``wx``), which
  checks the signature siyu made and answers the chat context the test set.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from siyu.wecom.simulator.handlers import HANDLERS, need
from siyu.wecom.simulator.state import SimError, SimState

KF_WINDOW_S = 48 * 3600
KF_REPLIES_PER_MESSAGE = 5
TICKET_TTL = 7200
CODE_TTL = 300


@dataclass
class SidebarSim:
    kf_last_in: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # -> (time, replies)
    kf_sent: list[dict[str, Any]] = field(default_factory=list)
    tickets: dict[str, float] = field(default_factory=dict)
    ticket_calls: int = 0
    codes: dict[str, tuple[str, float]] = field(default_factory=dict)
    # what the simulated client shows: set by the test
    context: dict[str, Any] = field(default_factory=lambda: {"entry": "single_chat_tools"})
    trusted_host: str | None = None  # the app's trusted domain (host:port); None: any


def sidebar_state(state: SimState) -> SidebarSim:
    sim = state.__dict__.get("_sidebar")
    if sim is None:
        sim = SidebarSim()
        state.__dict__["_sidebar"] = sim
    return sim


def kf_customer_writes(state: SimState, open_kfid: str, external_userid: str) -> None:
    """A customer wrote to a customer-service account: the reply window opens."""
    with state.lock:
        sidebar_state(state).kf_last_in[(open_kfid, external_userid)] = (state.now(), 0)


def kf_send_msg(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    touser, kfid = need(b, "touser"), need(b, "open_kfid")
    if b.get("msgtype") != "text" or not (b.get("text") or {}).get("content"):
        raise SimError(40008, "invalid message type")
    if len(b["text"]["content"]) > 2048:
        raise SimError(45002, "content size out of limit")
    sim = sidebar_state(state)
    last = sim.kf_last_in.get((kfid, touser))
    if last is None or state.now() - last[0] > KF_WINDOW_S:
        raise SimError(95018, "send msg not allowed: outside the 48-hour session window")
    if last[1] >= KF_REPLIES_PER_MESSAGE:
        raise SimError(95018, "send msg not allowed: reply count limit for this message")
    sim.kf_last_in[(kfid, touser)] = (last[0], last[1] + 1)
    msgid = "kfmsg" + secrets.token_hex(8)
    sim.kf_sent.append({"msgid": msgid, "touser": touser, "open_kfid": kfid, "text": b["text"]["content"]})
    return {"msgid": msgid}


def ticket_get(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    if q.get("type") != "agent_config":
        raise SimError(40058, "invalid type")
    sim = sidebar_state(state)
    sim.ticket_calls += 1
    ticket = "simticket" + secrets.token_hex(12)
    sim.tickets[ticket] = state.now() + TICKET_TTL
    return {"ticket": ticket, "expires_in": TICKET_TTL}


def auth_getuserinfo(state: SimState, q: dict[str, str], b: dict[str, Any]) -> dict[str, Any]:
    code = q.get("code") or ""
    sim = sidebar_state(state)
    got = sim.codes.pop(code, None)
    if got is None or got[1] < state.now():
        raise SimError(40029, "invalid code")
    return {"userid": got[0], "user_ticket": ""}


HANDLERS["kf/send_msg"] = kf_send_msg
HANDLERS["ticket/get"] = ticket_get
HANDLERS["auth/getuserinfo"] = auth_getuserinfo

JSSDK = Path(__file__).with_name("jssdk_standin.js")


def valid_signature(
    state: SimState, *, url: str, noncestr: str, timestamp: str, signature: str
) -> str | None:
    """None when ``signature`` is right for one of the live tickets; else what is wrong."""
    if "#" in url:
        return "the url must not contain #"
    trusted = sidebar_state(state).trusted_host
    if trusted and urlsplit(url).netloc != trusted:
        return f"url domain not trusted: {urlsplit(url).netloc} is not {trusted}"
    sim = sidebar_state(state)
    for ticket, until in sim.tickets.items():
        if until < state.now():
            continue
        raw = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
        if hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest() == signature:  # WeCom's scheme
            return None
    return "invalid signature"


def mount(app: FastAPI, state: SimState) -> None:
    """The browser-facing routes: OAuth2 authorize, the JS-SDK stand-in and its checks."""
    # The stand-in runs in siyu's page (another origin) and calls back here.
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"], allow_headers=["*"]
    )

    @app.get("/connect/oauth2/authorize")
    def authorize(request: Request) -> Response:
        q = dict(request.query_params)
        if q.get("appid") != state.config.corp_id:
            return PlainTextResponse("invalid appid", status_code=400)
        redirect = q.get("redirect_uri") or ""
        userid = q.get("sim_userid") or request.cookies.get("sim_userid") or ""
        with state.lock:
            if userid not in state.staff:
                return PlainTextResponse("not a member of this corp", status_code=403)
            code = secrets.token_urlsafe(16)
            sidebar_state(state).codes[code] = (userid, state.now() + CODE_TTL)
        parts = urlsplit(redirect)
        query = [*parse_qsl(parts.query), ("code", code), ("state", q.get("state", ""))]
        return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=302)

    @app.get("/_sim/jssdk.js")
    def jssdk() -> Response:
        return Response(JSSDK.read_text(encoding="utf-8"), media_type="application/javascript")

    @app.post("/_sim/jssdk/check")
    def check(body: dict[str, Any]) -> JSONResponse:
        with state.lock:
            if body.get("corpid") != state.config.corp_id:
                return JSONResponse({"ok": False, "errMsg": "config:fail invalid corpid"})
            problem = valid_signature(
                state,
                url=str(body.get("url", "")),
                noncestr=str(body.get("nonceStr", "")),
                timestamp=str(body.get("timestamp", "")),
                signature=str(body.get("signature", "")),
            )
            ctx = dict(sidebar_state(state).context)
        if problem:
            return JSONResponse({"ok": False, "errMsg": f"agentConfig:fail {problem}"})
        return JSONResponse({"ok": True, "context": ctx})

    @app.post("/_sim/jssdk/context")
    def set_context(body: dict[str, Any]) -> dict[str, Any]:
        with state.lock:
            sim = sidebar_state(state)
            sim.trusted_host = body.pop("trusted_host", sim.trusted_host)
            sim.context = dict(body)
        return {"ok": True}

    @app.post("/_sim/jssdk/sent")
    def sent(body: dict[str, Any]) -> dict[str, Any]:
        with state.lock:
            sim = sidebar_state(state)
            sim.context.setdefault("sent", []).append(body)
            state.messages.append(
                {
                    "time": state.now(),
                    "from": sim.context.get("userid", ""),
                    "to": sim.context.get("external_userid") or sim.context.get("chat_id", ""),
                    "text": (body.get("text") or {}).get("content", ""),
                    "via": "sendChatMessage",
                }
            )
        return {"ok": True}

    @app.get("/_sim/jssdk/sent")
    def sent_list() -> dict[str, Any]:
        with state.lock:
            return {"sent": list(sidebar_state(state).context.get("sent", []))}
