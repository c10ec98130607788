"""Background work of the automation domain (found by ``siyu.kit.ops.discover``).

``siyu.automation.<part>.tasks`` modules are found on their own (``discover`` walks
sub-packages); the SOP engine declares its work in ``sop/jobs.py``, imported here.
"""

from siyu.automation.sop import jobs as sop_jobs

__all__ = ["sop_jobs"]
