"""`siyu demo` brings a month of past sends, each with a holdout and a visible lift."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import Send
from tests.conftest import CliRun
from tests.demo.test_demo_cli import ARGS


def test_demo_has_past_sends_with_lift(cli: CliRun, session: Session, tmp_path: Path) -> None:
    cli(*ARGS, "--out", tmp_path / "demo-data")
    sends = list(session.scalars(select(Send).where(Send.created_by == "demo").order_by(Send.id)))
    assert len(sends) == 4
    assert {s.status for s in sends} == {"settled"}
    assert sum(s.counts["holdout"] for s in sends) > 10
    lifts = [json.loads(cli("sends", "lift", s.id, "--json").stdout) for s in sends]
    week = [w for lift in lifts for w in lift["windows"] if w["days"] == 7]
    assert week
    assert sum(w["net_fen"]["diff"] for w in week) > 0
    shown = json.loads(cli("sends", "show", sends[0].id, "--json").stdout)
    assert shown["results"]["sent"] > 0
    assert shown["results"].get("unconfirmed", 0) > 0
