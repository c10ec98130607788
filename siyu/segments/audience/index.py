"""The audience index: per workspace, in process, numpy columns kept exact by the journal.

An expression evaluates as a few vectorised boolean operations over the workspace's
live customers (``columns.py``), with the semantics of the SQL compiler: each term's
evaluation is declared beside its SQL in the term registry (ADR 0007), names are
resolved with the same look-ups (so unknown names warn the same way), day terms are
bounds computed at query time in the workspace zone, ``NOT`` is "everyone else".

Freshness: before answering, the index reads the change journal (``journal.py``) past
its cursor in the caller's session and reloads the customers named there; an
"everything" entry, too many changes, a reset journal or a long idle time mean a
rebuild. A session with audience changes of its own not yet committed is answered by
SQL (the index is shared and holds committed data only). While an index is cold or
rebuilding, callers get ``None`` and use the SQL path: small workspaces
(< ``SYNC_BUILD_MAX`` customers) are built in the calling request, bigger ones in a
background thread. ADR 0005 explains the choices.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from siyu.kit import changes
from siyu.models import Customer
from siyu.segments.audience import journal, registry
from siyu.segments.audience.ast import And, Expr, Not, Term
from siyu.segments.audience.columns import Columns, Mask, build, reload
from siyu.segments.audience.context import Ctx, context

log = logging.getLogger(__name__)
T = TypeVar("T")

ENABLED = True  # False: always SQL (benchmarks, debugging)
SYNC_BUILD_MAX = 50_000  # customers: build in the calling request below this, else in a thread
REBUILD_MIN = 10_000  # more changed customers than this (and 5 % of the index): rebuild
STALE_AFTER = timedelta(hours=12)  # idle longer (journal may be pruned past us): rebuild
PRUNE_EVERY = 3600.0  # seconds between journal prunes by one process
RETRY_AFTER = 60.0  # seconds before a failed build is tried again


class WorkspaceIndex:
    """One workspace's index and its freshness state; ``lock`` guards all of it."""

    def __init__(self, engine: Engine, workspace_id: int) -> None:
        self.engine = engine
        self.workspace_id = workspace_id
        self.lock = threading.Lock()
        self.cols: Columns | None = None
        self.cursor = journal.Cursor()
        self.synced_at = 0.0
        self.building = False
        self.failed_at = 0.0
        self.build_seconds = 0.0
        self.builds = 0

    # -- freshness -------------------------------------------------------------------

    def refresh(self, session: Session) -> bool:
        """Apply the journal since the cursor; False when the index must be rebuilt."""
        assert self.cols is not None
        if time.monotonic() - self.synced_at > STALE_AFTER.total_seconds():
            return False
        got = journal.read(session, self.workspace_id, self.cursor)
        if got is None:
            return False
        entries, cursor = got
        if any(cid is None for _, cid in entries):
            return False
        ids = sorted({int(cid) for _, cid in entries if cid is not None})
        if self.cols.reloaded + len(ids) > max(REBUILD_MIN, self.cols.n // 20):
            return False
        reload(session, self.workspace_id, self.cols, ids)
        self.cursor, self.synced_at = cursor, time.monotonic()
        return True

    def start_build(self, session: Session) -> None:
        """Build now (small workspace) or in a background thread; the caller holds ``lock``."""
        if self.building or time.monotonic() - self.failed_at < RETRY_AFTER:
            return
        size = session.scalar(
            select(func.count()).select_from(Customer).where(Customer.workspace_id == self.workspace_id)
        )
        if (size or 0) < SYNC_BUILD_MAX:
            self._install(*_build(session, self.workspace_id))
            if not self.refresh(session):
                self.cols = None
            return
        self.building = True
        threading.Thread(target=self._build_in_background, name="siyu-audience-index", daemon=True).start()

    def _install(self, cols: Columns, cursor: journal.Cursor, seconds: float) -> None:
        self.cols, self.cursor, self.synced_at = cols, cursor, time.monotonic()
        self.build_seconds, self.builds = seconds, self.builds + 1

    def _build_in_background(self) -> None:
        try:
            with Session(self.engine) as session:
                built = _build(session, self.workspace_id)
                session.rollback()
            with self.lock:
                self._install(*built)
        except Exception:
            log.exception("audience index build failed for workspace %s", self.workspace_id)
            self.failed_at = time.monotonic()
        finally:
            self.building = False
        _maybe_prune(self.engine)


def _build(session: Session, workspace_id: int) -> tuple[Columns, journal.Cursor, float]:
    t0 = time.perf_counter()
    cursor = journal.position(session)  # first: whatever commits during the build is replayed
    cols = build(session, workspace_id)
    return cols, cursor, time.perf_counter() - t0


_registry: weakref.WeakKeyDictionary[Engine, dict[int, WorkspaceIndex]] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()
_pruned_at: dict[int, float] = {}


def workspace_index(engine: Engine, workspace_id: int) -> WorkspaceIndex:
    with _registry_lock:
        per = _registry.setdefault(engine, {})
        if workspace_id not in per:
            per[workspace_id] = WorkspaceIndex(engine, workspace_id)
        return per[workspace_id]


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _maybe_prune(engine: Engine) -> None:
    now = time.monotonic()
    if now - _pruned_at.get(id(engine), -PRUNE_EVERY) < PRUNE_EVERY:
        return
    _pruned_at[id(engine)] = now
    try:
        with Session(engine) as session:
            journal.prune(session)
            session.commit()
    except Exception:
        log.exception("audience journal prune failed")


def with_index(session: Session, workspace_id: int, use: Callable[[Columns], T]) -> T | None:
    """``use(columns)`` on a fresh index of the workspace, or None: answer from SQL."""
    if not ENABLED:
        return None
    if session.autoflush:
        session.flush()  # what the SQL path would see; pending changes then show below
    if changes.pending(session):
        return None  # this transaction's own uncommitted changes: only SQL sees them
    idx = workspace_index(_engine(session), workspace_id)
    with idx.lock:
        if idx.cols is not None and not idx.refresh(session):
            idx.cols = None
        if idx.cols is None:
            idx.start_build(session)
        if idx.cols is None:
            return None
        return use(idx.cols)


# --- evaluation ---------------------------------------------------------------------------


@dataclass
class Evaluation:
    mask: Mask
    warnings: list[str]


def evaluate(
    session: Session,
    cols: Columns,
    *,
    workspace_id: int,
    tree: Expr,
    now: datetime | None = None,
    saving_as: str | None = None,
) -> Evaluation:
    """The live customers matching ``tree``, as a mask over slots."""
    ctx = context(session, workspace_id=workspace_id, tree=tree, now=now, saving_as=saving_as)
    return Evaluation(mask(tree, ctx, cols) & cols.live, ctx.warnings)


def mask(node: Expr, ctx: Ctx, cols: Columns) -> Mask:
    """The slots matching ``node`` (dead slots included; ``evaluate`` drops them)."""
    if isinstance(node, Term):
        return registry.get(node.field).index(node, ctx, cols)
    if isinstance(node, Not):
        return ~mask(node.operand, ctx, cols)
    parts = iter(node.operands)
    out = mask(next(parts), ctx, cols).copy()
    for o in parts:
        if isinstance(node, And):
            out &= mask(o, ctx, cols)
        else:
            out |= mask(o, ctx, cols)
    return out


def stats() -> list[dict[str, Any]]:
    """What each index in this process holds (tests and benchmarks read it)."""
    out = []
    with _registry_lock:
        items = [(ws, idx) for per in _registry.values() for ws, idx in per.items()]
    for ws, idx in items:
        cols = idx.cols
        out.append(
            {
                "workspace_id": ws,
                "ready": cols is not None,
                "building": idx.building,
                "customers": 0 if cols is None else int(cols.live.sum()),
                "bytes": 0 if cols is None else cols.nbytes(),
                "megabytes": 0.0 if cols is None else round(cols.nbytes() / 2**20, 1),
                "build_seconds": round(idx.build_seconds, 2),
                "reloaded_since_build": 0 if cols is None else cols.reloaded,
            }
        )
    return out
