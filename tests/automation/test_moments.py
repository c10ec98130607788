# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters by name)
"""The moments calendar end to end: plan → task at its time → publish → reminder → likes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import Settings, get_settings
from siyu.kit.timeutil import moved_clock
from siyu.models import (
    AuditLog,
    CustomerStats,
    Event,
    Follow,
    Job,
    Moment,
    MomentInteraction,
    MomentSender,
    Staff,
    StaffTask,
)
from siyu.wecom.schemas import AddCorpTagRequest, MarkTagRequest, NewTag
from siyu.wecom.simulator import Simulator
from siyu.wecom.simulator import moments as sim_moments
from tests.conftest import CliRun
from tests.wecom.sim_fixtures import client_for, simulator  # noqa: F401

T0 = datetime.fromtimestamp(1_760_000_000, UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 64


@pytest.fixture
def wecom_env(env: Settings, simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    monkeypatch.setenv("SIYU_WECOM_CORP_ID", simulator.config.corp_id)
    monkeypatch.setenv("SIYU_WECOM_SECRET", simulator.config.secret)
    monkeypatch.setenv("SIYU_WECOM_API_BASE", simulator.url)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    return simulator


class Clocks:
    """siyu's clock and the simulator's, moved together."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._cm = moved_clock(T0)
        self._advance = self._cm.__enter__()
        # The simulator's clock runs on from T0 as well.
        sim.state.clock.frozen = True
        sim.state.clock.offset = T0.timestamp()

    def advance(self, delta: timedelta) -> None:
        self._advance(delta)
        self.sim.state.clock.advance(delta.total_seconds())

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


@pytest.fixture
def world(cli: CliRun, wecom_env: Simulator) -> Iterator[dict[str, object]]:
    """Two staff; a and b friends of zhangsan (a tagged VIP), c a friend of lisi; synced."""
    clocks = Clocks(wecom_env)
    sc = wecom_env.scenario
    sc.add_staff("zhangsan", "张三")
    sc.add_staff("lisi", "李四")
    a, b, c = sc.new_customer("王芳"), sc.new_customer("李雷"), sc.new_customer("韩梅")
    sc.add_friend(a, userid="zhangsan")
    sc.add_friend(b, userid="zhangsan")
    sc.add_friend(c, userid="lisi")
    api = client_for(wecom_env)
    vip = api.add_corp_tag(AddCorpTagRequest(group_name="客户等级", tag=[NewTag(name="VIP")])).tag[0].id
    api.mark_tag(MarkTagRequest(userid="zhangsan", external_userid=a, add_tag=[vip]))
    api.close()
    cli("wecom", "sync", "--json")
    yield {"sim": wecom_env, "clocks": clocks, "a": a, "b": b, "c": c, "vip": vip}
    clocks.close()


def drain() -> None:
    from siyu.kit.db import session_factory
    from siyu.worker.service import Runner

    summary = Runner(session_factory(), periodic=False).drain()
    assert not summary.errors, summary.errors


