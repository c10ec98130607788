"""`siyu demo` brings a month of past sends, each with a holdout and a visible lift."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import Order, Send, SendRecipient
from tests.conftest import CliRun, DemoBrand


@pytest.mark.xdist_group("demo")
def test_demo_has_past_sends_with_lift(cli: CliRun, session: Session, demo_brand: DemoBrand) -> None:
    sends = list(session.scalars(select(Send).where(Send.created_by == "demo").order_by(Send.id)))
    assert len(sends) == 4
    assert {s.status for s in sends} == {"settled"}
    assert sum(s.counts["holdout"] for s in sends) > 10
    lifts = [json.loads(cli("sends", "lift", s.id, "--json").stdout) for s in sends]
    week = [w for lift in lifts for w in lift["windows"] if w["days"] == 7]
    assert week
    # The campaign orders went to customers who received a send, none to the holdout
    # (at 300 customers the arms are too small for the baseline's noise to average out).
    assert sum(w["orders"]["target_total"] for w in week) > 0
    for send in sends:
        campaign = set(
            session.scalars(select(Order.customer_id).where(Order.external_id.like(f"send{send.id}-%")))
        )
        held = set(
            session.scalars(
                select(SendRecipient.customer_id).where(
                    SendRecipient.send_id == send.id, SendRecipient.arm == "holdout"
                )
            )
        )
        assert not campaign & held
    shown = json.loads(cli("sends", "show", sends[0].id, "--json").stdout)
    assert shown["results"]["sent"] > 0
    assert shown["results"].get("unconfirmed", 0) > 0
