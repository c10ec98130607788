"""The simulator's live codes as WeCom has them: random among members, the friend limit,
the 20-second once-only welcome code, group codes' get / update / delete."""

from __future__ import annotations

import pytest

from siyu.wecom.client import WeComClient
from siyu.wecom.errors import WeComAPIError
from siyu.wecom.schemas import ContactWayRequest, JoinWayRequest, Response, Text, WelcomeMsgRequest
from siyu.wecom.simulator import SimError, Simulator
from tests.wecom.sim_fixtures import simulator, wecom  # noqa: F401


def test_multi_person_codes_route_at_random_and_skip_full_accounts(
    simulator: Simulator,  # noqa: F811
    wecom: WeComClient,  # noqa: F811
) -> None:
    sc = simulator.scenario
    sc.add_staff("a")
    sc.add_staff("b", customer_limit=3)
    code = wecom.add_contact_way(ContactWayRequest(type=2, scene=2, state="s", user=["a", "b"])).config_id
    served = [sc.add_friend(sc.new_customer(f"c{i}"), config_id=code)[0] for i in range(30)]
    assert served.count("b") == 3  # full after three: WeCom routes to the others
    single = wecom.add_contact_way(ContactWayRequest(type=1, scene=2, state="t", user=["b"])).config_id
    with pytest.raises(SimError) as refused:
        sc.add_friend(sc.new_customer("late"), config_id=single)
    assert refused.value.errcode == 41054


def test_welcome_code_is_valid_20_seconds_and_once(simulator: Simulator, wecom: WeComClient) -> None:  # noqa: F811
    sc = simulator.scenario
    sc.add_staff("a")
    _, code = sc.add_friend(sc.new_customer("x"), userid="a")
    wecom.send_welcome_msg(WelcomeMsgRequest(welcome_code=code or "", text=Text(content="hi")))
    with pytest.raises(WeComAPIError) as used:
        wecom.send_welcome_msg(WelcomeMsgRequest(welcome_code=code or "", text=Text(content="hi")))
    assert used.value.errcode == 41051
    _, late = sc.add_friend(sc.new_customer("y"), userid="a")
    simulator.state.clock.advance(21)
    with pytest.raises(WeComAPIError):
        wecom.send_welcome_msg(WelcomeMsgRequest(welcome_code=late or "", text=Text(content="hi")))


def test_group_codes_get_update_delete(simulator: Simulator, wecom: WeComClient) -> None:  # noqa: F811
    sc = simulator.scenario
    sc.add_staff("a")
    one, two = sc.create_group("a", "一群"), sc.create_group("a", "二群")
    config_id = wecom.add_join_way(JoinWayRequest(chat_id_list=[one], state="g"))
    got = wecom.call("externalcontact/groupchat/get_join_way", Response, body={"config_id": config_id})
    assert got.model_extra is not None
    assert got.model_extra["join_way"]["qr_code"]
    body = {"config_id": config_id, "chat_id_list": [one, two]}
    wecom.call("externalcontact/groupchat/update_join_way", Response, body=body)
    assert simulator.state.join_ways[config_id]["chat_id_list"] == [one, two]
    with pytest.raises(WeComAPIError):
        wecom.call(
            "externalcontact/groupchat/update_join_way", Response, body={**body, "chat_id_list": [one] * 6}
        )
    wecom.call("externalcontact/groupchat/del_join_way", Response, body={"config_id": config_id})
    assert config_id not in simulator.state.join_ways
