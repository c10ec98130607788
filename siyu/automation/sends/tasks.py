"""Background work of sends: plan when due, deliver, follow results, pull other senders' sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.automation.sends.delivery import SendGateway, deliver
from siyu.automation.sends.service import DELIVER_KIND, PLAN_KIND, NeedsApproval, get_send, knobs_of, plan
from siyu.kit.ops import JobContext, job_handler, periodic
from siyu.models import Send, Workspace


def gateway_for(session: Session, workspace_id: int) -> SendGateway:
    """The workspace's WeCom client; Conflict (a 409, exit 2) when no WeCom app is set up."""
    from siyu.kit.errors import Conflict
    from siyu.wecom.errors import WeComError
    from siyu.wecom.gateway import client_for

    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    try:
        return client_for(session, ws)
    except WeComError as exc:
        raise Conflict(f"WeCom is not set up for this workspace: {exc}", field="wecom") from exc


# Tests and the demo may point sends at another gateway (a simulator client).
GATEWAY: list[Callable[[Session, int], SendGateway]] = [gateway_for]


def run_plan(factory: sessionmaker[Session], workspace_id: int, send_id: int) -> dict[str, Any]:
    """Plan one send in one transaction (a crash leaves nothing; a rerun plans from scratch)."""
    with factory() as s:
        send = get_send(s, workspace_id=workspace_id, send_id=send_id, lock=True)
        try:
            report = plan(s, send)
        except NeedsApproval as exc:
            s.rollback()
            send = get_send(s, workspace_id=workspace_id, send_id=send_id, lock=True)
            send.status = "pending_approval"
            send.counts = {**send.counts, "targeted_at_freeze": exc.targeted}
            s.commit()
            return {"send_id": send_id, "status": "pending_approval"}
        s.commit()
        return {"send_id": send_id, "status": send.status, **(report.as_dict() if report else {})}


def run_deliver(factory: sessionmaker[Session], workspace_id: int, send_id: int) -> dict[str, Any]:
    with factory() as s:
        gateway = GATEWAY[-1](s, workspace_id)
    try:
        return deliver(factory, send_id, gateway)
    finally:
        close = getattr(gateway, "close", None)
        if close is not None and GATEWAY[-1] is gateway_for:
            close()


@job_handler(PLAN_KIND, long=True, description="freeze a send's audience: removals, holdout, batches")
def _plan(ctx: JobContext) -> dict[str, Any]:
    assert ctx.workspace_id is not None
    return run_plan(ctx.factory, ctx.workspace_id, int(ctx.payload["send_id"]))


@job_handler(DELIVER_KIND, long=True, description="make a planned send's add_msg_template calls, once each")
def _deliver(ctx: JobContext) -> dict[str, Any]:
    assert ctx.workspace_id is not None
    return run_deliver(ctx.factory, ctx.workspace_id, int(ctx.payload["send_id"]))


def follow_all(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.automation.sends.results import follow

    out: dict[str, Any] = {}
    with factory() as s:
        waiting = list(s.execute(select(Send.id, Send.workspace_id).where(Send.status == "waiting")))
    for send_id, workspace_id in waiting:
        with factory() as s:
            try:
                gateway = GATEWAY[-1](s, workspace_id)
                send = get_send(s, workspace_id=workspace_id, send_id=send_id, lock=True)
                out[str(send_id)] = follow(s, send, gateway, knobs_of(s, workspace_id))
                s.commit()
            except Exception as exc:  # one send's trouble must not stop the others
                s.rollback()
                out[str(send_id)] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return out


@periodic("sends.follow", every=120, description="follow waiting mass sends until they settle")
def _follow(factory: sessionmaker[Session]) -> dict[str, Any]:
    return follow_all(factory)


@periodic(
    "sends.receipts", every=3600, long=True, description="pull every creator's mass sends (quota counts)"
)
def _receipts(factory: sessionmaker[Session]) -> dict[str, Any]:
    from siyu.automation.sends.results import pull_receipts
    from siyu.wecom.tasks import wecom_workspaces

    out: dict[str, Any] = {}
    with factory() as s:
        ids = [ws.id for ws in wecom_workspaces(s)]
    for ws_id in ids:
        with factory() as s:
            try:
                out[str(ws_id)] = pull_receipts(s, workspace_id=ws_id, gateway=GATEWAY[-1](s, ws_id))
                s.commit()
            except Exception as exc:
                s.rollback()
                out[str(ws_id)] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return out
