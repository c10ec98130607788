"""A simulator and siyu's own app (in this process) wired to each other by callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from siyu.config import Settings, get_settings
from siyu.wecom.crypto import new_encoding_aes_key
from siyu.wecom.simulator import ServerThread, SimConfig, Simulator

CORP_ID = "wwacqcorp0000001"
TOKEN = "acqCallbackToken"
SECRET = "acq-contact-secret"


@dataclass
class Stack:
    sim: Simulator
    siyu_url: str
    drain: Callable[[], Any]


@pytest.fixture
def stack(env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The simulator posts encrypted callbacks to a siyu app served in a thread; the test
    runs the worker (events and jobs) with ``stack.drain()``."""
    from siyu.acquisition.welcome import clear_clients
    from siyu.kit.db import session_factory
    from siyu.web.app import create_app
    from siyu.wecom.endpoints import clear_cache
    from siyu.worker.service import Runner

    aes_key = new_encoding_aes_key()
    holder: dict[str, Any] = {}

    async def lazy(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    siyu_server = ServerThread(lazy)
    sim = Simulator(
        SimConfig(
            corp_id=CORP_ID,
            secret=SECRET,
            callback_url=f"{siyu_server.url}/wecom/callback",
            callback_token=TOKEN,
            callback_aes_key=aes_key,
            seed=7,
        )
    )
    sim_server = ServerThread(sim.app).start()
    sim.url = sim_server.url  # type: ignore[attr-defined]
    for key, value in {
        "SIYU_WECOM_CORP_ID": CORP_ID,
        "SIYU_WECOM_TOKEN": TOKEN,
        "SIYU_WECOM_AES_KEY": aes_key,
        "SIYU_WECOM_SECRET": SECRET,
        "SIYU_WECOM_API_BASE": sim_server.url,
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    clear_cache()
    clear_clients()
    holder["app"] = create_app(get_settings())
    siyu_server.start()
    runner = Runner(session_factory(), idle=0.05, periodic=False)
    try:
        yield Stack(sim, siyu_server.url, lambda: runner.drain())
    finally:
        siyu_server.stop()
        sim_server.stop()
        clear_cache()
        clear_clients()
