"""What one processing batch (one transaction) remembers between its callbacks.

``process_batch`` opens a :class:`BatchState` on its session: staff accounts and the
customers of external userids already looked up (or created) in this transaction.
(Re-fetches are no longer asked for here: the ``wecom.refetch`` subscriber queues them
from the callbacks' events, ADR 0006.) A callback
run in a savepoint takes a :meth:`BatchState.snapshot` first and restores it when the
savepoint rolls back, so nothing it created is remembered. Outside a batch (a single
``process_callback``) handlers find no state and look everything up as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.timeutil import utcnow
from siyu.models import Customer, Staff
from siyu.wecom.callbacks.inbox import CallbackEvent

_KEY = "siyu.wecom.batch"
ADDS = ("add_external_contact", "add_half_external_contact")


@dataclass(slots=True)
class BatchState:
    """Per-transaction caches of callback processing (see the module docstring)."""

    staff: dict[tuple[int, str], Staff] = field(default_factory=dict)
    customers: dict[tuple[int, str], Customer] = field(default_factory=dict)

    def snapshot(self) -> tuple[Any, ...]:
        return dict(self.staff), dict(self.customers)

    def restore(self, snap: tuple[Any, ...]) -> None:
        staff, customers = snap
        self.staff, self.customers = dict(staff), dict(customers)

    def prefetch(self, session: Session, events: Iterable[tuple[int, CallbackEvent, datetime]]) -> None:
        """Look up the staff and resolve the customers of these contact events at once.

        Only ``change_external_contact`` events that carry both ids: each of their
        customers is found or created exactly as its handler's OneID call would do
        (one external_userid identity each, so no merge can come of it).
        """
        from siyu.customers.service import IdentityInput, refresh_stats, resolve_batch

        userids: dict[int, set[str]] = {}
        # Ordered, so customers are created in the callbacks' order. A new customer's
        # first_seen_at is its earliest add (an add sets it anyway; this saves the UPDATE).
        externals: dict[int, dict[str, datetime | None]] = {}
        now = utcnow()
        for workspace_id, ev, at in events:
            if ev.event != "change_external_contact":
                continue
            userid, external = ev.get("UserID").strip(), ev.get("ExternalUserID")
            if userid and external.strip():
                userids.setdefault(workspace_id, set()).add(userid)
                seen = externals.setdefault(workspace_id, {})
                first = seen.get(external)
                if ev.change_type in ADDS and at <= now and (first is None or at < first):
                    first = at
                seen[external] = first
        for workspace_id, names in userids.items():
            for staff in session.scalars(
                select(Staff).where(Staff.workspace_id == workspace_id, Staff.userid.in_(sorted(names)))
            ):
                self.staff[(workspace_id, staff.userid)] = staff
        for workspace_id, ext in externals.items():
            wanted = [e for e in ext if (workspace_id, e) not in self.customers]
            if not wanted:
                continue
            res = resolve_batch(
                session,
                workspace_id=workspace_id,
                groups=[[IdentityInput(kind="external_userid", value=e, platform="")] for e in wanted],
                source="wecom",
                seen_at=[ext[e] for e in wanted],
            )
            if res.merged:  # pragma: no cover - one identity per group joins no two customers
                refresh_stats(session, workspace_id=workspace_id, customer_ids=[s for s, _ in res.merged])
            found = {e: cid for e, cid in zip(wanted, res.customer_ids, strict=True) if cid is not None}
            loaded = {
                c.id: c
                for c in session.scalars(select(Customer).where(Customer.id.in_(sorted(set(found.values())))))
            }
            self.customers.update({(workspace_id, e): loaded[cid] for e, cid in found.items()})


def current(session: Session) -> BatchState | None:
    """The batch state of this session's transaction, if a batch is being processed."""
    state = session.info.get(_KEY)
    return state if isinstance(state, BatchState) else None


@contextmanager
def batch_state(session: Session) -> Iterator[BatchState]:
    """Open a batch state on the session for the block."""
    state = BatchState()
    session.info[_KEY] = state
    try:
        yield state
    finally:
        session.info.pop(_KEY, None)
