"""Background work of the channel funnel (declared here, run by ``siyu.worker``).

- subscriber ``acquisition.funnel`` to friend adds and losses and to ``stats.refreshed``
  (an order import's customers): recompute those customers' funnel rows and the
  channel-days they touch (idempotent: a re-delivery recomputes the same figures);
- subscriber ``acquisition.dedup`` to ``friend.add``: a matrix duplicate under its channel's
  ``task`` policy gives the second account's staff a task (idempotent by the follow);
- subscriber ``acquisition.leads`` to ``friend.add`` / ``order.binding`` and periodic
  ``acquisition.leads`` (15 min, for OneID merges no event names): complete lead tasks
  whose buyer became a friend; periodic ``acquisition.lead_reminders`` (daily 10:00);
- periodic ``acquisition.funnel`` (daily 04:30): rebuild every workspace's funnel, which
  also catches what no event announces (a OneID merge, a follow written by a full sync).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.acquisition import funnel
from siyu.kit.ops import Delivered, periodic, subscriber
from siyu.models import Workspace

FUNNEL_KINDS = (
    "friend.add",
    "friend.delete_by_customer",
    "friend.delete_by_staff",
    "friend.transfer",
    "stats.refreshed",
    "order.binding",
)


@subscriber("acquisition.funnel", kinds=list(FUNNEL_KINDS), batch=20)
def _funnel(session: Session, events: Sequence[Delivered]) -> None:
    """Keep the channel funnel current for the customers these events name."""
    by_workspace: dict[int, set[int]] = defaultdict(set)
    for ev in events:
        ids = by_workspace[ev.workspace_id]
        if ev.customer_id is not None:
            ids.add(ev.customer_id)
        ids.update(int(c) for c in ev.payload.get("customer_ids", ()) or ())
    for workspace_id, ids in by_workspace.items():
        funnel.refresh_customers(session, workspace_id=workspace_id, customer_ids=ids)


@periodic("acquisition.funnel", daily="04:30", long=True, description="nightly rebuild of the channel funnel")
def _nightly(factory: sessionmaker[Session]) -> dict[str, Any]:
    done: dict[str, int] = {}
    with factory() as session:
        ids = list(session.scalars(select(Workspace.id)))
    for workspace_id in ids:
        with factory.begin() as session:
            done[str(workspace_id)] = funnel.rebuild(session, workspace_id=workspace_id)
    return {"friends": done}


@subscriber("acquisition.dedup", kinds=["friend.add"], batch=200)
def _dedup(session: Session, events: Sequence[Delivered]) -> None:
    """A friend add that makes a matrix duplicate: apply the channel's dedup policy."""
    from siyu.acquisition import dedup

    for ev in events:
        if ev.customer_id is not None and ev.staff_id is not None and not ev.payload.get("half"):
            dedup.on_add(
                session,
                workspace_id=ev.workspace_id,
                customer_id=ev.customer_id,
                staff_id=ev.staff_id,
                at=ev.occurred_at,
            )


@subscriber("acquisition.leads", kinds=["friend.add", "order.binding"], batch=200)
def _leads(session: Session, events: Sequence[Delivered]) -> None:
    """A new friend or an order binding may be a lead added: complete its task (detected)."""
    from siyu.acquisition import leads

    by_workspace: dict[int, set[int]] = defaultdict(set)
    for ev in events:
        if ev.customer_id is not None:
            by_workspace[ev.workspace_id].add(ev.customer_id)
    for workspace_id, ids in by_workspace.items():
        leads.detect_added(session, workspace_id=workspace_id, customer_ids=ids)


@periodic(
    "acquisition.leads", every=900, description="leads whose buyer became a friend (after OneID merges)"
)
def _lead_sweep(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.acquisition import leads

    done: dict[str, int] = {}
    with factory() as session:
        ids = list(session.scalars(select(Workspace.id)))
    for workspace_id in ids:
        with factory.begin() as session:
            done[str(workspace_id)] = leads.detect_added(session, workspace_id=workspace_id)
    return {"added": done}


@periodic("acquisition.lead_reminders", daily="10:00", description="remind staff of overdue lead tasks")
def _lead_reminders(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.acquisition import leads

    done: dict[str, int] = {}
    with factory() as session:
        ids = list(session.scalars(select(Workspace.id)))
    for workspace_id in ids:
        with factory.begin() as session:
            done[str(workspace_id)] = leads.remind(session, workspace_id=workspace_id)
    return {"reminded": done}
