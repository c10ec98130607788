"""``siyu clv fit`` end to end: CDNOW through the generic importer, checked against lifetimes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import CustomerIdentity, CustomerScore, Workspace
from tests.conftest import CliRun
from tests.segments.cdnow import lifetimes_fit, write_generic_csv
from tests.segments.scores_factory import make_customer

pytestmark = pytest.mark.filterwarnings("ignore:The 'mode.chained_assignment' option is deprecated")


def _params(out: str) -> list[float]:
    data = json.loads(out)
    assert set(data) == {"bgnbd", "gamma_gamma", "customers"}
    assert set(data["bgnbd"]) == {"r", "alpha", "a", "b"}
    assert set(data["gamma_gamma"]) == {"p", "q", "gamma"}
    return [*data["bgnbd"].values(), *data["gamma_gamma"].values()]


@pytest.mark.slow
def test_cdnow_import_fit_and_predictions_agree_with_lifetimes(
    cli: CliRun, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("import", "orders", write_generic_csv(tmp_path / "cdnow.csv"), "--format", "generic")
    out = cli("clv", "fit", "--calibration-end", "1998-06-30", "--json").stdout

    # lifetimes on the very same transactions: within 1 %, as the product promises
    np.testing.assert_allclose(_params(out), lifetimes_fit("day").params, rtol=0.01)
    # siyu does not count the 8 zero-dollar orders as purchases (an order nobody paid for
    # is not an effective order); lifetimes run without them agrees to the 4th digit
    strict = lifetimes_fit("day", positive_only=True)
    np.testing.assert_allclose(_params(out), strict.params, rtol=1e-4)
    assert json.loads(out)["customers"] == len(strict.customer_ids) == 2349

    # read in pages smaller than one customer's orders: the same fit, to the last digit
    monkeypatch.setattr("siyu.segments.service.FIT_CHUNK", 7)
    paged = cli("clv", "fit", "--calibration-end", "1998-06-30", "--json").stdout
    np.testing.assert_allclose(_params(paged), _params(out), rtol=1e-12)
    assert json.loads(paged)["customers"] == 2349
    monkeypatch.undo()

    week = cli("clv", "fit", "--calibration-end", "1998-06-30", "--time-unit", "week", "--json").stdout
    np.testing.assert_allclose(_params(week), lifetimes_fit("week", positive_only=True).params, rtol=1e-4)

    # scored as of the calibration end, stored predictions are lifetimes' conditional ones
    cli("segments", "recompute", "--as-of", "1998-06-30")
    session.expire_all()
    rows = session.execute(
        select(CustomerIdentity.value, CustomerScore.p_alive, CustomerScore.expected_purchases_90d)
        .join(CustomerScore, CustomerScore.customer_id == CustomerIdentity.customer_id)
        .where(CustomerIdentity.kind == "buyer_id", CustomerScore.p_alive.is_not(None))
    ).all()
    got = {int(v): (p, e) for v, p, e in rows}
    assert len(got) == 2349
    peer = lifetimes_fit("week", positive_only=True)
    for i, cid in enumerate(peer.customer_ids.tolist()):
        assert got[cid][0] == pytest.approx(peer.p_alive[i], rel=1e-3, abs=1e-6)
        assert got[cid][1] == pytest.approx(peer.expected_90d[i], rel=1e-3, abs=1e-6)
    ws = session.scalar(select(Workspace))
    assert ws is not None
    assert ws.settings["clv"]["time_unit"] == "week"
    value = session.scalar(select(CustomerScore.expected_value_fen).where(CustomerScore.p_alive.is_not(None)))
    assert value is not None
    assert value >= 0


def test_fit_without_enough_history_says_so(cli: CliRun, session: Session, workspace_id: int) -> None:
    make_customer(session, workspace_id, name="a", orders=1, net_yuan=10)
    session.commit()
    result = cli("clv", "fit", "--calibration-end", "2026-06-30", expect=2)
    err = " ".join(result.stderr.split())
    assert "not enough purchase history to fit CLV models: 0 customers bought on or before 2026-06-30" in err
    session.expire_all()
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    assert "clv" not in ws.settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-unit", "month"], "--time-unit must be 'day' or 'week', got 'month'"),
        (
            ["--calibration-end", "30/06/2026"],
            "--calibration-end must be a date like 2026-06-30, got '30/06/2026'",
        ),
    ],
)
def test_bad_options_are_refused(cli: CliRun, env: object, args: list[str], message: str) -> None:
    result = cli("clv", "fit", *args, expect=2)
    assert message in " ".join(result.stderr.split())
