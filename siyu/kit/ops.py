"""Declarations of what each domain runs in the background (ADR 0006).

A domain declares, in its own ``tasks.py`` or ``subscribers.py``:

- **subscribers** to event kinds: ``@subscriber("segments.auto_tag", kinds=["stats.refreshed"])``,
  called with the session of the delivery transaction and a batch of committed events
  (``Delivered``), in order; at least once, so handlers are idempotent by contract
  (``Delivered.id`` is the key to use). Writes made through the given session commit
  with the subscriber's position, so a crash re-delivers without doubling them.
- **job handlers**: ``@job_handler("segments.recompute", long=True)``. A short job runs
  inside the transaction that claims and completes it (its writes and its ``done``
  commit together); a long one manages its own transactions and is resumable or
  idempotent (an import resumes its file, a recompute recomputes).
- **periodic tasks**: ``@periodic("wecom.refetch", every=30)`` or
  ``@periodic("segments.recompute", daily="03:00")`` (the workspace default zone).

The worker finds them with :func:`discover`, which imports the ``tasks`` and
``subscribers`` modules of every package and sub-package under ``siyu`` but
``siyu.web`` (no central list), plus the modules named in ``SIYU_EXTRA_TASK_MODULES``
(comma-separated; tests use it).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

MODULE_NAMES = ("tasks", "subscribers")
# A parked event delivery (a subscriber that kept failing on one event).
REDELIVER_KIND = "events.redeliver"
EXTRA_MODULES_ENV = "SIYU_EXTRA_TASK_MODULES"


@dataclass(frozen=True)
class Delivered:
    """One committed event as a subscriber receives it."""

    id: int
    workspace_id: int
    kind: str
    occurred_at: datetime
    source: str
    customer_id: int | None
    staff_id: int | None
    group_id: int | None
    order_id: int | None
    payload: Mapping[str, Any]


SubscriberFn = Callable[[Session, Sequence[Delivered]], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    kinds: tuple[str, ...]
    fn: SubscriberFn
    batch: int = 500
    max_attempts: int = 5
    description: str = ""


@dataclass
class JobContext:
    """What a job handler gets: the job's identity, its payload and where to write.

    ``session`` is the claiming transaction for short jobs (write through it and the
    writes commit with the job's ``done``); long jobs get ``None`` and use ``factory``.
    """

    job_id: int
    kind: str
    workspace_id: int | None
    payload: Mapping[str, Any]
    attempts: int
    factory: sessionmaker[Session]
    session: Session | None = None


JobFn = Callable[[JobContext], Mapping[str, Any] | None]


@dataclass(frozen=True)
class JobHandler:
    kind: str
    fn: JobFn
    long: bool = False
    description: str = ""


PeriodicFn = Callable[[sessionmaker[Session]], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Periodic:
    name: str
    fn: PeriodicFn
    description: str
    every: int | None = None  # seconds
    daily: time | None = None  # local time in the workspace default zone
    long: bool = False  # runs beside the runner loop, not in it

    @property
    def schedule(self) -> str:
        if self.every is not None:
            return f"every {self.every}s"
        assert self.daily is not None
        return f"daily at {self.daily:%H:%M}"


@dataclass
class Registry:
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    jobs: dict[str, JobHandler] = field(default_factory=dict)
    periodic: dict[str, Periodic] = field(default_factory=dict)


REGISTRY = Registry()


def _unique(table: Mapping[str, object], name: str, what: str) -> None:
    if name in table:
        raise ValueError(f"{what} {name!r} is declared twice")


def subscriber(
    name: str, *, kinds: Sequence[str], batch: int = 500, max_attempts: int = 5, description: str = ""
) -> Callable[[SubscriberFn], SubscriberFn]:
    """Declare ``fn(session, events)`` as the subscriber ``name`` to these event kinds."""
    if not kinds:
        raise ValueError(f"subscriber {name!r} needs at least one event kind")

    def wrap(fn: SubscriberFn) -> SubscriberFn:
        _unique(REGISTRY.subscribers, name, "subscriber")
        REGISTRY.subscribers[name] = Subscriber(
            name,
            tuple(kinds),
            fn,
            batch,
            max_attempts,
            description or (fn.__doc__ or "").strip().split("\n")[0],
        )
        return fn

    return wrap


def job_handler(kind: str, *, long: bool = False, description: str = "") -> Callable[[JobFn], JobFn]:
    """Declare ``fn(ctx)`` as the handler of jobs of ``kind``."""

    def wrap(fn: JobFn) -> JobFn:
        _unique(REGISTRY.jobs, kind, "job handler")
        REGISTRY.jobs[kind] = JobHandler(
            kind, fn, long, description or (fn.__doc__ or "").strip().split("\n")[0]
        )
        return fn

    return wrap


def periodic(
    name: str,
    *,
    every: int | None = None,
    daily: str | None = None,
    long: bool = False,
    description: str = "",
) -> Callable[[PeriodicFn], PeriodicFn]:
    """Declare ``fn(factory)`` to run every ``every`` seconds or daily at ``daily`` ("HH:MM")."""
    if (every is None) == (daily is None):
        raise ValueError(f"periodic task {name!r} needs exactly one of every= or daily=")
    if every is not None and every < 1:
        raise ValueError(f"periodic task {name!r}: every= must be at least 1 second")
    at = time.fromisoformat(daily) if daily is not None else None

    def wrap(fn: PeriodicFn) -> PeriodicFn:
        _unique(REGISTRY.periodic, name, "periodic task")
        REGISTRY.periodic[name] = Periodic(
            name, fn, description or (fn.__doc__ or "").strip().split("\n")[0], every, at, long
        )
        return fn

    return wrap


_discovered = False


# packages that declare no background work (HTTP, migrations): not imported by the worker
NOT_SEARCHED = frozenset({"siyu.web", "siyu.migrations"})


def _import_declarations(path: Iterable[str], prefix: str) -> None:
    """Import the ``tasks`` / ``subscribers`` modules of every package under ``path``.

    Domains and their sub-packages alike (``siyu.automation.sop.tasks``), so a domain
    split into sub-packages keeps its declarations beside its code.
    """
    for info in pkgutil.iter_modules(path, prefix):
        if info.ispkg:
            if info.name not in NOT_SEARCHED:
                pkg = importlib.import_module(info.name)
                _import_declarations(pkg.__path__, info.name + ".")
        elif info.name.rsplit(".", 1)[1] in MODULE_NAMES and prefix != "siyu.":
            importlib.import_module(info.name)


def discover() -> Registry:
    """Import every domain's (and sub-package's) ``tasks`` and ``subscribers``; the registry."""
    global _discovered
    if not _discovered:
        import siyu

        _import_declarations(siyu.__path__, "siyu.")
        _discovered = True
    for extra in filter(None, (m.strip() for m in os.environ.get(EXTRA_MODULES_ENV, "").split(","))):
        importlib.import_module(extra)
    return REGISTRY
