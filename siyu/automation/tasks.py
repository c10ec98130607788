"""The automation domain's background work (found by ``siyu.kit.ops.discover``)."""

import siyu.automation.sends.tasks  # noqa: F401
