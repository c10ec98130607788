"""The simulator as a FastAPI app: WeCom's ``/cgi-bin`` API plus a ``/_sim`` control API."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

import siyu.wecom.simulator.acquisition
import siyu.wecom.simulator.groupchats
import siyu.wecom.simulator.handover
import siyu.wecom.simulator.kf  # noqa: F401  (customer service: kf/sync_msg)
import siyu.wecom.simulator.sidebar as sim_sidebar  # kf replies, jsapi tickets, OAuth2, JS-SDK stand-in
from siyu.wecom.crypto import CallbackCrypto
from siyu.wecom.simulator import transfers as _transfers  # noqa: F401  (resignations, group handovers)
from siyu.wecom.simulator.callbacks import CallbackSender
from siyu.wecom.simulator.handlers import HANDLERS
from siyu.wecom.simulator.moments import ACTIONS as MOMENT_ACTIONS  # (registers the moment handlers)
from siyu.wecom.simulator.outbound import install as install_outbound
from siyu.wecom.simulator.scenario import Scenario
from siyu.wecom.simulator.state import SimClock, SimConfig, SimError, SimState

# Scenario methods the control API may call (everything a person does, nothing else).
ACTIONS = frozenset(
    {
        "add_staff",
        "new_customer",
        "live_code",
        "add_friend",
        "add_friend_via_link",
        "accept_friend",
        "edit_follow",
        "customer_deletes_staff",
        "staff_deletes_customer",
        "chat",
        "admin_add_tag",
        "admin_delete_tag",
        "create_group",
        "join_group",
        "quit_group",
        "rename_group",
        "dismiss_group",
        "confirm_mass_send",
        "settle_transfers",
        "advance",
    }
) | frozenset(MOMENT_ACTIONS)


class Simulator:
    """A simulated WeCom corp: state, callback sender, scenario driver and HTTP app."""

    def __init__(self, config: SimConfig | None = None, clock: SimClock | None = None) -> None:
        self.config = config or SimConfig()
        self.state = SimState(self.config, clock)
        crypto = None
        if self.config.callback_token and self.config.callback_aes_key:
            crypto = CallbackCrypto(
                self.config.callback_token, self.config.callback_aes_key, self.config.corp_id
            )
        self.sender = CallbackSender(self.config.callback_url, crypto)
        self.scenario = Scenario(self.state, self.sender)
        self.app = create_app(self)


def _answer(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"errcode": 0, "errmsg": "ok", **data})


def _error(exc: SimError) -> JSONResponse:
    # WeCom answers HTTP 200 with the errcode in the body.
    return JSONResponse({"errcode": exc.errcode, "errmsg": exc.errmsg})


def create_app(sim: Simulator) -> FastAPI:
    """The HTTP face of a simulator."""
    app = FastAPI(title="siyu WeCom simulator", docs_url=None, redoc_url=None, openapi_url=None)
    state = sim.state

    @app.api_route("/cgi-bin/gettoken", methods=["GET", "POST"])
    async def gettoken(request: Request) -> JSONResponse:
        q = dict(request.query_params)
        with state.lock:
            try:
                token = state.issue_token(q.get("corpid", ""), q.get("corpsecret", ""))
            except SimError as exc:
                return _error(exc)
            return _answer({"access_token": token, "expires_in": state.config.token_ttl})

    @app.api_route("/cgi-bin/{path:path}", methods=["GET", "POST"])
    async def cgi(path: str, request: Request) -> JSONResponse:
        q = dict(request.query_params)
        body: dict[str, Any] = {}
        if request.method == "POST" and request.headers.get("content-type", "").startswith("multipart/"):
            form = await request.form()  # media uploads: each file as (name, bytes)
            files = {k: (v.filename, await v.read()) for k, v in form.items() if not isinstance(v, str)}
            body = {"_files": files}
        elif request.method == "POST":
            raw = await request.body()
            if raw:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    return _error(SimError(47001, "data format error"))
                if not isinstance(parsed, dict):
                    return _error(SimError(47001, "data format error"))
                body = parsed
        handler = HANDLERS.get(path)
        with state.lock:
            try:
                state.check_token(q.get("access_token"))
                if handler is None:
                    raise SimError(48001, f"api forbidden: {path}")
                state.count_call(path)
                return _answer(handler(state, q, body))
            except SimError as exc:
                return _error(exc)

    def run_action(name: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if name not in ACTIONS:
            return 404, {"error": f"unknown action {name!r}"}
        try:
            if name in MOMENT_ACTIONS:
                result = MOMENT_ACTIONS[name](state, **args)
            else:
                result = getattr(sim.scenario, name)(**args)
        except SimError as exc:
            return 400, {"error": exc.errmsg, "errcode": exc.errcode}
        except TypeError as exc:
            return 422, {"error": f"bad arguments for {name}: {exc}"}
        # Dataclasses (a new Staff) and sets (tags) become plain JSON.
        return 200, {"result": jsonable_encoder(result)}

    @app.post("/_sim/action/{name}")
    def action(name: str, args: dict[str, Any]) -> JSONResponse:
        # A sync endpoint (thread pool): actions POST callbacks to siyu and wait for them.
        status, body = run_action(name, args)
        return JSONResponse(body, status_code=status)

    @app.post("/_sim/actions")
    def actions(steps: list[dict[str, Any]]) -> JSONResponse:
        """Several actions in one request, in order: ``[{"name": ..., "args": {...}}, ...]``.

        Each runs exactly as through ``/_sim/action/<name>``; the first that fails stops
        the rest, and the answer names it (``index``) beside the results before it.
        """
        results: list[Any] = []
        for index, step in enumerate(steps):
            args = step.get("args") or {}
            if not isinstance(step.get("name"), str) or not isinstance(args, dict):
                status, body = 422, {"error": 'each step is {"name": "<action>", "args": {...}}'}
            else:
                status, body = run_action(step["name"], args)
            if status != 200:
                return JSONResponse({**body, "index": index, "results": results}, status_code=status)
            results.append(body["result"])
        return JSONResponse({"results": results})

    @app.get("/_sim/messages")
    def messages(since: int = 0) -> dict[str, Any]:
        """The simulated chat log (WeCom sends no callbacks for external chats)."""
        with state.lock:
            return {"messages": [m for m in state.messages if m["time"] >= since]}

    @app.get("/_sim/snapshot")
    def snapshot() -> dict[str, Any]:
        return sim.scenario.snapshot()

    sim_sidebar.mount(app, state)
    install_outbound(app, state)  # media/upload, checked attachments
    return app