def test_plan_create_publish_remind_and_fetch_reactions(
    cli: CliRun, session: Session, workspace_id: int, world: dict[str, object]
) -> None:
    sim: Simulator = world["sim"]  # type: ignore[assignment]
    clocks: Clocks = world["clocks"]  # type: ignore[assignment]
    store = sim_moments.store(sim.state)
    # T0 is 2025-10-09 08:53 UTC (16:53 in Shanghai): plan for 03:00 local the next night.
    out = json.loads(
        cli(
            "moments",
            "plan",
            "--at",
            "2025-10-10 03:00",
            "--staff",
            "zhangsan",
            "--staff",
            "lisi",
            "--text",
            "秋季新品上架",
            "--link",
            "https://shop.example.com/new",
            "--link-title",
            "新品",
            "--json",
        ).stdout
    )
    assert out["status"] == "planned"
    assert {s["userid"] for s in out["senders"]} == {"zhangsan", "lisi"}
    planned_at = datetime.fromisoformat(out["planned_at"])
    assert planned_at == datetime(2025, 10, 9, 19, 0, tzinfo=UTC)

    drain()  # not due yet: WeCom is not called before the planned time
    assert store.jobs == {}
    clocks.advance(planned_at - T0)
    drain()
    session.expire_all()
    m = session.get(Moment, out["id"])
    assert m is not None
    assert m.status == "created"
    assert m.wecom_jobid in store.jobs
    # The job is still processing at the first look, done at the next one.
    clocks.advance(timedelta(seconds=4))
    drain()
    clocks.advance(timedelta(seconds=6))
    drain()
    session.expire_all()
    assert m.status == "ready"
    assert m.wecom_moment_id in store.moments
    sim_moment = store.moments[m.wecom_moment_id]
    assert set(sim_moment.senders) == {"zhangsan", "lisi"}
    assert sim_moment.attachments[0]["link"]["url"] == "https://shop.example.com/new"

    # zhangsan publishes at once; lisi does not, and is reminded two hours later.
    sim_moments.publish_moment(sim.state, m.wecom_moment_id, "zhangsan")
    first = json.loads(cli("moments", "sync", "--json").stdout)
    assert first["publishing"] == {"moments": 1, "published": 1, "reminded": 0}
    clocks.advance(timedelta(hours=2, minutes=1))
    second = json.loads(cli("moments", "sync", "--json").stdout)
    assert second["publishing"]["reminded"] == 1
    assert json.loads(cli("moments", "sync", "--json").stdout)["publishing"]["reminded"] == 0
    session.expire_all()
    lisi = session.scalar(select(Staff).where(Staff.userid == "lisi"))
    assert lisi is not None
    tasks = list(session.scalars(select(StaffTask).where(StaffTask.kind == "moment_publish")))
    assert [(t.staff_id, t.status, t.source_ref) for t in tasks] == [(lisi.id, "open", str(m.id))]

    # Customers react to zhangsan's copy; siyu fetches who and when.
    a, b = str(world["a"]), str(world["b"])
    sim_moments.like_moment(sim.state, m.wecom_moment_id, "zhangsan", a)
    clocks.advance(timedelta(minutes=5))
    sim_moments.comment_moment(sim.state, m.wecom_moment_id, "zhangsan", b)
    sim_moments.like_moment(sim.state, m.wecom_moment_id, "zhangsan", "lisi")  # a colleague: not a customer
    got = json.loads(cli("moments", "sync", "--json").stdout)["results"]
    assert (got["likes"], got["comments"], got["customers_touched"]) == (1, 1, 2)
    again = json.loads(cli("moments", "sync", "--json").stdout)["results"]
    assert (again["likes"], again["comments"]) == (0, 0)
    session.expire_all()
    rows = session.execute(
        select(MomentInteraction.kind, Follow.external_userid, MomentInteraction.occurred_at)
        .join(Follow, Follow.customer_id == MomentInteraction.customer_id)
        .order_by(MomentInteraction.occurred_at)
    ).all()
    like_at = planned_at + timedelta(seconds=10, hours=2, minutes=1)
    assert [(k, e) for k, e, _ in rows] == [("like", a), ("comment", b)]
    assert rows[0][2] == like_at
    events = session.execute(select(Event.kind, Event.occurred_at).where(Event.kind.like("moment.%"))).all()
    assert sorted(k for k, _ in events) == ["moment.comment", "moment.like"]
    last = dict(
        session.execute(
            select(Follow.external_userid, CustomerStats.last_interaction_at).join(
                CustomerStats, CustomerStats.customer_id == Follow.customer_id
            )
        ).all()
    )
    assert last[a] == like_at
    assert last[b] == like_at + timedelta(minutes=5)
    listed = json.loads(cli("moments", "interactions", "--json").stdout)
    assert [r["kind"] for r in listed] == ["comment", "like"]

    # lisi publishes later: the reminder closes itself.
    sim_moments.publish_moment(sim.state, m.wecom_moment_id, "lisi")
    cli("moments", "sync", "--json")
    session.expire_all()
    task = session.scalars(select(StaffTask)).one()
    assert (task.status, task.done_how) == ("done", "detected")
    senders = session.scalars(select(MomentSender).where(MomentSender.moment_id == m.id)).all()
    assert {s.status for s in senders} == {"published"}

    # The week view shows both published moments on the day (local) they were published.
    week = json.loads(cli("moments", "week", "--start", "2025-10-10", "--json").stdout)
    by_user = {s["userid"]: s["days"][0] for s in week["staff"]}
    assert by_user["zhangsan"]["published"] == 1
    assert by_user["zhangsan"]["flags"] == ["under"]
    assert by_user["lisi"]["published"] == 1
    assert week["staff"][0]["days"][1]["flags"] == ["gap"]
    zhang = next(s for s in week["staff"] if s["userid"] == "zhangsan")
    assert (zhang["likes"], zhang["comments"]) == (1, 1)
    # The human forms read too.
    assert "published + still planned" in cli("moments", "week", "--start", "2025-10-10").stdout
    assert "zhangsan: published" in cli("moments", "show", m.id).stdout
    assert "comment" in cli("moments", "interactions").stdout
    assert "newly published" in cli("moments", "sync").stdout


