"""A local WeCom: the API with real errcodes and limits, and encrypted callbacks.

A test peer for the client, sync, the callback endpoint and the demo. Nothing in
siyu's production code path imports it (only the CLI, the demo and tests).
"""

from siyu.wecom.simulator.app import Simulator
from siyu.wecom.simulator.server import ServerThread
from siyu.wecom.simulator.state import SimClock, SimConfig, SimError

__all__ = ["ServerThread", "SimClock", "SimConfig", "SimError", "Simulator"]
