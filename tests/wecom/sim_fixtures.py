"""Fixtures for tests that talk to the WeCom simulator over real HTTP (import them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.wecom.client import RateLimiter, TokenCache, WeComClient
from siyu.wecom.simulator import ServerThread, SimClock, SimConfig, Simulator

CORP_ID = "wwsimtest0000001"
SECRET = "sim-test-secret"


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A simulator served on a free loopback port (``sim.url``), with a settable clock."""
    sim = Simulator(SimConfig(corp_id=CORP_ID, secret=SECRET), SimClock(start=1_760_000_000))
    server = ServerThread(sim.app).start()
    sim.url = server.url  # type: ignore[attr-defined]
    yield sim
    server.stop()


def client_for(sim: Simulator, **kw: object) -> WeComClient:
    """A client of the simulator with its own token cache and limiter (tests stay apart)."""
    return WeComClient(
        corp_id=sim.config.corp_id,
        secret=sim.config.secret,
        api_base=sim.url,  # type: ignore[attr-defined]
        token_cache=TokenCache(),
        limiter=RateLimiter(),
        sleep=lambda _s: None,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def wecom(simulator: Simulator) -> Iterator[WeComClient]:
    client = client_for(simulator)
    yield client
    client.close()
