"""WeChat customer service: the callback queues a pull; kf/sync_msg pages by cursor, 3 days back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_factory, session_scope
from siyu.models import Job, Message
from siyu.staff.service import ensure_staff
from siyu.wecom.archive import kf
from siyu.wecom.archive.callbacks import KF_SYNC_JOB
from siyu.wecom.callbacks.handlers import HANDLERS
from siyu.wecom.callbacks.inbox import parse_event
from siyu.wecom.errors import WeComAPIError
from siyu.wecom.simulator import Simulator
from siyu.wecom.simulator.callbacks import event_xml
from siyu.wecom.simulator.kf import kf_message
from tests.conftest import CliRun
from tests.wecom.sim_fixtures import client_for, simulator  # noqa: F401

KFID = "wkSIMKF0001"


def _say(sim: Simulator, ext: str, text: str, servicer: str | None = None) -> None:
    kf_message(
        sim.scenario, open_kfid=KFID, external_userid=ext, text=text, servicer_userid=servicer, notify=False
    )


def test_sync_stores_three_days_by_cursor_once(
    simulator: Simulator,  # noqa: F811
    session: Session,
    workspace_id: int,
) -> None:
    with session_scope() as s:
        kefu = ensure_staff(s, workspace_id=workspace_id, userid="kefu1", name="客服").id
    _say(simulator, "wmOLD", "四天前的消息")
    simulator.state.clock.advance(4 * 86400)
    for i in range(5):
        _say(simulator, "wmK1", f"问题{i}")
        simulator.state.clock.advance(60)
        _say(simulator, "wmK1", f"回答{i}", servicer="kefu1")
    with client_for(simulator) as c:
        client = kf.KfClient(c)
        real = client.sync_msg
        client.sync_msg = lambda **kw: real(**{**kw, "limit": 4})  # type: ignore[method-assign]
        report = kf.sync(session_factory(), workspace_id=workspace_id, client=client, open_kfid=KFID)
        assert report.stored == 10
        assert (
            kf.sync(session_factory(), workspace_id=workspace_id, client=client, open_kfid=KFID).stored == 0
        )
        with pytest.raises(WeComAPIError, match="limit"):  # refused like WeCom does
            real(cursor="", token="", open_kfid=KFID, limit=1001)
    rows = session.scalars(
        select(Message).where(Message.source == "kf").order_by(Message.sent_at, Message.id)
    ).all()
    assert len(rows) == 10
    assert {r.direction for r in rows} == {"in", "out"}
    assert all(r.staff_id == kefu for r in rows if r.direction == "out")
    assert len({r.customer_id for r in rows}) == 1
    assert rows[0].customer_id is not None  # the customer was created through OneID


def test_callback_queues_a_pull(session: Session, workspace_id: int) -> None:
    xml = event_xml("wwcorp", 1_760_000_000, "kf_msg_or_event", "", Token="tok1", OpenKfId=KFID)
    ev = parse_event(xml)
    assert ev.handled
    with session_scope() as s:
        HANDLERS[ev.event](s, workspace_id=workspace_id, ev=ev, key="cb1", at=ev.create_time)  # type: ignore[arg-type]
        HANDLERS[ev.event](s, workspace_id=workspace_id, ev=ev, key="cb1", at=ev.create_time)  # type: ignore[arg-type]
    jobs = session.scalars(select(Job).where(Job.kind == KF_SYNC_JOB)).all()
    assert len(jobs) == 1
    assert jobs[0].payload == {"token": "tok1", "open_kfid": KFID}
    assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_msgaudit_notify_queues_a_pull(session: Session, workspace_id: int) -> None:
    from siyu.wecom.archive.callbacks import PULL_JOB

    ev = parse_event(event_xml("wwcorp", 1_760_000_000, "msgaudit_notify", ""))
    assert ev.handled
    with session_scope() as s:
        HANDLERS[ev.event](s, workspace_id=workspace_id, ev=ev, key="cb2", at=ev.create_time)  # type: ignore[arg-type]
    assert session.scalar(select(func.count()).select_from(Job).where(Job.kind == PULL_JOB)) == 1


def test_simulated_corp_archive_imports(  # the simulator's friends and groups chat; siyu stores it all
    simulator: Simulator,  # noqa: F811
    cli: CliRun,
    session: Session,
    workspace_id: int,
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime, timedelta

    from siyu.wecom.simulator.archive import archive_from_state

    sc = simulator.scenario
    sc.add_staff("lin", "林")
    exts = [sc.new_customer(f"客户{i}") for i in range(20)]
    for ext in exts:
        sc.add_friend(ext, userid="lin")
    start = datetime.fromtimestamp(simulator.state.now(), UTC)
    simulator.state.clock.advance(30 * 86400)
    records = archive_from_state(
        simulator.state, start=start - timedelta(days=1), end=start + timedelta(days=30)
    )
    assert records
    with session_scope() as s:
        ensure_staff(s, workspace_id=workspace_id, userid="lin")
    path = tmp_path / "sim.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    report = json.loads(cli("wecom", "archive", "import", path, "--json").stdout)
    assert report["stored"] == len(records)
    assert report["unknown_staff"] == 0
    linked = session.scalar(select(func.count()).select_from(Message).where(Message.staff_id.is_not(None)))
    assert linked == len(records)  # every message is the staff account's; the customers were never synced
