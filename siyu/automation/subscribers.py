"""Background work of the automation domain, found by ``siyu.kit.ops.discover``."""

import siyu.automation.keywords.tasks  # noqa: F401  (keyword scan, kf replies, deletion alerts)
