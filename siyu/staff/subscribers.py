"""Event subscribers of the staff domain (declared here, run by ``siyu.worker``).

- ``staff.transfer_fail``: WeCom's ``transfer_fail`` callback (the customer refused a
  handover, or the takeover reached its limit) settles the waiting handover at once,
  without waiting for the hourly ``transfer_result`` poll (idempotent: only waiting rows
  change).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.ops import Delivered, subscriber
from siyu.models import CustomerTransfer

REASON_STATUS = {"customer_refused": "refused", "customer_limit_exceed": "receiver_full"}


@subscriber("staff.transfer_fail", kinds=["friend.transfer_fail"], batch=200)
def _transfer_fail(session: Session, events: Sequence[Delivered]) -> None:
    """A handover WeCom reports as failed: mark it refused or receiver-full."""
    for ev in events:
        status = REASON_STATUS.get(str(ev.payload.get("fail_reason") or ""))
        if status is None or ev.customer_id is None or ev.staff_id is None:
            continue
        for row in session.scalars(
            select(CustomerTransfer).where(
                CustomerTransfer.workspace_id == ev.workspace_id,
                CustomerTransfer.customer_id == ev.customer_id,
                CustomerTransfer.takeover_staff_id == ev.staff_id,
                CustomerTransfer.status == "waiting",
            )
        ):
            row.status = status
            row.settled_at = ev.occurred_at