def test_rate_limit_ten_tasks_a_minute_the_rest_wait(
    cli: CliRun, session: Session, workspace_id: int, world: dict[str, object]
) -> None:
    sim: Simulator = world["sim"]  # type: ignore[assignment]
    clocks: Clocks = world["clocks"]  # type: ignore[assignment]
    store = sim_moments.store(sim.state)
    for i in range(12):
        cli("moments", "plan", "--at", "2025-10-10 03:00", "--staff", "zhangsan", "--text", f"第{i}条")
    clocks.advance(datetime(2025, 10, 9, 19, 0, tzinfo=UTC) - T0)
    drain()
    assert len(store.jobs) == 10
    session.expire_all()
    statuses = sorted(session.scalars(select(Moment.status)))
    assert statuses.count("planned") == 2
    clocks.advance(timedelta(seconds=62))
    drain()
    assert len(store.jobs) == 12
    session.expire_all()
    assert "planned" not in set(session.scalars(select(Moment.status)))


def test_simulator_refuses_an_eleventh_task_in_a_minute(world: dict[str, object]) -> None:
    from siyu.wecom.client.moments import MomentsClient
    from siyu.wecom.errors import RateLimited

    sim: Simulator = world["sim"]  # type: ignore[assignment]
    gw = MomentsClient(client_for(sim))
    body = {"text": {"content": "x"}, "visible_range": {"sender_list": {"user_list": ["zhangsan"]}}}
    for _ in range(10):
        gw.add_moment_task(body)
    with pytest.raises(RateLimited):
        gw.add_moment_task(body)
    world["clocks"].advance(timedelta(seconds=61))  # type: ignore[attr-defined]
    assert gw.add_moment_task(body)
    gw.close()


def _files(tmp: Path, n: int, data: bytes, suffix: str) -> list[str]:
    out = []
    for i in range(n):
        p = tmp / f"f{i}{suffix}"
        p.write_bytes(data)
        out += ["--image" if suffix == ".png" else "--video", str(p)]
    return out


@pytest.mark.parametrize(
    ("case", "field_words"),
    [
        ("long_text", "at most 2000 characters"),
        ("ten_images", "at most 9 images"),
        ("image_and_video", "not a mix"),
        ("not_png", "is not a JPG or PNG"),
        ("untagged_in_wecom", "'只买过一次' is not in WeCom"),
        ("unknown_staff", "no staff account 'ghost'"),
        ("past", "planned_at is in the past"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    cli: CliRun, session: Session, workspace_id: int, world: dict[str, object], tmp_path: Path,
    case: str, field_words: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from siyu.automation.moments import service
    from siyu.customers.tags import ensure_tag
    from siyu.kit.db import session_scope

    # A siyu-only tag is pushed to WeCom when it can be (see the test further down);
    # refused when the push has nowhere to go (no WeCom connection).
    monkeypatch.setattr(service, "TAG_PUSH", lambda *_: False)

    with session_scope() as s:
        ensure_tag(s, workspace_id=workspace_id, name="只买过一次")  # siyu-only: no WeCom id
    base = ["moments", "plan", "--at", "2025-10-10 03:00", "--staff", "zhangsan"]
    args = {
        "long_text": ["--text", "字" * 2001],
        "ten_images": ["--text", "x", *_files(tmp_path, 10, PNG, ".png")],
        "image_and_video": [
            "--text",
            "x",
            *_files(tmp_path, 1, PNG, ".png"),
            *_files(tmp_path, 1, MP4, ".mp4"),
        ],
        "not_png": ["--text", "x", "--image", str(tmp_path / "x.png")],
        "untagged_in_wecom": ["--text", "x", "--tag", "只买过一次"],
        "unknown_staff": ["--text", "x", "--staff", "ghost"],
        "past": ["--text", "x"],
    }[case]
    if case == "not_png":
        (tmp_path / "x.png").write_bytes(b"GIF89a" + b"\0" * 10)
    if case == "past":
        base[3] = "2025-10-09 09:00"
    result = cli(*base, *args, expect=2)
    assert field_words in " ".join(result.stderr.split())
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Moment)) == 0
    assert session.scalar(select(func.count()).select_from(MomentSender)) == 0
    assert session.scalar(select(func.count()).select_from(Job).where(Job.kind.like("moments.%"))) == 0
    assert (
        session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "moment.plan"))
        == 0
    )


