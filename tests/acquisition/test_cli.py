"""``siyu channels``: bad input exits 2 naming the field, nothing written; ``--json`` output."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.models import Channel, WelcomeDefault
from siyu.staff.service import ensure_staff
from tests.conftest import CliRun


@pytest.fixture
def staff(workspace_id: int) -> None:
    with session_scope() as s:
        ensure_staff(s, workspace_id=workspace_id, userid="zs", name="张三")
        ensure_staff(s, workspace_id=workspace_id, userid="gone", name="离职", status="resigned")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--state", "x" * 31), "(state)"),
        (("--staff", "nobody"), "(pool)"),
        (("--staff", "gone"), "resigned"),
        (("--cost", "-5"), "(cost_fen)"),
        (("--welcome", "好" * 1400), "(welcome)"),
        (("--schedule", "someday 9-18 zs"), "(pool)"),
        (("--strategy", "fastest"), "(pool)"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    cli: CliRun, session: Session, staff: None, args: tuple[str, ...], words: str
) -> None:
    base = ["channels", "create", "--name", "渠道"]
    if "--staff" not in args:
        base += ["--staff", "zs"]
    result = cli(*base, *args, expect=2)
    assert words in " ".join(result.stderr.split())
    assert session.scalar(select(func.count()).select_from(Channel)) == 0


def test_create_edit_show_and_defaults(cli: CliRun, session: Session, staff: None) -> None:
    made = json.loads(
        cli("channels", "create", "--name", "短信召回", "--staff", "zs", "--cap", "zs=30",
            "--schedule", "mon-fri 09:00-18:00 zs", "--weight", "zs=2", "--json").stdout
    )  # fmt: skip
    assert made["pool"]["daily_caps"]
    assert made["pool"]["schedules"][0]["days"] == [0, 1, 2, 3, 4]
    edited = json.loads(
        cli("channels", "edit", made["id"], "--name", "短信召回 11 月", "--cost", "150", "--json").stdout
    )
    assert (edited["name"], edited["cost_fen"]) == ("短信召回 11 月", 15000)
    shown = json.loads(cli("channels", "show", made["id"], "--json").stdout)
    assert [a["userid"] for a in shown["routing"]["accounts"]] == ["zs"]
    cli("channels", "welcome-default", "--text", "你好，我是{员工姓名}", "--json")
    cli("channels", "welcome-default", "--text", "张三的欢迎语", "--staff", "zs")
    assert session.scalar(select(func.count()).select_from(WelcomeDefault)) == 2
    assert "no WeCom code yet" in cli("channels", "qr", made["id"], "--out", "x.png", expect=2).stderr
    assert json.loads(cli("staff", "capacity", "--json").stdout) == []
