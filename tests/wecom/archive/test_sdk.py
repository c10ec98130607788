"""The Finance SDK adapter against a stand-in library built here with gcc."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import string
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.timeutil import moved_clock, utcnow
from siyu.models import ArchiveCursor, ArchivePending, Event, Message
from tests.conftest import CliRun
from tests.wecom.archive.conftest import T0, Corp, msg

HERE = Path(__file__).parent
SECRET = "archive-secret"


@pytest.fixture(scope="session")
def fake_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the stand-in Finance SDK")
    out = tmp_path_factory.mktemp("sdk") / "libWeWorkFinanceSdk_C.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-o", str(out), str(HERE / "fake_sdk" / "fake_finance_sdk.c")],
        check=True,
    )
    return out


def _key() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return key, pem


def _row(seq: int, version: int, key: rsa.RSAPrivateKey, message: dict[str, Any]) -> str:
    random_key = "".join(secrets.choice(string.ascii_letters) for _ in range(16)).encode()
    plain = json.dumps(message).encode()
    enc_msg = bytes(b ^ random_key[i % len(random_key)] for i, b in enumerate(plain)).hex()
    enc_key = base64.b64encode(key.public_key().encrypt(random_key, padding.PKCS1v15())).decode()
    return json.dumps(
        {
            "seq": seq,
            "msgid": message["msgid"],
            "publickey_ver": version,
            "encrypt_random_key": enc_key,
            "encrypt_chat_msg": enc_msg,
        }
    )


def test_pull_decrypts_keeps_unknown_versions_and_alerts_on_stall(
    cli: CliRun, corp: Corp, session: Session, tmp_path: Path, fake_sdk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    k1, pem1 = _key()
    k2, pem2 = _key()
    m = timedelta(minutes=1)
    rows = [
        _row(
            i + 1,
            1 if i < 3 else 2,
            k1 if i < 3 else k2,
            msg(
                f"s{i}",
                "wmA" if i % 2 == 0 else "lin",
                ["lin"] if i % 2 == 0 else ["wmA"],
                T0 + i * m,
                f"第{i}条",
            ),
        )
        for i in range(5)
    ]
    data = tmp_path / "chatdata.jsonl"
    data.write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("FAKE_SDK_DATA", str(data))
    monkeypatch.setenv("FAKE_SDK_SECRET", SECRET)
    (tmp_path / "k1.pem").write_text(pem1)
    (tmp_path / "k2.pem").write_text(pem2)
    cli("wecom", "archive", "pull", expect=2)  # not configured yet: a clear error
    cli("wecom", "archive", "connect", "--corp-id", "wwcorp", "--secret", SECRET, "--sdk-library", fake_sdk)
    cli("wecom", "archive", "key-add", "--version", 1, "--file", tmp_path / "k1.pem")
    first = json.loads(cli("wecom", "archive", "pull", "--json").stdout)
    assert (first["stored"], first["pending"], first["seq"]) == (3, 2, 5)
    assert session.scalar(select(func.count()).select_from(ArchivePending)) == 2
    again = json.loads(cli("wecom", "archive", "pull", "--json").stdout)
    assert (again["stored"], again["rows"], again["seq"]) == (0, 0, 5)
    # the missing key arrives: the kept rows are decrypted and imported, once
    cli("wecom", "archive", "key-add", "--version", 2, "--file", tmp_path / "k2.pem")
    retried = json.loads(cli("wecom", "archive", "pull", "--json").stdout)
    assert (retried["retried"], retried["stored"]) == (2, 2)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ArchivePending)) == 0
    texts = {m.msgid: m for m in session.scalars(select(Message))}
    assert sorted(texts) == ["s0", "s1", "s2", "s3", "s4"]
    assert texts["s1"].direction == "out"
    assert texts["s0"].direction == "in"
    # new rows appear after the stored position only
    data.write_text(data.read_text() + _row(6, 1, k1, msg("s5", "wmA", ["lin"], T0 + 9 * m)) + "\n")
    assert json.loads(cli("wecom", "archive", "pull", "--json").stdout)["stored"] == 1
    # seq stops moving for longer than stall_minutes: one alert event
    with moved_clock(utcnow() + timedelta(hours=25)):
        assert json.loads(cli("wecom", "archive", "pull", "--json").stdout)["stalled"] is True
        cli("wecom", "archive", "pull", "--json")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "archive.stalled")) == 1
    assert session.scalar(select(ArchiveCursor.seq)) == 6


def test_bad_key_and_wrong_secret(
    cli: CliRun, corp: Corp, tmp_path: Path, fake_sdk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad.pem").write_text(
        "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n"
    )
    r = cli("wecom", "archive", "key-add", "--version", 1, "--file", tmp_path / "bad.pem", expect=2)
    assert "private_key" in r.stderr
    monkeypatch.setenv("FAKE_SDK_SECRET", "the-real-one")
    cli("wecom", "archive", "connect", "--corp-id", "wwcorp", "--secret", "wrong", "--sdk-library", fake_sdk)
    r = cli("wecom", "archive", "pull", expect=1)
    assert "Init returned 10002" in r.stderr


def test_status_shows_stall_and_missing_keys(corp: Corp, session: Session) -> None:
    from siyu.kit.db import session_scope
    from siyu.models import ArchiveCursor
    from siyu.wecom.archive.service import pull_status

    with session_scope() as s:
        s.add(ArchiveCursor(workspace_id=corp.workspace_id, seq=7, advanced_at=T0, alerted_at=T0))
        s.add(
            ArchivePending(
                workspace_id=corp.workspace_id,
                seq=8,
                msgid="x",
                publickey_ver=3,
                encrypt_random_key="k",
                encrypt_chat_msg="m",
            )
        )
    got = pull_status(session, workspace_id=corp.workspace_id)
    assert (got["seq"], got["stalled"], got["pending"], got["missing_key_versions"]) == (7, True, 1, [3])
