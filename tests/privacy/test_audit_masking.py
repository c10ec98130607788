"""Audit entries are append-only: a reason typed with the person's phone is stored masked."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.models import AuditLog
from tests.web.api_world import PHONE_ZHANG, build_world, client


def test_opt_out_and_erasure_reasons_keep_only_masked_identifiers(env: Settings, session: Session) -> None:
    world = build_world()
    api = client()
    zhang = world.customers["zhang"]
    written = "138 0013 8000"  # 张三's phone as people write it
    assert written.replace(" ", "") == PHONE_ZHANG
    resp = api.put(
        f"/api/v1/customers/{zhang}/opt-out",
        headers=world.h("owner"),
        json={"opt_out": True, "reason": f"客户 {written} 来电拒收（wmZHANGexternal0001 的好友）"},
    )
    assert resp.status_code == 200, resp.text
    resp = api.post(
        f"/api/v1/customers/{zhang}/anonymise",
        headers=world.h("owner"),
        json={"confirm": True, "reason": f"{PHONE_ZHANG} 本人要求删除"},
    )
    assert resp.status_code == 200, resp.text
    session.expire_all()
    reasons = {
        a.action: a.detail["reason"]
        for a in session.scalars(
            select(AuditLog).where(AuditLog.action.in_(("privacy.opt_out", "privacy.anonymise")))
        )
    }
    assert reasons == {
        "privacy.opt_out": "客户 138****8000 来电拒收（[erased] 的好友）",
        "privacy.anonymise": "138****8000 本人要求删除",
    }
