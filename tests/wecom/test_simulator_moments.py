# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters by name)
"""The simulated moments API keeps WeCom's rules: media types and sizes, attachments,
the 30-day window and its cursor, who may be asked for comments, publishing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.wecom.client.moments import MomentsClient
from siyu.wecom.errors import WeComAPIError
from siyu.wecom.simulator import Simulator
from siyu.wecom.simulator import moments as sim
from tests.wecom.sim_fixtures import client_for, simulator  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 32


@pytest.fixture
def gw(simulator: Simulator) -> Iterator[MomentsClient]:
    simulator.scenario.add_staff("zhangsan")
    simulator.scenario.add_staff("lisi")
    client = MomentsClient(client_for(simulator))
    yield client
    client.close()


def test_upload_checks_type_and_size(gw: MomentsClient) -> None:
    assert gw.upload_attachment("image", "a.png", PNG).startswith("att")
    assert gw.upload_attachment("video", "a.mp4", MP4)
    with pytest.raises(WeComAPIError, match="JPG or PNG"):
        gw.upload_attachment("image", "a.gif", b"GIF89a" + b"\0" * 10)
    with pytest.raises(WeComAPIError, match="at most 10 MB"):
        gw.upload_attachment("image", "big.png", PNG + b"\0" * (10 * 1024 * 1024))
    with pytest.raises(WeComAPIError, match="image or video"):
        gw.upload_attachment("file", "a.pdf", b"%PDF")


def test_attachments_rule_and_media_ids(gw: MomentsClient) -> None:
    img = gw.upload_attachment("image", "a.png", PNG)
    vid = gw.upload_attachment("video", "a.mp4", MP4)
    senders = {"sender_list": {"user_list": ["zhangsan"]}}
    images = [{"msgtype": "image", "image": {"media_id": img}}]
    with pytest.raises(WeComAPIError, match="9 images, or 1 video, or 1 link"):
        gw.add_moment_task({"attachments": images * 10, "visible_range": senders})
    with pytest.raises(WeComAPIError, match="9 images, or 1 video, or 1 link"):
        gw.add_moment_task(
            {
                "attachments": [*images, {"msgtype": "video", "video": {"media_id": vid}}],
                "visible_range": senders,
            }
        )
    with pytest.raises(WeComAPIError, match="invalid media_id"):
        gw.add_moment_task({"attachments": [{"msgtype": "image", "image": {"media_id": "nope"}}]})
    with pytest.raises(WeComAPIError, match="longer than 2000"):
        gw.add_moment_task({"text": {"content": "字" * 2001}})
    assert gw.add_moment_task({"attachments": images * 9, "visible_range": senders})


def test_publishing_comments_and_list_window(simulator: Simulator, gw: MomentsClient) -> None:
    sc = simulator.scenario
    ext = sc.new_customer("王芳")
    sc.add_friend(ext, userid="zhangsan")
    job = gw.add_moment_task(
        {"text": {"content": "新品"}, "visible_range": {"sender_list": {"user_list": ["zhangsan", "lisi"]}}}
    )
    assert gw.get_moment_task_result(job).status == 2
    result = gw.get_moment_task_result(job).result
    assert result is not None
    assert result.moment_id
    mid = result.moment_id
    assert {(t.userid, t.publish_status) for t in gw.get_moment_task(mid)} == {("lisi", 0), ("zhangsan", 0)}
    with pytest.raises(Exception, match="has not published"):
        sim.like_moment(simulator.state, mid, "zhangsan", ext)
    sim.publish_moment(simulator.state, mid, "zhangsan")
    assert {(t.userid, t.publish_status) for t in gw.get_moment_task(mid)} == {("lisi", 0), ("zhangsan", 1)}
    sim.like_moment(simulator.state, mid, "zhangsan", ext)
    sim.like_moment(simulator.state, mid, "zhangsan", ext)  # a like is on or off
    sim.comment_moment(simulator.state, mid, "zhangsan", ext)
    got = gw.get_moment_comments(mid, "zhangsan")
    assert [r.external_userid for r in got.like_list] == [ext]
    assert [r.external_userid for r in got.comment_list] == [ext]
    assert not hasattr(got.comment_list[0], "content")  # WeCom gives no comment text
    with pytest.raises(Exception, match="not external contact"):
        sim.like_moment(simulator.state, mid, "zhangsan", sc.new_customer("陌生人"))  # not a friend
    # Personal moments too; the list pages by cursor, 20 at a time, within 30 days.
    now = simulator.state.now()
    for i in range(25):
        sim.post_moment(simulator.state, "lisi", f"#{i}", at=now - 86400 - i)
    seen = list(gw.iter_moment_list(now - 5 * 86400, now))
    assert len(seen) == 26
    assert sum(1 for m in seen if m.create_type == 1) == 25
    with pytest.raises(WeComAPIError, match="within 30 days"):
        list(gw.iter_moment_list(now - 31 * 86400, now))


def test_several_scenario_actions_in_one_request_run_in_order_and_stop_at_the_first_failure(
    simulator: Simulator, gw: MomentsClient
) -> None:
    import httpx

    url = f"{simulator.url}/_sim/actions"  # type: ignore[attr-defined]
    ext = simulator.scenario.new_customer("王芳", external_userid="wmBATCH01")
    simulator.scenario.add_friend(ext, userid="zhangsan")
    steps = [
        {"name": "post_moment", "args": {"userid": "zhangsan", "text": "早安", "moment_id": "momBATCH"}},
        {"name": "like_moment", "args": {"moment_id": "momBATCH", "userid": "zhangsan", "who": ext}},
        {"name": "comment_moment", "args": {"moment_id": "momBATCH", "userid": "zhangsan", "who": ext}},
    ]
    answer = httpx.post(url, json=steps)
    assert answer.status_code == 200
    assert answer.json()["results"][0] == "momBATCH"
    got = gw.get_moment_comments("momBATCH", "zhangsan")
    assert [r.external_userid for r in got.like_list] == [ext]
    assert [r.external_userid for r in got.comment_list] == [ext]

    # the second step fails: the first ran, the third did not, and the answer says which
    bad = [
        {"name": "post_moment", "args": {"userid": "zhangsan", "text": "午安", "moment_id": "momBATCH2"}},
        {"name": "like_moment", "args": {"moment_id": "momBATCH2", "userid": "zhangsan", "nope": 1}},
        {"name": "like_moment", "args": {"moment_id": "momBATCH2", "userid": "zhangsan", "who": ext}},
    ]
    answer = httpx.post(url, json=bad)
    assert answer.status_code == 422
    body = answer.json()
    assert body["index"] == 1
    assert "like_moment" in body["error"]
    assert body["results"] == ["momBATCH2"]
    assert gw.get_moment_comments("momBATCH2", "zhangsan").like_list == []
    unknown = httpx.post(url, json=[{"name": "no_such_action", "args": {}}])
    assert unknown.status_code == 404
    assert unknown.json()["index"] == 0
