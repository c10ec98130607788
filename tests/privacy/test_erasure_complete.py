"""PIPL erasure leaves no copy of the person's identifiers, wherever they came in.

王芳 reaches siyu through every path: WeCom callbacks (a friend add, an edit, a group
join), the re-fetch job those queue and a sync against the WeCom simulator (over real
HTTP; her staff remark and description quote her phone), an order import from the
command line (phone, buyer id, a row error quoting her phone), an upload through the
API, and an upload left on disk by an import that never finished. She is then erased
through the API, and every text and JSON column of every table is searched for her
identifiers, in every common written form: none may be left. 李雷 came in the same ways
and keeps everything.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import JSON, String, func, select
from sqlalchemy.orm import Session

from siyu.config import Settings, get_settings
from siyu.kit.db import dispose_engines
from siyu.models import (
    AuditLog,
    Base,
    Customer,
    CustomerIdentity,
    Follow,
    GroupMember,
    Job,
    WeComCallback,
)
from siyu.wecom.endpoints import clear_cache
from siyu.wecom.simulator import ServerThread, SimClock, SimConfig, Simulator
from tests.conftest import CliRun
from tests.web.api_world import World, build_world
from tests.wecom.fixtures.callbacks import CORP_ID, WeComSender, configure_wecom, crypto, payload, wecom

__all__ = ["wecom"]

SECRET = "erasure-sim-secret"

WANG_EXT = "wmErase0WangFang0000000000000A"
WANG_UNIONID = "oUnionWangFang0000000000000001"
WANG_PHONE = "+8613800138001"
WANG_PHONE_FORMS = ("+8613800138001", "13800138001", "138 0013 8001", "138-0013-8001")
WANG_BUYERS = ("tb_wangfang_77", "王芳的小店2024")
LI_EXT = "wmErase0LiLei00000000000000000B"
CHAT = "wrErase0OldCustomers0000000000"
LI_PHONE = "13900139002"

HEADER = "order_id,paid_at,amount,buyer_id,phone,name,status,items,province,city\n"


def _needles() -> list[str]:
    return [WANG_EXT, WANG_UNIONID, *WANG_PHONE_FORMS, *WANG_BUYERS]


@pytest.fixture
def uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The server's temporary folder (upload folders go there), private to this test."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def stack(
    env: Settings, monkeypatch: pytest.MonkeyPatch, uploads: Path
) -> Iterator[tuple[TestClient, Simulator]]:
    """The real app (API and callback endpoint) and a WeCom simulator of the same corp."""
    from siyu.web.app import create_app

    sim = Simulator(SimConfig(corp_id=CORP_ID, secret=SECRET), SimClock(start=1_763_700_000))
    server = ServerThread(sim.app).start()
    sim.url = server.url  # type: ignore[attr-defined]
    monkeypatch.setenv("SIYU_WECOM_SECRET", SECRET)
    monkeypatch.setenv("SIYU_WECOM_API_BASE", server.url)
    settings = configure_wecom(monkeypatch)
    try:
        with TestClient(create_app(settings), raise_server_exceptions=True) as client:
            yield client, sim
    finally:
        clear_cache()
        server.stop()
        get_settings.cache_clear()
        dispose_engines()


def _csv(path: Path, *rows: str) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _deliver_until_refetch_queued(cli: CliRun, external_userid: str) -> None:
    """Deliver events until the wecom.refetch subscriber queued a re-fetch of this contact.

    On PostgreSQL an event is delivered once every older transaction has ended (the
    outbox's txid horizon), which another busy database on the server can delay.
    """
    from siyu.kit.db import session_scope

    deadline = time.monotonic() + 60
    while True:
        cli("events", "deliver")
        with session_scope() as s:
            payloads = s.scalars(
                select(Job.payload).where(Job.kind == "wecom.refetch", Job.status == "queued")
            ).all()
        if any(c.get("external_userid") == external_userid for p in payloads for c in p.get("contacts", [])):
            return
        assert time.monotonic() < deadline, "the re-fetch was never queued"
        time.sleep(0.2)


def _upload(client: TestClient, world: World, *rows: str) -> int:
    resp = client.post(
        "/api/v1/imports",
        headers=world.h("operator"),
        files={"files": ("youzan.csv", (HEADER + "".join(r + "\n" for r in rows)).encode(), "text/csv")},
    )
    assert resp.status_code == 202, resp.text
    return int(resp.json()["job_id"])


def _bring_in_everyone(client: TestClient, sim: Simulator, cli: CliRun, world: World, tmp_path: Path) -> None:
    # WeCom: both are the staff member's friends; her remark and description quote her
    # phone and buyer id, the way staff note them in the WeCom client.
    sc = sim.scenario
    sc.add_staff("zhangsan", "张三")
    sc.new_customer("王芳", unionid=WANG_UNIONID, gender=2, external_userid=WANG_EXT)
    sc.new_customer("李雷", unionid="oUnionLiLei", external_userid=LI_EXT)
    sc.add_friend(WANG_EXT, userid="zhangsan", remark_mobiles=["138 0013 8001"])
    sc.add_friend(LI_EXT, userid="zhangsan", remark_mobiles=[LI_PHONE])
    sc.edit_follow(
        "zhangsan", WANG_EXT, remark="王芳 13800138001", description="淘宝 tb_wangfang_77，电话 138-0013-8001"
    )
    chat = sc.create_group("zhangsan", "老客群", chat_id=CHAT)
    sc.join_group(chat, WANG_EXT)
    sc.join_group(chat, LI_EXT)

    # The callbacks WeCom sends for that, through the real endpoint.
    sender = WeComSender(client=client, crypto=crypto())
    for ext in (WANG_EXT, LI_EXT):
        sender.send("add_external_contact", external_userid=ext, state="store_qr")
    sender.send("edit_external_contact", external_userid=WANG_EXT, create_time=1_763_800_010)
    sender.send("chat_update_members", chat_id=chat, members=[WANG_EXT, LI_EXT], create_time=1_763_800_020)
    # The re-fetch job they queued, run against the simulator, then a full sync.
    _deliver_until_refetch_queued(cli, WANG_EXT)
    assert json.loads(cli("wecom", "reconcile", "--json").stdout)["jobs_done"] >= 1
    cli("wecom", "sync", "--json")

    # Orders from the command line: her phone written the way exports write it, her
    # buyer id, and a row that fails with her phone in the failing cell.
    cli(
        "import",
        "orders",
        _csv(
            tmp_path / "shop-2024-03.csv",
            "E-1,2024-03-01 10:00,99,tb_wangfang_77,+86 138-0013-8001,王芳,completed,面霜*1,浙江,杭州市",
            "E-2,2024-03-02 10:00,50,li_lei_01,13900139002,李雷,completed,面霜*1,江苏,南京市",
            "E-3,2024-03-03 10:00,20,tb_wangfang_77,13800138001,王芳,completed,[联系 13800138001,浙江,杭州市",
        ),
    )
    # An upload through the API, imported by a worker (a job).
    done = _upload(
        client,
        world,
        "Y-1,2024-04-01 10:00,120,王芳的小店2024,138 0013 8001,王芳,completed,精华*1,浙江,杭州市",
    )
    for _ in range(5):  # a pass runs one long job: tag pushes queued by the tags above go first
        cli("worker", "--once", "--only", "wecom.callbacks")
        job = client.get(f"/api/v1/imports/jobs/{done}", headers=world.h("operator")).json()
        if job["status"] == "done":
            break
    assert job["status"] == "done", job
    # Another upload, still waiting for a worker at the erasure: its file is on disk.
    _upload(
        client, world, "Y-2,2024-04-02 10:00,80,王芳的小店2024,13800138001,王芳,completed,精华*1,浙江,杭州市"
    )
    # A message in the group that quotes her (an event about the group, not about her).
    from siyu.kit.db import session_scope
    from siyu.kit.events import record_event
    from siyu.kit.timeutil import utcnow
    from siyu.models import Group

    with session_scope() as s:
        group = s.scalars(select(Group).where(Group.chat_id == chat)).one()
        record_event(
            s,
            workspace_id=group.workspace_id,
            kind="message.in",
            occurred_at=utcnow(),
            source="wecom",
            group_id=group.id,
            payload={"text": "@王芳的小店2024 的电话是 13800138001", "from": LI_EXT},
        )
    # An upload whose import died half-way: its file is still in the upload folder.
    left = Path(tempfile.mkdtemp(prefix="siyu-upload-"))
    cli(
        "import",
        "orders",
        _csv(
            left / "crashed.csv",
            "C-1,2024-05-01 10:00,30,tb_wangfang_77,13800138001,王芳,completed,面霜*1,浙江,杭州市",
        ),
    )
    # Another edit, delivered to the wecom.refetch subscriber: a re-fetch of her is
    # queued at the erasure.
    sender.send("edit_external_contact", external_userid=WANG_EXT, create_time=1_763_800_030)
    _deliver_until_refetch_queued(cli, WANG_EXT)


def _hits(session: Session, needles: list[str]) -> list[str]:
    """``table.column#row: needle`` for every text or JSON value quoting a needle."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | JSON)]
        if not columns:
            continue
        pk = list(table.primary_key.columns)
        for row in session.execute(select(*pk, *columns)):
            key = ",".join(str(row[i]) for i in range(len(pk)))
            for i, column in enumerate(columns, start=len(pk)):
                value = row[i]
                if value is None:
                    continue
                texts = (
                    [value]
                    if isinstance(value, str)
                    else [json.dumps(value), json.dumps(value, ensure_ascii=False)]
                )
                for needle in needles:
                    if any(needle in t for t in texts):
                        found.append(f"{table.name}.{column.name}#{key}: {needle}")
    return found


def _files_quoting(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n in needles if n.encode() in data or n.encode("gb18030") in data]
    return found


def test_erasure_leaves_no_copy_of_the_identifiers(
    stack: tuple[TestClient, Simulator], cli: CliRun, session: Session, uploads: Path, tmp_path: Path
) -> None:
    client, sim = stack
    world = build_world()
    _bring_in_everyone(client, sim, cli, world, tmp_path)
    session.expire_all()
    wang = session.scalar(
        select(CustomerIdentity.customer_id).where(
            CustomerIdentity.kind == "external_userid", CustomerIdentity.value == WANG_EXT
        )
    )
    assert wang is not None
    # She came in through every path, and it all landed on one profile.
    kinds = set(session.scalars(select(CustomerIdentity.kind).where(CustomerIdentity.customer_id == wang)))
    assert kinds == {"external_userid", "unionid", "phone", "buyer_id"}
    before = _hits(session, _needles())
    for where in (
        "wecom_callbacks.body",
        "jobs.payload",
        "events.payload",
        "follows.remark",
        "follows.description",
        "import_row_errors.value",
        "orders.buyer_id",
        "group_members.userid",
    ):
        assert any(h.startswith(where + "#") for h in before), (where, before)
    # The upload still queued and the one whose import was cut short.
    assert len({f.split(": ")[0] for f in _files_quoting(uploads, _needles())}) == 2
    assert session.scalar(
        select(func.count()).select_from(Job).where(Job.kind == "wecom.refetch", Job.status == "queued")
    )
    callbacks = session.scalar(select(func.count()).select_from(WeComCallback))

    resp = client.post(
        f"/api/v1/customers/{wang}/anonymise",
        headers=world.h("owner"),
        json={"confirm": True, "reason": "本人来电 138 0013 8001 要求删除（淘宝 tb_wangfang_77）"},
    )
    assert resp.status_code == 200, resp.text
    session.expire_all()

    left = _hits(session, _needles())
    assert left == [], "identifiers left after the erasure:\n" + "\n".join(left)
    assert _files_quoting(uploads, _needles()) == []
    # The audit entry says why, with the phone masked.
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "privacy.anonymise"))
    assert entry is not None
    assert entry.detail["reason"] == "本人来电 138****8001 要求删除（淘宝 [erased]）"
    # Her queued re-fetch is gone; her friendship's facts stay.
    for job_payload in session.scalars(select(Job.payload).where(Job.kind == "wecom.refetch")):
        assert all(c["external_userid"] != WANG_EXT for c in job_payload.get("contacts", []))
    follow = session.scalars(select(Follow).where(Follow.customer_id == wang)).one()
    assert (follow.state, follow.remark, follow.description) == ("active", None, None)

    # WeCom repeating a callback already stored is still recognised as a repeat.
    WeComSender(client=client, crypto=crypto()).send(
        "add_external_contact", external_userid=WANG_EXT, state="store_qr"
    )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(WeComCallback)) == callbacks
    assert (
        session.scalar(
            select(func.count()).select_from(CustomerIdentity).where(CustomerIdentity.customer_id == wang)
        )
        == 0
    )

    # She is still a friend and a group member in WeCom: what comes after the erasure
    # (a sync, callbacks about her, their re-fetches) writes her identifiers nowhere.
    sim.scenario.customer_deletes_staff(WANG_EXT, "zhangsan")
    sender = WeComSender(client=client, crypto=crypto())
    sender.send("edit_external_contact", external_userid=WANG_EXT, create_time=1_763_800_090)
    sender.send("del_follow_user", external_userid=WANG_EXT, create_time=1_763_800_091)
    sender.send(
        "chat_update_members",
        chat_id=CHAT,
        update_detail="del_member",
        members=[WANG_EXT, LI_EXT],
        create_time=1_763_800_095,
    )
    sender.send("chat_update_members", chat_id=CHAT, members=[WANG_EXT], create_time=1_763_800_096)
    cli("wecom", "sync", "--json")
    cli("wecom", "reconcile", "--json")
    # The upload that waited runs now, on its redacted file.
    cli("worker", "--once", "--only", "wecom.callbacks")
    session.expire_all()
    assert session.scalars(select(Job.status).where(Job.kind == "imports.upload")).all() == ["done", "done"]
    left = _hits(session, _needles())
    assert left == [], "identifiers written again after the erasure:\n" + "\n".join(left)
    follow = session.scalars(select(Follow).where(Follow.customer_id == wang)).one()
    assert follow.state == "deleted_by_customer"
    joined = session.scalars(select(GroupMember).where(GroupMember.customer_id == wang)).all()
    assert [(m.userid.startswith("anonymised-"), m.state) for m in joined] == [(True, "active")]

    # A group message that quoted her keeps its other content.
    from siyu.models import Event

    message = session.scalars(
        select(Event).where(Event.kind == "message.in", Event.customer_id.is_(None))
    ).one()
    assert message.payload == {"text": "@[erased] 的电话是 [erased]", "from": LI_EXT}

    # 李雷 came in the same ways and keeps everything.
    li = session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.value == LI_EXT))
    assert li is not None
    li_customer = session.get(Customer, li)
    assert li_customer is not None
    assert li_customer.anonymised_at is None
    kept = _hits(session, [LI_EXT, LI_PHONE])
    assert any(h.startswith("wecom_callbacks.body#") for h in kept)
    assert any(h.startswith("events.payload#") for h in kept)


