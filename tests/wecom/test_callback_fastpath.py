"""The callback fast path: the one serving POST, same answers as the FastAPI route.

``SiyuApp`` answers ``POST /wecom/callback[/{workspace}]`` in front of FastAPI; the
FastAPI routes are still there (API docs, apps built without the fast path). Each
refusal must come back with the same status and JSON body from both, and nothing may
be stored for it. Also: the flat expat parser against defusedxml, the group-commit
writer (batching, one wake-up per batch, a lost connection) and `siyu serve`'s stack.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import siyu.wecom.crypto as crypto_module
import siyu.wecom.endpoints as endpoints
from siyu.config import Settings
from siyu.kit.db import get_engine, local_write_lock, session_scope
from siyu.kit.scope import ensure_workspace
from siyu.models import WeComCallback
from siyu.web.app import SiyuApp, create_app
from siyu.wecom.callbacks import writer as writer_module
from siyu.wecom.callbacks.inbox import accept_parsed, parse_event
from siyu.wecom.crypto import MalformedXML, parse_flat, parse_xml
from tests.wecom.fixtures.callbacks import WeComSender, configure_wecom, crypto, payload

HOSTILE = [
    b"not xml at all",
    b"<xml><Encrypt>abc",
    b"<xml><ToUserName>x</ToUserName></xml>",
    b"<xml><Encrypt><Nested>x</Nested></Encrypt></xml>",
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    b"]><xml><Encrypt>&lol2;</Encrypt></xml>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<xml><Encrypt>&xxe;</Encrypt></xml>",
    b'<!DOCTYPE x SYSTEM "http://example.com/x.dtd"><xml><Encrypt>a</Encrypt></xml>',
    b"<xml><Encrypt>&undefined;</Encrypt></xml>",
]


def _count(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(WeComCallback)) or 0)


class _Pair:
    """The same app reached through the fast path and around it (FastAPI's own route)."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        assert isinstance(self.app, SiyuApp)
        app = self.app

        async def around(scope: Any, receive: Any, send: Any) -> None:
            await FastAPI.__call__(app, scope, receive, send)

        self.fast = TestClient(self.app)
        self.slow = TestClient(around)

    def both(self, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        return self.fast.post(path, **kwargs), self.slow.post(path, **kwargs)


@pytest.fixture
def pair(env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Pair]:
    settings = configure_wecom(monkeypatch)
    p = _Pair(settings)
    with p.fast, p.slow:
        yield p
    endpoints.clear_cache()


def _same(fast: httpx.Response, slow: httpx.Response, status: int, code: str) -> None:
    assert (fast.status_code, slow.status_code) == (status, status)
    assert fast.json() == slow.json()
    assert fast.json()["error"]["code"] == code
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"


def test_the_fast_path_is_the_one_serving_post(pair: _Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    async def route_must_not_run(*_args: Any) -> Any:
        raise AssertionError("the FastAPI POST route answered a callback")

    monkeypatch.setattr(endpoints, "_receive", route_must_not_run)
    sender = WeComSender(pair.fast, crypto())
    resp = sender.post(payload("add_external_contact"))
    assert resp.status_code == 200
    assert resp.content == b"success"
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert pair.app.callback_fast_path.served == 1
    # GET (URL verification) and everything else still go through FastAPI.
    assert pair.fast.get("/wecom/callback", params=crypto().build_echostr("42")).text == "42"
    assert pair.fast.get("/healthz").json()["status"] == "ok"
    # Paths the fast path does not own get FastAPI's own answer (a redirect here).
    trailing = pair.fast.post("/wecom/callback/", follow_redirects=False)
    assert trailing.status_code == pair.slow.post("/wecom/callback/", follow_redirects=False).status_code
    assert pair.fast.post("/wecom/callback/a/b").status_code == 404
    assert pair.app.callback_fast_path.served == 1


def test_good_and_duplicate_callbacks_answer_alike(pair: _Pair, session: Session) -> None:
    xml = payload("add_external_contact", state="s1")
    for client in (pair.fast, pair.slow, pair.fast):
        resp = WeComSender(client, crypto()).post(xml)  # WeCom's retries, freshly encrypted
        assert (resp.status_code, resp.text) == (200, "success")
    assert _count(session) == 1


def test_bad_signature_is_the_same_403(pair: _Pair, session: Session) -> None:
    body, params = crypto().build_post_body(payload("add_external_contact"), timestamp=int(time.time()))
    params["msg_signature"] = "0" * 40
    _same(*pair.both("/wecom/callback", params=params, content=body.encode()), 403, "bad_signature")
    assert _count(session) == 0


def test_stale_timestamp_is_the_same_403(
    pair: _Pair, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server clock is held still: the message names the skew in whole seconds, and
    # the two requests must not straddle a second boundary.
    now = float(int(time.time()))
    monkeypatch.setattr(crypto_module, "time", SimpleNamespace(time=lambda: now))
    body, params = crypto().build_post_body(payload("add_external_contact"), timestamp=int(now) - 7200)
    _same(*pair.both("/wecom/callback", params=params, content=body.encode()), 403, "bad_timestamp")
    assert _count(session) == 0


@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
def test_malformed_or_hostile_body_is_the_same_400(pair: _Pair, session: Session, body: bytes) -> None:
    params = {"msg_signature": "a" * 40, "timestamp": str(int(time.time())), "nonce": "n"}
    _same(*pair.both("/wecom/callback", params=params, content=body), 400, "bad_xml")
    assert _count(session) == 0


def test_missing_query_parameter_is_the_same_400(pair: _Pair) -> None:
    fast, slow = pair.both("/wecom/callback", params={"msg_signature": "x"}, content=b"<xml/>")
    _same(fast, slow, 400, "bad_callback")
    assert fast.json()["error"]["field"] == "timestamp"


def test_unknown_workspace_is_the_same_404(pair: _Pair) -> None:
    body, params = crypto().build_post_body(payload("chat_create"), timestamp=int(time.time()))
    fast, slow = pair.both("/wecom/callback/nope", params=params, content=body.encode())
    _same(fast, slow, 404, "not_found")
    assert "nope" in fast.json()["error"]["message"]


def test_oversized_body_is_the_same_400_and_is_not_kept(
    pair: _Pair, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(endpoints, "MAX_BODY", 1000)
    body, params = crypto().build_post_body(payload("add_external_contact"), timestamp=int(time.time()))
    big = body.encode() + b" " * 2000
    fast, slow = pair.both("/wecom/callback", params=params, content=big)
    _same(fast, slow, 400, "bad_callback")
    assert fast.json()["error"]["message"] == f"the callback body is {len(big)} bytes, more than 1000"

    # Without a Content-Length (chunked), the fast path counts what arrives, keeping none of it.
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 256):
            yield big[i : i + 256]

    streamed = pair.fast.post("/wecom/callback", params=params, content=chunks())
    assert streamed.status_code == 400
    assert streamed.json() == fast.json()
    assert _count(session) == 0


def test_stuck_inbox_is_the_same_503(pair: _Pair, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    real = writer_module.BatchInsert.execute

    def slow(*args: Any, **kwargs: Any) -> None:
        time.sleep(0.4)
        real(*args, **kwargs)

    monkeypatch.setattr(endpoints, "STORE_TIMEOUT", 0.05)
    monkeypatch.setattr(writer_module.BatchInsert, "execute", slow)
    xml = payload("add_external_contact")
    fast = WeComSender(pair.fast, crypto()).post(xml)
    slow_resp = WeComSender(pair.slow, crypto()).post(xml)
    _same(fast, slow_resp, 503, "busy")
    monkeypatch.setattr(writer_module.BatchInsert, "execute", real)
    time.sleep(0.9)  # the late commits land; WeCom's retry dedups
    assert WeComSender(pair.fast, crypto()).post(xml).status_code == 200
    assert _count(session) == 1


# -- the flat parser against defusedxml -------------------------------------------------

_tags = st.sampled_from(["xml", "MsgType", "Event", "A", "B", "MemChangeList", "Item", "ns:x"])
_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)


def _esc(t: str) -> str:
    return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def _element(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(_tags).replace("ns:", "") if depth else "xml"
    parts = [_esc(draw(_texts))]
    if depth < 3:
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["child", "cdata", "comment", "text"]))
            if kind == "child":
                parts.append(draw(_element(depth + 1)))
            elif kind == "cdata":
                parts.append("<![CDATA[" + draw(_texts).replace("]]>", "") + "]]>")
            elif kind == "comment":
                parts.append("<!--" + draw(_texts).replace("-", "") + "-->")
            else:
                parts.append(_esc(draw(_texts)))
    return f"<{tag}>" + "".join(parts) + f"</{tag}>"


def _reference(text: str) -> tuple[str, dict[str, str], set[str], list[str]]:
    """What the ElementTree-based code read from a message (the behaviour to keep)."""
    root = parse_xml(text)
    fields: dict[str, str] = {}
    nested: set[str] = set()
    members: list[str] = []
    for child in root:
        if child.tag == "MemChangeList":
            members.extend((i.text or "").strip() for i in child if (i.text or "").strip())
        elif child.tag not in fields:
            fields[child.tag] = (child.text or "").strip()
            if len(child):
                nested.add(child.tag)
    return root.tag, fields, nested, members


@settings(max_examples=300, deadline=None)
@given(_element())
def test_parse_flat_reads_what_elementtree_reads(text: str) -> None:
    flat = parse_flat(text)
    assert (flat.root, flat.fields, set(flat.nested), list(flat.members)) == _reference(text)
    assert parse_flat(text.encode()) == flat


# WeCom's plain form (a root <xml> of text or CDATA children), with texts drawn from
# everything, including what XML refuses or rewrites (control characters, CR, "]]>").
_plain_texts = st.one_of(
    st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), max_size=12),
    st.text(
        st.one_of(
            st.characters(codec="utf-8"),
            st.sampled_from(list(" \t\r\n]]>&<;#\x00\x0b\ufffe\u3000\u200b")),
        ),
        max_size=12,
    ),
)
_plain_tags = st.sampled_from(["MsgType", "Event", "A", "b_2", "MemChangeList", "xml", "Item"])


@st.composite
def _plain_message(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        tag, text = draw(_plain_tags), draw(_plain_texts)
        if draw(st.booleans()):
            body = "<![CDATA[" + text + "]]>"
        else:
            body = text if draw(st.booleans()) else _esc(text)
        parts.append(draw(st.sampled_from(["", " ", "\n"])) + f"<{tag}>{body}</{tag}>")
    end = draw(st.sampled_from(["", " ", "\t"])) + "</xml>" + draw(st.sampled_from(["", "\n", " \n"]))
    return "<xml>" + "".join(parts) + end


@settings(max_examples=500, deadline=None)
@given(_plain_message())
def test_the_plain_form_reader_reads_what_expat_reads(text: str) -> None:
    from siyu.wecom import crypto as c

    for doc in (text, text.encode("utf-8", "surrogatepass")):
        plain = c._parse_plain(doc)
        try:
            expected = c._parse_expat(doc)
        except MalformedXML:
            assert plain is None  # what expat refuses is never read around it
            continue
        if plain is not None:
            assert plain == expected
            assert (plain.root, plain.fields, set(plain.nested), list(plain.members)) == _reference(text)


def test_the_plain_form_reader_takes_wecoms_messages() -> None:
    from siyu.wecom import crypto as c

    body, _ = crypto().build_post_body(payload("add_external_contact"))
    for doc in (body.encode(), payload("add_external_contact", state="客户 A&B <x>")):
        assert c._parse_plain(doc) is not None
        assert c._parse_plain(doc) == c._parse_expat(doc)
    assert c._parse_plain(payload("chat_update_members", members=["wm1", "wm2"])) is None  # expat


def test_parse_flat_keeps_namespaces_as_elementtree_names_them() -> None:
    flat = parse_flat('<xml xmlns="urn:x"><MsgType>event</MsgType></xml>')
    assert flat.root == parse_xml('<xml xmlns="urn:x"/>').tag == "{urn:x}xml"
    with pytest.raises(MalformedXML):
        parse_event('<xml xmlns="urn:x"><MsgType>event</MsgType></xml>')  # root is not <xml>


@pytest.mark.parametrize(
    "body", HOSTILE[4:], ids=["entities", "external-entity", "external-dtd", "undefined"]
)
def test_parse_flat_refuses_what_defusedxml_refuses(body: bytes) -> None:
    with pytest.raises(MalformedXML) as flat_error:
        parse_flat(body)
    with pytest.raises(MalformedXML) as ref_error:
        parse_xml(body)
    assert flat_error.value.message == ref_error.value.message


# -- the group-commit writer --------------------------------------------------------------


def _event(i: int) -> tuple[str, Any]:
    xml = payload("add_external_contact", external_userid=f"wm_batch_{i:04d}")
    return xml, parse_event(xml)


def test_writer_batches_under_load_and_wakes_the_loop_once_per_batch(
    env: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.orm import sessionmaker

    with session_scope() as s:
        ws = ensure_workspace(s, "batching").id
    engine = get_engine(env)
    writer = writer_module.InboxWriter(sessionmaker(bind=engine))
    settles: list[int] = []
    real_settle = writer_module._settle

    def counting_settle(items: list[Any], exc: BaseException | None) -> None:
        settles.append(len(items))
        real_settle(items, exc)

    monkeypatch.setattr(writer_module, "_settle", counting_settle)
    events = [_event(i) for i in range(60)]

    async def burst() -> None:
        # Hold the inbox's write turn (SQLite) or a lock on the table (PostgreSQL) so the
        # callbacks queue up, as they do while a batch commits under load.
        held, gate = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_writer, args=(engine, held, gate))
        holder.start()
        assert held.wait(10)
        stores = [asyncio.ensure_future(writer.store(workspace_id=ws, xml_text=x, ev=e)) for x, e in events]
        await asyncio.sleep(0.3)
        gate.set()
        await asyncio.gather(*stores)
        holder.join()

    asyncio.run(burst())
    assert writer.stored == 60
    # The first batch is taken before the wait: the first callback, and those queued while
    # the writer thread drained (a few, or a dozen on a loaded machine); then all the rest.
    assert writer.batches <= 2
    assert len(settles) == writer.batches  # one loop wake-up per batch, not per callback
    assert sum(settles) == 60
    session.expire_all()
    assert session.scalar(select(func.count()).where(WeComCallback.workspace_id == ws)) == 60


def _hold_writer(engine: Any, held: threading.Event, gate: threading.Event) -> None:
    with engine.connect() as conn, local_write_lock(engine):
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE wecom_callbacks IN EXCLUSIVE MODE")
        held.set()
        gate.wait(10)
        conn.rollback()


def test_writer_rows_are_stored_as_the_orm_stores_them(env: Settings, session: Session) -> None:
    """The raw batch insert goes through the columns' bind processors (UTC times and all)."""
    from sqlalchemy.orm import sessionmaker

    with session_scope() as s:
        ws = ensure_workspace(s, "rows").id
    writer = writer_module.InboxWriter(sessionmaker(bind=get_engine(env)))
    (xml_a, ev_a), (xml_b, ev_b) = _event(1), _event(2)

    async def store() -> None:
        # The same event twice in one batch, then again: stored once.
        await asyncio.gather(
            writer.store(workspace_id=ws, xml_text=xml_a, ev=ev_a),
            writer.store(workspace_id=ws, xml_text=xml_a, ev=ev_a),
        )
        await writer.store(workspace_id=ws, xml_text=xml_a, ev=ev_a)

    asyncio.run(store())
    with session_scope() as s:
        accept_parsed(s, workspace_id=ws, xml_text=xml_b, ev=ev_b)
    session.expire_all()
    rows = session.scalars(select(WeComCallback).where(WeComCallback.workspace_id == ws).order_by("id")).all()
    assert len(rows) == 2
    raw, orm = rows
    for name in ("msg_type", "event", "change_type", "status", "attempts"):
        assert getattr(raw, name) == getattr(orm, name)
    assert raw.create_time == orm.create_time  # aware UTC both ways
    assert raw.create_time is not None
    assert raw.create_time.utcoffset() is not None
    assert raw.received_at.utcoffset() is not None
    assert abs((raw.received_at - orm.received_at).total_seconds()) < 60
    assert raw.body == xml_a
    assert raw.dedup_key != orm.dedup_key


def test_a_batch_is_stored_whole_or_not_at_all(env: Settings, session: Session) -> None:
    """One failing row fails its whole batch (none of its 200s go out, WeCom retries).

    On PostgreSQL the batch is a single INSERT on an autocommit connection (committed by
    the server before it answers); on SQLite an executemany in a transaction.
    """
    from sqlalchemy.orm import sessionmaker

    with session_scope() as s:
        ws = ensure_workspace(s, "whole").id
    engine = get_engine(env)
    writer = writer_module.InboxWriter(sessionmaker(bind=engine))
    (xml_a, ev_a), (xml_b, ev_b) = _event(1), _event(2)
    dbapi_error = engine.dialect.loaded_dbapi.Error
    with pytest.raises(dbapi_error):  # no such workspace: a foreign-key violation
        writer._store([(ws, xml_a, ev_a), (ws + 10**6, xml_b, ev_b)])
    writer._drop_connection()
    session.expire_all()
    assert session.scalar(select(func.count()).where(WeComCallback.workspace_id == ws)) == 0
    writer._store([(ws, xml_a, ev_a), (ws, xml_b, ev_b)])
    session.expire_all()
    assert session.scalar(select(func.count()).where(WeComCallback.workspace_id == ws)) == 2
    if engine.dialect.name == "postgresql":
        import psycopg

        driver = writer._conn.driver_connection
        assert driver.autocommit
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_writer_retries_a_batch_once_on_a_lost_connection(env: Settings, session: Session) -> None:
    from sqlalchemy.orm import sessionmaker

    with session_scope() as s:
        ws = ensure_workspace(s, "reconnect").id
    writer = writer_module.InboxWriter(sessionmaker(bind=get_engine(env)))
    (xml_a, ev_a), (xml_b, ev_b) = _event(1), _event(2)
    asyncio.run(writer.store(workspace_id=ws, xml_text=xml_a, ev=ev_a))
    held = writer._conn
    assert held is not None
    held.driver_connection.close()  # the server restarted / the connection dropped
    asyncio.run(writer.store(workspace_id=ws, xml_text=xml_b, ev=ev_b))  # no error for the request
    assert writer._conn is not held
    session.expire_all()
    assert session.scalar(select(func.count()).where(WeComCallback.workspace_id == ws)) == 2


def test_sqlite_write_turns_are_taken_across_processes(env: Settings) -> None:
    """Another process's turn (a file lock beside the database) holds the writer back."""
    import fcntl
    import os

    engine = get_engine(env)
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's one writer")
    path = f"{engine.url.database}-siyu-write.lock"
    other = os.open(path, os.O_RDWR | os.O_CREAT)  # its own open file: as another process
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        entered = threading.Event()

        def write() -> None:
            with local_write_lock(engine):
                entered.set()

        t = threading.Thread(target=write)
        t.start()
        assert not entered.wait(0.3)  # waits for the other process's turn
        fcntl.flock(other, fcntl.LOCK_UN)
        assert entered.wait(5)  # and goes at once when it ends
        t.join()
    finally:
        os.close(other)


def test_sqlite_checkpoints_run_beside_the_writer(
    env: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.orm import sessionmaker

    engine = get_engine(env)
    if engine.dialect.name != "sqlite":
        pytest.skip("WAL checkpoints are SQLite's")
    with session_scope() as s:
        ws = ensure_workspace(s, "checkpoints").id
    monkeypatch.setattr(writer_module, "CHECKPOINT_EVERY", 1)
    writer = writer_module.InboxWriter(sessionmaker(bind=engine))
    for i in range(3):
        xml, ev = _event(i)
        asyncio.run(writer.store(workspace_id=ws, xml_text=xml, ev=ev))
    cursor = writer._conn.cursor()
    assert cursor.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # not on the writer's path
    assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    cursor.close()
    deadline = time.monotonic() + 5
    while writer.checkpoints < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.checkpoints >= 1
    # A single quiet commit is flushed too, within CHECKPOINT_SECONDS.
    monkeypatch.setattr(writer_module, "CHECKPOINT_EVERY", 1000)
    before = writer.checkpoints
    xml, ev = _event(99)
    asyncio.run(writer.store(workspace_id=ws, xml_text=xml, ev=ev))
    deadline = time.monotonic() + 5
    while writer.checkpoints == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.checkpoints > before


# -- `siyu serve` ----------------------------------------------------------------------------


def test_serve_runs_on_uvloop_and_httptools_with_an_optional_access_log(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    import siyu.web.cli as web_cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    monkeypatch.setattr(web_cli, "settle_heap", lambda: calls.append({"settled": True}))
    # A real embedded runner would outlive this test in the test process, on its database.
    embedded: list[bool] = []
    monkeypatch.setattr(web_cli, "start_embedded_worker", lambda: embedded.append(True))
    monkeypatch.setenv(web_cli._EMBEDDED_WORKER_ENV, "")
    cli("serve", "--no-migrate", "--port", "8123")
    cli("serve", "--no-migrate", "--no-access-log", "--no-worker")
    assert embedded == [True]  # the first serve runs the job runner in its process; --no-worker not
    settled, first, _, second = calls
    assert settled == {"settled": True}
    assert isinstance(first["app"], SiyuApp)
    assert (first["loop"], first["http"], first["port"]) == ("uvloop", "httptools", 8123)
    assert first["access_log"] is True
    assert second["access_log"] is False
    assert web_cli.server_options(fast=False) == {"loop": "asyncio", "http": "h11"}


def test_serve_with_workers_runs_a_supervisor_on_a_factory(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    import siyu.web.cli as web_cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    monkeypatch.setattr(web_cli, "run_workers", lambda app, **kw: calls.append({"app": app, **kw}))
    monkeypatch.setattr(web_cli, "settle_heap", lambda: calls.append({"settled": True}))
    embedded: list[bool] = []
    monkeypatch.setattr(web_cli, "start_embedded_worker", lambda: embedded.append(True))
    monkeypatch.setenv(web_cli._EMBEDDED_WORKER_ENV, "")
    cli("serve", "--no-migrate", "--workers", "2", "--no-access-log")
    (call,) = calls  # the supervisor builds no app itself
    assert call["app"] == "siyu.web.cli:worker_app"
    assert call["workers"] == 2
    assert (call["loop"], call["http"], call["access_log"]) == ("uvloop", "httptools", False)
    module, name = call["app"].split(":")
    factory = getattr(__import__(module, fromlist=[name]), name)
    assert isinstance(factory(), SiyuApp)  # what each worker process serves, heap settled
    assert calls[-1] == {"settled": True}
    assert embedded == [True]  # each worker process runs its own job runner
    cli("serve", "--no-migrate", "--workers", "0", expect=2)


def test_serve_with_workers_says_when_the_port_is_taken(cli: Any) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--no-migrate", "--workers", "2", "--port", port, expect=2)
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_prime_resolves_the_default_workspace_and_connects_its_inbox(
    env: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.models import Workspace

    assert endpoints.prime(env) is False  # no WeCom config: nothing resolved, nothing created
    assert session.scalar(select(func.count()).select_from(Workspace)) == 0
    settings = configure_wecom(monkeypatch)
    assert endpoints.prime(settings) is True
    target = endpoints._cached_target(settings, None)
    assert target is not None
    writer = writer_module.writer_for(settings.database_url, endpoints._factory(settings))
    assert writer._conn is not None  # connected before the first callback
    endpoints.clear_cache()


def test_settle_heap_freezes_the_start_up_heap() -> None:
    from siyu.web.cli import settle_heap

    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
