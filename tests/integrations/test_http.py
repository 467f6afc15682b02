"""The HTTP helper against a real loopback server: timeouts always, bounded retries, permanent vs transient."""

import socket

import pytest
import requests

from integrations.fakeserver import Fail, FakeService, Reply
from integrations.http import HttpClient, ProviderError, retry_after_seconds


class Echo(FakeService):
    name = "echo"

    def __init__(self):
        super().__init__()
        self.answer: Fail | None = None

    def route(self, request):
        if self.answer is not None:
            raise self.answer
        return Reply(200, {"ok": True, "path": request.path})


@pytest.fixture
def echo():
    with Echo() as fake:
        yield fake


def client(url, *, sleeps=None, **kwargs):
    options = {"timeout": 2, "retries": 2, "backoff_seconds": 0.5}
    options.update(kwargs)
    return HttpClient("echo", url, sleep=(sleeps.append if sleeps is not None else lambda s: None), **options)


def test_it_returns_the_answer_and_always_sets_the_timeout(echo):
    seen = []

    class Spy(requests.Session):
        def request(self, method, url, **kwargs):
            seen.append(kwargs.get("timeout"))
            return super().request(method, url, **kwargs)

    http = HttpClient("echo", echo.url, timeout=3, session=Spy())
    assert http.request("GET", "/ping", timeout=None).json() == {"ok": True, "path": "/ping"}
    assert seen == [3]  # the caller's timeout=None did not switch it off


def test_it_takes_the_timeout_from_settings(settings, echo):
    settings.HTTP_TIMEOUT_SECONDS = 7
    assert HttpClient("echo", echo.url).timeout == 7


def test_it_retries_5xx_with_growing_jittered_backoff_then_succeeds(echo):
    sleeps = []
    echo.fail_next(2, status=503)
    assert client(echo.url, sleeps=sleeps).request("POST", "/rooms", json={}).status_code == 200
    assert len(echo.requests) == 3
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_it_gives_up_after_the_bounded_retries_with_a_transient_error(echo):
    echo.fail_next(10, status=500)
    with pytest.raises(ProviderError) as caught:
        client(echo.url).request("GET", "/rooms")
    assert len(echo.requests) == 3
    assert caught.value.status == 500 and not caught.value.permanent
    assert "echo GET /rooms answered 500" in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_it_does_not_retry_a_4xx_and_calls_it_permanent(echo, status):
    echo.answer = Fail(status, {"code": status, "message": "nope"})
    with pytest.raises(ProviderError) as caught:
        client(echo.url).request("GET", "/rooms")
    assert len(echo.requests) == 1
    assert caught.value.permanent and caught.value.status == status and caught.value.detail == "nope"


def test_it_honours_a_short_retry_after_on_429(echo):
    sleeps = []
    echo.fail_next(1, status=429, headers={"Retry-After": "3"})
    assert client(echo.url, sleeps=sleeps, max_retry_after_seconds=10).request("GET", "/x").status_code == 200
    assert sleeps == [3.0]


def test_it_does_not_sleep_through_a_long_retry_after(echo):
    sleeps = []
    echo.fail_next(1, status=429, headers={"Retry-After": "3600"})
    with pytest.raises(ProviderError) as caught:
        client(echo.url, sleeps=sleeps, max_retry_after_seconds=10).request("GET", "/x")
    assert sleeps == [] and len(echo.requests) == 1
    assert caught.value.retry_after == 3600 and not caught.value.permanent


def test_give_up_makes_a_transient_answer_final(echo):
    echo.fail_next(3, status=429, body={"code": 429, "message": "daily rate limit"})
    with pytest.raises(ProviderError) as caught:
        client(echo.url).request("POST", "/m", give_up=lambda r: "daily" in r.text)
    assert len(echo.requests) == 1 and caught.value.status == 429 and not caught.value.permanent


def test_it_retries_a_timed_out_idempotent_request(echo):
    echo.hold()  # the first request hangs until the client has given up on it and is about to retry
    http = client(echo.url, timeout=0.05)
    http.sleep = lambda seconds: echo.release()
    assert http.request("GET", "/slow").status_code == 200
    assert len(echo.requests) == 2


def test_it_does_not_resend_a_request_that_is_not_idempotent_after_a_timeout(echo):
    echo.hold()
    try:
        with pytest.raises(ProviderError) as caught:
            client(echo.url, timeout=0.05).request("POST", "/create", json={}, idempotent=False)
    finally:
        echo.release()
    assert len(echo.requests) == 1  # a resend could have created a second meeting
    assert caught.value.status is None and not caught.value.permanent and "timed out" in str(caught.value)


def test_a_refused_connection_is_transient_and_retried_even_when_not_idempotent():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = []
    with pytest.raises(ProviderError) as caught:
        client(f"http://127.0.0.1:{port}", sleeps=sleeps).request("POST", "/create", idempotent=False)
    assert len(sleeps) == 2  # the request never left: resending it is safe
    assert caught.value.status is None and not caught.value.permanent and "could not connect" in str(caught.value)


def test_backoff_is_capped():
    http = HttpClient("echo", "http://127.0.0.1:1", backoff_seconds=1, max_backoff_seconds=4)
    assert all(2 <= http.backoff(attempt) <= 4 for attempt in range(3, 12))


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


@pytest.mark.parametrize(
    "status, headers", [(500, {}), (503, {}), (429, {"Retry-After": "1"}), (429, {}), (408, {})], ids=str
)
def test_an_error_answer_to_a_request_that_is_not_idempotent_is_not_resent(echo, status, headers):
    """The service answered, so the request reached it, and a 5xx may come after it acted: only the caller can
    find out (the Zoom provider lists the host's meetings on its next attempt)."""
    sleeps = []
    echo.fail_next(1, status=status, headers=headers)
    with pytest.raises(ProviderError) as caught:
        client(echo.url, sleeps=sleeps).request("POST", "/create", json={}, idempotent=False)
    assert len(echo.requests) == 1 and sleeps == []
    assert caught.value.status == status and not caught.value.permanent