def test_images_are_uploaded_and_visibility_tags_go_to_wecom(
    cli: CliRun, session: Session, workspace_id: int, world: dict[str, object], tmp_path: Path
) -> None:
    sim: Simulator = world["sim"]  # type: ignore[assignment]
    clocks: Clocks = world["clocks"]  # type: ignore[assignment]
    store = sim_moments.store(sim.state)
    images = _files(tmp_path, 3, PNG, ".png")
    out = json.loads(
        cli(
            "moments",
            "plan",
            "--at",
            "2025-10-10 02:00",
            "--staff",
            "zhangsan",
            "--text",
            "只给VIP看",
            "--tag",
            "VIP",
            *images,
            "--json",
        ).stdout
    )
    assert out["visible_tags"] == ["VIP"]
    assert [s["reach"] for s in out["senders"]] == [1]  # zhangsan's one VIP friend
    clocks.advance(datetime.fromisoformat(out["planned_at"]) - T0)
    drain()
    assert len(store.media) == 3
    (moment,) = store.moments.values()
    assert moment.tag_list == [world["vip"]]
    assert [a["msgtype"] for a in moment.attachments] == ["image"] * 3
    # A moment not yet handed to WeCom can be cancelled; a created one cannot.
    later = json.loads(
        cli(
            "moments", "plan", "--at", "2025-10-11 09:00", "--staff", "lisi", "--text", "明天", "--json"
        ).stdout
    )
    assert json.loads(cli("moments", "cancel", later["id"], "--json").stdout)["status"] == "cancelled"
    refused = cli("moments", "cancel", out["id"], expect=2)
    assert "only a planned moment can be cancelled" in " ".join(refused.stderr.split())


def test_personal_moments_and_their_reactions_come_in_too(
    cli: CliRun, session: Session, workspace_id: int, world: dict[str, object]
) -> None:
    sim: Simulator = world["sim"]  # type: ignore[assignment]
    c = str(world["c"])
    mid = sim_moments.post_moment(sim.state, "lisi", "自己发的", at=int(T0.timestamp()) - 3 * 86400)
    sim_moments.comment_moment(sim.state, mid, "lisi", c, at=int(T0.timestamp()) - 2 * 86400)
    got = json.loads(cli("moments", "sync", "--json").stdout)["results"]
    assert (got["moments_new"], got["comments"]) == (1, 1)
    session.expire_all()
    m = session.scalars(select(Moment)).one()
    assert (m.origin, m.status, m.text) == ("personal", "ready", "自己发的")
    week = json.loads(
        cli("moments", "week", "--start", "2025-10-06", "--days", "3", "--staff", "lisi", "--json").stdout
    )
    assert [d["published"] for d in week["staff"][0]["days"]] == [1, 0, 0]


def test_cadence_settings_change_the_flags(cli: CliRun, session: Session, workspace_id: int) -> None:
    out = json.loads(cli("moments", "settings", "--json").stdout)
    assert out["moments_target_min"] == 3
    assert out["moments_target_max"] == 5
    changed = json.loads(
        cli("moments", "settings", "--target-min", "1", "--target-max", "2", "--json").stdout
    )
    assert (changed["moments_target_min"], changed["moments_target_max"]) == (1, 2)
    bad = cli("moments", "settings", "--target-min", "4", expect=2)
    assert "minimum is above its maximum" in bad.stderr
    week = json.loads(cli("moments", "week", "--json").stdout)
    assert week["target"]["min"] == 1


