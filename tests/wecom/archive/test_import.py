"""``siyu wecom archive import``: stored once, recalls applied, consent kept, bad lines reported."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.pii import get_vault
from siyu.models import AuditLog, CustomerStats, Event, Message
from tests.conftest import CliRun
from tests.wecom.archive.conftest import T0, Corp, msg, write

M = timedelta(minutes=1)


def _import(cli: CliRun, path: Path, expect: int = 0) -> dict:
    return json.loads(cli("wecom", "archive", "import", path, "--json", expect=expect).stdout)


def test_directions_links_and_encrypted_text(
    cli: CliRun, corp: Corp, session: Session, tmp_path: Path
) -> None:
    f = write(
        tmp_path / "a.jsonl",
        [
            msg("m1", "wmA", ["lin"], T0, "在吗？面霜还有货吗"),
            msg("m2", "lin", ["wmA"], T0 + 9 * M, "有的，给您留一瓶"),
            msg("m3", "lin", ["zhou"], T0 + 10 * M, "同事之间"),
            msg("m4", "wmB", ["lin", "wmA"], T0 + 11 * M, "群里问一下", roomid="wrROOM1"),
            msg(
                "m5",
                "lin",
                ["wmA", "wmB"],
                T0 + 12 * M,
                None,
                roomid="wrROOM1",
                msgtype="image",
                image={"md5sum": "x", "filesize": 1234, "sdkfileid": "secret"},
            ),
        ],
    )
    report = _import(cli, f)
    assert report["stored"] == 5
    assert report["problems"] == []
    rows = {m.msgid: m for m in session.scalars(select(Message))}
    c, s = corp.customers, corp.staff
    assert (rows["m1"].direction, rows["m1"].customer_id, rows["m1"].staff_id) == ("in", c["wmA"], s["lin"])
    assert (rows["m2"].direction, rows["m2"].customer_id, rows["m2"].staff_id) == ("out", c["wmA"], s["lin"])
    assert rows["m3"].direction == "internal"
    assert rows["m3"].customer_id is None
    assert (rows["m4"].direction, rows["m4"].group_id, rows["m4"].customer_id) == (
        "in",
        corp.group_id,
        c["wmB"],
    )
    assert (rows["m5"].direction, rows["m5"].group_id, rows["m5"].customer_id) == ("out", corp.group_id, None)
    assert rows["m5"].payload == {"filesize": 1234}
    assert rows["m5"].text_enc is None
    assert rows["m1"].sent_at == T0
    # text is encrypted at rest, never plain
    assert rows["m1"].text_enc
    assert "面霜" not in rows["m1"].text_enc
    assert get_vault().decrypt(rows["m1"].text_enc) == "在吗？面霜还有货吗"
    # a two-way 1:1 exchange moved last_interaction_at for A only (B wrote in a group)
    stats = dict(session.execute(select(CustomerStats.customer_id, CustomerStats.last_interaction_at)).all())
    assert stats.get(c["wmA"]) == T0 + 9 * M
    assert stats.get(c["wmB"]) is None
    assert (
        session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "archive.import"))
        == 1
    )


def test_reimport_changes_nothing(cli: CliRun, corp: Corp, session: Session, tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", [msg(f"m{i}", "wmA", ["lin"], T0 + i * M) for i in range(5)])
    assert _import(cli, f)["stored"] == 5
    again = _import(cli, f)
    assert again["stored"] == 0
    assert again["duplicates"] == 5
    assert [p["line"] for p in again["problems"]] == [1, 2, 3, 4, 5]
    assert session.scalar(select(func.count()).select_from(Message)) == 5


def test_bad_input_counted_per_line_nothing_lost_nothing_doubled(
    cli: CliRun, corp: Corp, session: Session, tmp_path: Path
) -> None:
    f = write(
        tmp_path / "bad.jsonl",
        [
            msg("ok1", "wmA", ["lin"], T0),
            "{not json",
            msg("odd", "wmA", ["lin"], T0, msgtype="hologram"),
            msg("ok1", "wmA", ["lin"], T0),  # duplicate in the file
            msg("ghost", "nobody", ["wmA"], T0 + M),  # unknown staff
            msg("stranger", "wmZZZ", ["lin"], T0 + M),  # unknown customer
            '{"msgid": "sw1", "action": "switch", "time": 1554119421840, "user": "lin"}',
            msg("notime", "wmA", ["lin"], T0) | {"msgtime": "yesterday"},
            "[1, 2]",
        ],
    )
    r = _import(cli, f)
    assert r["lines"] == 9
    assert (r["stored"], r["duplicates"], r["broken"], r["unknown_msgtype"], r["switches"]) == (3, 1, 3, 1, 1)
    assert (r["unknown_staff"], r["unknown_customer"]) == (1, 1)
    by_line = {p["line"]: p for p in r["problems"]}
    assert by_line[2]["kind"] == "broken"
    assert by_line[3]["kind"] == "unknown_msgtype"
    assert "hologram" in by_line[3]["message"]
    assert by_line[4]["kind"] == "duplicate"
    assert "line 1" in by_line[4]["message"]
    assert by_line[5]["kind"] == "unknown_staff"
    assert "nobody" in by_line[5]["message"]
    assert by_line[6]["kind"] == "unknown_customer"
    assert by_line[8]["kind"] == "broken"
    assert "msgtime" in by_line[8]["message"]
    assert 7 not in by_line  # a device switch is no problem
    # every line is accounted for exactly once
    assert r["stored"] + r["duplicates"] + r["broken"] + r["unknown_msgtype"] + r["switches"] == r["lines"]
    rows = {m.msgid: m for m in session.scalars(select(Message))}
    assert set(rows) == {"ok1", "ghost", "stranger"}
    assert rows["ghost"].staff_id is None
    assert rows["ghost"].payload == {"userid": "nobody"}
    assert rows["stranger"].customer_id is None
    assert rows["stranger"].payload == {"external_userid": "wmZZZ"}


def test_recall_applied_in_either_order(cli: CliRun, corp: Corp, session: Session, tmp_path: Path) -> None:
    revoke = {"revoke": {"pre_msgid": "m1"}}
    first = write(tmp_path / "1.jsonl", [msg("m1", "lin", ["wmA"], T0, "发错了")])
    _import(cli, first)
    r = _import(
        cli,
        write(
            tmp_path / "2.jsonl",
            [msg("r1", "lin", ["wmA"], T0 + M, None, msgtype="revoke", action="recall", **revoke)],
        ),
    )
    assert r["revoked"] == 1
    m1 = session.scalar(select(Message).where(Message.msgid == "m1"))
    assert m1 is not None
    assert m1.revoked_at == T0 + M
    assert m1.text_enc is None
    # the recall before its message (a file out of order), in one file
    out_of_order = write(
        tmp_path / "3.jsonl",
        [
            msg(
                "r2",
                "lin",
                ["wmB"],
                T0 + 3 * M,
                None,
                msgtype="revoke",
                action="recall",
                revoke={"pre_msgid": "m2"},
            ),
            msg("m2", "lin", ["wmB"], T0 + 2 * M, "也发错了"),
        ],
    )
    assert _import(cli, out_of_order)["revoked"] == 1
    m2 = session.scalar(select(Message).where(Message.msgid == "m2"))
    assert m2 is not None
    assert m2.revoked_at == T0 + 3 * M
    assert m2.text_enc is None


def test_consent_kept(cli: CliRun, corp: Corp, session: Session, tmp_path: Path) -> None:
    f = write(
        tmp_path / "c.jsonl",
        [
            msg("a1", "wmA", ["wmA"], T0, None, msgtype="agree", agree={"userid": "wmA", "agree_time": 1}),
            msg(
                "d1",
                "wmB",
                ["wmB"],
                T0,
                None,
                msgtype="disagree",
                disagree={"userid": "wmB", "disagree_time": 1},
            ),
        ],
    )
    assert _import(cli, f)["consents"] == 2
    events = {
        e.customer_id: e.payload
        for e in session.scalars(select(Event).where(Event.kind == "archive.consent"))
    }
    assert events == {corp.customers["wmA"]: {"agree": True}, corp.customers["wmB"]: {"agree": False}}
    from siyu.wecom.archive.service import consent

    assert (
        consent(session, workspace_id=corp.workspace_id, customer_id=corp.customers["wmB"])["agree"] is False
    )


def test_store_text_none_keeps_no_text(cli: CliRun, corp: Corp, session: Session, tmp_path: Path) -> None:
    _import(cli, write(tmp_path / "1.jsonl", [msg("m1", "wmA", ["lin"], T0, "before")]))
    out = cli("wecom", "archive", "settings", "--store-text", "none", "--json").stdout
    assert json.loads(out)["store_text"] == "none"
    _import(cli, write(tmp_path / "2.jsonl", [msg("m2", "wmA", ["lin"], T0, "after")]))
    assert session.scalars(select(Message.text_enc)).all() == [None, None]  # the old text was erased too


def test_bad_settings_name_the_field(cli: CliRun, corp: Corp) -> None:
    r = cli("wecom", "archive", "settings", "--store-text", "plain", expect=2)
    assert "store_text" in r.stderr
    r = cli("wecom", "archive", "settings", "--viewer-role", "boss", expect=2)
    assert "viewer_roles" in r.stderr


def test_missing_file(cli: CliRun, corp: Corp, tmp_path: Path) -> None:
    r = cli("wecom", "archive", "import", tmp_path / "nope.jsonl", expect=2)
    assert "no such file" in r.stderr


def test_relink_after_a_sync(cli: CliRun, corp: Corp, session: Session, tmp_path: Path) -> None:
    from siyu.customers.service import IdentityInput, resolve_customer
    from siyu.kit.db import session_scope
    from siyu.staff.service import ensure_staff

    f = write(
        tmp_path / "a.jsonl", [msg("n1", "wmNEW", ["wang"], T0), msg("n2", "wang", ["wmNEW"], T0 + 2 * M)]
    )
    r = _import(cli, f)
    assert (r["stored"], r["unknown_customer"], r["unknown_staff"]) == (2, 2, 2)
    with session_scope() as s:  # a later sync learns both
        ensure_staff(s, workspace_id=corp.workspace_id, userid="wang")
        cid = resolve_customer(
            s,
            workspace_id=corp.workspace_id,
            identities=[IdentityInput("external_userid", "wmNEW")],
            source="test",
        ).id
    out = json.loads(cli("wecom", "archive", "relink", "--json").stdout)
    assert out == {"customers_linked": 2, "staff_linked": 2, "groups_linked": 0, "interactions_moved": 1}
    session.expire_all()
    rows = session.scalars(select(Message).where(Message.msgid.in_(["n1", "n2"]))).all()
    assert {m.customer_id for m in rows} == {cid}
    assert all(m.staff_id is not None and not m.payload for m in rows)
    assert (
        session.scalar(select(CustomerStats.last_interaction_at).where(CustomerStats.customer_id == cid))
        == T0 + 2 * M
    )
    again = json.loads(cli("wecom", "archive", "relink", "--json").stdout)
    assert again["customers_linked"] == 0


def test_retention_purge(cli: CliRun, corp: Corp, session: Session, tmp_path: Path) -> None:
    from siyu.kit.db import session_factory
    from siyu.kit.timeutil import moved_clock
    from siyu.wecom.archive.tasks import purge_texts

    _import(
        cli,
        write(
            tmp_path / "a.jsonl",
            [msg("old", "wmA", ["lin"], T0), msg("new", "wmA", ["lin"], T0 + 100 * M * 1440)],
        ),
    )
    with moved_clock(T0 + timedelta(days=181)):
        assert json.loads(cli("wecom", "archive", "purge", "--json").stdout) == {"texts_erased": 1}
        assert purge_texts(session_factory()) == {"erased": 0}  # the daily job: nothing more
    session.expire_all()
    texts = dict(session.execute(select(Message.msgid, Message.text_enc)).all())
    assert texts["old"] is None
    assert texts["new"] is not None
    assert session.scalar(select(func.count()).select_from(Message)) == 2  # rows stay for the metrics
    cli("wecom", "archive", "settings", "--retention-days", "30")
    with moved_clock(T0 + timedelta(days=181)):
        assert purge_texts(session_factory()) == {"erased": 1}


def test_no_payload_is_sql_null_and_relink_mends_old_json_nulls(
    cli: CliRun, corp: Corp, session: Session, tmp_path: Path
) -> None:
    from sqlalchemy import JSON, text, update

    f = write(
        tmp_path / "a.jsonl",
        [
            msg("p1", "wmA", ["lin"], T0, "在吗"),
            msg("p2", "lin", ["wmA"], T0 + M, "在的"),
            msg("p3", "wmNEW", ["lin"], T0 + 2 * M, "新客户"),
        ],
    )
    assert _import(cli, f)["stored"] == 3
    # Linked 1:1 text has nothing to keep: SQL NULL, not the JSON text 'null'.
    stored = dict(session.execute(text("SELECT msgid, payload IS NULL FROM messages")).all())
    assert {k: bool(v) for k, v in stored.items()} == {"p1": True, "p2": True, "p3": False}
    p3 = select(Message.payload).where(Message.msgid == "p3")
    assert session.scalar(p3) == {"external_userid": "wmNEW"}
    # Rows written before the fix held JSON null; relink makes them NULL and links nothing wrong.
    session.execute(update(Message).where(Message.msgid.in_(["p1", "p2"])).values(payload=JSON.NULL))
    session.commit()
    assert session.scalar(select(func.count()).select_from(Message).where(Message.payload.is_not(None))) == 3
    out = json.loads(cli("wecom", "archive", "relink", "--json").stdout)
    assert out["customers_linked"] == 0
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Message).where(Message.payload.is_not(None))) == 1
    assert session.scalar(p3) == {"external_userid": "wmNEW"}
