"""WeCom → siyu: full sync, reconciliation of specific ids, refetch jobs, behaviour stats."""

from siyu.wecom.sync.jobs import process_refetch_jobs
from siyu.wecom.sync.run import full_sync, mirror_behavior, reconcile

__all__ = ["full_sync", "mirror_behavior", "process_refetch_jobs", "reconcile"]
