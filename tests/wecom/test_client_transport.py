"""Exact token, retry and rate-limit behaviour of the WeCom client (MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.wecom.client import RateLimiter, TokenBucket, TokenCache, WeComClient
from siyu.wecom.errors import (
    InvalidCredential,
    InvalidToken,
    NoRelation,
    RateLimited,
    WeComAPIError,
    WeComNetworkError,
    error_for,
)

Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(handler: Handler, fake: FakeTime, **kw: object) -> WeComClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return WeComClient(
        corp_id="wwcorp",
        secret="s3cret",
        api_base="https://wecom.test",
        http=http,
        token_cache=TokenCache(),
        limiter=RateLimiter(clock=fake.clock, sleep=fake.sleep),
        clock=fake.clock,
        sleep=fake.sleep,
        **kw,  # type: ignore[arg-type]
    )


class Recorder:
    """A scripted WeCom: answers for gettoken and for the API, in call order."""

    def __init__(self, api_answers: list[dict[str, object] | Exception | int]) -> None:
        self.api_answers = list(api_answers)
        self.tokens_issued = 0
        self.api_calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/gettoken":
            assert request.url.params["corpid"] == "wwcorp"
            assert request.url.params["corpsecret"] == "s3cret"
            self.tokens_issued += 1
            return httpx.Response(
                200, json={"errcode": 0, "access_token": f"T{self.tokens_issued}", "expires_in": 7200}
            )
        self.api_calls.append(request)
        answer = self.api_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return httpx.Response(answer, text="oops")
        return httpx.Response(200, json=answer)


OK_USERS = {"errcode": 0, "errmsg": "ok", "follow_user": ["zhangsan", "lisi"]}


def test_token_is_fetched_once_and_reused_until_early_refresh() -> None:
    fake = FakeTime()
    rec = Recorder([OK_USERS] * 3)
    client = make_client(rec, fake)
    assert client.get_follow_user_list() == ["zhangsan", "lisi"]
    fake.now += 6000  # 100 minutes: still inside 7200 - 300
    client.get_follow_user_list()
    assert rec.tokens_issued == 1
    fake.now += 1000  # past expires_in - 300: refreshed before WeCom would refuse it
    client.get_follow_user_list()
    assert rec.tokens_issued == 2
    assert [r.url.params["access_token"] for r in rec.api_calls] == ["T1", "T1", "T2"]


@pytest.mark.parametrize("errcode", [40014, 42001])
def test_rejected_token_is_refetched_exactly_once(errcode: int) -> None:
    fake = FakeTime()
    rec = Recorder([{"errcode": errcode, "errmsg": "bad token"}, OK_USERS])
    client = make_client(rec, fake)
    assert client.get_follow_user_list() == ["zhangsan", "lisi"]
    assert rec.tokens_issued == 2
    assert [r.url.params["access_token"] for r in rec.api_calls] == ["T1", "T2"]


def test_token_rejected_twice_raises_without_hammering_gettoken() -> None:
    fake = FakeTime()
    rec = Recorder([{"errcode": 42001, "errmsg": "expired"}] * 2)
    client = make_client(rec, fake)
    with pytest.raises(InvalidToken) as info:
        client.get_follow_user_list()
    assert info.value.errcode == 42001
    assert "get_follow_user_list" in str(info.value)
    assert rec.tokens_issued == 2
    assert len(rec.api_calls) == 2


def test_bad_secret_is_a_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})

    with pytest.raises(InvalidCredential):
        make_client(handler, FakeTime()).get_follow_user_list()


@pytest.mark.parametrize(
    "failure",
    [
        {"errcode": -1, "errmsg": "system busy"},
        {"errcode": 45009, "errmsg": "api freq out of limit"},
        {"errcode": 45033, "errmsg": "api concurrent out of limit"},
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        502,
    ],
)
def test_transient_failures_are_retried_with_backoff(failure: object) -> None:
    fake = FakeTime()
    rec = Recorder([failure, failure, OK_USERS])  # type: ignore[list-item]
    client = make_client(rec, fake)
    assert client.get_follow_user_list() == ["zhangsan", "lisi"]
    assert len(rec.api_calls) == 3
    assert len(fake.sleeps) == 2
    # jittered exponential: attempt n waits within [0.1, 1] × 0.5 × 2**n
    assert 0.05 <= fake.sleeps[0] <= 0.5
    assert 0.1 <= fake.sleeps[1] <= 1.0


def test_retries_stop_after_three() -> None:
    fake = FakeTime()
    rec = Recorder([{"errcode": 45009, "errmsg": "freq"}] * 4)
    client = make_client(rec, fake)
    with pytest.raises(RateLimited) as info:
        client.get_follow_user_list()
    assert info.value.errcode == 45009
    assert len(rec.api_calls) == 4  # one try + 3 retries
    assert len(fake.sleeps) == 3

    rec2 = Recorder([httpx.ConnectError("down")] * 4)
    with pytest.raises(WeComNetworkError, match="unreachable after 3 retries"):
        make_client(rec2, FakeTime()).get_follow_user_list()


def test_other_errcodes_are_not_retried() -> None:
    fake = FakeTime()
    rec = Recorder([{"errcode": 84061, "errmsg": "not external contact"}])
    client = make_client(rec, fake)
    with pytest.raises(NoRelation):
        client.get_external_contact("wmXXXX")
    assert len(rec.api_calls) == 1
    assert fake.sleeps == []


def test_unexpected_answer_names_the_field() -> None:
    rec = Recorder([{"errcode": 0, "follow_user": "not-a-list"}])
    with pytest.raises(WeComAPIError, match="follow_user"):
        make_client(rec, FakeTime()).get_follow_user_list()


def test_request_bodies_are_wecom_json() -> None:
    rec = Recorder([{"errcode": 0, "external_contact_list": [], "next_cursor": ""}])
    client = make_client(rec, FakeTime())
    client.batch_get_by_user(["zhangsan"], cursor="abc", limit=50)
    sent = json.loads(rec.api_calls[0].content)
    assert sent == {"userid_list": ["zhangsan"], "cursor": "abc", "limit": 50}
    assert rec.api_calls[0].url.path == "/cgi-bin/externalcontact/batch/get_by_user"


def test_rate_limiter_waits_instead_of_breaching() -> None:
    fake = FakeTime()
    limiter = RateLimiter(per_minute=60, per_hour=1000, clock=fake.clock, sleep=fake.sleep)
    for _ in range(60):
        assert limiter.acquire("corp|api") == 0
    waited = limiter.acquire("corp|api")
    assert waited == pytest.approx(1.0)  # one token per second once the burst is spent
    assert limiter.acquire("corp|other") == 0  # separate budget per API


@given(
    capacity=st.integers(min_value=1, max_value=500),
    calls=st.integers(min_value=1, max_value=2000),
)
def test_bucket_never_allows_more_than_capacity_plus_refill(capacity: int, calls: int) -> None:
    fake = FakeTime()
    limiter = RateLimiter(per_minute=capacity, per_hour=10**9, clock=fake.clock, sleep=fake.sleep)
    start = fake.now
    for _ in range(calls):
        limiter.acquire("k")
    elapsed = fake.now - start
    assert calls <= capacity + elapsed * capacity / 60 + 1e-6


def test_bucket_refill_is_capped() -> None:
    bucket = TokenBucket(capacity=10, rate=1)
    bucket.take(0.0)
    assert bucket.wait_time(1000.0) == 0
    assert bucket.tokens == 10


def test_error_for_maps_codes() -> None:
    assert isinstance(error_for(84061, "x"), NoRelation)
    unknown = error_for(99999, "strange")
    assert type(unknown) is WeComAPIError
    assert unknown.errcode == 99999