def test_material_from_the_content_library(
    cli: CliRun, session: Session, workspace_id: int, world: dict[str, object], tmp_path: Path
) -> None:
    from siyu.automation.content import create_content
    from siyu.kit.db import session_scope

    sim: Simulator = world["sim"]  # type: ignore[assignment]
    clocks: Clocks = world["clocks"]  # type: ignore[assignment]
    video = tmp_path / "clip.mp4"
    video.write_bytes(MP4)
    with session_scope() as s:
        script = create_content(
            s, workspace_id=workspace_id, kind="script", title="话术", text="秋冬护肤三步走"
        )
        clip = create_content(
            s, workspace_id=workspace_id, kind="video", title="教程", body={"path": str(video)}
        )
        ids = (script.id, clip.id)
    bad = cli(
        "moments", "plan", "--at", "2025-10-10 03:00", "--staff", "zhangsan", "--content", ids[0], expect=2
    )
    assert "is a script" in " ".join(bad.stderr.split())
    out = json.loads(
        cli(
            "moments",
            "plan",
            "--at",
            "2025-10-10 03:00",
            "--staff",
            "zhangsan",
            "--text-from",
            ids[0],
            "--content",
            ids[1],
            "--json",
        ).stdout
    )
    assert out["text"] == "秋冬护肤三步走"
    assert out["attachments"] == [
        {"kind": "video", "content_id": ids[1], "name": "clip.mp4", "size": len(MP4)}
    ]
    clocks.advance(datetime.fromisoformat(out["planned_at"]) - T0)
    drain()
    (moment,) = sim_moments.store(sim.state).moments.values()
    assert moment.text == "秋冬护肤三步走"
    assert [a["msgtype"] for a in moment.attachments] == ["video"]


def test_tag_push_seam_is_called_before_a_siyu_only_tag_is_refused(
    cli: CliRun,
    session: Session,
    workspace_id: int,
    world: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from siyu.automation.moments import service
    from siyu.customers.tags import ensure_tag
    from siyu.kit.db import session_scope

    with session_scope() as s:
        ensure_tag(s, workspace_id=workspace_id, name="未购买")
    calls: list[tuple[str, list[str]]] = []

    def push(s: Session, ws: int, tags: object, senders: object) -> None:
        for t in tags:  # type: ignore[attr-defined]
            calls.append((t.name, list(senders)))  # type: ignore[call-overload]
            t.wecom_tag_id = "etPUSHED"

    monkeypatch.setattr(service, "TAG_PUSH", push)
    out = json.loads(
        cli(
            "moments",
            "plan",
            "--at",
            "2025-10-10 03:00",
            "--staff",
            "zhangsan",
            "--text",
            "x",
            "--tag",
            "未购买",
            "--json",
        ).stdout
    )
    assert calls == [("未购买", ["zhangsan"])]
    assert out["visible_tags"] == ["未购买"]


class _Crash(BaseException):
    """The worker killed mid-job (not an error any handler catches)."""


@pytest.mark.parametrize("after_call", [True, False])
def test_a_worker_killed_mid_call_never_calls_twice(
    cli: CliRun, session: Session, workspace_id: int, world: dict[str, object], after_call: bool
) -> None:
    from siyu.automation.moments.wecom import create_task
    from siyu.kit.db import session_factory
    from siyu.wecom.client.moments import MomentsClient

    sim: Simulator = world["sim"]  # type: ignore[assignment]
    store = sim_moments.store(sim.state)
    out = json.loads(
        cli(
            "moments",
            "plan",
            "--at",
            "2025-10-09 17:00",
            "--staff",
            "zhangsan",
            "--text",
            "断电测试",
            "--json",
        ).stdout
    )
    real = MomentsClient(client_for(sim))

    class Dying:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def add_moment_task(self, body: dict[str, object]) -> str:
            if after_call:
                real.add_moment_task(body)
            raise _Crash

    with pytest.raises(_Crash):
        create_task(session_factory(), workspace_id=workspace_id, moment_id=out["id"], gateway=Dying())  # type: ignore[arg-type]
    session.expire_all()
    assert session.scalar(select(Moment.status)) == "creating"
    # The job runs again (the worker restarted): it looks WeCom up instead of calling again.
    got = create_task(session_factory(), workspace_id=workspace_id, moment_id=out["id"], gateway=real)
    real.close()
    session.expire_all()
    m = session.scalars(select(Moment)).one()
    if after_call:
        assert len(store.moments) == 1
        assert got == {"recovered": m.wecom_moment_id}
        assert m.status == "ready"
        assert m.wecom_moment_id in store.moments
    else:
        assert store.moments == {}
        assert m.status == "failed"
        assert "plan it again" in (m.error or "")


def test_the_worker_periodic_tasks_track_and_fetch(
    session: Session, workspace_id: int, world: dict[str, object]
) -> None:
    from siyu.kit.db import session_factory
    from siyu.kit.ops import discover

    sim: Simulator = world["sim"]  # type: ignore[assignment]
    mid = sim_moments.post_moment(sim.state, "zhangsan", "自己发的", at=int(T0.timestamp()) - 3600)
    sim_moments.like_moment(sim.state, mid, "zhangsan", str(world["a"]))
    tasks = discover().periodic
    fetched = tasks["moments.fetch"].fn(session_factory())
    assert fetched is not None
    assert fetched["default"]["likes"] == 1
    tracked = tasks["moments.track"].fn(session_factory())
    assert tracked is not None
    assert tracked["default"] == {"moments": 0, "published": 0, "reminded": 0}
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(MomentInteraction)) == 1


