"""``siyu segments recompute``: incremental and full writes, merges, scoping, jobs, rules."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.kit.scope import ensure_workspace
from siyu.models import Customer, CustomerScore, CustomerStats, CustomerTag, Tag
from siyu.segments.tasks import enqueue_recompute, recompute_all_workspaces, run_recompute_job
from tests.conftest import CliRun
from tests.segments.scores_factory import make_customer

AS_OF = ("--as-of", "2026-06-30")


def _run(cli: CliRun, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(cli("segments", "recompute", *AS_OF, "--json", *args).stdout)
    return out


def _five_buyers(session: Session, workspace_id: int) -> list[int]:
    ids = [
        make_customer(
            session, workspace_id, name=f"b{i}", orders=i + 1, net_yuan=100 * (i + 1), last_days_ago=10 * i
        )
        for i in range(5)
    ]
    session.commit()
    return ids


def test_second_run_writes_only_what_changed(cli: CliRun, session: Session, workspace_id: int) -> None:
    ids = _five_buyers(session, workspace_id)
    first = _run(cli)
    assert (first["customers"], first["buyers"], first["written"], first["unchanged"]) == (5, 5, 5, 0)
    assert first["pareto_top20_share"] == 500 / 1500

    again = _run(cli)
    assert (again["written"], again["unchanged"]) == (0, 5)

    # b4's stats change (more spend, a category): only b4's row has new values
    session.execute(
        CustomerStats.__table__.update()
        .where(CustomerStats.customer_id == ids[4])
        .values(net_fen=900_00, categories={"面霜": 2})
    )
    session.commit()
    after = _run(cli)
    assert (after["written"], after["unchanged"]) == (1, 4)
    session.expire_all()
    b4 = session.get(CustomerScore, ids[4])
    assert b4 is not None
    assert (b4.m_score, b4.preferred_category) == (5, "面霜")
    assert session.scalar(select(func.count()).where(CustomerScore.computed_at > b4.computed_at)) == 0

    full = _run(cli, "--full")
    assert (full["written"], full["unchanged"]) == (5, 0)


def test_recency_ages_with_the_reference_day(cli: CliRun, session: Session, workspace_id: int) -> None:
    ids = _five_buyers(session, workspace_id)
    _run(cli)
    out = json.loads(cli("segments", "recompute", "--as-of", "2026-07-10", "--json").stdout)
    assert out["as_of"] == "2026-07-10"
    session.expire_all()
    score = session.get(CustomerScore, ids[0])
    assert score is not None
    assert score.recency_days == 10


def test_merged_customers_lose_their_scores(cli: CliRun, session: Session, workspace_id: int) -> None:
    ids = _five_buyers(session, workspace_id)
    _run(cli)
    session.execute(Customer.__table__.update().where(Customer.id == ids[1]).values(merged_into_id=ids[0]))
    session.commit()
    out = _run(cli)
    assert (out["customers"], out["removed"]) == (4, 1)
    session.expire_all()
    assert session.get(CustomerScore, ids[1]) is None


def test_workspaces_are_ranked_separately(cli: CliRun, session: Session, workspace_id: int) -> None:
    _five_buyers(session, workspace_id)
    other = ensure_workspace(session, "other-brand")
    whale = make_customer(session, other.id, name="whale", orders=50, net_yuan=99_999, last_days_ago=0)
    session.commit()
    _run(cli)
    session.expire_all()
    assert session.get(CustomerScore, whale) is None
    out = json.loads(cli("segments", "recompute", "-w", "other-brand", *AS_OF, "--json").stdout)
    assert (out["customers"], out["buyers"]) == (1, 1)
    session.expire_all()
    score = session.get(CustomerScore, whale)
    assert score is not None
    # alone in its workspace: nobody to be better than, so the middle score
    assert (score.r_score, score.m_score, score.layer_tier) == (3, 3, "svip")
    assert session.scalar(select(func.count()).select_from(CustomerScore)) == 6


def test_human_output_shows_pareto_and_segments(cli: CliRun, session: Session, workspace_id: int) -> None:
    _five_buyers(session, workspace_id)
    out = " ".join(cli("segments", "recompute", *AS_OF).stdout.split())
    assert "5 customers, 5 with an effective order; 5 score rows written" in out
    assert "Pareto: top 20 % of buyers bring 33.3% of net revenue" in out
    assert "RFM segments (R×F grid)" in out
    assert "run siyu clv fit to add predictions" in out


def test_bad_reference_day_is_refused(cli: CliRun, env: object) -> None:
    result = cli("segments", "recompute", "--as-of", "yesterday", expect=2)
    assert "--as-of must be a date like 2026-06-30, got 'yesterday'" in " ".join(result.stderr.split())
    result = cli("segments", "recompute", "--center", "mode", expect=2)
    assert "--center must be 'mean' or 'median', got 'mode'" in " ".join(result.stderr.split())


def test_auto_tag_rules_run_after_the_scores(cli: CliRun, session: Session, workspace_id: int) -> None:
    _five_buyers(session, workspace_id)
    cli("segments", "rules", "add", "newcomers", "rfm:new", "--add", "新客")
    out = _run(cli)
    assert out["rules"] is not None
    assert [r["name"] for r in out["rules"]] == ["newcomers"]
    session.expire_all()
    tagged = session.scalars(
        select(Customer.name)
        .join(CustomerTag, CustomerTag.customer_id == Customer.id)
        .join(Tag)
        .where(Tag.name == "新客")
    ).all()
    newcomers = session.scalars(
        select(Customer.name).join(CustomerScore).where(CustomerScore.rfm_segment == "new")
    ).all()
    assert newcomers == ["b0"]
    assert tagged == newcomers


def test_jobs_recompute_queued_and_all_workspaces(env: object, session: Session, workspace_id: int) -> None:
    _five_buyers(session, workspace_id)
    with session_scope() as s:
        job = enqueue_recompute(s, workspace_id=workspace_id, full=True, refit_clv=True)
        payload = dict(job.payload)
    summary = run_recompute_job({**payload, "as_of": "2026-06-30"})
    assert (summary["written"], summary["customers"]) == (5, 5)
    # five one-order-a-day customers cannot support a CLV fit: said, and scores still made
    assert "not enough purchase history" in summary["clv_error"]
    every = recompute_all_workspaces()
    assert set(every) == {"default"}
    assert session.scalar(select(func.count()).select_from(CustomerScore)) == 5
