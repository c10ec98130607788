"""The demo's WeCom step: a simulated corp linked to the demo buyers, stored by sync."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.demo import wecom as wecom_demo
from siyu.demo.service import STEPS, DemoContext, DemoStep, run_demo
from siyu.models import (
    CustomerIdentity,
    Follow,
    Group,
    StaffDailyStats,
    SyncRun,
    WeComApp,
)


def _ctx(tmp_path: Path) -> DemoContext:
    return DemoContext(
        customers=300,
        seed=7,
        out=tmp_path / "demo",
        as_of=date(2026, 11, 20),
        workspace_slug="demo",
        progress=False,
    )


def _steps() -> list[DemoStep]:
    core = [s for s in STEPS if s.name in ("files", "import")]
    return [*core, DemoStep("wecom", "WeCom", wecom_demo.seed)]


def test_demo_step_seeds_wecom_through_sync_and_reruns_as_no_op(
    env: Settings, session: Session, tmp_path: Path
) -> None:
    ctx = run_demo(_ctx(tmp_path), steps=_steps())
    assert not ctx.failed, ctx.failed
    assert any("WeCom (simulator" in n for n in ctx.notes)
    follows = session.scalar(select(func.count()).select_from(Follow))
    assert follows == 180 + 18  # 60% of the buyers, plus 10% strangers
    states = dict(
        session.execute(select(Follow.live_code_state, func.count()).group_by(Follow.live_code_state)).all()
    )
    assert set(states) == set(wecom_demo.CHANNELS)
    # Friends linked to buyers: customers holding both an imported phone and a WeCom id.
    phone_owners = select(CustomerIdentity.customer_id).where(CustomerIdentity.kind == "phone")
    linked = session.scalar(
        select(func.count(func.distinct(CustomerIdentity.customer_id))).where(
            CustomerIdentity.kind == "external_userid", CustomerIdentity.customer_id.in_(phone_owners)
        )
    )
    assert linked is not None
    assert linked > 100
    assert session.scalar(select(func.count()).select_from(Group)) == len(wecom_demo.GROUPS)
    assert session.scalar(select(func.count()).select_from(StaffDailyStats)) == 7 * len(wecom_demo.STAFF)
    assert session.scalar(select(WeComApp.corp_id)) == wecom_demo.CORP_ID

    run_demo(_ctx(tmp_path), steps=_steps())
    session.expire_all()
    runs = session.scalars(select(SyncRun).where(SyncRun.kind == "full").order_by(SyncRun.id)).all()
    assert len(runs) == 2
    changed = {k: v for k, v in runs[-1].counts.items() if k != "run_id" and v}
    assert changed == {}
    assert session.scalar(select(func.count()).select_from(Follow)) == follows
