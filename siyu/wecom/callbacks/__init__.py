"""WeCom callbacks: the inbox (accept once, answer fast) and event processing."""

from __future__ import annotations

from siyu.wecom.callbacks.inbox import CallbackEvent, accept, dedup_key, parse_event
from siyu.wecom.callbacks.processing import ProcessSummary, process_callback, process_pending
from siyu.wecom.callbacks.refetch import REFETCH_KIND, queued_refetches, request_refetch

__all__ = [
    "REFETCH_KIND",
    "CallbackEvent",
    "ProcessSummary",
    "accept",
    "dedup_key",
    "parse_event",
    "process_callback",
    "process_pending",
    "queued_refetches",
    "request_refetch",
]
