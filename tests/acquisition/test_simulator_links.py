"""The simulator's 获客助手 links as WeCom has them: create / update / list / get / delete,
the range checked, customer_channel back as the state (64 bytes), the paid quota."""

from __future__ import annotations

import pytest
from pydantic import Field

from siyu.acquisition.sync import LinkResponse, QuotaResponse
from siyu.wecom.client import WeComClient
from siyu.wecom.errors import WeComAPIError
from siyu.wecom.schemas import Response
from siyu.wecom.simulator import SimError, Simulator
from tests.wecom.sim_fixtures import simulator, wecom  # noqa: F401

EC = "externalcontact/customer_acquisition"


class ListResponse(Response):
    link_id_list: list[str] = Field(default_factory=list)
    next_cursor: str = ""


def test_links_quota_and_state(simulator: Simulator, wecom: WeComClient) -> None:  # noqa: F811
    sc = simulator.scenario
    simulator.state.config.acquisition_quota = 2
    sc.add_staff("a")
    sc.add_staff("b")
    sc.add_staff("np").has_permission = False
    with pytest.raises(WeComAPIError) as no_range:
        wecom.call(f"{EC}/create_link", LinkResponse, body={"link_name": "x", "range": {}})
    assert no_range.value.errcode == 40058
    with pytest.raises(WeComAPIError) as no_perm:
        wecom.call(f"{EC}/create_link", LinkResponse, body={"link_name": "x", "range": {"user_list": ["np"]}})
    assert no_perm.value.errcode == 60011
    made = wecom.call(
        f"{EC}/create_link", LinkResponse, body={"link_name": "抖音", "range": {"user_list": ["a"]}}
    )
    link_id, url = made.link["link_id"], made.link["url"]
    assert url.startswith("https://work.weixin.qq.com/ca/")
    wecom.call(f"{EC}/update_link", Response, body={"link_id": link_id, "range": {"user_list": ["b"]}})
    got = wecom.call(f"{EC}/get", LinkResponse, body={"link_id": link_id})
    assert got.link["link_name"] == "抖音"
    listed = wecom.call(f"{EC}/list_link", ListResponse, body={"limit": 100})
    assert listed.link_id_list == [link_id]

    long = "渠" * 30  # 90 bytes: WeCom keeps 64 (21 characters)
    ext = sc.new_customer("x")
    userid, code = sc.add_friend_via_link(ext, f"{url}?customer_channel={long}")
    assert userid == "b"
    assert code
    assert simulator.state.follows[("b", ext)].state == "渠" * 21
    quota = wecom.call("externalcontact/customer_acquisition_quota", QuotaResponse, method="GET")
    assert (quota.total, quota.balance) == (2, 1)
    # A customer already known to the corp uses no quota; a new one uses the last unit.
    sc.add_staff("c")
    wecom.call(f"{EC}/update_link", Response, body={"link_id": link_id, "range": {"user_list": ["c"]}})
    sc.add_friend_via_link(ext, f"{url}?customer_channel=again")
    sc.add_friend_via_link(sc.new_customer("y"), url)
    assert wecom.call("externalcontact/customer_acquisition_quota", QuotaResponse, method="GET").balance == 0
    with pytest.raises(SimError) as exhausted:
        sc.add_friend_via_link(sc.new_customer("z"), url)
    assert "quota" in exhausted.value.errmsg
    wecom.call(f"{EC}/delete_link", Response, body={"link_id": link_id})
    with pytest.raises(WeComAPIError):
        wecom.call(f"{EC}/get", LinkResponse, body={"link_id": link_id})
