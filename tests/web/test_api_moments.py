"""``/api/v1/moments``: planning (operators), the week calendar (staff see their own), errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import session_scope
from siyu.kit.timeutil import local_day, utcnow
from siyu.models import Moment, Tag
from tests.web.api_world import assert_error, build_world, client


def test_plan_week_and_errors_through_the_api(env: Settings, session: Session) -> None:
    w = build_world()
    with session_scope() as s:  # VIP exists in WeCom; 新客 is siyu-only
        s.execute(update(Tag).where(Tag.id == w.tags["vip"]).values(wecom_tag_id="etVIP"))
    api = client()
    at = (utcnow() + timedelta(hours=3)).isoformat()
    body = {
        "planned_at": at,
        "staff": ["alice", "bob"],
        "text": "新品到店",
        "attachments": [{"kind": "link", "url": "https://shop.example.com/a", "title": "新品"}],
        "visible_tags": [str(w.tags["vip"])],
    }
    made = api.post("/api/v1/moments", json=body, headers=w.h("operator"))
    assert made.status_code == 201, made.text
    out = made.json()
    assert out["status"] == "planned"
    assert len(out["visible_tags"]) == 1  # by name
    assert {s["userid"] for s in out["senders"]} == {"alice", "bob"}

    # Staff may read, not plan.
    assert_error(api.post("/api/v1/moments", json=body, headers=w.h("alice")), 403)
    # Bad input: a clear error naming the field, nothing stored.
    assert_error(
        api.post("/api/v1/moments", json={**body, "text": "字" * 2001}, headers=w.h("operator")),
        422, field="text",
    )  # fmt: skip
    two = [{"kind": "link", "url": "https://a.example.com", "title": "a"}] * 2
    assert_error(
        api.post("/api/v1/moments", json={**body, "attachments": two}, headers=w.h("operator")),
        422, field="attachments",
    )  # fmt: skip
    siyu_only = {**body, "visible_tags": [str(w.tags["new"])]}
    err = assert_error(
        api.post("/api/v1/moments", json=siyu_only, headers=w.h("operator")),
        422, field="visible_tags",
    )  # fmt: skip
    assert "not in WeCom" in err["message"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Moment)) == 1

    # The week: both accounts have one planned moment today (or tomorrow, late at night).
    day = local_day(utcnow() + timedelta(hours=3))
    wk = api.get(f"/api/v1/moments/week?start={day.isoformat()}&days=1", headers=w.h("owner")).json()
    assert {s["userid"]: s["days"][0]["planned"] for s in wk["staff"]} == {"alice": 1, "bob": 1}
    assert wk["staff"][0]["days"][0]["flags"] == ["under"]
    assert wk["target"] == {"min": 3, "max": 5, "min_spacing_minutes": 60}
    # A staff user sees their own account only.
    mine = api.get(f"/api/v1/moments/week?start={day.isoformat()}&days=1", headers=w.h("alice")).json()
    assert [s["userid"] for s in mine["staff"]] == ["alice"]
    assert api.get(f"/api/v1/moments/{out['id']}", headers=w.h("alice")).status_code == 200

    # Cancel before it reaches WeCom.
    done = api.post(f"/api/v1/moments/{out['id']}/cancel", headers=w.h("operator"))
    assert done.json() == {"id": out["id"], "status": "cancelled"}
    assert_error(api.post(f"/api/v1/moments/{out['id']}/cancel", headers=w.h("operator")), 409)


def test_settings_through_the_api(env: Settings) -> None:
    w = build_world()
    api = client()
    assert api.get("/api/v1/moments/settings", headers=w.h("alice")).json()["moments_target_min"] == 3
    assert_error(
        api.put("/api/v1/moments/settings", json={"moments_target_min": 2}, headers=w.h("operator")), 403
    )
    got = api.put("/api/v1/moments/settings", json={"moments_target_max": 8}, headers=w.h("admin"))
    assert got.json()["moments_target_max"] == 8
    assert_error(
        api.put("/api/v1/moments/settings", json={"moments_target_min": 9}, headers=w.h("admin")),
        422, field="moments_target_min",
    )  # fmt: skip


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 64


def test_library_images_video_and_uploads_through_the_api(
    env: Settings, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIYU_CONTENT_DIR", str(tmp_path / "content"))
    w = build_world()
    api = client()
    op = w.h("operator")

    def upload(kind: str, name: str, data: bytes) -> Any:
        return api.post(
            "/api/v1/content/upload",
            data={"kind": kind, "folder": "朋友圈"},
            files={"file": (name, data)},
            headers=op,
        )

    images = []
    for n in range(10):
        r = upload("image", f"p{n}.png", PNG)
        assert r.status_code == 201, r.text
        images.append(r.json()["id"])
    assert r.json()["body"]["size"] == len(PNG)
    assert "stored_path" not in r.json()["body"]
    video = upload("video", "clip.mp4", MP4).json()["id"]
    assert_error(upload("image", "p.gif", PNG), 422, field="path")  # WeCom: JPG/PNG only
    assert_error(upload("video", "big.mp4", b"\0" * (10 * 1024 * 1024 + 1)), 422, field="path")
    assert_error(upload("link", "x.png", PNG), 422, field="path")  # a link has no file
    link = api.post(
        "/api/v1/content", json={"kind": "link", "title": "新品页", "body": {"url": "https://shop.example.com/n"}},
        headers=op,
    ).json()["id"]  # fmt: skip

    at = (utcnow() + timedelta(hours=3)).isoformat()
    base = {"planned_at": at, "staff": ["alice"], "text": "上新"}

    def plan(*ids: int) -> Any:
        atts = [{"kind": "content", "content_id": i} for i in ids]
        return api.post("/api/v1/moments", json={**base, "attachments": atts}, headers=op)

    nine = plan(*images[:9])
    assert nine.status_code == 201, nine.text
    assert [a["kind"] for a in nine.json()["attachments"]] == ["image"] * 9
    assert all("path" not in a for a in nine.json()["attachments"])
    (one,) = plan(video).json()["attachments"]
    assert (one["kind"], one["content_id"], one["size"]) == ("video", video, len(MP4))
    assert plan(link).json()["attachments"][0]["url"] == "https://shop.example.com/n"
    assert "at most 9 images" in assert_error(plan(*images), 422, field="attachments")["message"]
    assert "not a mix" in assert_error(plan(images[0], video), 422, field="attachments")["message"]
    assert_error(plan(video, video), 422, field="attachments")
    assert_error(plan(10**9), 404)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Moment)) == 3
