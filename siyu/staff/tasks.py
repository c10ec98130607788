"""Background work of the staff domain (declared here, run by ``siyu.worker``).

- job ``staff.transfer`` (long): make the WeCom calls of a queued handover batch
  (``siyu.staff.transfers.send_batch``), in chunks of 100;
- job ``staff.transfer_result`` (long): read ``transfer_result`` for its waiting customers,
  settle the done / refused / receiver-full ones and queue itself again in an hour while
  any still wait (WeCom gives the customer 24 hours).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from siyu.kit.ops import JobContext, job_handler
from siyu.models import Workspace
from siyu.staff import transfers


def _with_client(ctx: JobContext, fn: Callable[..., dict[str, int]]) -> dict[str, Any]:
    from siyu.wecom.gateway import client_for

    assert ctx.workspace_id is not None
    with ctx.factory() as s:
        ws = s.get(Workspace, ctx.workspace_id)
        if ws is None:
            return {"skipped": "the workspace no longer exists"}
        client = client_for(s, ws)
    try:
        return dict(fn(ctx.factory, client, workspace_id=ctx.workspace_id, batch=str(ctx.payload["batch"])))
    finally:
        client.close()


@job_handler(transfers.SEND_KIND, long=True, description="hand customers and groups to other staff (WeCom)")
def _send(ctx: JobContext) -> dict[str, Any]:
    return _with_client(ctx, transfers.send_batch)


@job_handler(transfers.RESULT_KIND, long=True, description="read the results of waiting customer handovers")
def _result(ctx: JobContext) -> dict[str, Any]:
    return _with_client(ctx, transfers.check_batch)