def test_callbacks_waiting_at_the_erasure_cannot_bring_the_person_back(
    wecom: WeComSender, cli: CliRun, session: Session, workspace_id: int
) -> None:
    from siyu.kit.db import session_scope
    from siyu.privacy.service import anonymise_customer
    from siyu.wecom.callbacks.inbox import accept

    wecom.send("add_external_contact", external_userid=WANG_EXT)
    wecom.send("add_external_contact", external_userid=LI_EXT, create_time=1_763_800_001)
    session.expire_all()
    wang = session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.value == WANG_EXT))
    assert wang is not None
    # Stored (answered 200) but not processed yet when she is erased.
    with session_scope() as s:
        edit, _, _ = accept(
            s, workspace_id=workspace_id, xml_text=payload("edit_external_contact", external_userid=WANG_EXT)
        )
        both, _, _ = accept(
            s,
            workspace_id=workspace_id,
            xml_text=payload("chat_update_members", members=[WANG_EXT, LI_EXT], create_time=1_763_800_050),
        )
        alone, _, _ = accept(
            s,
            workspace_id=workspace_id,
            xml_text=payload("chat_update_members", members=[WANG_EXT], create_time=1_763_800_060),
        )
    with session_scope() as s:
        counts = anonymise_customer(s, workspace_id=workspace_id, customer_id=wang, actor="test")
    assert counts["callbacks_set_aside"] == 3
    session.expire_all()
    rows = {r.id: r for r in session.scalars(select(WeComCallback))}
    assert (rows[edit].status, rows[alone].status) == ("ignored", "ignored")
    assert (
        rows[edit].error
        == rows[alone].error
        == "the customer was erased (PIPL) before this callback was processed"
    )
    # The group change still has 李雷's join to apply, and only that.
    assert rows[both].status == "pending"
    assert LI_EXT in rows[both].body

    cli("wecom", "process-callbacks")
    session.expire_all()
    assert session.scalar(select(WeComCallback.status).where(WeComCallback.id == both)) == "processed"
    members = set(session.scalars(select(GroupMember.userid).where(GroupMember.staff_id.is_(None))))
    assert members == {LI_EXT}
    assert _hits(session, [WANG_EXT]) == []
    assert (
        session.scalar(
            select(func.count()).select_from(CustomerIdentity).where(CustomerIdentity.customer_id == wang)
        )
        == 0
    )

    # A callback about her that arrives after the erasure is processed and forgotten
    # (one at a time here; the test above goes through batches).
    from siyu.kit.db import session_factory
    from siyu.wecom.callbacks.processing import process_callback

    with session_scope() as s:
        later, _, _ = accept(
            s,
            workspace_id=workspace_id,
            xml_text=payload("del_follow_user", external_userid=WANG_EXT, create_time=1_763_800_070),
        )
    assert process_callback(session_factory(), later) == "processed"
    session.expire_all()
    assert _hits(session, [WANG_EXT]) == []
