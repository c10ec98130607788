"""Background work of the automation domain (found by ``siyu.kit.ops.discover``)."""

import siyu.automation.moments.tasks  # noqa: F401  (moments: create, result, track, fetch)
