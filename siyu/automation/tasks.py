"""Background work of the automation domain (found by ``siyu.kit.ops.discover``)."""

from siyu.automation.sop import jobs as sop_jobs

__all__ = ["sop_jobs"]
