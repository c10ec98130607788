"""A channel's pool may only hold accounts that can serve customers: known, active and
in WeCom's follow-user list (the customer-contact permission, as last synced). Anything
else is refused at save, by the CLI and the API alike, naming every such account."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.models import Channel, Staff
from siyu.web.auth import create_user
from tests.acquisition.conftest import Stack
from tests.conftest import CliRun
from tests.web.api_world import assert_error, client


def _ids(session: Session) -> dict[str, int]:
    session.expire_all()
    return {s.userid: s.id for s in session.scalars(select(Staff))}


def test_a_pool_with_ineligible_staff_is_refused_at_save(stack: Stack, cli: CliRun, session: Session) -> None:
    sc = stack.sim.scenario
    sc.add_staff("zs", "张三")
    sc.add_staff("ls", "李四")
    sc.add_staff("ww", "王五").has_permission = False  # not under 客户联系 → 权限配置
    cli("wecom", "sync", "--json")
    staff = _ids(session)
    assert set(staff) >= {"zs", "ls"}
    with session_scope() as s:
        # ww is known from before (the permission was taken away since): no longer listed.
        ws = s.scalar(select(Staff.workspace_id).limit(1))
        assert ws is not None
        s.add(Staff(workspace_id=ws, userid="ww", name="王五"))
    cli("wecom", "sync", "--json")  # the follow-user list decides the permission
    staff = _ids(session)
    perm = dict(session.execute(select(Staff.userid, Staff.has_contact_permission)).all())
    assert perm == {"zs": True, "ls": True, "ww": False}
    with session_scope() as s:
        gone = s.scalar(select(Staff).where(Staff.userid == "ls"))
        assert gone is not None
        gone.status = "deleted"

    # CLI: every ineligible account named, nothing written.
    r = cli(
        "channels", "create", "--name", "门店", "--staff", "zs", "--staff", "ls", "--staff", "ww", expect=2
    )
    out = r.stdout + (r.stderr or "")
    assert "ww" in out
    assert "ls (deleted)" in out
    assert "follow-user" in out
    r = cli("channels", "create", "--name", "门店", "--staff", "zs", "--staff", "nobody", expect=2)
    assert "nobody" in r.stdout + (r.stderr or "")
    assert session.scalar(select(func.count()).select_from(Channel)) == 0

    # API: create and update alike.
    with session_scope() as s:
        _, token = create_user(
            s, workspace_id=ws, name="op", role="operator", password="correct horse battery"
        )
    h = {"Authorization": f"Bearer {token}"}
    api = client()
    err = assert_error(
        api.post(
            "/api/v1/channels",
            json={"name": "门店", "pool": {"staff_ids": [staff["zs"], staff["ww"]]}},
            headers=h,
        ),
        422,
        field="pool",
    )
    assert "ww" in json.dumps(err, ensure_ascii=False)
    made = api.post(
        "/api/v1/channels", json={"name": "门店", "pool": {"staff_ids": [staff["zs"]]}}, headers=h
    )
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    err = assert_error(
        api.patch(
            f"/api/v1/channels/{cid}",
            json={"pool": {"staff_ids": [staff["zs"], staff["ls"], 999_999]}},
            headers=h,
        ),
        422,
        field="pool",
    )
    text = json.dumps(err, ensure_ascii=False)
    assert "ls (deleted)" in text
    assert "999999" in text
    session.expire_all()
    ch = session.get(Channel, cid)
    assert ch is not None
    assert ch.pool["staff_ids"] == [staff["zs"]]

    # Permission granted in WeCom and synced: the pool is accepted.
    stack.sim.state.staff["ww"].has_permission = True
    cli("wecom", "sync", "--json")
    ok = api.patch(
        f"/api/v1/channels/{cid}", json={"pool": {"staff_ids": [staff["zs"], staff["ww"]]}}, headers=h
    )
    assert ok.status_code == 200, ok.text