def test_a_siyu_only_visibility_tag_is_pushed_and_the_moment_waits_for_it(
    cli: CliRun,
    session: Session,
    workspace_id: int,
    world: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tag siyu made is created in WeCom and marked on the senders' relations before the
    moment goes out; while WeCom lacks it the moment waits (saying why), then fails visibly."""
    from siyu.customers.tags import add_tags, ensure_tag
    from siyu.kit.db import session_scope
    from siyu.models import Tag
    from siyu.wecom.simulator.handlers import HANDLERS
    from siyu.wecom.simulator.state import SimError

    sim: Simulator = world["sim"]  # type: ignore[assignment]
    clocks: Clocks = world["clocks"]  # type: ignore[assignment]
    store = sim_moments.store(sim.state)
    b = str(world["b"])
    real_add = HANDLERS["externalcontact/add_corp_tag"]

    def refuse(state: object, q: dict[str, str], body: dict[str, object]) -> dict[str, object]:
        raise SimError(48002, "api forbidden")

    monkeypatch.setitem(HANDLERS, "externalcontact/add_corp_tag", refuse)
    with session_scope() as s:
        tag = ensure_tag(s, workspace_id=workspace_id, name="复购意向")
        cid = s.scalar(select(Follow.customer_id).where(Follow.external_userid == b))
        assert cid is not None
        add_tags(s, workspace_id=workspace_id, customer_ids=[cid], tag_ids=[tag.id], source="manual")
        tag_id = tag.id

    def run() -> None:  # the refused tag pushes fail on purpose: no error check
        from siyu.kit.db import session_factory
        from siyu.worker.service import Runner

        Runner(session_factory(), periodic=False).drain()

    def plan(at: str) -> dict[str, object]:
        args = ["--at", at, "--staff", "zhangsan", "--text", "老客回购", "--tag", "复购意向", "--json"]
        out = cli("moments", "plan", *args).stdout
        return dict(json.loads(out))

    # WeCom refuses the tag for now: the moment is accepted, and at its time it waits.
    first = plan("2025-10-09 17:30")
    assert first["status"] == "planned"
    clocks.advance(timedelta(minutes=40))
    run()
    session.expire_all()
    m = session.get(Moment, first["id"])
    assert m is not None
    assert m.status == "planned"
    assert "waiting for visibility tag(s) 复购意向" in (m.error or "")
    assert store.jobs == {}
    # Still missing half an hour past its time: failed, with the reason.
    clocks.advance(timedelta(minutes=35))
    run()
    session.expire_all()
    m = session.get(Moment, first["id"])
    assert m is not None
    assert m.status == "failed"
    assert "never reached WeCom" in (m.error or "")

    # WeCom accepts it again: the tag goes to WeCom, onto zhangsan's relation with b, and
    # the next moment is created limited to it.
    monkeypatch.setitem(HANDLERS, "externalcontact/add_corp_tag", real_add)
    second = plan("2025-10-09 19:00")
    clocks.advance(timedelta(minutes=90))
    run()
    run()
    session.expire_all()
    wid = session.get(Tag, tag_id).wecom_tag_id  # type: ignore[union-attr]
    assert wid
    assert wid in sim.state.follows[("zhangsan", b)].tags
    m = session.get(Moment, second["id"])
    assert m is not None
    assert m.status in ("created", "published"), m.error
    assert store.moments[store.jobs[m.wecom_jobid or ""]["moment_id"]].tag_list == [wid]
